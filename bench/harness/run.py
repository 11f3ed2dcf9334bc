"""``perkbus bench``: every scenario against every system, one after another on this
machine, then the table, the ratios, the targets and the JSON file. The exit status is 1
when an invariant broke or a system failed, 0 otherwise (targets are only reported)."""

from __future__ import annotations

import logging
import os
import platform
import shlex
import sys
import time
from pathlib import Path

import msgspec

from bench.harness.bulk import bulk
from bench.harness.bursts import measure
from bench.harness.options import BenchOptions
from bench.harness.report import (
    BenchReport,
    BulkRun,
    BurstRun,
    ratios,
    render,
    round_ratios,
    speed_shifts,
    targets,
    to_json,
)
from bench.harness.system import COUNT_RULE

log = logging.getLogger("bench")

#: The interpreter every system of a run runs on (builds of one version differ in speed,
#: ADR 35).
INTERPRETER = os.path.realpath(sys.executable)


#: Steps of the loop that :func:`machine_speed` times.
SPEED_STEPS = 10_000_000


def machine_speed() -> float:
    """Seconds this process takes for :data:`SPEED_STEPS` steps of a plain Python loop.
    The machine's speed moves with the hour (the same code has done half as many orders
    an hour later); this figure, taken before and after the runs and before each system
    is started, says how fast it was."""
    started = time.perf_counter()
    total = 0
    for step in range(SPEED_STEPS):
        total += step
    return round(time.perf_counter() - started, 3)


async def run_bench(options: BenchOptions) -> BenchReport:
    started_at = time.strftime("%Y-%m-%dT%H:%M:%S%z")
    speed_before = machine_speed()
    runs: list[BurstRun] = []
    bulks: list[BulkRun] = []
    for name in options.scenarios:
        if name == "bulk":
            bulks.append(await bulk(options))
            continue
        for round_ in range(1, options.rounds + 1):  # the systems in turn, each round
            for system in options.systems:
                log.info("%s/%s: starting (round %d)", name, system, round_)
                speed = machine_speed()  # before the system starts: nothing else runs
                run = await measure(name, system, options)
                runs.append(msgspec.structs.replace(run, round=round_, python_loop_s=speed))
    speed_after = machine_speed()
    notes = [
        "wrk, the system and its database share this machine's cores; the CPU figures"
        " say how they were shared",
        f"machine speed: {SPEED_STEPS:,} steps of a Python loop took {speed_before:.2f} s"
        f" before the runs and {speed_after:.2f} s after; absolute figures move with it,"
        " compare the systems of one run",
        f"every system ran on Python {platform.python_version()} ({INTERPRETER})",
        *speed_shifts(runs),
    ]
    if options.short:
        notes.append(
            f"short run: {options.duration_s:.0f} s bursts, {options.tenants} tenants in spread"
            f" (the full run: 10 s, 1,000 tenants)"
        )
    if options.rounds > 1:
        notes.append(
            f"{options.rounds} rounds: the systems measured in turn each round; a ratio is the"
            " median of the rounds' own ratios, a p99 the median of perkbus's"
        )
    if options.redis:
        notes.append(
            "perkbus's edge kept its cache, counters and rate limits in Redis at"
            " 127.0.0.1:6379 (--redis), as several edges share them"
        )
    if options.settings:
        given = ", ".join(f"PERKBUS_{name}={value}" for name, value in options.settings)
        notes.append(f"perkbus ran with {given} (not its defaults)")
    if "bulk" in options.scenarios:
        notes.append("bulk: perkbus only (the classic service has no bulk endpoint)")
    return BenchReport(
        started_at=started_at,
        command=shlex.join(["perkbus", *sys.argv[1:]]),
        machine={
            "cores": os.cpu_count() or 0,
            "python": platform.python_version(),
            "python_executable": INTERPRETER,
            "python_loop_s_before": speed_before,
            "python_loop_s_after": speed_after,
        },
        options=msgspec.to_builtins(options),
        count_rule=COUNT_RULE,
        runs=runs,
        bulk=bulks,
        ratios=ratios(runs),
        ratios_by_round=round_ratios(runs),
        targets=targets(runs, bulks),
        notes=notes,
        ok=all(r.ok for r in runs) and all(b.ok for b in bulks),
    )


def json_path(options: BenchOptions) -> Path:
    if options.json_path:
        return Path(options.json_path)
    return Path("var") / "bench" / f"bench-{time.strftime('%Y%m%d-%H%M%S')}.json"


def main(options: BenchOptions) -> int:
    if not Path("/usr/bin/wrk").exists():
        print("perkbus bench: wrk is missing (apt-get install wrk)", file=sys.stderr)
        return 2
    import uvloop

    report = uvloop.run(run_bench(options))
    print(render(report), flush=True)
    path = json_path(options)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(to_json(report) + b"\n")
    print(f"results: {path}")
    return 0 if report.ok else 1
