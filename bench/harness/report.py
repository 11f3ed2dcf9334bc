"""The results of a bench run: per scenario and system, the ratios, the targets; rendered
as a table and written as JSON. Targets are reported, never enforced: only a broken
invariant fails a run."""

from __future__ import annotations

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
    machine: dict[str, str | int]
    options: dict[str, object]
    count_rule: str
    runs: list[BurstRun]
    bulk: list[BulkRun]
    ratios: dict[str, float]
    targets: list[Target]
    notes: list[str]
    ok: bool


def _rate(runs: list[BurstRun], scenario: str, system: str) -> float | None:
    for r in runs:
        if r.scenario == scenario and r.system == system and not r.failure:
            return r.successes_per_s
    return None


def ratios(runs: list[BurstRun]) -> dict[str, float]:
    found: dict[str, float] = {}
    for scenario in dict.fromkeys(r.scenario for r in runs):
        mine = _rate(runs, scenario, "perkbus")
        for other in ("classic", "ceiling"):
            theirs = _rate(runs, scenario, other)
            if mine is not None and theirs:
                found[f"{scenario}: perkbus/{other}"] = round(mine / theirs, 2)
    return found


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
    for run in runs:
        if run.system == "perkbus" and not run.failure:
            p99 = run.latency_ms.get("p99", 0.0)
            found.append(
                Target(f"{run.scenario}: perkbus p99", "< 100 ms", f"{p99:.0f} ms", p99 < 100)
            )
    for b in bulk:
        if b.system == "perkbus" and not b.failure:
            rate = f"{b.rewards_per_s:,.0f}/s"
            found.append(
                Target("bulk: perkbus rewards/s", ">= 20,000/s", rate, b.rewards_per_s >= 20_000)
            )
    return found


def _cpu(run: BurstRun) -> str:
    return " ".join(f"{k} {v:.0f}%" for k, v in sorted(run.cpu_pct.items(), key=lambda kv: -kv[1]))


def _errors(errors: dict[str, int]) -> str:
    return " ".join(f"{k}={n}" for k, n in sorted(errors.items())) or "-"


def _invariants(ok: bool, failure: str) -> str:
    return "FAILED" if failure else ("ok" if ok else "BROKEN")


def render(report: BenchReport) -> str:
    head = ("scenario", "system", "store", "ok/s", "p50 ms", "p95 ms", "p99 ms", "invariants")
    rows: list[tuple[str, ...]] = [head]
    for run in report.runs:
        lat = run.latency_ms
        rows.append(
            (
                run.scenario,
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
    lines += ["", "errors by kind and CPU per process (% of one core) during each measured burst:"]
    for run in report.runs:
        lines.append(f"  {run.scenario}/{run.system}: errors {_errors(run.errors)}")
        lines.append(f"  {' ' * len(run.scenario + run.system)}  cpu    {_cpu(run)}")
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
        lines += [f"  {k} = {v:.2f}" for k, v in report.ratios.items()]
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
