"""The catalogue over REST and GraphQL: filters, search, pages, detail, curation, custom
products — one suite over both APIs."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import msgspec
import pytest

from actors.catalogue import SEARCH_DEPTH, encode_offset
from bus.errors import ErrorCode
from bus.messages import Err, Ok
from bus.messages.catalogue import (
    AddCustomProduct,
    CurateProduct,
    ExportCatalogue,
    Product,
    Texts,
)
from bus.messages.common import Principal
from perkbus.demo_catalogue import generate
from storage.ports import CatalogueStore
from tests.conftest import Cluster
from tests.integration.api import BudgetApi, GraphQL, Rest
from tests.support import CATALOGUE_STORES, catalogue_store

#: Above the ledger (the catalogue is not in the ledger): SQLite only (ADR 30).
pytestmark = pytest.mark.ledgers("sqlite")


@pytest.fixture(params=CATALOGUE_STORES)
async def catalogue(
    request: pytest.FixtureRequest, tmp_path: Path
) -> AsyncIterator[CatalogueStore]:
    """The cluster's catalogue store: this suite runs over each adapter."""
    async with catalogue_store(request, tmp_path) as store:
        yield store


NO_FACETS: dict[str, list[Any]] = {"category": [], "brand": [], "country": [], "price": []}


@pytest.fixture(params=["rest", "graphql"])
async def api(
    request: pytest.FixtureRequest, cluster: Cluster, catalogue: CatalogueStore
) -> BudgetApi:
    await catalogue.put_products(generate())
    return Rest(cluster.client) if request.param == "rest" else GraphQL(cluster.client)


async def test_demo_catalogue_lists_in_pages(api: BudgetApi, cluster: Cluster) -> None:
    acme = cluster.keys.headers("acme")
    first = (await api.products(acme, limit=50)).value
    assert first is not None
    assert first["total"] == 320
    assert len(first["products"]) == 50
    seen = [p["id"] for p in first["products"]]
    cursor = first["next_cursor"]
    while cursor:
        page = (await api.products(acme, limit=50, cursor=cursor)).value
        assert page is not None
        assert page["total"] == 320
        seen += [p["id"] for p in page["products"]]
        cursor = page["next_cursor"]
    assert len(seen) == len(set(seen)) == 320
    names = [p["name"].casefold() for p in first["products"]]
    assert names == sorted(names)


async def test_filters_and_search(api: BudgetApi, cluster: Cluster) -> None:
    acme = cluster.keys.headers("acme")
    india = (await api.products(acme, country="IN", limit=100)).value
    assert india is not None
    assert india["total"] > 0
    assert all("IN" in p["countries"] and p["currency"] == "INR" for p in india["products"])
    food = (await api.products(acme, currency="EUR", category="food", limit=100)).value
    assert food is not None
    assert food["total"] > 0
    assert all(p["category"] == "food" for p in food["products"])
    cheap = (await api.products(acme, currency="USD", max_price=1000, limit=100)).value
    assert cheap is not None
    for p in cheap["products"]:
        low = p["range"]["min_minor"] if p["range"] else min(p["denominations"])
        assert low <= 1000
    target = generate()[7]
    found = (await api.products(acme, q=target.brand.split()[0].lower()[:4])).value
    assert found is not None
    assert target.id in [p["id"] for p in found["products"]]
    hindi = (await api.products(acme, q="गिफ्ट", locale="hi", limit=5)).value
    assert hindi is not None
    assert hindi["total"] == 320
    assert "गिफ्ट" in hindi["products"][0]["name"]
    nothing = (await api.products(acme, q="zzzzzz")).value
    assert nothing == {
        "products": [],
        "next_cursor": None,
        "total": 0,
        "facets": NO_FACETS,
        "degraded": False,
    }


async def test_bad_queries_are_refused_with_the_field(api: BudgetApi, cluster: Cluster) -> None:
    acme = cluster.keys.headers("acme")
    for params, pointer in (
        ({"limit": 0}, "#/limit"),
        ({"limit": 101}, "#/limit"),
        ({"country": "india"}, "#/country"),
    ):
        outcome = await api.products(acme, **params)
        assert outcome.code == "invalid_request", params
        assert outcome.pointer == pointer, params
    assert (await api.products(acme, cursor="not-a-cursor")).code == "invalid_request"
    # past the depth every index pages to: refused, not taken for the index being down
    deep = await api.products(acme, q="gift", cursor=encode_offset(SEARCH_DEPTH))
    assert deep.code == "invalid_request"
    shallow = (await api.products(acme, q="gift", cursor=encode_offset(10))).value
    assert shallow is not None
    assert not shallow.get("degraded")


async def test_detail_in_a_locale(api: BudgetApi, cluster: Cluster) -> None:
    acme = cluster.keys.headers("acme")
    product = generate()[0]
    body = (await api.product(acme, product.id, "fr")).value
    assert body is not None
    assert body["name"] == product.text("fr").name
    assert body["terms"] == product.text("fr").terms
    assert set(body["locales"]) == {"en", "es", "fr", "de", "hi"}
    assert (await api.product(acme, "no-such-product")).code == "not_found"
    assert (await api.product(acme, "Bad Id!")).code == "not_found"
    for locale in ("", "french", "fr_FR"):  # refused by the edge, whichever API
        refused = await api.product(acme, product.id, locale)
        assert refused.code == "invalid_request", (locale, refused)
        if api.name == "rest":
            assert refused.pointer == "#/locale", refused


async def test_curation_is_per_tenant(api: BudgetApi, cluster: Cluster) -> None:
    acme = cluster.keys.headers("acme")
    product = generate()[0]
    curated = (await api.curate(acme, product.id, enabled=False, markup_bps=250)).value
    assert curated is not None
    assert curated["enabled"] is False
    assert curated["markup_bps"] == 250
    listed = (await api.products(acme, limit=100, q=product.brand)).value
    assert listed is not None
    assert product.id not in [p["id"] for p in listed["products"]]
    other = (await api.products(cluster.keys.headers("globex"), limit=100, q=product.brand)).value
    assert other is not None
    assert product.id in [p["id"] for p in other["products"]]
    reader = cluster.keys.headers("acme", ["catalogue:read"])
    assert (await api.curate(reader, product.id, enabled=True)).code == "forbidden"
    assert (await api.curate(acme, "no-such-product", enabled=True)).code == "not_found"
    too_much = await api.curate(acme, product.id, enabled=True, markup_bps=20_000)
    assert too_much.code == "invalid_request"
    assert too_much.pointer == "#/markup_bps"


async def test_custom_products_belong_to_their_tenant(api: BudgetApi, cluster: Cluster) -> None:
    acme = cluster.keys.headers("acme")
    custom = {
        "id": "acme-offsite-day",
        "brand": "Acme",
        "kind": "experience",
        "category": "wellness",
        "currency": "EUR",
        "countries": ["DE"],
        "texts": {"en": {"name": "Offsite wellness day"}},
        "denominations": [15000],
    }
    added = (await api.add_custom(acme, custom)).value
    assert added is not None
    assert added["custom"] is True
    mine = (await api.products(acme, q="offsite")).value
    assert mine is not None
    assert [p["id"] for p in mine["products"]] == ["acme-offsite-day"]
    theirs = (await api.products(cluster.keys.headers("globex"), q="offsite")).value
    assert theirs is not None
    assert theirs["total"] == 0
    assert (await api.add_custom(acme, custom)).code == "already_exists"
    bad = await api.add_custom(acme, {**custom, "id": "x2", "currency": "euro"})
    assert bad.code == "invalid_request"
    assert bad.pointer == "#/currency"


async def test_hyphenated_words_are_found_without_the_index(
    api: BudgetApi, cluster: Cluster
) -> None:
    """This cluster has no search index: the catalogue actor searches itself, and splits
    the query as it splits the products' texts (and as the index does)."""
    acme = cluster.keys.headers("acme")
    coke = {
        "id": "coke",
        "brand": "Coca-Cola",
        "kind": "gift_card",
        "category": "food",
        "currency": "EUR",
        "countries": ["DE"],
        "texts": {"en": {"name": "Coca-Cola e-Gift card"}},
        "denominations": [1000],
    }
    assert (await api.add_custom(acme, coke)).value is not None
    for q in ("coca", "Coca-Cola", "coca cola", "coca-cola e-gift"):
        page = (await api.products(acme, q=q)).value
        assert page is not None
        assert [p["id"] for p in page["products"]] == ["coke"], q
    page = (await api.products(acme, q="e-gift")).value  # "e" and "gift": every gift card
    assert page is not None
    assert "coke" in [p["id"] for p in page["products"]]


async def test_a_tenants_own_product_hides_the_platforms_of_the_same_id(
    api: BudgetApi, cluster: Cluster, catalogue: CatalogueStore
) -> None:
    """The platform later lists a product under an id a tenant already uses for its own:
    lists and searches show the tenant's one, the one its orders get, and never both."""
    platform = Product(
        "shared-id", "Platform", "gift_card", "shopping", "EUR", ("DE",),
        {"en": Texts("Platform gift card")}, denominations=(1000,),
    )  # fmt: skip
    own = msgspec.structs.replace(
        platform, tenant="acme", brand="Acme", texts={"en": Texts("Acme gift card")}
    )
    await catalogue.put_products([platform, own])
    acme = cluster.keys.headers("acme")
    for query in ({"q": "gift card"}, {"currency": "EUR"}):
        found: list[dict[str, Any]] = []
        cursor = None
        while True:
            page = (
                await api.products(
                    acme, limit=100, **query, **({"cursor": cursor} if cursor else {})
                )
            ).value
            assert page is not None
            found += page["products"]
            cursor = page["next_cursor"]
            if not cursor:
                break
        shared = [p for p in found if p["id"] == "shared-id"]
        assert [p["brand"] for p in shared] == ["Acme"], query
    globex = (await api.products(cluster.keys.headers("globex"), q="platform gift")).value
    assert globex is not None
    assert [p["brand"] for p in globex["products"] if p["id"] == "shared-id"] == ["Platform"]


async def test_the_export_is_the_whole_catalogue_as_curated(
    api: BudgetApi, cluster: Cluster
) -> None:
    acme = cluster.keys.headers("acme")
    platform = sorted(p.id for p in generate() if p.status == "active")
    off = platform[3]
    assert (await api.curate(acme, off, enabled=False, markup_bps=250)).value is not None
    custom = {
        "id": "acme-team-lunch",
        "brand": "Acme",
        "kind": "experience",
        "category": "food",
        "currency": "EUR",
        "countries": ["DE"],
        "texts": {"en": {"name": "Team lunch"}},
        "denominations": [2000],
    }
    assert (await api.add_custom(acme, custom)).value is not None

    async def everything(headers: dict[str, str]) -> list[dict[str, Any]]:
        found: list[dict[str, Any]] = []
        cursor: str | None = None
        while True:
            params: dict[str, Any] = {"limit": 100, **({"cursor": cursor} if cursor else {})}
            page = (await api.export(headers, **params)).value
            assert page is not None
            found += page["products"]
            cursor = page["next_cursor"]
            if cursor is None:
                return found

    exported = await everything(acme)
    assert [p["id"] for p in exported] == sorted([*platform, "acme-team-lunch"])
    by_id = {p["id"]: p for p in exported}
    assert (by_id[off]["enabled"], by_id[off]["markup_bps"]) == (False, 250)
    assert by_id["acme-team-lunch"]["custom"] is True
    assert all(p["enabled"] for p in exported if p["id"] != off)
    theirs = await everything(cluster.keys.headers("globex"))
    assert [p["id"] for p in theirs] == platform
    assert all(p["enabled"] and p["markup_bps"] == 0 for p in theirs)

    reader = cluster.keys.headers("acme", ["catalogue:read"])
    assert (await api.export(reader)).code == "forbidden"
    assert (await api.export(acme, limit=5000)).code == "invalid_request"


async def test_numbers_past_64_bits_are_refused_not_failed(
    api: BudgetApi, cluster: Cluster
) -> None:
    """Found by the fuzzer: a price filter or a face value past 64 bits reached the bus,
    whose encoder could not carry it (500)."""
    acme = cluster.keys.headers("acme")
    huge = 2**64
    for params, pointer in (({"max_price": huge}, "#/max_price"), ({"min_price": -1}, None)):
        outcome = await api.products(acme, **params)
        assert outcome.code == "invalid_request", params
        assert pointer is None or outcome.pointer == pointer
    custom = {
        "id": "acme-huge",
        "brand": "Acme",
        "kind": "voucher",
        "category": "misc",
        "currency": "EUR",
        "countries": ["DE"],
        "texts": {"en": {"name": "Huge"}},
        "denominations": [huge],
    }
    refused = await api.add_custom(acme, custom)
    assert (refused.code, refused.pointer) == ("invalid_request", "#/denominations/0")


async def test_a_custom_product_says_what_people_can_read(api: BudgetApi, cluster: Cluster) -> None:
    """A tenant's own product is shown to its people and sent in events: one-line names,
    bounded texts without control characters, an image on https or on the site."""
    acme = cluster.keys.headers("acme")
    product: dict[str, Any] = {
        "id": "acme-mug",
        "brand": "Acme",
        "kind": "merchandise",
        "category": "home",
        "currency": "EUR",
        "countries": ["DE"],
        "texts": {"en": {"name": "Mug", "description": "A mug.\nDishwasher safe."}},
        "denominations": [1500],
    }
    en = product["texts"]["en"]
    for change in (
        {"brand": "Ac\nme"},
        {"category": "x" * 61},
        {"texts": {"en": {**en, "name": "Mug\u0000"}}},
        {"texts": {"en": {**en, "description": "x" * 5_001}}},
        {"texts": {"en": {**en, "terms": "\u001b[31m"}}},
        {"image_url": "javascript:alert(1)"},
        {"image_url": "//elsewhere.example/mug.png"},
        {"currency": "ZZZ"},  # no currency
        {"currency": "PTS"},  # points are none either
    ):
        refused = await api.add_custom(acme, {**product, **change})
        assert refused.code == "invalid_request", change
    assert (await api.products(acme, q="mug")).value["total"] == 0  # type: ignore[index]
    made = await api.add_custom(acme, {**product, "image_url": "https://cdn.acme.example/mug.png"})
    assert made.value is not None
    assert made.value["description"] == "A mug.\nDishwasher safe."


async def test_a_custom_product_has_denominations_or_a_sane_range(
    api: BudgetApi, cluster: Cluster
) -> None:
    """Found by the fuzzer: a product that could never be ordered was accepted."""
    acme = cluster.keys.headers("acme")
    product: dict[str, Any] = {
        "id": "acme-gift",
        "brand": "Acme",
        "kind": "gift_card",
        "category": "misc",
        "currency": "EUR",
        "countries": ["DE"],
        "texts": {"en": {"name": "Gift"}},
    }
    for shape in (
        {},
        {"denominations": [500], "range": {"min_minor": 100, "max_minor": 900}},
        {"range": {"min_minor": 900, "max_minor": 100}},
        {"denominations": [0]},
    ):
        assert (await api.add_custom(acme, {**product, **shape})).code == "invalid_request", shape
    assert (await api.products(acme, q="gift acme")).value == {
        "products": [],
        "next_cursor": None,
        "total": 0,
        "facets": NO_FACETS,
        "degraded": False,
    }
    ranged = {**product, "range": {"min_minor": 100, "max_minor": 900}}
    assert (await api.add_custom(acme, ranged)).value is not None


async def test_pages_carry_facets_of_every_match(api: BudgetApi, cluster: Cluster) -> None:
    acme = cluster.keys.headers("acme")
    page = (await api.products(acme, currency="EUR", limit=5)).value
    assert page is not None
    assert page["degraded"] is False
    facets = page["facets"]
    assert sum(c["count"] for c in facets["category"]) == page["total"]
    # Brands are many: the 50 most frequent are counted, most frequent first.
    brand_counts = [c["count"] for c in facets["brand"]]
    assert sum(brand_counts) <= page["total"]
    assert brand_counts == sorted(brand_counts, reverse=True)
    assert {b["currency"] for b in facets["price"]} == {"EUR"}
    # Each count is what the list narrowed by that value holds.
    for c in facets["category"][:3]:
        narrowed = (await api.products(acme, currency="EUR", category=c["value"])).value
        assert narrowed is not None
        assert narrowed["total"] == c["count"]
    for band in facets["price"][:3]:
        high = band["max_minor"] - 1 if band["max_minor"] else 2**40
        within = (
            await api.products(acme, currency="EUR", min_price=band["min_minor"], max_price=high)
        ).value
        assert within is not None
        assert within["total"] == band["count"]


async def test_the_catalogue_actor_checks_admin_rights_itself(cluster: Cluster) -> None:
    """The edge checks ``catalogue:admin``; the actor that owns the data checks again, so
    a request that reaches it another way is refused too."""
    reader = Principal("reader", roles=("end_user",), scopes=("catalogue:read",))
    for body in (
        CurateProduct("anything", enabled=False),
        ExportCatalogue("en", 10),
        AddCustomProduct(
            Product("own", "B", "gift_card", "shopping", "EUR", ("DE",), {"en": Texts("Own")})
        ),
    ):
        reply = await cluster.bus.request("acme", "catalogue", body, reader, timeout_s=5)
        assert isinstance(reply, Err), body
        assert reply.code == ErrorCode.FORBIDDEN
    admin = Principal("admin", roles=("admin",), scopes=("catalogue:admin",))
    exported = await cluster.bus.request(
        "acme", "catalogue", ExportCatalogue("en", 10), admin, timeout_s=5
    )
    assert isinstance(exported, Ok)
