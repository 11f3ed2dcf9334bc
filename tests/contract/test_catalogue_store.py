"""The CatalogueStore contract (today: the SQLite adapter; MongoDB joins it later)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from bus.messages.catalogue import Curation, Product, Range, Texts
from storage.errors import StaleWrite
from storage.ports import CatalogueStore
from storage.sqlite_catalogue import SqliteCatalogue


@pytest.fixture(params=["sqlite"])
async def store(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[CatalogueStore]:
    adapter = SqliteCatalogue(tmp_path / "catalogue.sqlite3")
    await adapter.migrate()
    await adapter.migrate()  # idempotent
    yield adapter
    await adapter.close()


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
