"""The catalogue actor lists from lists sorted once per change of the catalogue
(``actors.catalogue_listing``): a request does not fold or sort the catalogue again, a
change is in the very next page, and the pages are exactly those of a plain sort."""

from __future__ import annotations

import unicodedata
from collections.abc import Callable, Sequence
from typing import Any

import pytest
from msgspec.structs import replace

from actors import catalogue_listing
from actors.catalogue import CatalogueActor, encode_cursor
from actors.runtime.actor import ActorKey
from bus.messages import Ok, Request
from bus.messages.catalogue import (
    AddCustomProduct,
    CatalogueCommand,
    CurateProduct,
    ListProducts,
    Product,
    ProductFilter,
    ProductPage,
    Texts,
)
from bus.messages.common import Principal
from perkbus.demo_catalogue import generate
from storage.ports import CatalogueStore, Ledger
from storage.search_ports import count_facets
from tests.conftest import context

#: The catalogue is not in the ledger: SQLite only (ADR 30).
pytestmark = pytest.mark.ledgers("sqlite")

KEY = ActorKey("acme", "catalogue", "-")
ADMIN = Principal("admin@acme", roles=("admin",), scopes=("catalogue:admin",))


async def ask(actor: CatalogueActor, body: CatalogueCommand) -> Any:
    decision = await actor.handle([Request("acme", ADMIN, "r", 0, body)])
    (reply,) = decision.replies
    assert isinstance(reply, Ok), reply
    return reply.value


async def page(actor: CatalogueActor, query: ListProducts) -> ProductPage:
    value = await ask(actor, query)
    assert isinstance(value, ProductPage)
    return value


async def walk(actor: CatalogueActor, query: ListProducts) -> tuple[list[str], list[int]]:
    """Every id of the list, page after page by cursor, and each page's total."""
    ids: list[str] = []
    totals: list[int] = []
    cursor = None
    while True:
        got = await page(actor, replace(query, cursor=cursor))
        ids += [p.id for p in got.products]
        totals.append(got.total)
        if (cursor := got.next_cursor) is None:
            return ids, totals


def own(product_id: str, name: str) -> Product:
    return Product(
        product_id, "Acme", "merchandise", "home", "EUR", ("DE",), {"en": Texts(name)}, (1500,)
    )


class Calls:
    """Counts the calls of a module function, still calling it."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch, name: str) -> None:
        self.n = 0
        real: Callable[..., Any] = getattr(catalogue_listing, name)

        def counted(*args: Any, **kwargs: Any) -> Any:
            self.n += 1
            return real(*args, **kwargs)

        monkeypatch.setattr(catalogue_listing, name, counted)


async def listing_actor(ledger: Ledger, catalogue: CatalogueStore) -> CatalogueActor:
    actor = CatalogueActor(context(ledger, catalogue), KEY)
    await actor.on_activate()
    return actor


async def test_a_list_of_an_unchanged_catalogue_neither_folds_nor_sorts_it_again(
    ledger: Ledger, catalogue: CatalogueStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    await catalogue.put_products(generate(600))
    actor = await listing_actor(ledger, catalogue)
    folds, sorts, facets, fits = (
        Calls(monkeypatch, name) for name in ("fold", "sort_shown", "count", "fits")
    )
    eur = ListProducts(ProductFilter(currency="EUR"), limit=50)
    first = await page(actor, ListProducts(limit=50))
    await page(actor, eur)
    assert (sorts.n, facets.n) == (1, 2)
    assert folds.n >= 600  # every product's name, once
    assert fits.n == 600  # the filter looked at each product once
    folds.n = sorts.n = facets.n = fits.n = 0

    again = await page(actor, ListProducts(limit=50))
    assert again == first
    await page(actor, ListProducts(limit=50, cursor=first.next_cursor))  # found by bisection
    await page(actor, eur)
    await page(actor, replace(eur, cursor=(await page(actor, eur)).next_cursor))
    assert (folds.n, sorts.n, facets.n, fits.n) == (0, 0, 0, 0)


async def test_a_change_of_the_catalogue_is_in_the_next_page(
    ledger: Ledger, catalogue: CatalogueStore
) -> None:
    await catalogue.put_products(generate(300))
    actor = await listing_actor(ledger, catalogue)
    first = await page(actor, ListProducts(limit=20))
    assert first.total == 300
    assert first.next_cursor is not None

    # a product of its own, sorted after the first page: in the next one
    after = first.products[-1].name + "zz"
    await ask(actor, AddCustomProduct(own("acme-late", after)))
    second = await page(actor, ListProducts(limit=20, cursor=first.next_cursor))
    assert second.products[0].id == "acme-late"
    assert second.total == 301

    # a product disabled: gone from the page that showed it
    await ask(actor, CurateProduct(first.products[0].id, enabled=False))
    again = await page(actor, ListProducts(limit=20))
    assert first.products[0].id not in [p.id for p in again.products]
    assert again.total == 300

    # the platform's products moved (the cache reloads them): in the next page too
    await catalogue.put_products([replace(generate(1)[0], id="aaa-new", texts={"en": Texts("!")})])
    newest = await page(actor, ListProducts(limit=20))
    assert newest.products[0].id == "aaa-new"
    assert newest.total == 301


def reference_fold(text: str) -> str:
    return "".join(
        c for c in unicodedata.normalize("NFKD", text.casefold()) if not unicodedata.combining(c)
    )


def reference_matches(p: Product, f: ProductFilter) -> bool:
    """The filter as the API documents it, written out plainly."""
    if f.country is not None and f.country not in p.countries:
        return False
    if f.currency is not None and p.currency != f.currency:
        return False
    if f.category is not None and p.category != f.category:
        return False
    if f.min_price is None and f.max_price is None:
        return True
    low = f.min_price or 0
    high = 2**62 if f.max_price is None else f.max_price
    if p.range is not None:
        return p.range.max_minor >= low and p.range.min_minor <= high
    return any(low <= d <= high for d in p.denominations)


def reference(
    shown: Sequence[Product], locale: str, f: ProductFilter
) -> list[tuple[tuple[str, str], Product]]:
    rows = [
        ((reference_fold(p.text(locale).name), p.id), p) for p in shown if reference_matches(p, f)
    ]
    return sorted(rows, key=lambda row: row[0])


async def test_pages_of_a_large_catalogue_are_those_of_a_plain_sort(
    ledger: Ledger, catalogue: CatalogueStore
) -> None:
    platform = generate(2500, seed=11)
    platform[7] = replace(platform[7], status="inactive")
    # names that fold alike ("Café" / "cafe"), so the id decides
    platform[:3] = [
        replace(p, texts={**p.texts, "en": Texts(name)})
        for p, name in zip(platform[:3], ("Café Card", "cafe card", "CAFÉ card"), strict=True)
    ]
    # the tenant's own product hides the platform's of the same id
    hiding = replace(platform[10], texts={"en": Texts("Zzz own")}, tenant="acme")
    await catalogue.put_products([*platform, hiding])
    actor = await listing_actor(ledger, catalogue)
    # listed after the platform's, but first of those named alike by its id
    added = [own("0-cafe", "Cafe CARD")] + [own(f"acme-{i}", f"Élan {i}") for i in range(40)]
    for product in added:
        await ask(actor, AddCustomProduct(product))
    disabled = {platform[20].id, platform[30].id}
    for pid in disabled:
        await ask(actor, CurateProduct(pid, enabled=False))
    custom = {p.id: replace(p, tenant="acme") for p in (hiding, *added)}
    shown = [
        p
        for p in (*(p for p in platform if p.id not in custom), *custom.values())
        if p.status == "active" and p.id not in disabled
    ]

    filters = [
        ProductFilter(),
        ProductFilter(currency="EUR"),
        ProductFilter(country="FR", min_price=2000),
        ProductFilter(category="food", max_price=3000),
        ProductFilter(currency="NOPE"),
    ]
    for locale in ("en", "de", "fr-CA"):
        for f in filters:
            want = reference(shown, locale, f)
            ids, totals = await walk(actor, ListProducts(f, locale, limit=97))
            assert ids == [p.id for _, p in want], (locale, f)
            assert set(totals) == {len(want)}
            first = await page(actor, ListProducts(f, locale, limit=1))
            assert first.facets == count_facets(p for _, p in want)
            if len(want) > 100:  # a cursor of a key that is not in the list
                (name, pid), _ = want[100]
                odd = encode_cursor(name, pid[:-1])
                rest = await page(actor, ListProducts(f, locale, limit=5, cursor=odd))
                assert [p.id for p in rest.products] == [p.id for _, p in want[100:105]]


async def test_a_search_without_the_index_pages_in_the_same_order(
    ledger: Ledger, catalogue: CatalogueStore
) -> None:
    """No search index: a ``q`` is matched in memory, by word prefix, in list order."""
    await catalogue.put_products(generate(1500, seed=5))
    actor = await listing_actor(ledger, catalogue)
    every, _ = await walk(actor, ListProducts(locale="de", limit=100))
    everything = {p.id: p for p in await catalogue.products("")}
    for q in ("gift", "gift ca", "Geschenk", "zzznothing"):
        found, totals = await walk(actor, ListProducts(ProductFilter(q=q), "de", limit=100))
        asked = catalogue_listing.tokens(q)
        want = [
            pid
            for pid in every
            if all(
                any(w.startswith(t) for w in catalogue_listing.words(everything[pid], "de"))
                for t in asked
            )
        ]
        assert found == want, q
        assert set(totals) == {len(want)}
