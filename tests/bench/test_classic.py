"""The classic baseline (bench/classic) over real HTTP, on real SQLite and real MariaDB: it
must be correct before its speed means anything."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any, NamedTuple

import aiohttp
import msgspec
import pytest
from aiohttp.test_utils import TestClient, TestServer

from actors.sealing import MasterKey, unseal
from bench.classic import check_invariants, seed
from bench.classic.app import STORE, create_app
from bench.classic.seed import SeedReport
from bench.classic.sqlite_store import SqliteStore
from bench.classic.stores import OrderStore, open_store
from edge.auth import TokenVerifier
from storage.sqlite_db import connect
from tests.servers import free_port
from tests.support import AUDIENCE, ISSUER, Keys, mysql_database

REPO = Path(__file__).resolve().parents[2]
TENANT = "bench-0"
Client = TestClient[aiohttp.web.Request, aiohttp.web.Application]


class Db(NamedTuple):
    url: str
    #: MariaDB: an order's statements batched into four round trips (the default).
    batched: bool = True


@pytest.fixture(
    params=[
        "sqlite",
        pytest.param("mysql", marks=pytest.mark.mysql),
        pytest.param("mysql-plain", marks=pytest.mark.mysql),
    ]
)
async def db(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Db]:
    """SQLite, or a fresh MariaDB database (dropped afterwards) in either statement mode."""
    if request.param == "sqlite":
        yield Db(f"sqlite:{tmp_path / 'classic.sqlite3'}")
        return
    async with mysql_database() as url:
        yield Db(url, batched=request.param == "mysql")


@asynccontextmanager
async def classic(
    db: Db, keys: Keys, balance: int, codes: int, master_key: MasterKey | None = None
) -> AsyncIterator[tuple[Client, SeedReport]]:
    """The service on a freshly seeded database (one tenant), over a real socket."""
    seeded = await seed(db.url, 1, codes, balance_minor=balance, master_key=master_key)
    verifier = TokenVerifier.from_file(str(keys.public), ISSUER, AUDIENCE)
    app = create_app(open_store(db.url, pool_size=8, batched=db.batched), verifier)
    async with TestClient(TestServer(app)) as client:
        yield client, seeded


def order(recipient: str = "ann", **extra: object) -> dict[str, object]:
    return {
        "product_id": "giftcard",
        "face_value_minor": 1000,
        "recipient": recipient,
        "budget_id": "b",
        **extra,
    }


def headers(keys: Keys, key: str | None = None, scopes: list[str] | None = None) -> dict[str, str]:
    sent = keys.headers(TENANT, scopes=scopes)
    return sent | {"Idempotency-Key": key} if key else sent


async def post(
    client: Client, keys: Keys, key: str | None, body: dict[str, object]
) -> tuple[int, Any]:
    async with client.post("/api/v1/orders", json=body, headers=headers(keys, key)) as r:
        return r.status, await r.json(content_type=None)


async def state(store: OrderStore) -> dict[str, int]:
    """Every count a refused order must leave as it was."""
    counts = {
        table: (await store.fetchall(f"SELECT COUNT(*) FROM {table}"))[0][0]
        for table in ("orders", "ledger_entries", "outbox", "idempotency_replies")
    }
    allocated = "SELECT COUNT(*) FROM voucher_codes WHERE status = 'allocated'"
    counts["allocated"] = (await store.fetchall(allocated))[0][0]
    counts["balance"] = (await store.fetchall("SELECT balance_minor FROM budgets"))[0][0]
    return {k: int(v) for k, v in counts.items()}


async def test_an_order_end_to_end(db: Db, keys: Keys) -> None:
    master = MasterKey(os.urandom(32))
    async with classic(db, keys, balance=5000, codes=3, master_key=master) as (client, _):
        status, body = await post(client, keys, "k-1", order())
        assert status == 201, body
        assert body["status"] == "fulfilled"
        assert body["payer"] == "budget:b"
        assert body["face_value"] == {"amount_minor": 1000, "currency": "EUR"}
        assert body["price"] == {"amount_minor": 1000, "currency": "EUR"}
        assert body["id"].startswith("ord_")
        store = client.app[STORE]
        assert (await state(store))["balance"] == 4000
        # The allocated code is stored sealed under the tenant's data key.
        [(code_id, sealed, order_id)] = await store.fetchall(
            "SELECT code_id, code_sealed, order_id FROM voucher_codes WHERE status = 'allocated'"
        )
        assert (code_id, order_id) == (body["voucher_id"], body["id"])
        [(wrapped,)] = await store.fetchall("SELECT wrapped FROM tenant_keys")
        data_key = master.unwrap(TENANT, bytes(wrapped))
        code = unseal(data_key, bytes(sealed), f"voucher:{TENANT}:{code_id}:code")
        assert len(code) == 16
        assert code not in bytes(sealed)
        [(payload,)] = await store.fetchall("SELECT payload FROM outbox")
        event = msgspec.json.decode(bytes(payload))
        assert event["type"] == "perkbus.order.fulfilled"
        assert event["data"]["order_id"] == body["id"]
        # Who may not: no token, a token without budgets:debit.
        async with client.post("/api/v1/orders", json=order()) as r:
            assert r.status == 401
        no_debit = headers(keys, "k-2", scopes=["orders:write"])
        async with client.post("/api/v1/orders", json=order(), headers=no_debit) as r:
            assert r.status == 403
            assert (await r.json(content_type=None))["code"] == "forbidden"
    report = await check_invariants(db.url, successes=1)
    assert report.ok, report.violations


async def test_the_same_key_twice_is_one_order(db: Db, keys: Keys) -> None:
    async with classic(db, keys, balance=5000, codes=3) as (client, _):
        first = await post(client, keys, "same", order())
        again = await post(client, keys, "same", order())
        assert first[0] == again[0] == 201
        assert first[1] == again[1]
        other = await post(client, keys, "same", order(recipient="bob"))
        assert other[0] == 422
        assert other[1]["code"] == "idempotency_key_reused"
        # Sent at the same moment: still one order.
        racing = await asyncio.gather(*(post(client, keys, "race", order()) for _ in range(5)))
        assert {s for s, _ in racing} == {201}
        assert len({b["id"] for _, b in racing}) == 1
        # An external id is the order's too: other keys, same external id, one order.
        external = order(external_id="crm-42")
        same = await asyncio.gather(*(post(client, keys, f"e{i}", external) for i in range(3)))
        assert {s for s, _ in same} == {201}
        assert len({b["id"] for _, b in same}) == 1
        other = await post(client, keys, "e9", order(recipient="bob", external_id="crm-42"))
        assert (other[0], other[1]["code"]) == (422, "idempotency_key_reused")
        assert (await state(client.app[STORE]))["orders"] == 3
    report = await check_invariants(db.url, successes=3)
    assert report.ok, report.violations


async def test_refused_orders_change_nothing(db: Db, keys: Keys) -> None:
    async with classic(db, keys, balance=5000, codes=1) as (client, _):
        store = client.app[STORE]
        assert (await post(client, keys, "first", order()))[0] == 201
        before = await state(store)
        status, problem = await post(client, keys, "empty", order())
        assert (status, problem["code"]) == (409, "out_of_stock")
        assert await state(store) == before
        # The first order's key still gets its answer from the now empty pool.
        assert (await post(client, keys, "first", order()))[0] == 201
    report = await check_invariants(db.url, successes=1)
    assert report.ok, report.violations
    async with classic(db, keys, balance=500, codes=5) as (client, _):
        store = client.app[STORE]
        before = await state(store)
        status, problem = await post(client, keys, "poor", order())
        assert (status, problem["code"]) == (409, "insufficient_funds")
        assert problem["title"] == "Insufficient funds"
        assert await state(store) == before
        status, problem = await post(client, keys, "odd", order(face_value_minor=999))
        assert (status, problem["code"]) == (422, "invalid_request")
        assert await state(store) == before
    report = await check_invariants(db.url, successes=0)
    assert report.ok, report.violations


async def test_a_burst_spends_the_budget_exactly(db: Db, keys: Keys) -> None:
    async with classic(db, keys, balance=150 * 1000, codes=200) as (client, _):
        answers = await asyncio.gather(
            *(post(client, keys, f"burst-{i}", order(recipient=f"p{i}")) for i in range(200))
        )
        statuses = [s for s, _ in answers]
        assert statuses.count(201) == 150, statuses
        refused = [b["code"] for s, b in answers if s != 201]
        assert refused == ["insufficient_funds"] * 50
        codes = {b["voucher_id"] for s, b in answers if s == 201}
        assert len(codes) == 150
        assert (await state(client.app[STORE]))["balance"] == 0
    report = await check_invariants(db.url, successes=150)
    assert report.ok, report.violations
    assert (report.orders, report.negative_balances, report.codes_given_twice) == (150, 0, 0)


async def test_an_order_not_debited_its_price_breaks_the_books(db: Db, keys: Keys) -> None:
    async with classic(db, keys, balance=5000, codes=3) as (client, _):
        for i in range(2):
            assert (await post(client, keys, f"k-{i}", order(recipient=f"p{i}")))[0] == 201
        store = client.app[STORE]
        [(order_id,)] = await store.fetchall("SELECT order_id FROM orders WHERE recipient = 'p1'")
        # as if its debit had been lost: the order's entries moved to another transaction
        await store.executemany(
            "UPDATE ledger_entries SET txn_id = 'elsewhere' WHERE txn_id = ?", [(order_id,)]
        )
    report = await check_invariants(db.url, successes=2)
    assert report.unpaid_orders == 1
    assert report.violations == ["1 orders were not debited exactly their price"]


async def test_the_command_line(db: Db, keys: Keys) -> None:
    """What the harness runs: seed, serve (two processes sharing the port), check."""
    run = [sys.executable, "-m", "bench.classic"]
    seeding = ["seed", "--db", db.url, "--tenants", "2", "--codes", "30", "--balance", "30000"]
    seeded = subprocess.run([*run, *seeding], cwd=REPO, capture_output=True, check=True)
    assert msgspec.json.decode(seeded.stdout)["tenants"] == ["bench-0", "bench-1"]
    port = free_port()
    serving = ["--db", db.url, "--port", str(port), "--public-key", str(keys.public)]
    statements = "batched" if db.batched else "plain"
    options = ["--workers", "2", "--pool-size", "4", "--mysql-statements", statements]
    server = subprocess.Popen([*run, *serving, *options], cwd=REPO, stdout=subprocess.PIPE)
    try:
        assert server.stdout is not None
        for _ in range(2):  # one line per process
            ready = await asyncio.wait_for(asyncio.to_thread(server.stdout.readline), 20)
            assert b"serving on" in ready
        url = f"http://127.0.0.1:{port}/api/v1/orders"
        async with aiohttp.ClientSession() as session:

            async def one(i: int) -> int:
                async with session.post(url, json=order(), headers=headers(keys, f"c{i}")) as r:
                    return r.status

            assert await asyncio.gather(*(one(i) for i in range(20))) == [201] * 20
    finally:
        server.send_signal(signal.SIGTERM)
        assert server.wait(timeout=10) == 0
        if server.stdout is not None:
            server.stdout.close()
    check = [*run, "check", "--db", db.url, "--successes"]
    checked = subprocess.run([*check, "20"], cwd=REPO, capture_output=True)
    assert checked.returncode == 0, checked.stdout
    assert msgspec.json.decode(checked.stdout)["ok"] is True
    assert subprocess.run([*check, "21"], cwd=REPO, capture_output=True).returncode == 1


async def test_classic_opens_sqlite_as_perkbus_opens_its_ledger(tmp_path: Path) -> None:
    """Same page cache, memory map, checkpoint interval and durability: the baseline is
    not slowed by SQLite's defaults where perkbus's ledger is not."""
    pragmas = ("journal_mode", "synchronous", "cache_size", "mmap_size", "wal_autocheckpoint")
    ledger = connect(tmp_path / "ledger.sqlite3", "FULL")
    try:
        perkbus = {p: ledger.execute(f"PRAGMA {p}").fetchone()[0] for p in pragmas}
    finally:
        ledger.close()
    store = SqliteStore(tmp_path / "classic.sqlite3")
    await store.open()
    try:
        baseline = {p: (await store.fetchall(f"PRAGMA {p}"))[0][0] for p in pragmas}
    finally:
        await store.close()
    assert baseline == perkbus
    assert perkbus["cache_size"] != -2000  # not SQLite's defaults
    assert perkbus["wal_autocheckpoint"] != 1000
