"""Starting the classic baseline (bench/classic) for a burst: seed its database, serve it,
check its books afterwards with its own checker plus the harness's count rule."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from pathlib import Path

import msgspec

from bench.classic import check_invariants, seed
from bench.classic.seed import order_token, tenant_ids
from bench.harness.processes import all_stopped, free_port, spawn, stop
from bench.harness.system import (
    BALANCE_MINOR,
    FACE_VALUE_MINOR,
    Invariants,
    Scenario,
    Started,
    count_rule,
    database,
    port_open,
    wait_until,
)
from bench.harness.wrk import Target
from perkbus import tokens

#: Facts of the classic checker that must be zero.
_ZERO = (
    "negative_balances",
    "budgets_off_ledger",
    "unbalanced_transactions",
    "unpaid_orders",
    "duplicate_codes",
    "codes_given_twice",
    "orders_without_their_code",
    "codes_allocated_without_order",
)


@asynccontextmanager
async def classic(
    scenario: Scenario, workdir: Path, mysql: bool, seconds: float
) -> AsyncIterator[Started]:
    async with AsyncExitStack() as stack:
        db = await database(stack, "classic", workdir, mysql)
        private, public = workdir / "jwt.pem", workdir / "jwt.pub.pem"
        tokens.ensure_keypair(private, public)
        codes = scenario.codes_per_tenant(seconds)
        seeded = await seed(db, scenario.tenants, codes, BALANCE_MINOR)
        targets = [Target(t, order_token(private, t)) for t in tenant_ids(scenario.tenants)]
        port = free_port()
        command = [
            *(sys.executable, "-m", "bench.classic", "--db", db, "--port", str(port)),
            *("--public-key", str(public)),
        ]
        processes: list[subprocess.Popen[bytes]] = []
        stack.enter_context(all_stopped(processes))
        server = spawn(command, workdir / "classic.log")
        processes.append(server)
        await wait_until(lambda: port_open(port), server, "the classic service", 60)

        async def stop_all() -> None:
            stop(server)

        async def check(successes: int, allowance: int) -> Invariants:
            report = await check_invariants(db)
            facts = msgspec.to_builtins(report)
            violations = list(report.violations)
            violations += count_rule(report.orders, successes, allowance)
            return Invariants(
                {k: int(facts[k]) for k in ("orders", "budgets", "outbox_events", *_ZERO)},
                violations,
            )

        body = msgspec.json.encode(
            {
                "product_id": seeded.product_id,
                "face_value_minor": FACE_VALUE_MINOR,
                "recipient": "p1",
                "budget_id": seeded.budget_id,
            }
        )
        yield Started(
            name="classic",
            url=f"http://127.0.0.1:{port}",
            targets=targets,
            body=body,
            fulfilled_marker=False,
            pids=[server.pid],
            stop=stop_all,
            check=check,
            cpu_names=("mariadbd",) if mysql else (),
            notes=[f"{codes} codes per tenant"],
        )
