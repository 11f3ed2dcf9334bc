"""One scenario against one system: start it, warm it up, measure a burst with wrk while
sampling every process's CPU time, stop it, check its invariants."""

from __future__ import annotations

import logging
import os
import tempfile
from collections.abc import Callable
from contextlib import AbstractAsyncContextManager
from functools import partial
from pathlib import Path

from bench.harness import wrk
from bench.harness.ceiling_system import ceiling
from bench.harness.classic_system import classic
from bench.harness.options import BenchOptions
from bench.harness.perkbus_system import perkbus
from bench.harness.processes import cpu_by_process, cpu_delta, listen_overflows
from bench.harness.report import BurstRun
from bench.harness.system import Scenario, Started

log = logging.getLogger("bench")

Starter = Callable[[Scenario, Path, bool, float], AbstractAsyncContextManager[Started]]


STARTERS: dict[str, Starter] = {"perkbus": perkbus, "classic": classic, "ceiling": ceiling}


def scenario(name: str, options: BenchOptions) -> Scenario:
    return Scenario(name, 1 if name == "hot" else options.tenants)


def log_tails(workdir: Path) -> str:
    """The end of each log of a failed system, for the report."""
    tails = {p.name: p.read_text(errors="replace").strip()[-300:] for p in workdir.glob("*.log")}
    return "; ".join(f"{name}: …{tail}" for name, tail in tails.items() if tail)


async def measure(name: str, system: str, options: BenchOptions) -> BurstRun:
    sc = scenario(name, options)
    store = "mariadb" if options.mysql else "sqlite"
    seconds = options.duration_s + options.warmup_s
    with tempfile.TemporaryDirectory(prefix=f"perkbus-bench-{system}-") as tmp:
        workdir = Path(tmp)
        try:
            starter: Starter = STARTERS[system]
            if system == "perkbus" and (options.settings or options.redis):
                starter = partial(perkbus, settings=options.settings, redis=options.redis)
            async with starter(sc, workdir, options.mysql, seconds) as started:
                return await _burst(sc, started, store, options, workdir)
        except Exception as e:
            log.exception("%s/%s failed", name, system)
            detail = log_tails(workdir)
            return BurstRun(
                name,
                system,
                store,
                0,
                0.0,
                0.0,
                {},
                {},
                {},
                {},
                0,
                None,
                failure=f"{type(e).__name__}: {e} {detail}".strip(),
            )


async def _burst(
    sc: Scenario, started: Started, store: str, options: BenchOptions, workdir: Path
) -> BurstRun:
    script = workdir / "orders.lua"
    script.write_text(wrk.script(started.targets, started.body, started.fulfilled_marker))
    bursts, warm = 0, 0
    if options.warmup_s > 0:
        log.info("%s/%s: warming up %.0f s", sc.name, started.name, options.warmup_s)
        warmup = await wrk.burst(
            script, started.url, "warm", options.warmup_s, options.connections, options.wrk_threads
        )
        bursts, warm = 1, warmup.successes
    log.info("%s/%s: measuring %.0f s", sc.name, started.name, options.duration_s)
    before = cpu_by_process(started.pids, started.cpu_names)
    overflows_before = listen_overflows()
    result = await wrk.burst(
        script, started.url, "run", options.duration_s, options.connections, options.wrk_threads
    )
    overflows_after = listen_overflows()
    after = cpu_by_process(started.pids, started.cpu_names)
    bursts += 1
    await started.stop()
    invariants = await started.check(warm + result.successes, options.connections * bursts)
    cpu = cpu_delta(before, after) | {"wrk": result.cpu_s}
    seconds = result.seconds or options.duration_s
    return BurstRun(
        scenario=sc.name,
        system=started.name,
        store=store,
        successes=result.successes,
        seconds=round(seconds, 2),
        successes_per_s=round(result.successes / seconds, 1),
        latency_ms=result.latency_ms,
        errors=result.errors,
        cpu_s=cpu,
        cpu_pct={k: round(100 * v / seconds) for k, v in cpu.items()},
        warmup_successes=warm,
        invariants=invariants,
        notes=[*started.notes, f"{sc.tenants} tenants", f"{os.cpu_count()} cores"],
        listen_overflows=(
            None
            if overflows_before is None or overflows_after is None
            else overflows_after - overflows_before
        ),
    )
