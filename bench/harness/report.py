"""The results of a bench run: per scenario and system, the ratios, the targets; rendered
as a table and written as JSON. Targets are reported, never enforced: only a broken
invariant fails a run."""

from __future__ import annotations

import statistics

import msgspec

from bench.harness.system import COUNT_RULE, Invariants


class BurstRun(msgspec.Struct, frozen=True):
    scenario: str
    system: str
    store: str
    successes: int
    seconds: float
    successes_per_s: float
    latency_ms: dict[str, float]
    errors: dict[str, int]
    #: CPU seconds of each process during the measured burst, and % of one core.
    cpu_s: dict[str, float]
    cpu_pct: dict[str, float]
    warmup_successes: int
    invariants: Invariants | None
    notes: list[str] = []
    #: Set when the system could not be started or measured.
    failure: str = ""
    #: Which round of ``--rounds`` (the systems are measured in turn each round).
    round: int = 1
    #: Connections the kernel dropped during the burst because a listening socket's queue
    #: was full (the whole machine's count; None: not readable). Each such client waits a
    #: TCP retransmission, a second or more, which its latency then shows.
    listen_overflows: int | None = None
    #: Seconds the machine-speed loop took just before this system was started (None:
    #: not timed). The systems of a round are compared with each other, so their ratio is
    #: only as sure as the machine was steady between them.
    python_loop_s: float | None = None

    @property
    def ok(self) -> bool:
        return not self.failure and self.invariants is not None and self.invariants.ok


class BulkRun(msgspec.Struct, frozen=True):
    system: str
    store: str
    rows: int
    seconds: float
    rewards_per_s: float
    cpu_s: dict[str, float]
    invariants: Invariants | None
    failure: str = ""

    @property
    def ok(self) -> bool:
        return not self.failure and self.invariants is not None and self.invariants.ok


class Target(msgspec.Struct, frozen=True):
    name: str
    wanted: str
    measured: str
    met: bool | None  # None: not measured in this run


class BenchReport(msgspec.Struct, frozen=True):
    started_at: str
    command: str
    machine: dict[str, str | int | float]
    options: dict[str, object]
    count_rule: str
    runs: list[BurstRun]
    bulk: list[BulkRun]
    ratios: dict[str, float]
    targets: list[Target]
    notes: list[str]
    ok: bool
    #: Each ratio's value in each round (``--rounds``), in order.
    ratios_by_round: dict[str, list[float]] = {}


def _rate(runs: list[BurstRun], scenario: str, system: str, round_: int) -> float | None:
    for r in runs:
        if r.scenario == scenario and r.system == system and r.round == round_:
            return None if r.failure else r.successes_per_s
    return None


def round_ratios(runs: list[BurstRun]) -> dict[str, list[float]]:
    """perkbus's rate over each other system's, measured in the same round."""
    found: dict[str, list[float]] = {}
    for scenario in dict.fromkeys(r.scenario for r in runs):
        rounds = sorted({r.round for r in runs if r.scenario == scenario})
        for other in ("classic", "ceiling"):
            each = []
            for round_ in rounds:
                mine = _rate(runs, scenario, "perkbus", round_)
                theirs = _rate(runs, scenario, other, round_)
                if mine is not None and theirs:
                    each.append(round(mine / theirs, 2))
            if each:
                found[f"{scenario}: perkbus/{other}"] = each
    return found


#: How much slower the machine may be before one system of a round than before another
#: (the loop's seconds, the larger over the smaller) and the round's ratio still be taken
#: at its word.
STEADY = 1.2


def speed_shifts(runs: list[BurstRun]) -> list[str]:
    """A note for each round of a scenario in which the machine's speed moved between
    perkbus's run and another system's by more than :data:`STEADY`: the ratio of that
    round compares the systems at different speeds."""
    notes = []
    for scenario in dict.fromkeys(r.scenario for r in runs):
        for round_ in sorted({r.round for r in runs if r.scenario == scenario}):
            timed = {
                r.system: r.python_loop_s
                for r in runs
                if r.scenario == scenario and r.round == round_ and r.python_loop_s
            }
            mine = timed.pop("perkbus", None)
            moved = {
                system: loop
                for system, loop in timed.items()
                if mine is not None and max(mine, loop) / min(mine, loop) > STEADY
            }
            if mine is None or not moved:
                continue
            others = ", ".join(f"{loop:.2f} s before {system}" for system, loop in moved.items())
            notes.append(
                f"{scenario}, round {round_}: the machine's speed moved between the systems"
                f" (the loop took {mine:.2f} s before perkbus, {others}); this round's ratio"
                " compares them at different speeds"
            )
    return notes


def ratios(runs: list[BurstRun]) -> dict[str, float]:
    """The median of each ratio's rounds (with one round, its ratio)."""
    return {k: round(statistics.median(v), 2) for k, v in round_ratios(runs).items()}


def targets(runs: list[BurstRun], bulk: list[BulkRun]) -> list[Target]:
    r = ratios(runs)
    found: list[Target] = []

    def ratio_target(key: str, wanted: float) -> None:
        value = r.get(key)
        shown = "not measured" if value is None else f"{value:.2f}x"
        found.append(
            Target(key, f">= {wanted}x", shown, None if value is None else value >= wanted)
        )

    ratio_target("hot: perkbus/classic", 4)
    ratio_target("spread: perkbus/classic", 2)
    for scenario in ("hot", "spread"):
        ratio_target(f"{scenario}: perkbus/ceiling", 0.6)
    for scenario in dict.fromkeys(r.scenario for r in runs):
        p99s = [
            r.latency_ms.get("p99", 0.0)
            for r in runs
            if r.scenario == scenario and r.system == "perkbus" and not r.failure
        ]
        if p99s:
            p99 = statistics.median(p99s)
            found.append(Target(f"{scenario}: perkbus p99", "< 100 ms", f"{p99:.0f} ms", p99 < 100))
    for b in bulk:
        if b.system == "perkbus" and not b.failure:
            rate = f"{b.rewards_per_s:,.0f}/s"
            found.append(
                Target("bulk: perkbus rewards/s", ">= 20,000/s", rate, b.rewards_per_s >= 20_000)
            )
    return found


def _cpu(run: BurstRun) -> str:
    return " ".join(f"{k} {v:.0f}%" for k, v in sorted(run.cpu_pct.items(), key=lambda kv: -kv[1]))


def _cpu_per_success(run: BurstRun) -> str:
    """CPU microseconds each process spent per successful order (what the cores buy)."""
    if run.successes <= 0 or not run.cpu_s:
        return "-"
    per = {k: 1e6 * v / run.successes for k, v in run.cpu_s.items()}
    shown = [f"{k} {v:.0f}" for k, v in sorted(per.items(), key=lambda kv: -kv[1]) if v >= 0.5]
    return " ".join(shown) + f" = {sum(per.values()):.0f} µs"


def _errors(errors: dict[str, int]) -> str:
    return " ".join(f"{k}={n}" for k, n in sorted(errors.items())) or "-"


def _invariants(ok: bool, failure: str) -> str:
    return "FAILED" if failure else ("ok" if ok else "BROKEN")


def render(report: BenchReport) -> str:
    rounds = max((r.round for r in report.runs), default=1) > 1
    head = ("scenario", "system", "store", "ok/s", "p50 ms", "p95 ms", "p99 ms", "invariants")
    rows: list[tuple[str, ...]] = [head]
    for run in report.runs:
        lat = run.latency_ms
        rows.append(
            (
                f"{run.scenario} #{run.round}" if rounds else run.scenario,
                run.system,
                run.store,
                f"{run.successes_per_s:,.0f}",
                *(f"{lat.get(p, 0.0):.1f}" for p in ("p50", "p95", "p99")),
                _invariants(run.ok, run.failure),
            )
        )
    widths = [max(len(r[i]) for r in rows) for i in range(len(head))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip() for r in rows]
    lines.insert(1, "  ".join("-" * w for w in widths))
    lines += [
        "",
        (
            "errors by kind and CPU per process during each measured burst (% of one core;"
            " µs of CPU per successful order):"
        ),
    ]
    for run in report.runs:
        name = f"{run.scenario}/{run.system}" + (f" #{run.round}" if rounds else "")
        speed = f"; machine loop {run.python_loop_s:.2f} s" if run.python_loop_s else ""
        lines.append(f"  {name}: errors {_errors(run.errors)}{speed}")
        lines.append(f"  {' ' * (len(name) - 1)}  cpu    {_cpu(run)}")
        lines.append(f"  {' ' * (len(name) - 1)}  µs/ok  {_cpu_per_success(run)}")
        if ran_out := sum(n for k, n in run.errors.items() if k.endswith(":out_of_stock")):
            lines.append(
                f"    STOCK RAN OUT: {ran_out:,} orders found no code; the harness stocked"
                " too few (STOCK_RATE), so ok/s understates this system"
            )
        if run.listen_overflows:
            lines.append(
                f"    LISTEN QUEUE FULL: {run.listen_overflows:,} handshakes dropped; those"
                " clients waited a TCP retransmission (a second or more), which p95/p99 show"
            )
        if run.failure:
            lines.append(f"    FAILED: {run.failure}")
        elif run.invariants is not None:
            lines += [f"    BROKEN: {v}" for v in run.invariants.violations]
    for b in report.bulk:
        lines.append(
            f"bulk/{b.system} ({b.store}): {b.rows:,} rewards in {b.seconds:.1f} s ="
            f" {b.rewards_per_s:,.0f} rewards/s, invariants {_invariants(b.ok, b.failure)}"
        )
        if b.failure:
            lines.append(f"    FAILED: {b.failure}")
        elif b.invariants is not None:
            lines += [f"    BROKEN: {v}" for v in b.invariants.violations]
    if report.ratios:
        lines += ["", "ratios (successful orders/s):"]
        for k, v in report.ratios.items():
            each = report.ratios_by_round.get(k, [])
            shown = f" (median of rounds: {', '.join(f'{x:.2f}' for x in each)})"
            lines.append(f"  {k} = {v:.2f}" + (shown if len(each) > 1 else ""))
    lines += ["", "targets (reported, not enforced):"]
    for t in report.targets:
        state = "not measured" if t.met is None else ("met" if t.met else "NOT MET")
        lines.append(f"  {t.name}: {t.measured} (wanted {t.wanted}) {state}")
    lines += ["", f"count rule: {report.count_rule}"]
    lines += [f"note: {n}" for n in report.notes]
    lines.append("all invariants hold" if report.ok else "INVARIANTS BROKEN OR A RUN FAILED")
    return "\n".join(lines)


def to_json(report: BenchReport) -> bytes:
    return msgspec.json.format(msgspec.json.encode(report), indent=2)


__all__ = ["COUNT_RULE", "BenchReport", "BulkRun", "BurstRun", "Target", "render", "to_json"]
