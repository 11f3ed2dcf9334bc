"""A live perkbus for the fuzzers: embedded nats-server, SQLite ledger and catalogue, an
actor host and the edge on a free port, all on an event loop of their own in a
background thread.

The fuzzers are Hypothesis tests, which are synchronous: they send a request and block
until it is answered, so the system must run on a loop that is not the test's. The
system is the one the integration tests start (:func:`tests.conftest.start_cluster`),
seeded with a demo tenant that has data (budgets, wallets, voucher pools, a custom
product, an order, a funding account, an API client, rates) and a second tenant whose data must
never show in the first one's answers.

:meth:`LiveSystem.snapshot` reads every business table of both databases, so a test can
check that a rejected request changed nothing.
"""

from __future__ import annotations

import asyncio
import sqlite3
import threading
import time
from collections.abc import AsyncIterator, Coroutine, Iterator
from concurrent.futures import Future
from contextlib import AsyncExitStack, asynccontextmanager, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import aiohttp

from bus.embedded import EmbeddedNats
from perkbus import demo, demo_catalogue
from storage.duckdb_warehouse import DuckdbWarehouse
from storage.sqlite import SqliteLedger
from storage.sqlite_catalogue import SqliteCatalogue
from storage.sqlite_webhooks import SqliteWebhookStore
from tests.conftest import PARTITIONS, Cluster, start_cluster
from tests.support import Keys, warehouse_process, webhook_relay

T = TypeVar("T")

TENANT = demo.TENANT
#: Another tenant, with data whose names must never appear in the demo tenant's answers.
OTHER_TENANT = "globex"
OTHER_MARKER = "globexsecret"
OTHER_BALANCE = 777_777
#: What only the other tenant's data holds: its ids and names, its budget's balance, its
#: FX rate. An answer to the demo tenant may echo what the request itself said (a "no
#: budget globexsecret-budget" echoes the id asked for) but nothing else of these.
OTHER_SECRETS = (OTHER_MARKER, str(OTHER_BALANCE), "0.8512")

#: Tables whose rows may change while nothing is asked of the system, or on a rejected
#: request by design. ``outbox``: drained by the relay in the background.
#: ``idempotency_replies``: a keyed request's reply, refusals included, is kept so that a
#: retry with the key gets the same answer (the API documents it): a record of the
#: answer, not a change of the tenant's data. ``signing_keys``: rotated on a schedule.
#: ``schema_migrations``: never changes after start. ``audit_heads``: follows the audit
#: log, whose chain ``perkbus audit verify`` checks elsewhere.
UNWATCHED_TABLES = frozenset(
    {
        "outbox",
        "idempotency_replies",
        "signing_keys",
        "schema_migrations",
        "sqlite_sequence",
        "audit_heads",
    }
)
#: Tables of which only part is watched. A refused attempt is recorded in the audit log
#: by design (a failed sign-in, a forbidden request): only entries of effects (``ok``)
#: must not appear. A failed sign-in counts towards the person's lockout: everything of a
#: person but that counter (and the version that fences it) must stay.
WATCHED_PART = {
    "audit_log": "SELECT * FROM audit_log WHERE outcome = 'ok'",
    "people": (
        "SELECT tenant_id, person_id, email, name, password_hash, roles, grants, status,"
        " created_ms, updated_ms FROM people"
    ),
}

#: Per table: how many rows, and a hash of all of them in storage order.
Snapshot = dict[str, tuple[int, int]]


@dataclass(frozen=True)
class Reply:
    status: int
    content_type: str
    body: bytes


class LiveSystem:
    """A started system; its methods are called from the test's (synchronous) thread."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.keys = Keys(directory / "keys")
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self.loop.run_forever, name="live-perkbus")
        self._nats = EmbeddedNats(directory / "nats", partitions=PARTITIONS)
        self._ledger = SqliteLedger(directory / "ledger.sqlite3")
        self._catalogue = SqliteCatalogue(directory / "catalogue.sqlite3")
        self._warehouse = DuckdbWarehouse(directory / "warehouse.duckdb")
        self._webhooks = SqliteWebhookStore(directory / "webhooks.sqlite3")
        self._resources = AsyncExitStack()
        self._session: aiohttp.ClientSession | None = None
        self.base_url = ""
        self.owner = self.keys.headers(TENANT)
        self._readers: dict[str, sqlite3.Connection] = {}
        self._read: dict[str, tuple[int, Snapshot]] = {}

    def run(self, coro: Coroutine[Any, Any, T], timeout_s: float = 60) -> T:
        """Run a coroutine on the system's loop and wait for its result."""
        future: Future[T] = asyncio.run_coroutine_threadsafe(coro, self.loop)
        return future.result(timeout_s)

    def start(self) -> None:
        self._nats.start()
        self._thread.start()
        self.run(self._start())

    async def _start(self) -> None:
        await self._ledger.migrate()
        await self._catalogue.migrate()
        await self._catalogue.put_products(demo_catalogue.generate())
        cluster = await self._resources.enter_async_context(self._cluster())
        self._resources.push_async_callback(self._warehouse.close)
        await self._resources.enter_async_context(warehouse_process(cluster.bus, self._warehouse))
        self._resources.push_async_callback(self._webhooks.close)
        # its endpoints fail (no such hosts), and turning one off writes to the audit log:
        # at a moment no fuzzed request chose, in a slow hour in the middle of one
        relay = webhook_relay(cluster.bus, self._webhooks, disable_failing=False)
        await self._resources.enter_async_context(relay)
        self.base_url = str(cluster.client.make_url("")).rstrip("/")
        self._session = await self._resources.enter_async_context(aiohttp.ClientSession())
        await demo.seed(cluster.bus)
        await self._seed(cluster)

    @asynccontextmanager
    async def _cluster(self) -> AsyncIterator[Cluster]:
        async for cluster in start_cluster(self._nats, self._ledger, self._catalogue, self.keys):
            yield cluster

    async def _seed(self, cluster: Cluster) -> None:
        """What demo.seed does not make: a custom product, an order, a funding account and
        an allocation, an API client, an FX rate, and another tenant with its own data."""
        stocked = [p for p in demo_catalogue.generate() if p.currency == "EUR" and p.denominations]
        product = stocked[0]
        other = self.keys.headers(OTHER_TENANT)
        for method, path, body, headers in (
            ("POST", "/api/v1/funding-accounts", _funding("f1"), self.owner),
            ("POST", "/api/v1/funding-accounts/f1/deposits", _deposit(50_000), self.owner),
            ("POST", "/api/v1/budgets/demo-budget/allocations", _allocation(10_000), self.owner),
            ("POST", "/api/v1/clients", _client("HR sync"), self.owner),
            ("PUT", "/api/v1/fx/EUR/USD", {"rate": "1.0850"}, self.owner),
            ("POST", "/api/v1/catalogue/products", _product("demo-team-day", "Demo"), self.owner),
            ("POST", "/api/v1/webhooks", {"url": "https://hooks.demo.example/in"}, self.owner),
            (
                "POST",
                "/api/v1/orders",
                {
                    "budget_id": demo.BUDGET_ID,
                    "recipient": "ann@demo.example",
                    "product_id": product.id,
                    "face_value_minor": product.denominations[0],
                },
                self.owner,
            ),
            ("POST", "/api/v1/funding-accounts", _funding(f"{OTHER_MARKER}-f"), other),
            ("POST", "/api/v1/clients", _client(f"{OTHER_MARKER} client"), other),
            ("PUT", "/api/v1/fx/EUR/GBP", {"rate": "0.8512"}, other),
            ("POST", "/api/v1/catalogue/products", _product(OTHER_MARKER, OTHER_MARKER), other),
            ("POST", "/api/v1/webhooks", {"url": f"https://{OTHER_MARKER}.example/in"}, other),
        ):
            key = {"Idempotency-Key": f"fuzz-seed-{method}-{path}"}
            reply = await self._send(method, path, headers | key, body)
            assert reply.status < 300, (method, path, reply)
        await cluster.open_budget(OTHER_TENANT, f"{OTHER_MARKER}-budget", OTHER_BALANCE)

    def stop(self) -> None:
        try:
            if self._thread.is_alive():
                self.run(self._stop())
        finally:
            self.loop.call_soon_threadsafe(self.loop.stop)
            self._thread.join(10)
            self.loop.close()
            self._nats.stop()
            for reader in self._readers.values():
                reader.close()

    async def _stop(self) -> None:
        await self._resources.aclose()
        await self._catalogue.close()
        await self._ledger.close()

    async def _send(
        self, method: str, path: str, headers: dict[str, str], body: Any = None
    ) -> Reply:
        assert self._session is not None
        async with self._session.request(
            method, self.base_url + path, json=body, headers=headers
        ) as r:
            return Reply(r.status, r.content_type, await r.read())

    def send(self, method: str, path: str, headers: dict[str, str], body: Any = None) -> Reply:
        """A request with a JSON body."""
        return self.run(self._send(method, path, headers, body))

    def send_bytes(self, method: str, path: str, headers: dict[str, str], body: bytes) -> Reply:
        """A request with a body of any bytes, sent as they are."""
        return self.run(self._send_bytes(method, path, headers, body))

    async def _send_bytes(
        self, method: str, path: str, headers: dict[str, str], body: bytes
    ) -> Reply:
        assert self._session is not None
        url = self.base_url + path
        async with self._session.request(method, url, data=body, headers=headers) as r:
            return Reply(r.status, r.content_type, await r.read())

    def settled(self, timeout_s: float = 5.0) -> Snapshot:
        """A snapshot once the system is quiet: what a request started in the background
        (an order's saga, a bulk job) has finished, and two snapshots in a row agree."""
        deadline = time.monotonic() + timeout_s
        last = self.snapshot()
        while time.monotonic() < deadline:
            time.sleep(0.02)
            now = self.snapshot()
            if now == last:
                return now
            last = now
        raise AssertionError("the system kept changing its data with no request")

    def snapshot(self) -> Snapshot:
        """Every row of every watched table of the ledger and the catalogue, hashed.

        A table scan reads rows in key order (rowid, or the primary key of a table
        WITHOUT ROWID), so the same rows hash the same. Reading them all is slow once a
        fuzzer has generated tens of thousands of voucher codes, so they are read again
        only when a database has had a commit since the last read (``PRAGMA
        data_version`` of a connection kept open changes with any other's commit)."""
        found: Snapshot = {}
        for name in ("ledger.sqlite3", "catalogue.sqlite3"):
            if name not in self._readers:
                uri = f"file:{self.directory / name}?mode=ro"
                self._readers[name] = sqlite3.connect(uri, uri=True)
            con = self._readers[name]
            [(version,)] = con.execute("PRAGMA data_version")
            cached = self._read.get(name)
            if cached is None or cached[0] != version:
                cached = self._read[name] = (version, _tables(con))
            found |= {f"{name}:{table}": digest for table, digest in cached[1].items()}
        return found


def _tables(con: sqlite3.Connection) -> Snapshot:
    tables = [
        row[0]
        for row in con.execute("SELECT name FROM sqlite_master WHERE type = 'table'")
        if row[0] not in UNWATCHED_TABLES
    ]
    found: Snapshot = {}
    for table in tables:
        rows = tuple(con.execute(WATCHED_PART.get(table, f"SELECT * FROM {table}")))
        found[table] = (len(rows), hash(rows))
    return found


def _funding(account: str) -> dict[str, Any]:
    return {"id": account, "name": "Main", "currency": "EUR"}


def _deposit(amount: int) -> dict[str, Any]:
    return {"amount": {"amount_minor": amount, "currency": "EUR"}, "reference": "wire"}


def _allocation(amount: int) -> dict[str, Any]:
    return {"from_account": "f1", "amount": {"amount_minor": amount, "currency": "EUR"}}


def _client(name: str) -> dict[str, Any]:
    return {"name": name, "scopes": ["budgets:read"]}


def _product(product_id: str, brand: str) -> dict[str, Any]:
    return {
        "id": product_id,
        "brand": brand,
        "kind": "experience",
        "category": "wellness",
        "currency": "EUR",
        "countries": ["DE"],
        "texts": {"en": {"name": f"{brand} team day"}},
        "denominations": [15_000],
    }


def leaked(sent: str, received: str) -> list[str]:
    """The other tenant's secrets in an answer that the request did not name itself."""
    return [secret for secret in OTHER_SECRETS if secret in received and secret not in sent]


def changed(before: Snapshot, after: Snapshot) -> dict[str, tuple[int, int]]:
    """The tables whose rows differ: name → (rows before, rows after)."""
    nothing = (0, 0)
    return {
        table: (before.get(table, nothing)[0], after.get(table, nothing)[0])
        for table in sorted(before.keys() | after.keys())
        if before.get(table) != after.get(table)
    }


@contextmanager
def live_system(directory: Path) -> Iterator[LiveSystem]:
    system = LiveSystem(directory)
    try:
        system.start()
        yield system
    finally:
        system.stop()
