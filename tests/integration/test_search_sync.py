"""The search index kept in step with the catalogue and the audit log (ADR 24): through a
real actor host, NATS JetStream and both search adapters; and what happens when the
search server goes away and comes back empty."""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from nats.js import JetStreamContext

from actors.config import ActorsConfig
from actors.kinds import ALL_KINDS
from actors.runtime.host import ActorHost
from actors.search_indexer import SearchIndexer
from bus.client import Bus
from bus.embedded import EmbeddedNats
from bus.messages import Ok, Reply
from bus.messages.audit import AuditPage, ReadAudit
from bus.messages.catalogue import (
    AddCustomProduct,
    CurateProduct,
    ListProducts,
    Product,
    ProductFilter,
    ProductPage,
    Texts,
)
from bus.messages.common import Principal
from storage.elastic_search import ElasticSearch
from storage.ports import CatalogueStore, Ledger
from storage.search_ports import SearchIndex
from storage.sqlite import SqliteLedger
from storage.sqlite_search import SqliteSearch
from tests.conftest import PARTITIONS, Cluster, context, start_cluster
from tests.integration.api import BudgetApi, GraphQL, Rest
from tests.servers import ServerFailed, free_port
from tests.servers.search import osmem
from tests.support import ALL_SCOPES, Keys, unavailable

#: A tenant's own product, added over the API.
MUG = {
    "id": "acme-mug",
    "brand": "Acme",
    "kind": "merchandise",
    "category": "office",
    "currency": "EUR",
    "countries": ["DE"],
    "texts": {"en": {"name": "Espresso mug"}},
    "denominations": [1500],
}

OWNER = Principal("owner-1", roles=("owner",), scopes=tuple(ALL_SCOPES))


def product(pid: str, name: str, brand: str, tenant: str = "") -> Product:
    return Product(
        id=pid,
        brand=brand,
        kind="gift_card",
        category="shopping",
        currency="EUR",
        countries=("DE",),
        texts={"en": Texts(name)},
        denominations=(1000, 2500),
        tenant=tenant,
    )


async def eventually(check: Callable[[], Awaitable[bool]], what: str, limit_s: float = 15) -> None:
    """Wait until ``check`` holds (the indexer works in the background)."""
    deadline = asyncio.get_running_loop().time() + limit_s
    while not await check():
        if asyncio.get_running_loop().time() > deadline:
            pytest.fail(f"never: {what}")
        await asyncio.sleep(0.02)


@pytest.fixture
async def sqlite_ledger(tmp_path: Path) -> AsyncIterator[Ledger]:
    store = SqliteLedger(tmp_path / "ledger.sqlite3")
    await store.migrate()
    yield store
    await store.close()


def quick_indexer(
    index: SearchIndex,
    catalogue: CatalogueStore,
    ledger: Ledger,
    js: JetStreamContext,
    host: ActorHost,
) -> SearchIndexer:
    """An indexer that looks often (the tests wait less), telling the edges when it has
    changed the index, as ``perkbus actors`` wires it."""
    return SearchIndexer(
        index,
        catalogue,
        ledger,
        js,
        poll_s=0.05,
        audit_every_s=0.05,
        on_indexed=host.catalogue_changed,
    )


class Running:
    def __init__(self, bus: Bus, ledger: Ledger, catalogue: CatalogueStore, index: SearchIndex):
        self.bus, self.ledger, self.catalogue, self.index = bus, ledger, catalogue, index
        ctx = replace(context(ledger, catalogue), search=index, stores=(index,))
        self.host = ActorHost(bus, ctx, ALL_KINDS, ActorsConfig(idle_timeout_s=30), PARTITIONS)
        self.indexer = self.new_indexer()

    def new_indexer(self) -> SearchIndexer:
        return quick_indexer(self.index, self.catalogue, self.ledger, self.bus.js, self.host)

    async def start(self) -> None:
        await self.host.start()
        self.indexer.start()

    async def stop(self) -> None:
        await self.indexer.stop()
        await self.host.stop()

    async def ask(self, body: object) -> Reply:
        return await self.bus.request("acme", _kind(body), body, OWNER, timeout_s=10)  # type: ignore[arg-type]

    async def search(self, q: str) -> ProductPage:
        reply = await self.ask(ListProducts(ProductFilter(q=q)))
        assert isinstance(reply, Ok), reply
        assert isinstance(reply.value, ProductPage)
        return reply.value

    async def finds(self, q: str, pid: str) -> bool:
        page = await self.search(q)
        return not page.degraded and pid in [p.id for p in page.products]


def _kind(body: object) -> str:
    return "audit" if isinstance(body, ReadAudit) else "catalogue"


@pytest.fixture(params=["sqlite", pytest.param("elasticsearch", marks=pytest.mark.search)])
async def index(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[SearchIndex]:
    if request.param == "sqlite":
        sqlite = SqliteSearch(tmp_path / "search.sqlite3")
        yield sqlite
        await sqlite.close()
        return
    try:
        with osmem(tmp_path) as url:
            elastic = ElasticSearch(url, prefix=f"sync-{uuid.uuid4().hex[:8]}-")
            yield elastic
            await elastic.close()
    except ServerFailed as e:
        unavailable(f"no Elasticsearch-API server: {e}")


async def test_changes_are_found_misspelt_soon_after(
    bus: Bus, sqlite_ledger: Ledger, catalogue: CatalogueStore, index: SearchIndex
) -> None:
    running = Running(bus, sqlite_ledger, catalogue, index)
    await running.start()
    try:
        # The platform's catalogue: indexed when the store's revision moves.
        await catalogue.put_products([product("amazon", "Amazon gift card", "Amazon")])
        await eventually(lambda: running.finds("amazn", "amazon"), "the platform product")

        # A tenant's own product: indexed from its product_changed event.
        own = product("acme-mug", "Espresso mug", "Acme")
        assert isinstance(await running.ask(AddCustomProduct(own)), Ok)
        await eventually(lambda: running.finds("expresso", "acme-mug"), "the custom product")
        page = await running.search("expresso mug")
        assert [p.id for p in page.products] == ["acme-mug"]
        assert [(f.value, f.count) for f in page.facets.brand] == [("Acme", 1)]

        # Disabled: left out of searches (the actor's curation, applied by the index).
        assert isinstance(await running.ask(CurateProduct("amazon", enabled=False)), Ok)
        assert (await running.search("amazon")).products == ()

        # The audit log: the custom product's addition is found by a misspelt word.
        async def audited() -> bool:
            reply = await running.ask(ReadAudit(q="acme-mgu"))
            assert isinstance(reply, Ok), reply
            assert isinstance(reply.value, AuditPage)
            page = reply.value
            return not page.degraded and any(e.target == "acme-mug" for e in page.entries)

        await eventually(audited, "the audit entry")

        # A restarted indexer resumes from its marks in the index: nothing is lost.
        await running.indexer.stop()
        await catalogue.put_products([product("zalando", "Zalando voucher", "Zalando")])
        running.indexer = running.new_indexer()
        running.indexer.start()
        await eventually(lambda: running.finds("zalandoo", "zalando"), "a change made while down")
        assert running.indexer.rebuilds == 0
    finally:
        await running.stop()


@pytest.mark.search
async def test_the_search_server_may_die_and_come_back_empty(
    nats_server: EmbeddedNats,
    sqlite_ledger: Ledger,
    catalogue: CatalogueStore,
    keys: Keys,
    tmp_path: Path,
) -> None:
    port = free_port()
    server: contextlib.AbstractContextManager[str] = osmem(tmp_path, port)
    try:
        url = server.__enter__()
    except ServerFailed as e:
        unavailable(f"no Elasticsearch-API server: {e}")
    index = ElasticSearch(url, prefix="outage-", request_timeout_s=1.0)
    try:
        async for cluster in start_cluster(
            nats_server, sqlite_ledger, catalogue, keys, search=index
        ):
            indexer = quick_indexer(index, catalogue, sqlite_ledger, cluster.bus.js, cluster.host)
            indexer.start()
            try:
                server = await _outage(cluster, indexer, server, tmp_path, port)
            finally:
                await indexer.stop()
    finally:
        await index.close()
        server.__exit__(None, None, None)


async def _outage(
    cluster: Cluster,
    indexer: SearchIndexer,
    server: contextlib.AbstractContextManager[str],
    tmp_path: Path,
    port: int,
) -> contextlib.AbstractContextManager[str]:
    api, acme = Rest(cluster.client), cluster.keys.headers("acme")

    async def finds(q: str, pid: str) -> bool:
        page = (await api.products(acme, q=q)).value
        assert page is not None
        return not page["degraded"] and pid in [p["id"] for p in page["products"]]

    async def readiness() -> dict[str, Any]:
        async with cluster.client.get("/readyz") as r:
            report: dict[str, Any] = await r.json()
            assert r.status == 200, report  # ready, degraded or not: never unready
            return report

    await catalogue_put(cluster, [product("amazon", "Amazon gift card", "Amazon")])
    await eventually(lambda: finds("amazn", "amazon"), "the platform product")
    assert (await readiness())["status"] == "ready"

    server.__exit__(None, None, None)  # killed: its in-memory indices are gone
    report = await readiness()
    assert report["status"] == "degraded"
    search = [s for s in report["stores"] if s["name"] == "search:elasticsearch"]
    assert [(s["ok"], s["essential"]) for s in search] == [(False, False)]
    # Lists still answer, in memory, by prefix, marked degraded.
    page = (await api.products(acme, q="amaz")).value
    assert page is not None
    assert page["degraded"] is True
    assert [p["id"] for p in page["products"]] == ["amazon"]
    # Changes made meanwhile are not lost.
    assert (await api.add_custom(acme, MUG)).value is not None
    await catalogue_put(cluster, [product("zalando", "Zalando voucher", "Zalando")])

    server = osmem(tmp_path, port)
    server.__enter__()  # back, empty: the indexer rebuilds the index
    await eventually(lambda: finds("expresso", "acme-mug"), "the custom product")
    await eventually(lambda: finds("zalandoo", "zalando"), "the platform change")
    assert await finds("amazn", "amazon")
    assert (await readiness())["status"] == "ready"
    assert indexer.rebuilds == 2  # the first index, and the one after the loss
    return server


async def catalogue_put(cluster: Cluster, products: list[Product]) -> None:
    await cluster.host.context.catalogue.put_products(products)


@pytest.fixture(params=["rest", "graphql"])
async def api_cluster(
    request: pytest.FixtureRequest,
    nats_server: EmbeddedNats,
    sqlite_ledger: Ledger,
    catalogue: CatalogueStore,
    keys: Keys,
    tmp_path: Path,
) -> AsyncIterator[tuple[BudgetApi, Cluster, SearchIndexer]]:
    index = SqliteSearch(tmp_path / "api-search.sqlite3")
    async for cluster in start_cluster(nats_server, sqlite_ledger, catalogue, keys, search=index):
        indexer = quick_indexer(index, catalogue, sqlite_ledger, cluster.bus.js, cluster.host)
        indexer.start()
        api = Rest(cluster.client) if request.param == "rest" else GraphQL(cluster.client)
        yield api, cluster, indexer
        await indexer.stop()
    await index.close()


async def test_the_api_searches_typo_tolerant_with_facets(
    api_cluster: tuple[BudgetApi, Cluster, SearchIndexer], catalogue: CatalogueStore
) -> None:
    api, cluster, _ = api_cluster
    acme = cluster.keys.headers("acme")
    await catalogue.put_products(
        [
            product("amazon", "Amazon gift card", "Amazon"),
            product("amazon-fresh", "Amazon Fresh groceries", "Amazon"),
            product("zalando", "Zalando voucher", "Zalando"),
        ]
    )

    async def found() -> bool:
        page = (await api.products(acme, q="amazn")).value
        assert page is not None
        return bool(page["total"] == 2)

    await eventually(found, "the platform products")
    page = (await api.products(acme, q="amazn gfit")).value
    assert page is not None
    assert [p["id"] for p in page["products"]] == ["amazon"]
    assert page["degraded"] is False
    assert page["facets"]["brand"] == [{"value": "Amazon", "count": 1}]
    assert page["facets"]["price"] == [
        {"currency": "EUR", "min_minor": 1000, "max_minor": 2500, "count": 1},
        {"currency": "EUR", "min_minor": 2500, "max_minor": 5000, "count": 1},
    ]
    first = (await api.products(acme, q="amazon", limit=1)).value
    assert first is not None
    second = (await api.products(acme, q="amazon", limit=1, cursor=first["next_cursor"])).value
    assert second is not None
    assert second["next_cursor"] is None
    ids = {first["products"][0]["id"], second["products"][0]["id"]}
    assert ids == {"amazon", "amazon-fresh"}


async def test_the_audit_log_is_searched_over_http(
    api_cluster: tuple[BudgetApi, Cluster, SearchIndexer],
) -> None:
    api, cluster, _ = api_cluster
    acme = cluster.keys.headers("acme")
    assert (await api.add_custom(acme, MUG)).value is not None

    async def searched() -> dict[str, Any]:
        async with cluster.client.get("/api/v1/audit?q=acme-mgu", headers=acme) as r:
            assert r.status == 200, await r.text()
            result: dict[str, Any] = await r.json()
            return result

    async def indexed() -> bool:
        return bool((await searched())["entries"])

    await eventually(indexed, "the audit entry")
    result = await searched()
    assert [e["target"] for e in result["entries"]] == ["acme-mug"]
    assert result["total"] == 1
    assert result["degraded"] is False
