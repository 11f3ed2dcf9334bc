"""Starting perkbus for a burst: ``python -m perkbus up --demo`` in a temp var directory
on free ports with rate limits off, seeded through its public REST API; checked afterwards
by reading its ledger (:mod:`bench.harness.perkbus_invariants`).

Seeding: ``hot`` orders from the demo tenant's budget ``bench``; ``spread`` from budget
``b`` of each of ``bench-0`` … ``bench-<n-1>``. Every budget holds 10^12 minor units and
its pool of generated codes of ``bael-play-fr`` (a demo-catalogue product) at 1000. Orders
are placed with an integrator's token (``orders:write budgets:debit``), as the classic
baseline's are.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from collections.abc import AsyncIterator, Sequence
from contextlib import AsyncExitStack, asynccontextmanager
from pathlib import Path

import aiohttp
import msgspec

from bench.harness.perkbus_invariants import check_orders, open_query
from bench.harness.processes import all_stopped, free_port, spawn, stop
from bench.harness.system import (
    BALANCE_MINOR,
    FACE_VALUE_MINOR,
    Invariants,
    Scenario,
    Started,
    StartFailed,
    mysql_database,
    port_open,
    redis_prefix,
    wait_until,
)
from bench.harness.wrk import Target
from perkbus import tokens

PRODUCT_ID = "bael-play-fr"
HOT_TENANT, HOT_BUDGET = "demo", "bench"
SPREAD_BUDGET = "b"
#: The most codes one generate request may ask for.
GENERATE_MAX = 10_000
ORDER_SCOPES = ["orders:write", "budgets:debit"]
SEED_SCOPES = ["budgets:admin", "vouchers:admin", "orders:write", "budgets:debit"]


class Perkbus:
    """A ``perkbus up`` child and what it needs to be talked to."""

    def __init__(
        self, workdir: Path, mysql_url: str | None, settings: Sequence[tuple[str, str]] = ()
    ) -> None:
        self.var = workdir / "var"
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.ledger = mysql_url or f"sqlite:{self.var / 'perkbus.sqlite3'}"
        self.env = {k: v for k, v in os.environ.items() if not k.startswith("PERKBUS_")}
        self.env |= {
            "PERKBUS_VAR_DIR": str(self.var),
            "PERKBUS_EDGE_PORT": str(self.port),
            "PERKBUS_EDGE_RATE_PER_S": "0",
            # One bench token places every order of a burst: as an integrator would,
            # far past what one person redeems (fraud velocity, ADR 23).
            "PERKBUS_EDGE_VELOCITY_ORDERS_PER_HOUR": "0",
        }
        if mysql_url:
            self.env["PERKBUS_MYSQL_URL"] = mysql_url
        self.env |= {f"PERKBUS_{name.upper()}": value for name, value in settings}

    def token(self, tenant: str, scopes: list[str], roles: list[str]) -> str:
        return tokens.mint(
            self.var / "keys" / "jwt-signing.pem",
            tenant=tenant,
            subject="bench",
            scopes=scopes,
            roles=roles,
            ttl_s=3600,
            issuer="perkbus",
            audience="perkbus-api",
        )


async def _post(session: aiohttp.ClientSession, url: str, token: str, body: object) -> None:
    headers = {"Authorization": f"Bearer {token}"}
    async with session.post(url, json=body, headers=headers) as r:
        if r.status >= 300:
            raise StartFailed(f"seeding perkbus: POST {url} answered {r.status} {await r.text()}")


async def seed_tenant(
    session: aiohttp.ClientSession, pb: Perkbus, tenant: str, budget: str, codes: int
) -> None:
    token = pb.token(tenant, SEED_SCOPES, ["owner"])
    initial = {"amount_minor": BALANCE_MINOR, "currency": "EUR"}
    await _post(
        session,
        f"{pb.url}/api/v1/budgets",
        token,
        {"id": budget, "name": budget} | {"initial": initial},
    )
    pool = f"{pb.url}/api/v1/vouchers/pools/{PRODUCT_ID}/{FACE_VALUE_MINOR}/generate"
    while codes > 0:
        count = min(codes, GENERATE_MAX)
        await _post(session, pool, token, {"currency": "EUR", "count": count})
        codes -= count


def seeding_at_once(codes: int) -> int:
    """How many tenants to seed at once when each gets ``codes``: as many as keep about
    :data:`GENERATE_MAX` codes being made at a time (at most 32). The actor host makes
    and seals every code on its event loop; ten tenants' 11,000 codes each at once took
    longer than a request may wait (504 after 5 s) on a slow machine."""
    return max(1, min(32, GENERATE_MAX // max(codes, 1)))


async def seed(pb: Perkbus, tenants: list[str], budget: str, codes: int) -> None:
    limit = asyncio.Semaphore(seeding_at_once(codes))
    async with aiohttp.ClientSession() as session:

        async def one(tenant: str) -> None:
            async with limit:
                await seed_tenant(session, pb, tenant, budget, codes)

        await asyncio.gather(*(one(t) for t in tenants))


@asynccontextmanager
async def started_perkbus(
    workdir: Path, mysql: bool, settings: Sequence[tuple[str, str]] = (), redis: bool = False
) -> AsyncIterator[tuple[Perkbus, subprocess.Popen[bytes]]]:
    """``perkbus up --demo`` until its edge listens; stopped (and its database dropped,
    its Redis keys removed) when the block ends."""
    async with AsyncExitStack() as stack:
        mysql_url = await stack.enter_async_context(mysql_database("perkbus")) if mysql else None
        if redis:
            url, prefix = await stack.enter_async_context(redis_prefix("pbbench"))
            settings = (*settings, ("REDIS_URL", url), ("REDIS_PREFIX", prefix))
        pb = Perkbus(workdir, mysql_url, settings)
        processes: list[subprocess.Popen[bytes]] = []
        stack.enter_context(all_stopped(processes))
        up = spawn(
            [sys.executable, "-m", "perkbus", "--log-level", "WARNING", "up", "--demo"],
            workdir / "perkbus.log",
            env=pb.env,
            cwd=workdir,
        )
        processes.append(up)
        await wait_until(lambda: port_open(pb.port), up, "perkbus up", 120)
        yield pb, up


@asynccontextmanager
async def perkbus(
    scenario: Scenario,
    workdir: Path,
    mysql: bool,
    seconds: float,
    settings: Sequence[tuple[str, str]] = (),
    redis: bool = False,
) -> AsyncIterator[Started]:
    async with started_perkbus(workdir, mysql, settings, redis) as (pb, up):
        if scenario.tenants == 1:
            tenants, budget = [HOT_TENANT], HOT_BUDGET
        else:
            tenants, budget = [f"bench-{i}" for i in range(scenario.tenants)], SPREAD_BUDGET
        codes = scenario.codes_per_tenant(seconds)
        if scenario.tenants == 1:  # whole generate requests
            codes = -(-codes // GENERATE_MAX) * GENERATE_MAX
        await seed(pb, tenants, budget, codes)
        targets = [Target(t, pb.token(t, ORDER_SCOPES, ["integrator"])) for t in tenants]
        body = msgspec.json.encode(
            {
                "product_id": PRODUCT_ID,
                "face_value_minor": FACE_VALUE_MINOR,
                "recipient": "p1",
                "budget_id": budget,
            }
        )

        async def stop_all() -> None:
            # SIGTERM to `up` stops the edge, then the actor host (which commits what it
            # holds), then NATS
            await asyncio.to_thread(stop, up, 90)

        async def check(successes: int, allowance: int) -> Invariants:
            return await check_orders(open_query(pb.ledger), successes, allowance)

        yield Started(
            name="perkbus",
            url=pb.url,
            targets=targets,
            body=body,
            fulfilled_marker=True,
            pids=[up.pid],
            stop=stop_all,
            check=check,
            cpu_names=cpu_names(mysql, redis),
            notes=[f"{codes} codes per tenant"],
        )


def cpu_names(mysql: bool, redis: bool) -> tuple[str, ...]:
    """The servers perkbus used besides its own processes, whose CPU counts too."""
    return ("mariadbd",) * mysql + ("redis-server",) * redis
