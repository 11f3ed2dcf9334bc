"""Helpers the tests share: real servers, real databases, tokens."""

from __future__ import annotations

import asyncio
import dataclasses
import json
import os
import sqlite3
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import AsyncExitStack, asynccontextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn

import asyncmy
import pytest

from bus import subjects
from bus.client import Bus
from bus.errors import ErrorCode
from bus.events import EventPublisher, OutboxEvent, make_event
from bus.messages import Command, Err, Reply
from bus.messages.budget import BudgetDebited
from bus.messages.catalogue import Product, Texts
from bus.messages.common import Money
from bus.scopes import ALL_SCOPES as EDGE_SCOPES
from perkbus import tokens
from storage.mysql import MysqlLedger
from storage.ports import AccountRecord, CatalogueStore, Ledger, OrderRecord
from storage.sqlite import SqliteLedger
from storage.sqlite_db import transaction
from storage.warehouse_ports import Warehouse
from storage.webhook_ports import WebhookStore

if TYPE_CHECKING:
    from actors.runtime.host import ActorHost
    from actors.runtime.warehouse_loader import WarehouseLoader
    from actors.webhook_relay import WebhookRelay

REQUIRE_REAL = os.environ.get("PERKBUS_REQUIRE_REAL") == "1"
MYSQL_ADMIN_URL = os.environ.get("PERKBUS_TEST_MYSQL_URL", "mysql://root@127.0.0.1:3306/test")
ALL_SCOPES = list(EDGE_SCOPES)
ISSUER = "perkbus"
AUDIENCE = "perkbus-api"


def unavailable(reason: str) -> NoReturn:
    """Skip a test whose real server is missing, or fail when CI demands real servers."""
    if REQUIRE_REAL:
        pytest.fail(f"PERKBUS_REQUIRE_REAL=1 but {reason}")
    pytest.skip(reason)


@asynccontextmanager
async def mysql_database() -> AsyncIterator[str]:
    """A fresh database on the MariaDB/MySQL server, dropped afterwards; yields its URL."""
    from storage.mysql_pool import connect_args

    args = connect_args(MYSQL_ADMIN_URL)
    try:
        conn = await asyncmy.connect(**args)
    except Exception as e:
        unavailable(f"MySQL at {MYSQL_ADMIN_URL} is not reachable: {e}")
    name = f"pb_test_{uuid.uuid4().hex[:12]}"
    try:
        async with conn.cursor() as cur:
            await cur.execute(f"CREATE DATABASE `{name}`")
        base = MYSQL_ADMIN_URL.rsplit("/", 1)[0]
        yield f"{base}/{name}"
    finally:
        async with conn.cursor() as cur:
            await cur.execute(f"DROP DATABASE IF EXISTS `{name}`")
        conn.close()


async def mysql_session(url: str) -> Any:
    """A connection to ``url`` set up as the ledger's own (READ COMMITTED, explicit
    transactions), but quick to give up waiting for a lock (1 s): a test of locking
    fails rather than hangs."""
    from storage.mysql_pool import connect_args

    conn = await asyncmy.connect(**connect_args(url), autocommit=False)
    async with conn.cursor() as cur:
        await cur.execute("SET SESSION TRANSACTION ISOLATION LEVEL READ COMMITTED")
        await cur.execute("SET SESSION innodb_lock_wait_timeout = 1")
    return conn


class Keys:
    """A signing key pair in a temp dir, and tokens minted with it."""

    def __init__(self, directory: Path) -> None:
        self.private = directory / "jwt.pem"
        self.public = directory / "jwt.pub.pem"
        tokens.ensure_keypair(self.private, self.public)

    def token(
        self,
        tenant: str,
        scopes: list[str] | None = None,
        ttl_s: int = 600,
        roles: list[str] | None = None,
        subject: str | None = None,
        grants: list[str] | None = None,
    ) -> str:
        return tokens.mint(
            self.private,
            tenant=tenant,
            subject=subject or f"user@{tenant}",
            scopes=ALL_SCOPES if scopes is None else scopes,
            roles=["owner"] if roles is None else roles,
            ttl_s=ttl_s,
            issuer=ISSUER,
            audience=AUDIENCE,
            grants=grants,
        )

    def sign(self, claims: dict[str, object]) -> str:
        """Sign arbitrary claims with the real key (for forgery tests)."""
        from joserfc import jwt
        from joserfc.jwk import OKPKey

        key = OKPKey.import_key(self.private.read_bytes())
        return jwt.encode({"alg": "Ed25519"}, claims, key, algorithms=["Ed25519"])

    def headers(
        self,
        tenant: str,
        scopes: list[str] | None = None,
        roles: list[str] | None = None,
        subject: str | None = None,
        grants: list[str] | None = None,
    ) -> dict[str, str]:
        token = self.token(tenant, scopes, roles=roles, subject=subject, grants=grants)
        return {"Authorization": f"Bearer {token}"}


async def budget_record(ledger: Ledger, tenant: str, budget_id: str) -> AccountRecord | None:
    """The stored account of a budget, or None."""
    found = await ledger.load_accounts(tenant, [f"budget:{budget_id}"])
    return found[0] if found else None


async def stream_messages(bus: Bus, filter_subject: str) -> list[dict[str, object]]:
    sub = await bus.js.pull_subscribe(filter_subject, stream=subjects.EVENTS_STREAM)
    found: list[dict[str, object]] = []
    try:
        while True:
            try:
                batch = await sub.fetch(100, timeout=0.5)
            except TimeoutError:
                return found
            for msg in batch:
                found.append(json.loads(msg.data))
                await msg.ack()
    finally:
        await sub.unsubscribe()


async def outbox_drained(ledger: Ledger) -> None:
    for _ in range(100):
        if not await ledger.pending_events(10):
            return
        await asyncio.sleep(0.05)
    raise AssertionError("the outbox was not drained")


def sample_event(n: int = 0, tenant: str = "acme") -> OutboxEvent:
    """A real ``budget.debited`` event (the n-th debit of budget b1)."""
    data = BudgetDebited("b1", f"dbt_{n}", Money(n + 1, "EUR"), Money(0, "EUR"))
    return make_event(tenant, "budget", "debited", "b1", data)


async def until(check: Callable[[], Awaitable[bool]], what: str) -> None:
    """Wait for ``check`` (a generous bound: only a hang fails, never slowness)."""
    for _ in range(600):
        if await check():
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"never: {what}")


async def publish_burst(
    publisher: EventPublisher, seconds: float, event: Callable[[int], OutboxEvent] = sample_event
) -> int:
    """Events 1, 2, 3 … to ``PB_EVENTS`` at about 1,000 a second for ``seconds`` (a
    redemption burst, as followers of the stream see it); how many were sent."""
    sent = 0
    loop = asyncio.get_running_loop()
    end = loop.time() + seconds
    while loop.time() < end:
        await publisher.publish([event(sent + n) for n in range(1, 51)])
        sent += 50
        await asyncio.sleep(0.05)
    return sent


async def raw_execute(ledger: Ledger, statement: str, params: tuple[object, ...] = ()) -> None:
    """Run one statement (``?`` placeholders) on a ledger's database, bypassing the
    adapter: for tests that set up what an older version of perkbus left behind."""
    if isinstance(ledger, SqliteLedger):

        def run(con: sqlite3.Connection) -> None:
            con.execute(statement, params)

        await ledger.db.run(transaction(run))
    elif isinstance(ledger, MysqlLedger):
        async with ledger._transaction() as cur:  # test set-up only
            await cur.execute(statement.replace("?", "%s"), params)
    else:  # pragma: no cover
        raise TypeError(type(ledger).__name__)


async def raw_fetchall(
    ledger: Ledger, statement: str, params: tuple[object, ...] = ()
) -> list[tuple[Any, ...]]:
    """Rows of one query (``?`` placeholders) read past the adapter: what is really stored."""
    if isinstance(ledger, SqliteLedger):
        return await ledger.db.run(lambda con: con.execute(statement, params).fetchall())
    if isinstance(ledger, MysqlLedger):
        return [tuple(r) for r in await ledger._fetchall(statement.replace("?", "%s"), params)]
    raise TypeError(type(ledger).__name__)  # pragma: no cover


async def transactions(ledger: Ledger, tenant: str) -> set[str]:
    """The ids of the tenant's ledger transactions, as stored (a test's view: nothing in
    perkbus looks entries up by transaction, so the ledger has no index for it)."""
    rows = await raw_fetchall(
        ledger, "SELECT DISTINCT txn_id FROM ledger_entries WHERE tenant_id = ?", (tenant,)
    )
    return {str(r[0]) for r in rows}


def self_signed(directory: Path, stem: str = "edge") -> tuple[Path, Path]:
    """A certificate for 127.0.0.1 and its key, as PEM files."""
    import datetime
    import ipaddress

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=1))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .sign(key, hashes.SHA256())
    )
    cert_file, key_file = directory / f"{stem}.pem", directory / f"{stem}.key"
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_file, key_file


def gift_card(
    product_id: str = "card-de",
    currency: str = "EUR",
    country: str = "DE",
    denominations: tuple[int, ...] = (2500,),
) -> Product:
    """A gift card of the catalogue, sold at fixed face values."""
    return Product(
        id=product_id,
        brand="Brand",
        kind="gift_card",
        category="shopping",
        currency=currency,
        countries=(country,),
        texts={"en": Texts("Card")},
        denominations=denominations,
    )


def order_record(
    order_id: str, status: str = "accepted", version: int = 1, external: str = ""
) -> OrderRecord:
    """An order of acme's budget b1 (card-de at 2,500 EUR), as stored by an earlier
    version's saga or a test."""
    return OrderRecord(
        "acme",
        order_id,
        status,
        "ann",
        "budget:b1",
        "card-de",
        2500,
        "EUR",
        2500,
        "EUR",
        "",
        "",
        external,
        1,
        1,
        version,
    )


POSTGRES_ADMIN_URL = os.environ.get(
    "PERKBUS_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/postgres"
)


@asynccontextmanager
async def postgres_database() -> AsyncIterator[str]:
    """A fresh database on the PostgreSQL server, dropped afterwards; yields its URL."""
    import asyncpg

    try:
        conn = await asyncpg.connect(POSTGRES_ADMIN_URL, timeout=5)
    except Exception as e:
        unavailable(f"PostgreSQL at {POSTGRES_ADMIN_URL} is not reachable: {e}")
    name = f"pb_test_{uuid.uuid4().hex[:12]}"
    try:
        await conn.execute(f'CREATE DATABASE "{name}"')
        yield f"{POSTGRES_ADMIN_URL.rsplit('/', 1)[0]}/{name}"
    finally:
        await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await conn.close()


@asynccontextmanager
async def warehouse_process(bus: Bus, store: Warehouse) -> AsyncIterator[WarehouseLoader]:
    """What ``perkbus warehouse`` runs (its loader and its report service), on ``bus``;
    the store is migrated here and closed by its owner."""
    from actors.reports import ReportService
    from actors.runtime.warehouse_loader import WarehouseLoader

    await store.migrate()
    loader = WarehouseLoader(bus.js, store, batch_max=50)
    service = ReportService(bus.nc, store)
    await service.start()
    loader.start()
    try:
        yield loader
    finally:
        await loader.stop()
        await service.stop()


@asynccontextmanager
async def webhook_relay(
    bus: Bus,
    store: WebhookStore,
    schedule_s: Sequence[float] = (0.2, 0.2),
    timeout_s: float = 5,
    disable_failing: bool = True,
) -> AsyncIterator[WebhookRelay]:
    """What ``perkbus webhooks`` runs, on ``bus``, sending to private addresses too (the
    tests' receivers listen on 127.0.0.1); the store is closed by its owner."""
    from actors.webhook_relay import WebhookRelay

    relay = WebhookRelay(
        bus,
        store,
        schedule_s,
        allow_private=True,
        poll_s=0.1,
        timeout_s=timeout_s,
        disable_failing=disable_failing,
    )
    await relay.start()
    try:
        yield relay
    finally:
        await relay.stop()


#: The catalogue stores a test can be parametrised over (``params=CATALOGUE_STORES``).
CATALOGUE_STORES = ["sqlite", pytest.param("mongo", marks=pytest.mark.mongo)]


@asynccontextmanager
async def catalogue_store(
    request: pytest.FixtureRequest, tmp_path: Path
) -> AsyncIterator[CatalogueStore]:
    """The migrated catalogue store of the fixture's parameter: a SQLite file, or a fresh
    database on the session's MongoDB-wire server (dropped afterwards)."""
    from storage.mongo_catalogue import MongoCatalogue
    from storage.sqlite_catalogue import SqliteCatalogue
    from tests.servers.mongo import MongoServer, mongo_database

    async with AsyncExitStack() as stack:
        store: CatalogueStore
        if request.param == "mongo":
            server: MongoServer = request.getfixturevalue("mongo_server")
            store = MongoCatalogue(await stack.enter_async_context(mongo_database(server)))
        else:
            store = SqliteCatalogue(tmp_path / "catalogue.sqlite3")
        await store.migrate()
        try:
            yield store
        finally:
            await store.close()


def fail_first_ask(host: ActorHost, command: type[Command], why: str) -> list[Command]:
    """Make the first ask between the host's actors of a ``command`` fail as unavailable,
    before its actor sees it; the list returned holds the command that failed. Set it
    before the asking actor starts: an actor takes the host's context when it starts."""
    real_ask = host.context.ask
    failed: list[Command] = []

    async def ask(tenant: str, kind: str, body: Command, key: str | None) -> Reply:
        if isinstance(body, command) and not failed:
            failed.append(body)
            return Err.of(ErrorCode.UNAVAILABLE, why)
        return await real_ask(tenant, kind, body, key)

    host.context = dataclasses.replace(host.context, ask=ask)
    return failed
