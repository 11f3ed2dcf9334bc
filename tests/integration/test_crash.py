"""SIGKILL the actor host mid-burst: no debit that was answered with success is lost."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from bus.client import Bus
from bus.embedded import EmbeddedNats
from bus.errors import BusError
from bus.messages import Ok
from bus.messages.budget import CreateBudget
from bus.messages.bulk import LOAD_CHUNK, BulkRow, LoadBulkRows, StartBulk
from bus.messages.common import Money, Principal
from bus.messages.vouchers import CodeRow, ImportCodes
from bus.messages.wallet import IssuePoints
from edge.app import create_app
from edge.auth import TokenVerifier
from edge.config import EdgeConfig
from storage.ports import Ledger
from storage.sqlite_catalogue import SqliteCatalogue
from tests.conftest import PARTITIONS
from tests.support import AUDIENCE, ISSUER, Keys, budget_record, gift_card

pytestmark = pytest.mark.slow


class HostProcess:
    """``perkbus actors`` in a child process, as in production."""

    def __init__(self, nats_server: EmbeddedNats, ledger_url: str, var_dir: Path) -> None:
        self.env = {
            **os.environ,
            "PERKBUS_NATS_URL": nats_server.url,
            "PERKBUS_NATS_CREDENTIALS_FILE": str(nats_server.credentials),
            "PERKBUS_NATS_PARTITIONS": str(PARTITIONS),
            "PERKBUS_VAR_DIR": str(var_dir),
        }
        if ledger_url.startswith("sqlite:"):
            self.env["PERKBUS_SQLITE_PATH"] = ledger_url.removeprefix("sqlite:")
        else:
            self.env["PERKBUS_MYSQL_URL"] = ledger_url
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


@pytest.fixture
async def edge_client(
    nats_server: EmbeddedNats, keys: Keys
) -> AsyncIterator[TestClient[web.Request, web.Application]]:
    verifier = TokenVerifier(keys.public.read_bytes(), ISSUER, AUDIENCE)
    app = create_app(
        EdgeConfig(request_timeout_s=1.0, rate_per_s=0),
        nats_server.url,
        verifier,
        nats_credentials=nats_server.credentials,
    )
    client: TestClient[web.Request, web.Application] = TestClient(TestServer(app))
    await client.start_server()
    yield client
    await client.close()


async def test_sigkill_mid_burst_loses_no_acknowledged_debit(
    nats_server: EmbeddedNats,
    bus: Bus,
    ledger: Ledger,
    ledger_url: str,
    keys: Keys,
    edge_client: TestClient[web.Request, web.Application],
    tmp_path: Path,
) -> None:
    host = HostProcess(nats_server, ledger_url, tmp_path / "var")
    await host.start(bus)
    try:
        opened = await bus.request(
            "acme",
            "treasury",
            CreateBudget("crash", "Crash", Money(1_000_000, "EUR")),
            Principal("test"),
            timeout_s=5,
        )
        assert isinstance(opened, Ok)
        headers = keys.headers("acme")
        acked: list[str] = []
        phase = {"now": "before"}
        acked_in: dict[str, int] = {"before": 0, "down": 0, "after": 0}
        failures: dict[int, int] = {}
        stop = asyncio.Event()

        async def worker() -> None:
            while not stop.is_set():
                async with edge_client.post(
                    "/api/v1/budgets/crash/debits",
                    json={"amount": {"amount_minor": 1, "currency": "EUR"}},
                    headers=headers,
                ) as r:
                    body = await r.json(content_type=None)
                    if r.status == 201:
                        acked.append(body["id"])
                        acked_in[phase["now"]] += 1
                    else:
                        assert r.status in (503, 504), body
                        assert body["retryable"] is True
                        failures[r.status] = failures.get(r.status, 0) + 1
                        await asyncio.sleep(0.02)

        workers = [asyncio.create_task(worker()) for _ in range(32)]
        await asyncio.sleep(1.0)
        phase["now"] = "down"
        host.kill()
        await asyncio.sleep(0.5)
        await host.start(bus)
        phase["now"] = "after"
        await asyncio.sleep(1.0)
        stop.set()
        await asyncio.gather(*workers)
    finally:
        host.stop()

    assert acked_in["before"] > 50, acked_in
    assert acked_in["after"] > 50, acked_in
    assert failures, "the kill should have failed some requests"
    assert len(set(acked)) == len(acked)
    missing = [d for d in acked if not await ledger.has_transaction("acme", d)]
    assert missing == []
    record = await budget_record(ledger, "acme", "crash")
    assert record is not None
    spent = await ledger.account_balance("acme", "spent:crash")
    assert spent >= len(acked)  # a debit may commit and lose its reply to the kill
    assert record.balance_minor == 1_000_000 - spent
    assert await ledger.account_balance("acme", "budget:crash") == record.balance_minor
    assert await ledger.entries_total("acme") == 0


async def test_sigkill_mid_redemption_burst_keeps_every_acknowledged_order(
    nats_server: EmbeddedNats,
    bus: Bus,
    ledger: Ledger,
    ledger_url: str,
    keys: Keys,
    edge_client: TestClient[web.Request, web.Application],
    tmp_path: Path,
) -> None:
    var = tmp_path / "var"
    products = SqliteCatalogue(var / "catalogue.sqlite3")
    await products.migrate()
    await products.put_products([gift_card(denominations=(1000,))])
    await products.close()
    host = HostProcess(nats_server, ledger_url, var)
    await host.start(bus)
    admin = Principal("admin", roles=("admin",))
    people = [f"p{i}" for i in range(100)]
    try:
        assert isinstance(
            await bus.request(
                "acme", "treasury", CreateBudget("pts", "Points", Money(10**9, "EUR")), admin, 10
            ),
            Ok,
        )
        for p in people:  # five cards each
            issued = await bus.request(
                "acme", "treasury", IssuePoints("pts", p, 5000, f"r-{p}"), admin, 10
            )
            assert isinstance(issued, Ok)
        rows = tuple(CodeRow(f"KILL-{i:05d}") for i in range(450))
        imported = await bus.request(
            "acme", "vouchers", ImportCodes("card-de", 1000, "EUR", rows), admin, 10
        )
        assert isinstance(imported, Ok)

        acked: dict[str, dict[str, object]] = {}
        retries = 0
        stop = asyncio.Event()
        counter = iter(range(10**6))

        async def worker() -> None:
            nonlocal retries
            while not stop.is_set():
                n = next(counter)
                person = people[n % len(people)]
                body = {"product_id": "card-de", "face_value_minor": 1000, "recipient": person}
                headers = {**keys.headers("acme"), "Idempotency-Key": f"redeem-{n}"}
                while True:  # a good client retries the same key until it gets an answer
                    async with edge_client.post("/api/v1/orders", json=body, headers=headers) as r:
                        answer = await r.json(content_type=None)
                    if r.status in (201, 202):
                        acked[answer["id"]] = answer
                        break
                    assert r.status in (503, 504), answer
                    retries += 1
                    await asyncio.sleep(0.05)

        workers = [asyncio.create_task(worker()) for _ in range(24)]
        await asyncio.sleep(1.0)
        host.kill()
        await asyncio.sleep(0.3)
        await host.start(bus)
        await asyncio.sleep(1.0)
        stop.set()
        await asyncio.gather(*workers)
        # Orders caught by the kill half-way are resumed when asked for.
        for order_id in [o for o, a in acked.items() if a["status"] in ("accepted", "paid")]:
            async with edge_client.get(
                f"/api/v1/orders/{order_id}", headers=keys.headers("acme")
            ) as r:
                acked[order_id] = await r.json()
    finally:
        host.stop()

    assert retries > 0, "the kill should have interrupted some requests"
    fulfilled = {o: a for o, a in acked.items() if a["status"] == "fulfilled"}
    assert len(fulfilled) > 50
    stored = {o.order_id: o for o in await ledger.load_orders("acme", list(acked))}
    assert set(stored) == set(acked)  # no acknowledged order lost
    for order_id, answer in fulfilled.items():
        assert stored[order_id].status == "fulfilled"
        assert stored[order_id].code_id == answer["voucher_id"]
    codes = [o.code_id for o in stored.values() if o.status == "fulfilled"]
    assert len(codes) == len(set(codes))
    counts = await ledger.pool_counts("acme", "card-de", 1000)
    assert counts.get("allocated", 0) == len(codes)
    balances = [await ledger.account_balance("acme", f"wallet:{p}") for p in people]
    assert min(balances) >= 0
    spent = sum(5000 - b for b in balances)
    assert spent == 1000 * len(codes)  # every point spent bought a delivered code
    assert await ledger.unfinished_orders("acme", 10) == []
    assert await ledger.entries_total("acme") == 0


async def test_sigkill_mid_bulk_job_resumes_and_issues_each_row_once(
    nats_server: EmbeddedNats, bus: Bus, ledger: Ledger, ledger_url: str, tmp_path: Path
) -> None:
    host = HostProcess(nats_server, ledger_url, tmp_path / "var")
    await host.start(bus)
    admin = Principal("admin", roles=("admin",))
    try:
        opened = await bus.request(
            "acme", "treasury", CreateBudget("b1", "B", Money(10**9, "EUR")), admin, 10
        )
        assert isinstance(opened, Ok)
        rows = [BulkRow(f"p{i % 1000}", 3) for i in range(30_000)]
        for offset in range(0, len(rows), LOAD_CHUNK):
            part = tuple(rows[offset : offset + LOAD_CHUNK])
            loaded = await bus.request(
                "acme", "bulk", LoadBulkRows("job", "b1", offset, part), admin, 10
            )
            assert isinstance(loaded, Ok)
        assert isinstance(
            await bus.request("acme", "bulk", StartBulk("job", len(rows)), admin, 10), Ok
        )
        await asyncio.sleep(0.4)
        host.kill()
        interrupted = await ledger.load_bulk_job("acme", "job")
        assert interrupted is not None
        assert interrupted.status == "running"
        await host.start(bus)  # the new host tells the job to go on
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            job = await ledger.load_bulk_job("acme", "job")
            if job is not None and job.status == "done":
                break
            await asyncio.sleep(0.2)
    finally:
        host.stop()
    assert job is not None
    assert (job.status, job.succeeded, job.failed) == ("done", 30_000, 0)
    for p in ("p0", "p1", "p999"):
        assert await ledger.account_balance("acme", f"wallet:{p}") == 30 * 3
    assert await ledger.account_balance("acme", "budget:b1") == 10**9 - 90_000
    assert await ledger.entries_total("acme") == 0


async def test_two_thousand_redemptions_by_five_hundred_people_through_a_kill(
    nats_server: EmbeddedNats,
    bus: Bus,
    ledger: Ledger,
    ledger_url: str,
    keys: Keys,
    tmp_path: Path,
) -> None:
    """The redemption-core check: 2,000 concurrent redemptions by 500 people against
    wallets, budgets and a pool that can satisfy only part of them; the actor host is
    SIGKILLed and restarted in the middle; clients retry with their keys."""
    var = tmp_path / "var"
    products = SqliteCatalogue(var / "catalogue.sqlite3")
    await products.migrate()
    await products.put_products([gift_card(denominations=(1000,))])
    await products.close()
    host = HostProcess(nats_server, ledger_url, var)
    await host.start(bus)
    admin = Principal("admin", roles=("admin",))
    people = [f"person-{i}" for i in range(500)]
    verifier = TokenVerifier(keys.public.read_bytes(), ISSUER, AUDIENCE)
    app = create_app(
        EdgeConfig(request_timeout_s=2.0, rate_per_s=0),
        nats_server.url,
        verifier,
        nats_credentials=nats_server.credentials,
    )
    client: TestClient[web.Request, web.Application] = TestClient(
        TestServer(app), connector=aiohttp.TCPConnector(limit=0)
    )
    await client.start_server()
    try:
        for budget, amount in (("points", 10**9), ("gifts", 150_000)):
            opened = await bus.request(
                "acme", "treasury", CreateBudget(budget, budget, Money(amount, "EUR")), admin, 10
            )
            assert isinstance(opened, Ok)
        for p in people[:400]:  # 400 people can afford two cards, 100 have no points
            issued = await bus.request(
                "acme", "treasury", IssuePoints("points", p, 2000, f"r-{p}"), admin, 10
            )
            assert isinstance(issued, Ok)
        rows = tuple(CodeRow(f"BIG-{i:05d}") for i in range(900))  # fewer than asked for
        imported = await bus.request(
            "acme", "vouchers", ImportCodes("card-de", 1000, "EUR", rows), admin, 10
        )
        assert isinstance(imported, Ok)

        headers = keys.headers("acme")
        answers: dict[int, tuple[int, dict[str, object]]] = {}

        async def redeem(n: int) -> None:
            person = people[n % 500]
            body: dict[str, object] = {
                "product_id": "card-de",
                "face_value_minor": 1000,
                "recipient": person,
            }
            if n % 4 == 3:  # a quarter are gift cards paid from a small budget
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

        burst = asyncio.gather(*(redeem(n) for n in range(2000)))
        await asyncio.sleep(0.8)
        host.kill()
        await asyncio.sleep(0.3)
        await host.start(bus)
        await asyncio.wait_for(burst, 240)
        unfinished = [a["id"] for s, a in answers.values() if s == 202]
        for order_id in unfinished:  # orders caught half-way go on by themselves
            for _ in range(100):
                async with client.get(f"/api/v1/orders/{order_id}", headers=headers) as r:
                    if (await r.json())["status"] in ("fulfilled", "failed"):
                        break
                await asyncio.sleep(0.1)
    finally:
        await client.close()
        host.stop()

    assert len(answers) == 2000
    acked = {str(a["id"]): a for s, a in answers.values() if s in (201, 202)}
    stored = {o.order_id: o for o in await ledger.load_orders("acme", list(acked))}
    assert set(stored) == set(acked)  # every acknowledged order is there
    fulfilled = [o for o in stored.values() if o.status == "fulfilled"]
    codes = [o.code_id for o in fulfilled]
    assert len(codes) == len(set(codes))
    assert 0 < len(fulfilled) <= 900
    assert await ledger.unfinished_orders("acme", 10) == []
    balances = [await ledger.account_balance("acme", f"wallet:{p}") for p in people]
    assert min(balances) >= 0
    assert await ledger.account_balance("acme", "budget:gifts") >= 0
    points_spent = sum(2000 for _ in people[:400]) - sum(balances)
    from_points = sum(1 for o in fulfilled if o.payer.startswith("wallet:"))
    from_gifts = sum(1 for o in fulfilled if o.payer == "budget:gifts")
    assert points_spent == 1000 * from_points
    assert await ledger.account_balance("acme", "budget:gifts") == 150_000 - 1000 * from_gifts
    counts = await ledger.pool_counts("acme", "card-de", 1000)
    assert counts.get("allocated", 0) == len(fulfilled)
    # the rest is in the pool, or leased to the treasury (ADR 21): never given
    assert counts.get("available", 0) + counts.get("leased", 0) == 900 - len(fulfilled)
    assert await ledger.entries_total("acme") == 0
