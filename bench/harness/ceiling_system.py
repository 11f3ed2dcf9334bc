"""Starting the ceiling (bench/ceiling) for a burst: its own nats-server, the actor
process, the edge; and checking it afterwards (rows = successes, ids distinct)."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from pathlib import Path

from bench.ceiling.store import open_store
from bench.harness.processes import all_stopped, free_port, spawn, stop
from bench.harness.system import (
    Invariants,
    Scenario,
    Started,
    count_rule,
    database,
    line_in,
    port_open,
    wait_until,
)
from bench.harness.wrk import Target
from bus.embedded import nats_server_binary, server_env


@asynccontextmanager
async def ceiling(
    scenario: Scenario, workdir: Path, mysql: bool, seconds: float
) -> AsyncIterator[Started]:
    """``seconds`` is unused: the ceiling needs no stock."""
    async with AsyncExitStack() as stack:
        db = await database(stack, "ceiling", workdir, mysql)
        nats_port, edge_port = free_port(), free_port()
        nats_url = f"nats://127.0.0.1:{nats_port}"
        processes: list[subprocess.Popen[bytes]] = []
        stack.enter_context(all_stopped(processes))
        nats = spawn(
            [nats_server_binary(), "-a", "127.0.0.1", "-p", str(nats_port)],
            workdir / "nats.log",
            env=server_env(),  # on the cores perkbus's embedded server gets
        )
        processes.append(nats)
        await wait_until(lambda: port_open(nats_port), nats, "nats-server", 20)
        log = workdir / "actor.log"
        py = sys.executable
        actor = spawn([py, "-m", "bench.ceiling", "actor", "--nats", nats_url, "--db", db], log)
        processes.append(actor)
        await wait_until(line_in(log, "ceiling actor ready"), actor, "ceiling actor", 30)
        command = [py, "-m", "bench.ceiling", "edge", "--nats", nats_url, "--port", str(edge_port)]
        edge = spawn(command, workdir / "edge.log")
        processes.append(edge)
        await wait_until(lambda: port_open(edge_port), edge, "ceiling edge", 30)

        async def stop_all() -> None:
            for p in reversed(processes):
                stop(p)

        async def check(successes: int, allowance: int) -> Invariants:
            store = await open_store(db, create=False)
            try:
                rows, distinct = await store.count()
            finally:
                await store.close()
            violations = count_rule(rows, successes, allowance)
            if distinct != rows:
                violations.append(f"{rows - distinct} order ids are stored twice")
            return Invariants({"orders": rows, "distinct_order_ids": distinct}, violations)

        body = b'{"product_id":"giftcard","face_value_minor":1000,"recipient":"p1","budget_id":"b"}'
        yield Started(
            name="ceiling",
            url=f"http://127.0.0.1:{edge_port}",
            targets=[Target(f"bench-{i}", "none") for i in range(scenario.tenants)],
            body=body,
            fulfilled_marker=True,
            pids=[p.pid for p in processes],
            stop=stop_all,
            check=check,
            cpu_names=("mariadbd",) if mysql else (),
        )
