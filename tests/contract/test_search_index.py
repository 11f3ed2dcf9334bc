"""The SearchIndex contract, over SQLite FTS5 and an Elasticsearch-API server."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from bus.messages.catalogue import PriceBandCount, Product, ProductFilter, Range, Texts
from storage.elastic_search import ElasticSearch
from storage.ports import AuditRecord
from storage.search_ports import AuditQuery, ProductQuery, SearchIndex, digest
from storage.sqlite_search import SqliteSearch
from tests.servers import ServerFailed
from tests.servers.search import osmem
from tests.support import unavailable


@pytest.fixture(scope="session")
def search_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    try:
        with osmem(tmp_path_factory.mktemp("osmem")) as url:
            yield url
    except ServerFailed as e:
        unavailable(f"no Elasticsearch-API server: {e}")


@pytest.fixture(params=["sqlite", pytest.param("elasticsearch", marks=pytest.mark.search)])
async def index(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[SearchIndex]:
    if request.param == "sqlite":
        sqlite = SqliteSearch(tmp_path / "search.sqlite3")
        await sqlite.migrate()
        await sqlite.migrate()  # idempotent
        yield sqlite
        await sqlite.close()
        return
    url = request.getfixturevalue("search_server")
    # a loaded machine's test server answers an index's creation slowly: a longer limit
    # than a live system's, and the client closed whatever happens (a session left open
    # failed the next test on the same worker)
    elastic = ElasticSearch(url, prefix=f"test-{uuid.uuid4().hex[:10]}-", request_timeout_s=15)
    try:
        await elastic.migrate()
        await elastic.migrate()
        yield elastic
        await elastic.drop()
    finally:
        await elastic.close()


def product(
    pid: str,
    name: str,
    *,
    tenant: str = "",
    brand: str = "Brand",
    category: str = "shopping",
    currency: str = "EUR",
    countries: tuple[str, ...] = ("DE",),
    description: str = "",
    denominations: tuple[int, ...] = (1000, 5000),
    value_range: Range | None = None,
    texts: dict[str, Texts] | None = None,
) -> Product:
    return Product(
        id=pid,
        brand=brand,
        kind="gift_card",
        category=category,
        currency=currency,
        countries=countries,
        texts=texts or {"en": Texts(name, description)},
        denominations=() if value_range else denominations,
        range=value_range,
        tenant=tenant,
    )


CATALOGUE = [
    product("amazon", "Amazon gift card", brand="Amazon", description="Shop everything"),
    product(
        "spotify", "Spotify Premium", brand="Spotify", category="music", countries=("DE", "FR")
    ),
    product("zalando", "Zalando voucher", brand="Zalando", category="fashion", countries=("FR",)),
    product(
        "rail",
        "Rail pass",
        brand="DB",
        category="travel",
        description="Trains across Germany, shop tickets online",
        value_range=Range(2000, 30000),
    ),
    product(
        "sony",
        "Sony PlayStation credit",
        brand="Sony",
        category="gaming",
        currency="JPY",
        countries=("JP",),
        denominations=(1000, 5000),
    ),
]


async def ids(index: SearchIndex, text: str, tenant: str = "acme", **kw: object) -> list[str]:
    found = await index.search_products(ProductQuery(tenant, text, **kw))  # type: ignore[arg-type]
    return [pid for _, pid in found.hits]


async def test_full_text_finds_words_of_names_brands_and_descriptions(index: SearchIndex) -> None:
    await index.put_products(CATALOGUE)
    assert await ids(index, "premium") == ["spotify"]
    assert await ids(index, "zalando") == ["zalando"]
    assert await ids(index, "trains germany") == ["rail"]
    assert await ids(index, "spoti") == ["spotify"]  # a prefix
    assert await ids(index, "nothing like it") == []
    # Every word must match.
    assert await ids(index, "spotify zalando") == []
    # A name outranks a description: "shop" is Amazon's description and the rail pass's.
    assert set(await ids(index, "shop")) == {"amazon", "rail"}


async def test_a_misspelt_word_is_found(index: SearchIndex) -> None:
    await index.put_products(CATALOGUE)
    assert await ids(index, "amazn") == ["amazon"]
    assert await ids(index, "spotfiy premum") == ["spotify"]  # swapped letters, a missing one
    assert await ids(index, "zalanod") == ["zalando"]
    assert await ids(index, "xqzzy") == []


async def test_queries_of_odd_words_are_answered(index: SearchIndex) -> None:
    """A lone combining accent folds to nothing; a very long query is cut, not slow."""
    await index.put_products(CATALOGUE)
    found = await ids(index, "\u0301")  # no word, or none of the words: not an error
    assert found == [] or sorted(found) == sorted(p.id for p in CATALOGUE)
    long_query = " ".join(["amazn"] + ["xqzzyw"] * 40)
    assert await ids(index, long_query) == []  # every word must match


async def test_relevance_orders_name_matches_first(index: SearchIndex) -> None:
    await index.put_products(
        [
            product("a", "Coffee beans", description="Fresh from the roastery"),
            product("b", "Tea leaves", description="Goes well with coffee, or on its own"),
        ]
    )
    assert await ids(index, "coffee") == ["a", "b"]


async def test_facets_count_every_match_not_only_the_page(index: SearchIndex) -> None:
    await index.put_products(CATALOGUE)
    found = await index.search_products(ProductQuery("acme", "", limit=2))
    assert len(found.hits) == 2
    assert found.total == 5
    facets = found.facets
    assert {(f.value, f.count) for f in facets.category} == {
        ("shopping", 1),
        ("music", 1),
        ("fashion", 1),
        ("travel", 1),
        ("gaming", 1),
    }
    assert [(f.value, f.count) for f in facets.country] == [("DE", 3), ("FR", 2), ("JP", 1)]
    assert {f.value for f in facets.brand} == {"Amazon", "Spotify", "Zalando", "DB", "Sony"}

    narrowed = await index.search_products(ProductQuery("acme", "", filter=ProductFilter("FR")))
    assert narrowed.total == 2
    assert [(f.value, f.count) for f in narrowed.facets.country] == [("FR", 2), ("DE", 1)]


async def test_price_bands_are_per_currency_in_minor_units(index: SearchIndex) -> None:
    await index.put_products(CATALOGUE)
    price = (await index.search_products(ProductQuery("acme", ""))).facets.price
    euro = [b for b in price if b.currency == "EUR"]
    # Three fixed-value EUR products at 10 € and 50 €; the rail pass spans 20 to 300 €.
    assert euro == [
        PriceBandCount("EUR", 1000, 2500, 4),
        PriceBandCount("EUR", 2500, 5000, 1),
        PriceBandCount("EUR", 5000, 10000, 4),
        PriceBandCount("EUR", 10000, 25000, 1),
        PriceBandCount("EUR", 25000, 0, 1),
    ]
    # The yen has no minor unit and is worth little: 1,000 and 5,000 yen are low bands.
    assert [b for b in price if b.currency == "JPY"] == [
        PriceBandCount("JPY", 1000, 2500, 1),
        PriceBandCount("JPY", 5000, 10000, 1),
    ]


async def test_filters_narrow_a_search(index: SearchIndex) -> None:
    await index.put_products(CATALOGUE)
    assert await ids(index, "", filter=ProductFilter(currency="JPY")) == ["sony"]
    assert await ids(index, "", filter=ProductFilter(category="music")) == ["spotify"]
    # A product matches a price bound if one of its values (or its range) is inside.
    within = await ids(index, "", filter=ProductFilter(min_price=20000, max_price=40000))
    assert within == ["rail"]
    assert set(await ids(index, "", filter=ProductFilter(min_price=4000, max_price=6000))) == {
        "amazon",
        "spotify",
        "zalando",
        "rail",
        "sony",
    }
    assert await ids(index, "", filter=ProductFilter(max_price=999)) == []


async def test_texts_are_searched_in_the_asked_locale_with_accents_folded(
    index: SearchIndex,
) -> None:
    await index.put_products(
        [
            product(
                "cafe",
                "Coffee voucher",
                texts={
                    "en": Texts("Coffee voucher"),
                    "fr": Texts("Bon pour un café", "Dégustation à la brûlerie"),
                    "de": Texts("Kaffeegutschein"),
                    "hi": Texts("कॉफ़ी गिफ्ट कार्ड"),
                },
            )
        ]
    )
    assert await ids(index, "cafe", locale="fr") == ["cafe"]
    assert await ids(index, "degustation", locale="fr") == ["cafe"]
    assert await ids(index, "CAFÉ", locale="fr-CA") == ["cafe"]
    assert await ids(index, "kaffeegutschein", locale="de") == ["cafe"]
    # Hindi words keep their vowel signs and viramas.
    assert await ids(index, "गिफ्ट कार्ड", locale="hi") == ["cafe"]
    assert await ids(index, "गिफ्ट", locale="en") == []
    # English is searched in every locale; another locale's texts are not.
    assert await ids(index, "coffee", locale="de") == ["cafe"]
    assert await ids(index, "kaffeegutschein", locale="fr") == []


async def test_tenants_see_the_platform_and_their_own_products_only(index: SearchIndex) -> None:
    await index.put_products(
        [
            *CATALOGUE,
            product("acme-mug", "Company mug", tenant="acme"),
            product("globex-mug", "Company mug", tenant="globex"),
        ]
    )
    assert await ids(index, "company mug", tenant="acme") == ["acme-mug"]
    assert await ids(index, "company mug", tenant="globex") == ["globex-mug"]
    assert await ids(index, "company mug", tenant="initech") == []
    found = await index.search_products(ProductQuery("acme", "company"))
    assert found.hits == (("acme", "acme-mug"),)
    assert found.total == 1
    assert [(f.value, f.count) for f in found.facets.brand] == [("Brand", 1)]


async def test_disabled_products_are_neither_hits_nor_counted(index: SearchIndex) -> None:
    await index.put_products(CATALOGUE)
    found = await index.search_products(
        ProductQuery("acme", "", exclude=frozenset({"amazon", "spotify"}))
    )
    assert {pid for _, pid in found.hits} == {"zalando", "rail", "sony"}
    assert found.total == 3
    assert "shopping" not in {f.value for f in found.facets.category}


async def test_paging_walks_every_hit_once(index: SearchIndex) -> None:
    await index.put_products(CATALOGUE)
    seen: list[str] = []
    for offset in range(0, 6, 2):
        seen += await ids(index, "", limit=2, offset=offset)
    assert sorted(seen) == sorted(p.id for p in CATALOGUE)


async def test_reindexing_replaces_and_removal_removes(index: SearchIndex) -> None:
    await index.put_products(CATALOGUE)
    renamed = product("amazon", "Amazon voucher", brand="Amazon")
    await index.put_products([renamed])
    assert await ids(index, "gift") == []
    assert set(await ids(index, "voucher")) == {"amazon", "zalando"}
    digests = await index.product_digests("")
    assert digests["amazon"] == digest(renamed)
    assert set(digests) == {p.id for p in CATALOGUE}

    await index.remove_products("", ["amazon", "never-indexed"])
    assert await ids(index, "amazon") == []
    assert "amazon" not in await index.product_digests("")

    await index.put_products([product("own", "Own thing", tenant="acme")])
    await index.remove_products("globex", ["own"])  # another tenant's id: left alone
    assert await ids(index, "own thing") == ["own"]
    own = product("own", "Own thing", tenant="acme")
    assert await index.product_digests("acme") == {"own": digest(own)}


async def test_inactive_products_are_not_found(index: SearchIndex) -> None:
    from msgspec.structs import replace

    await index.put_products([replace(CATALOGUE[0], status="inactive")])
    assert await ids(index, "amazon") == []


def audit(tenant: str, seq: int, actor: str, action: str, target: str, detail: str) -> AuditRecord:
    return AuditRecord(
        tenant=tenant,
        seq=seq,
        at_ms=1_000 * seq,
        actor=actor,
        action=action,
        target=target,
        outcome="ok",
        detail=detail,
        prev_hash=f"h{seq - 1}",
        hash=f"h{seq}",
    )


AUDIT = [
    audit("acme", 1, "alice", "budget.create", "marketing", '{"name":"Marketing budget"}'),
    audit("acme", 2, "bob", "catalogue.curate", "amazon", '{"enabled":false}'),
    audit("acme", 3, "alice", "wallet.issue", "carol", '{"points":500,"reason":"Anniversary"}'),
    audit("globex", 1, "mallory", "budget.create", "marketing", '{"name":"Marketing"}'),
]


async def test_audit_entries_are_searched_within_their_tenant(index: SearchIndex) -> None:
    await index.put_audit(AUDIT)
    await index.put_audit(AUDIT[:1])  # indexed again: still once

    found = await index.search_audit(AuditQuery("acme", "marketing"))
    assert [r.seq for r in found.records] == [1]
    assert found.records[0] == AUDIT[0]
    assert found.total == 1

    fuzzy = await index.search_audit(AuditQuery("acme", "aniversary"))
    assert [r.seq for r in fuzzy.records] == [3]

    assert [r.seq for r in (await index.search_audit(AuditQuery("acme"))).records] == [3, 2, 1]
    by_alice = await index.search_audit(AuditQuery("acme", actor="alice"))
    assert [r.seq for r in by_alice.records] == [3, 1]
    creates = await index.search_audit(AuditQuery("acme", action="budget.create"))
    assert [r.seq for r in creates.records] == [1]
    window = await index.search_audit(AuditQuery("acme", since_ms=2_000, until_ms=2_000))
    assert [r.seq for r in window.records] == [2]
    assert [r.seq for r in (await index.search_audit(AuditQuery("acme", "amazon"))).records] == [2]

    theirs = await index.search_audit(AuditQuery("globex", "marketing"))
    assert [(r.tenant, r.actor) for r in theirs.records] == [("globex", "mallory")]
    assert (await index.search_audit(AuditQuery("initech", "marketing"))).total == 0


async def test_meta_values_are_kept(index: SearchIndex) -> None:
    assert await index.get_meta("cursor") is None
    await index.set_meta("cursor", "41")
    await index.set_meta("cursor", "42")
    assert await index.get_meta("cursor") == "42"
