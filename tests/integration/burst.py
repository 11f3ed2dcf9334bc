"""The redemption-core burst, shared by the crash test and the polyglot-stores test:
2,000 concurrent redemptions by 500 people against wallets, a small budget and a pool
that can satisfy only part of them, while something goes wrong in the middle (``during``);
clients retry with their keys. Then the invariants: every acknowledged order is stored,
no code given twice, no negative balance, money and codes add up, the ledger sums to zero.

Also ``perkbus actors`` in a child process (:class:`HostProcess`), as in production.
"""

from __future__ import annotations

import asyncio
import base64
import os
import signal
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

import aiohttp
from aiohttp import web
from aiohttp.test_utils import TestClient

from bus.client import Bus
from bus.embedded import EmbeddedNats
from bus.errors import BusError
from bus.messages import Ok
from bus.messages.budget import CreateBudget
from bus.messages.common import Money, Principal
from bus.messages.vouchers import CodeRow, ImportCodes
from bus.messages.wallet import IssuePoints
from storage.ports import Ledger
from tests.conftest import PARTITIONS

#: The edge in this process (a test client) or in another (a session on its address).
Client = TestClient[web.Request, web.Application] | aiohttp.ClientSession
PEOPLE = tuple(f"person-{i}" for i in range(500))
ORDERS = 2000
CODES = 900
POINTS = 2000  # each of the first 400 people can afford two cards of 1,000
GIFTS_BUDGET = 150_000


class HostProcess:
    """``perkbus actors`` in a child process, as in production."""

    def __init__(
        self,
        nats_server: EmbeddedNats,
        ledger_url: str,
        var_dir: Path,
        env: dict[str, str] | None = None,
    ) -> None:
        self.env = {
            **os.environ,
            "PERKBUS_NATS_URL": nats_server.url,
            "PERKBUS_NATS_CREDENTIALS_FILE": str(nats_server.credentials),
            "PERKBUS_NATS_PARTITIONS": str(PARTITIONS),
            "PERKBUS_VAR_DIR": str(var_dir),
            **(env or {}),
        }
        if ledger_url.startswith("sqlite:"):
            self.env["PERKBUS_SQLITE_PATH"] = ledger_url.removeprefix("sqlite:")
        else:
            self.env["PERKBUS_MYSQL_URL"] = ledger_url
            # beside a shared ledger a host makes no master key: it is given one, the same
            # at every start, as a deployment's hosts are
            key = base64.b64encode(os.urandom(32)).decode()
            self.env.setdefault("PERKBUS_SECURITY_MASTER_KEY", key)
        self.process: subprocess.Popen[bytes] | None = None

    async def start(self, bus: Bus) -> None:
        self.process = subprocess.Popen(
            [sys.executable, "-m", "perkbus", "--log-level", "WARNING", "actors"],
            env=self.env,
        )
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            assert self.process.poll() is None, "the actor host died on start"
            try:
                if (await bus.host_health(timeout_s=0.5)).ok:
                    return
            except BusError:
                await asyncio.sleep(0.05)
        raise AssertionError("the actor host did not become ready")

    def kill(self) -> None:
        assert self.process is not None
        os.kill(self.process.pid, signal.SIGKILL)
        self.process.wait()

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(30)


async def prepare(bus: Bus, tenant: str, product_id: str) -> None:
    """Two budgets (points to give, gifts to spend), points for 400 of the 500 people, and
    fewer codes than will be asked for."""
    admin = Principal("admin", roles=("admin",))
    for budget, amount in (("points", 10**9), ("gifts", GIFTS_BUDGET)):
        opened = await bus.request(
            tenant, "treasury", CreateBudget(budget, budget, Money(amount, "EUR")), admin, 10
        )
        assert isinstance(opened, Ok), opened
    for p in PEOPLE[:400]:  # 100 people have no points
        issued = await bus.request(
            tenant, "treasury", IssuePoints("points", p, POINTS, f"r-{p}"), admin, 10
        )
        assert isinstance(issued, Ok), issued
    rows = tuple(CodeRow(f"BIG-{i:05d}") for i in range(CODES))
    imported = await bus.request(
        tenant, "vouchers", ImportCodes(product_id, 1000, "EUR", rows), admin, 10
    )
    assert isinstance(imported, Ok), imported


Answers = dict[int, tuple[int, dict[str, object]]]


async def redeem_all(
    client: Client,
    headers: dict[str, str],
    product_id: str,
    during: Callable[[], Awaitable[None]],
) -> Answers:
    """Every redemption, retried on 503/504 until it has an answer; ``during`` runs
    alongside. Orders left half-way (202) are followed until they end."""
    answers: Answers = {}

    async def redeem(n: int) -> None:
        person = PEOPLE[n % len(PEOPLE)]
        body: dict[str, object] = {
            "product_id": product_id,
            "face_value_minor": 1000,
            "recipient": person,
        }
        if n % 4 == 3:  # a quarter are gift cards paid from the small budget
            body["budget_id"] = "gifts"
        key = {**headers, "Idempotency-Key": f"big-{n}"}
        while True:
            async with client.post("/api/v1/orders", json=body, headers=key) as r:
                answer = await r.json(content_type=None)
                content_type = r.content_type
            if r.status in (503, 504):
                await asyncio.sleep(0.1)
                continue
            assert r.status < 300 or content_type == "application/problem+json", answer
            answers[n] = (r.status, answer)
            return

    burst = asyncio.gather(*(redeem(n) for n in range(ORDERS)))
    try:
        await during()
        await asyncio.wait_for(burst, 240)
    finally:
        if not burst.done():
            burst.cancel()
    for order_id in [a["id"] for s, a in answers.values() if s == 202]:
        for _ in range(100):  # orders caught half-way go on by themselves
            async with client.get(f"/api/v1/orders/{order_id}", headers=headers) as r:
                if (await r.json())["status"] in ("fulfilled", "failed"):
                    break
            await asyncio.sleep(0.1)
    return answers


async def check_invariants(ledger: Ledger, tenant: str, product_id: str, answers: Answers) -> int:
    """The burst's invariants; the number of orders fulfilled."""
    assert len(answers) == ORDERS
    acked = {str(a["id"]): a for s, a in answers.values() if s in (201, 202)}
    stored = {o.order_id: o for o in await ledger.load_orders(tenant, list(acked))}
    assert set(stored) == set(acked)  # every acknowledged order is there
    fulfilled = [o for o in stored.values() if o.status == "fulfilled"]
    codes = [o.code_id for o in fulfilled]
    assert len(codes) == len(set(codes))
    assert 0 < len(fulfilled) <= CODES
    assert await ledger.unfinished_orders(tenant, 10) == []
    balances = [await ledger.account_balance(tenant, f"wallet:{p}") for p in PEOPLE]
    assert min(balances) >= 0
    assert await ledger.account_balance(tenant, "budget:gifts") >= 0
    points_spent = POINTS * 400 - sum(balances)
    from_points = sum(1 for o in fulfilled if o.payer.startswith("wallet:"))
    from_gifts = sum(1 for o in fulfilled if o.payer == "budget:gifts")
    assert points_spent == 1000 * from_points
    assert await ledger.account_balance(tenant, "budget:gifts") == GIFTS_BUDGET - 1000 * from_gifts
    counts = await ledger.pool_counts(tenant, product_id, 1000)
    assert counts.get("allocated", 0) == len(fulfilled)
    # the rest is in the pool, or leased to the treasury (ADR 21): never given
    assert counts.get("available", 0) + counts.get("leased", 0) == CODES - len(fulfilled)
    assert await ledger.entries_total(tenant) == 0
    return len(fulfilled)
