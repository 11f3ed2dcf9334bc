"""The CatalogueStore contract, over the SQLite adapter and the MongoDB one (a real
MongoDB-wire server, one per session; a database per test)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from contextlib import aclosing
from pathlib import Path

import msgspec
import pytest

from bus.messages.catalogue import Curation, Product, Range, Texts
from storage.catalogue_cache import PlatformCatalogue
from storage.errors import StaleWrite
from storage.mongo_catalogue import MongoCatalogue
from storage.ports import CatalogueStore, CuratedProduct
from tests.servers.mongo import MongoServer, run_mongo
from tests.support import CATALOGUE_STORES, catalogue_store


@pytest.fixture(params=CATALOGUE_STORES)
async def store(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[CatalogueStore]:
    async with catalogue_store(request, tmp_path) as adapter:
        await adapter.migrate()  # idempotent
        yield adapter


def product(pid: str, tenant: str = "", name: str = "Card") -> Product:
    return Product(
        id=pid,
        brand="Brand",
        kind="gift_card",
        category="shopping",
        currency="EUR",
        countries=("DE", "FR"),
        texts={"en": Texts(name), "fr": Texts(f"{name} (fr)")},
        denominations=(1000, 2500),
        tenant=tenant,
    )


async def test_products_are_kept_per_owner(store: CatalogueStore) -> None:
    before = await store.revision()
    ranged = Product(
        id="open",
        brand="B",
        kind="voucher",
        category="travel",
        currency="INR",
        countries=("IN",),
        texts={"en": Texts("Open")},
        range=Range(100, 50_000),
    )
    await store.put_products([product("b"), product("a"), ranged])
    assert await store.revision() > before
    assert [p.id for p in await store.products("")] == ["a", "b", "open"]
    assert (await store.products(""))[2] == ranged

    revision = await store.revision()
    await store.put_products([product("own", tenant="acme")])
    assert await store.revision() == revision  # a tenant's product is not the platform's
    assert [p.id for p in await store.products("acme")] == ["own"]
    assert await store.products("globex") == []

    await store.put_products([product("a", name="Renamed")])
    renamed = [p for p in await store.products("") if p.id == "a"]
    assert renamed[0].text("en").name == "Renamed"


async def test_a_product_in_a_currency_since_withdrawn_is_read_as_stored(
    store: CatalogueStore,
) -> None:
    """Croatia's kuna left ISO 4217's list in 2023: a product priced in it still reads
    (new custom products need a currency in use; stored ones are not refused)."""
    kuna = msgspec.structs.replace(product("kuna", tenant="acme"), currency="HRK")
    await store.put_products([kuna])
    assert await store.products("acme") == [kuna]


async def test_curation_writes_are_fenced(store: CatalogueStore) -> None:
    assert await store.curation("acme") == Curation()
    first = Curation(disabled=frozenset({"a"}), markup_bps={"b": 250}, version=1)
    await store.save_curation("acme", first)
    assert await store.curation("acme") == first
    with pytest.raises(StaleWrite):
        await store.save_curation("acme", Curation(version=1))  # someone else's first write
    second = Curation(disabled=frozenset(), markup_bps={}, default_markup_bps=100, version=2)
    await store.save_curation("acme", second)
    with pytest.raises(StaleWrite):
        await store.save_curation("acme", Curation(version=2))
    assert await store.curation("acme") == second
    assert await store.curation("globex") == Curation()


async def test_the_tenants_catalogue_is_merged_by_the_store(store: CatalogueStore) -> None:
    await store.put_products([product("a"), product("b"), product("c.1"), product("x")])
    await store.put_products([product("own", tenant="acme"), product("x", "acme", "Mine")])
    await store.put_products([product("theirs", tenant="globex")])

    plain = await store.effective_catalogue("acme")  # no curation yet: all on, no markup
    assert [(c.product.id, c.product.tenant, c.enabled, c.markup_bps) for c in plain] == [
        ("a", "", True, 0),
        ("b", "", True, 0),
        ("c.1", "", True, 0),
        ("own", "acme", True, 0),
        ("x", "acme", True, 0),  # its own product hides the platform's of the same id
    ]
    assert plain[4].product == product("x", "acme", "Mine")

    curation = Curation(
        disabled=frozenset({"b", "own"}),
        markup_bps={"c.1": 250, "own": 75},
        default_markup_bps=100,
        version=1,
    )
    await store.save_curation("acme", curation)
    merged = await store.effective_catalogue("acme")
    assert [(c.product.id, c.enabled, c.markup_bps) for c in merged] == [
        ("a", True, 100),
        ("b", False, 100),
        ("c.1", True, 250),
        ("own", False, 75),
        ("x", True, 100),
    ]
    assert merged[0] == CuratedProduct(product("a"), True, 100)

    other = await store.effective_catalogue("globex")  # acme's curation is not globex's
    assert [(c.product.id, c.enabled, c.markup_bps) for c in other] == [
        ("a", True, 0),
        ("b", True, 0),
        ("c.1", True, 0),
        ("theirs", True, 0),
        ("x", True, 0),
    ]
    assert other[4].product.tenant == ""

    pages = [await store.effective_catalogue("acme", limit=2)]
    while len(pages[-1]) == 2:
        pages.append(await store.effective_catalogue("acme", pages[-1][-1].product.id, 2))
    assert [[c.product.id for c in page] for page in pages] == [["a", "b"], ["c.1", "own"], ["x"]]
    assert [c for page in pages for c in page] == merged


async def test_watch_reports_changes_of_the_platform_catalogue(store: CatalogueStore) -> None:
    async with aclosing(store.watch()) as changes:
        first = await anext(changes)
        assert first == await store.revision()
        await store.put_products([product("own", tenant="acme")])  # not the platform's
        await store.put_products([product("new")])
        changed = await asyncio.wait_for(anext(changes), 10)
        assert changed > first
        assert changed == await store.revision()
        assert [p.id for p in await store.products("")] == ["new"]


@pytest.mark.mongo
async def test_mongo_without_change_streams_polls_the_revision(mongo_url: str) -> None:
    store = MongoCatalogue(mongo_url, poll_interval_s=0.05, change_streams=False)
    try:
        await store.migrate()
        async with aclosing(store.watch()) as changes:
            first = await anext(changes)
            await store.put_products([product("polled")])
            assert await asyncio.wait_for(anext(changes), 10) == first + 1
    finally:
        await store.close()


async def test_the_shared_cache_follows_changes_without_polling(store: CatalogueStore) -> None:
    platform = PlatformCatalogue(store, refresh_s=3600)  # the backstop poll never comes
    await store.put_products([product("a")])
    assert list(await platform.products()) == ["a"]
    platform.start()
    try:
        await until(lambda: platform.live)
        await store.put_products([product("b"), product("a", name="Renamed")])
        for _ in range(1000):  # bounded: fails, never hangs
            if "b" in await platform.products():
                break
            await asyncio.sleep(0.01)
        seen = await platform.products()
        assert sorted(seen) == ["a", "b"]
        assert seen["a"].text("en").name == "Renamed"
    finally:
        await platform.stop()
    assert not platform.live


async def until(condition: Callable[[], bool]) -> None:
    """Wait for ``condition`` (a bounded wait: a test fails, never hangs)."""
    for _ in range(1000):
        if condition():
            return
        await asyncio.sleep(0.01)
    raise AssertionError("the condition did not come true in 10 s")


@pytest.mark.mongo
@pytest.mark.slow
async def test_mongo_keeps_the_catalogue_across_a_restart(tmp_path: Path) -> None:
    data = tmp_path / "mongo"
    with run_mongo(data) as server:
        await _fill(server)
    with run_mongo(data, server.port) as again:
        store = MongoCatalogue(again.url("perkbus"))
        try:
            await store.migrate()
            assert [p.id for p in await store.products("")] == ["kept"]
            assert await store.revision() == 1
            assert (await store.curation("acme")).markup_bps == {"kept": 50}
        finally:
            await store.close()


@pytest.mark.mongo
@pytest.mark.slow
async def test_the_shared_cache_watches_again_after_a_mongo_restart(tmp_path: Path) -> None:
    data = tmp_path / "mongo"
    with run_mongo(data) as server:
        store = MongoCatalogue(server.url("perkbus"), timeout_ms=1000)
        await store.migrate()
        platform = PlatformCatalogue(store, refresh_s=3600, retry_s=0.1)
        platform.start()
        try:
            await until(lambda: platform.live)
        except BaseException:
            await platform.stop()
            await store.close()
            raise
    try:
        await until(lambda: not platform.live)  # the server went away
        with run_mongo(data, server.port):
            await store.put_products([product("after")])
            await until(lambda: platform.live)
            for _ in range(1000):  # bounded: fails, never hangs
                if "after" in await platform.products():
                    break
                await asyncio.sleep(0.01)
            assert list(await platform.products()) == ["after"]
            await platform.stop()
    finally:
        await platform.stop()
        await store.close()


async def _fill(server: MongoServer) -> None:
    store = MongoCatalogue(server.url("perkbus"))
    try:
        await store.migrate()
        await store.put_products([product("kept")])
        await store.save_curation("acme", Curation(markup_bps={"kept": 50}, version=1))
    finally:
        await store.close()
