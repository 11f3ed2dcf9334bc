"""Fixtures: a real nats-server per test, real ledgers (SQLite and MariaDB), and an
in-process cluster (actor host + edge) wired exactly as ``perkbus up`` wires it."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Iterator, Sequence
from dataclasses import dataclass, replace
from pathlib import Path

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from actors.config import ActorsConfig
from actors.kinds import ALL_KINDS
from actors.runtime.actor import ActorContext, ActorKind
from actors.runtime.host import ActorHost
from actors.sealing import MasterKey
from bus.client import Bus
from bus.embedded import EmbeddedNats
from bus.messages import Ok
from bus.messages.budget import CreateBudget
from bus.messages.common import Money, Principal
from bus.messages.vouchers import CodeRow, ImportCodes
from bus.messages.wallet import IssuePoints
from bus.nats_auth import UserIssuer
from edge.app import create_app
from edge.auth import TokenVerifier
from edge.config import EdgeConfig
from edge.ratelimit import RateLimiter
from storage.catalogue_cache import PlatformCatalogue
from storage.mysql import MysqlLedger
from storage.ports import CatalogueStore, Ledger
from storage.search_ports import SearchIndex
from storage.sqlite import SqliteLedger
from storage.sqlite_catalogue import SqliteCatalogue
from storage.sqlite_tenant_docs import SqliteTenantDocuments
from tests.support import AUDIENCE, ISSUER, Keys, gift_card, mysql_database

PARTITIONS = 8

#: Fixtures of the real servers tests start (each module documents its own).
#: The servers tests start once per session: ``mongo_server``, ``couch_url``.
pytest_plugins = ["tests.servers.mongo", "tests.servers.couch"]


@pytest.fixture
def nats_server(tmp_path: Path) -> Iterator[EmbeddedNats]:
    server = EmbeddedNats(tmp_path / "nats", partitions=PARTITIONS)
    server.start()
    yield server
    server.stop()


@pytest.fixture
async def bus(nats_server: EmbeddedNats) -> AsyncIterator[Bus]:
    connection = await Bus.connect(nats_server.url, "test", nats_server.credentials)
    yield connection
    await connection.close()


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """``@pytest.mark.ledgers("sqlite")`` (on a test or a module, the closest one counts)
    keeps a test that takes ``ledger_url`` to those ledgers: what it tests sits above the
    ledger, whose adapters the contract suite holds equal (ADR 30)."""
    kept: list[pytest.Item] = []
    dropped: list[pytest.Item] = []
    for item in items:
        marker = item.get_closest_marker("ledgers")
        callspec = getattr(item, "callspec", None)
        kind = callspec.params.get("ledger_url") if callspec is not None else None
        (dropped if marker and kind is not None and kind not in marker.args else kept).append(item)
    if dropped:
        config.hook.pytest_deselected(items=dropped)
        items[:] = kept


@pytest.fixture(params=["sqlite", pytest.param("mysql", marks=pytest.mark.mysql)])
async def ledger_url(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[str]:
    """``sqlite:<path>`` or a MySQL URL of a fresh database."""
    async for url in fresh_ledger_url(request.param, tmp_path):
        yield url


async def fresh_ledger_url(kind: str, tmp_path: Path) -> AsyncIterator[str]:
    """A new, empty ledger of ``kind``: ``sqlite`` (written from its thread),
    ``sqlite+process`` (by its writer process) or ``mysql``."""
    if kind.startswith("sqlite"):
        yield f"{kind}:{tmp_path / 'ledger.sqlite3'}"
        return
    async with mysql_database() as url:
        yield url


def open_test_ledger(url: str) -> Ledger:
    if url.startswith("sqlite:"):
        return SqliteLedger(url.removeprefix("sqlite:"))
    if url.startswith("sqlite+process:"):
        return SqliteLedger(url.removeprefix("sqlite+process:"), writer="process")
    return MysqlLedger(url, pool_size=4)


@pytest.fixture
async def ledger(ledger_url: str) -> AsyncIterator[Ledger]:
    store = open_test_ledger(ledger_url)
    await store.migrate()
    yield store
    await store.close()


@pytest.fixture
async def catalogue(tmp_path: Path) -> AsyncIterator[CatalogueStore]:
    store = SqliteCatalogue(tmp_path / "catalogue.sqlite3")
    await store.migrate()
    yield store
    await store.close()


#: One master key for the test run: hosts of one deployment share theirs (data keys and
#: signing keys are sealed under it), and so do the hosts a test starts one after another.
MASTER_KEY = MasterKey(os.urandom(32))


def context(ledger: Ledger, catalogue: CatalogueStore | None = None) -> ActorContext:
    """What actors get; without a catalogue store, an in-memory SQLite one (opened on use),
    and in-memory SQLite tenant documents."""
    store = catalogue or SqliteCatalogue(":memory:")
    tenant_docs = SqliteTenantDocuments(":memory:")
    return ActorContext(
        ledger,
        store,
        PlatformCatalogue(store, refresh_s=0),
        MASTER_KEY,
        stores=(tenant_docs,),
        tenant_docs=tenant_docs,
        webhook_private_targets=True,  # the tests' receivers listen on 127.0.0.1
    )


@pytest.fixture
def keys(tmp_path: Path) -> Keys:
    return Keys(tmp_path / "keys")


@dataclass
class Cluster:
    bus: Bus
    host: ActorHost
    ledger: Ledger
    client: TestClient[web.Request, web.Application]
    keys: Keys

    async def open_budget(
        self, tenant: str, budget_id: str, amount: int, currency: str = "EUR"
    ) -> None:
        reply = await self.bus.request(
            tenant,
            "treasury",
            CreateBudget(budget_id, f"Budget {budget_id}", Money(amount, currency)),
            Principal("test"),
            timeout_s=5,
        )
        assert reply.__class__.__name__ == "Ok", reply

    async def open_shop(
        self, catalogue: CatalogueStore, codes: int, budget: int, points: dict[str, int]
    ) -> None:
        """acme sells ``card-de`` (25.00 EUR, ``codes`` codes in stock) and has budget
        ``b1`` of ``budget`` cents; each person of ``points`` is rewarded that many."""
        admin = Principal("admin@acme", roles=("admin",))
        await catalogue.put_products([gift_card()])
        await self.open_budget("acme", "b1", budget)
        rows = tuple(CodeRow(f"SECRET-{i:04d}") for i in range(codes))
        load = ImportCodes("card-de", 2500, "EUR", rows)
        assert isinstance(await self.bus.request("acme", "vouchers", load, admin, 10), Ok)
        for person, amount in points.items():
            issue = IssuePoints("b1", person, amount, f"rwd-{person}")
            assert isinstance(await self.bus.request("acme", "treasury", issue, admin, 10), Ok)


async def start_host(
    bus: Bus,
    ledger: Ledger,
    catalogue: CatalogueStore,
    kinds: Sequence[ActorKind] = ALL_KINDS,
    idle_timeout_s: float = 30,
    config: ActorsConfig | None = None,
    expiry_warning_days: int = 30,
    nats_users: UserIssuer | None = None,
    search: SearchIndex | None = None,
) -> ActorHost:
    """An actor host on the test's NATS, started (its caller stops it); with
    ``nats_users`` it mints integrators' NATS credentials; with ``search`` its actors
    search there (nobody indexes it: the test runs a ``SearchIndexer`` if it wants one)."""
    # scheduled bulk jobs start within half a second of their time, not five
    config = config or ActorsConfig(idle_timeout_s=idle_timeout_s, schedule_poll_s=0.5)
    base = context(ledger, catalogue)
    ctx = replace(
        base,
        expiry_warning_days=expiry_warning_days,
        nats_users=nats_users,
        search=search,
        stores=base.stores + ((search,) if search is not None else ()),
    )
    host = ActorHost(bus, ctx, kinds, config, PARTITIONS)
    await host.start()
    return host


async def start_cluster(
    nats_server: EmbeddedNats,
    ledger: Ledger,
    catalogue: CatalogueStore,
    keys: Keys,
    request_timeout_s: float = 5.0,
    edge: EdgeConfig | None = None,
    limiter: RateLimiter | None = None,
    search: SearchIndex | None = None,
) -> AsyncIterator[Cluster]:
    """Actor host and edge on the test's NATS. Bursts from one test token stand for many
    clients, so rate limits are off unless ``edge`` turns them on."""
    bus = await Bus.connect(nats_server.url, "test-cluster", nats_server.credentials)
    nats_users = UserIssuer.from_directory(nats_server.auth_dir)
    host = await start_host(bus, ledger, catalogue, nats_users=nats_users, search=search)
    verifier = TokenVerifier(keys.public.read_bytes(), ISSUER, AUDIENCE)
    edge = edge or EdgeConfig(request_timeout_s=request_timeout_s, rate_per_s=0)
    app = create_app(edge, nats_server.url, verifier, limiter, nats_server.credentials)
    client: TestClient[web.Request, web.Application] = TestClient(TestServer(app))
    await client.start_server()
    try:
        yield Cluster(bus, host, ledger, client, keys)
    finally:
        await client.close()
        await host.stop()
        await bus.close()


@pytest.fixture
async def cluster(
    nats_server: EmbeddedNats, ledger: Ledger, catalogue: CatalogueStore, keys: Keys
) -> AsyncIterator[Cluster]:
    async for c in start_cluster(nats_server, ledger, catalogue, keys):
        yield c
