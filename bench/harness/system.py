"""What every system under test gives the harness, and what they share: scenarios, the
started system (where to send the burst, whose CPU to count), the invariant report and the
rule that compares orders in the database with successes counted by wrk."""

from __future__ import annotations

import asyncio
import socket
import subprocess
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path

import asyncmy
import msgspec

from bench.harness.wrk import Target

MYSQL_ADMIN_URL = "mysql://root@127.0.0.1:3306/mysql"
REDIS_URL = "redis://127.0.0.1:6379/0"
#: A budget nobody drains in a burst (minor units).
BALANCE_MINOR = 10**12
FACE_VALUE_MINOR = 1000
#: Orders per second a system is assumed not to pass when codes are stocked; a faster one
#: runs out of codes, which shows as ``409:out_of_stock`` / ``201:out_of_stock`` answers.
STOCK_RATE = 6000


class StartFailed(RuntimeError):
    pass


class Scenario(msgspec.Struct, frozen=True):
    name: str
    tenants: int

    def codes_per_tenant(self, seconds: float) -> int:
        """Enough codes for :data:`STOCK_RATE` orders/s over ``seconds`` (warm-ups
        included), spread at random: the mean, half again, and some."""
        mean = STOCK_RATE * seconds / self.tenants
        return int(mean * 1.5) + 30


class Invariants(msgspec.Struct, frozen=True):
    #: What was counted (orders, codes, ledger sums …), by name.
    facts: dict[str, int]
    #: One sentence per broken invariant; empty when all hold.
    violations: list[str]

    @property
    def ok(self) -> bool:
        return not self.violations


COUNT_RULE = (
    "orders in the database >= successes counted and <= successes + one per connection"
    " per burst (wrk stops with requests in flight, which the system still completes)"
)


def count_rule(orders: int, successes: int, allowance: int) -> list[str]:
    """:data:`COUNT_RULE`; ``allowance`` is connections times bursts."""
    if orders < successes:
        return [f"{orders} orders but {successes} successes counted (fewer orders)"]
    if orders > successes + allowance:
        return [f"{orders} orders but only {successes} successes counted (+{allowance} allowed)"]
    if successes == 0:
        return ["no order succeeded"]
    return []


@dataclass
class Started:
    """A running system: the burst goes to ``url``; ``check`` runs once it is stopped."""

    name: str
    url: str
    targets: list[Target]
    body: bytes
    #: Success needs ``"status":"fulfilled"`` in the 201's body (perkbus answers a refused
    #: order with a 201 and a failed order).
    fulfilled_marker: bool
    #: Whose CPU time counts: these processes and their descendants …
    pids: list[int]
    stop: Callable[[], Awaitable[None]]
    check: Callable[[int, int], Awaitable[Invariants]]
    #: … and processes with these names (a database server that is not ours).
    cpu_names: tuple[str, ...] = ()
    notes: list[str] = field(default_factory=list)


def port_open(port: int) -> bool:
    with socket.socket() as s:
        s.settimeout(0.2)
        return s.connect_ex(("127.0.0.1", port)) == 0


async def wait_until(
    ready: Callable[[], bool], process: subprocess.Popen[bytes], what: str, timeout_s: float
) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise StartFailed(f"{what} exited with {process.returncode}")
        if await asyncio.to_thread(ready):
            return
        await asyncio.sleep(0.1)
    raise StartFailed(f"{what} was not ready within {timeout_s:.0f}s")


def line_in(log: Path, text: str) -> Callable[[], bool]:
    return lambda: log.exists() and text in log.read_text(errors="replace")


async def database(stack: AsyncExitStack, name: str, workdir: Path, mysql: bool) -> str:
    """The URL of a system's own database: a fresh MariaDB database dropped when
    ``stack`` closes, or a SQLite file in ``workdir``."""
    if mysql:
        url: str = await stack.enter_async_context(mysql_database(name))
        return url
    return f"sqlite:{workdir / f'{name}.sqlite3'}"


@asynccontextmanager
async def mysql_database(prefix: str) -> AsyncIterator[str]:
    """A fresh database on the MariaDB at 127.0.0.1:3306 (root), dropped afterwards."""
    from storage.mysql_pool import connect_args

    conn = await asyncmy.connect(**connect_args(MYSQL_ADMIN_URL))
    name = f"{prefix}_{uuid.uuid4().hex[:10]}"
    try:
        async with conn.cursor() as cur:
            await cur.execute(f"CREATE DATABASE `{name}`")
        yield f"mysql://root@127.0.0.1:3306/{name}"
    finally:
        async with conn.cursor() as cur:
            await cur.execute(f"DROP DATABASE IF EXISTS `{name}`")
        conn.close()


@asynccontextmanager
async def redis_prefix(prefix: str) -> AsyncIterator[tuple[str, str]]:
    """The machine's Redis and a key prefix of a system's own; its keys are removed
    afterwards."""
    from storage.redis_wire import RedisWire

    own = f"{prefix}:{uuid.uuid4().hex[:10]}:"
    client = RedisWire(REDIS_URL, timeout_s=5.0)
    try:
        await client.call("PING")
        yield REDIS_URL, own
    finally:
        cursor: bytes | int = 0
        while True:
            cursor, keys = await client.call("SCAN", cursor, "MATCH", f"{own}*", "COUNT", 1000)
            if keys:
                await client.call("DEL", *keys)
            if int(cursor) == 0:
                break
        await client.aclose()
