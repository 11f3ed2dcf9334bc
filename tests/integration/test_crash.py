"""SIGKILL the actor host mid-burst: no debit that was answered with success is lost."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from bus.client import Bus
from bus.embedded import EmbeddedNats
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
from tests.integration import burst
from tests.integration.burst import HostProcess
from tests.support import AUDIENCE, ISSUER, Keys, budget_record, gift_card, transactions

pytestmark = pytest.mark.slow


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
    stored = await transactions(ledger, "acme")
    missing = [d for d in acked if d not in stored]
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
    """The redemption-core check (``tests.integration.burst``): the actor host is
    SIGKILLed and restarted in the middle; clients retry with their keys."""
    var = tmp_path / "var"
    products = SqliteCatalogue(var / "catalogue.sqlite3")
    await products.migrate()
    await products.put_products([gift_card(denominations=(1000,))])
    await products.close()
    host = HostProcess(nats_server, ledger_url, var)
    await host.start(bus)
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

    async def kill_and_restart() -> None:
        await asyncio.sleep(0.8)
        host.kill()
        await asyncio.sleep(0.3)
        await host.start(bus)

    try:
        await burst.prepare(bus, "acme", "card-de")
        answers = await burst.redeem_all(client, keys.headers("acme"), "card-de", kill_and_restart)
    finally:
        await client.close()
        host.stop()
    await burst.check_invariants(ledger, "acme", "card-de", answers)
