"""The catalogue over HTTP: filters, search, pages, detail, curation, custom products."""

from __future__ import annotations

from typing import Any

import pytest

from perkbus.demo_catalogue import generate
from storage.ports import CatalogueStore
from tests.conftest import Cluster

PRODUCTS = "/api/v1/catalogue/products"


@pytest.fixture
async def seeded(cluster: Cluster, catalogue: CatalogueStore) -> Cluster:
    await catalogue.put_products(generate())
    return cluster


async def get(cluster: Cluster, path: str, tenant: str = "acme", **params: Any) -> Any:
    query = {k: str(v) for k, v in params.items()}
    async with cluster.client.get(path, params=query, headers=cluster.keys.headers(tenant)) as r:
        return r.status, await r.json(content_type=None)


async def test_demo_catalogue_lists_in_pages(seeded: Cluster) -> None:
    status, first = await get(seeded, PRODUCTS, limit=50)
    assert status == 200
    assert first["total"] == 320
    assert len(first["products"]) == 50
    seen = [p["id"] for p in first["products"]]
    cursor = first["next_cursor"]
    while cursor:
        status, page = await get(seeded, PRODUCTS, limit=50, cursor=cursor)
        assert status == 200
        assert page["total"] == 320
        seen += [p["id"] for p in page["products"]]
        cursor = page["next_cursor"]
    assert len(seen) == len(set(seen)) == 320
    names = [p["name"].casefold() for p in first["products"]]
    assert names == sorted(names)


async def test_filters_and_search(seeded: Cluster) -> None:
    status, india = await get(seeded, PRODUCTS, country="IN", limit=100)
    assert status == 200
    assert india["total"] > 0
    assert all("IN" in p["countries"] and p["currency"] == "INR" for p in india["products"])
    _, eur_food = await get(seeded, PRODUCTS, currency="EUR", category="food", limit=100)
    assert eur_food["total"] > 0
    assert all(p["category"] == "food" for p in eur_food["products"])
    _, cheap = await get(seeded, PRODUCTS, currency="USD", max_price=1000, limit=100)
    for p in cheap["products"]:
        low = p["range"]["min_minor"] if p["range"] else min(p["denominations"])
        assert low <= 1000
    target = generate()[7]
    _, found = await get(seeded, PRODUCTS, q=target.brand.split()[0].lower()[:4])
    assert target.id in [p["id"] for p in found["products"]]
    _, hindi = await get(seeded, PRODUCTS, q="गिफ्ट", locale="hi", limit=5)
    assert hindi["total"] == 320
    assert "गिफ्ट" in hindi["products"][0]["name"]
    _, nothing = await get(seeded, PRODUCTS, q="zzzzzz")
    assert nothing == {"products": [], "next_cursor": None, "total": 0}


async def test_bad_queries_are_problems(seeded: Cluster) -> None:
    for params, pointer in (
        ({"limit": 0}, "#/limit"),
        ({"limit": "many"}, "#/limit"),
        ({"country": "india"}, "#/country"),
        ({"color": "red"}, "#"),
    ):
        status, body = await get(seeded, PRODUCTS, **params)
        assert status == 422, params
        assert body["errors"][0]["pointer"] == pointer, params
    status, body = await get(seeded, PRODUCTS, cursor="not-a-cursor")
    assert status == 422
    assert body["code"] == "invalid_request"


async def test_detail_in_a_locale(seeded: Cluster) -> None:
    product = generate()[0]
    status, body = await get(seeded, f"{PRODUCTS}/{product.id}", locale="fr")
    assert status == 200
    assert body["name"] == product.text("fr").name
    assert body["terms"] == product.text("fr").terms
    assert set(body["locales"]) == {"en", "es", "fr", "de", "hi"}
    status, body = await get(seeded, f"{PRODUCTS}/no-such-product")
    assert status == 404


async def test_curation_is_per_tenant(seeded: Cluster) -> None:
    product = generate()[0]
    headers = seeded.keys.headers("acme")
    async with seeded.client.put(
        f"{PRODUCTS}/{product.id}/curation",
        json={"enabled": False, "markup_bps": 250},
        headers=headers,
    ) as r:
        assert r.status == 200
        curated = await r.json()
    assert curated["enabled"] is False
    assert curated["markup_bps"] == 250
    _, acme = await get(seeded, PRODUCTS, limit=100, q=product.brand)
    assert product.id not in [p["id"] for p in acme["products"]]
    _, globex = await get(seeded, PRODUCTS, "globex", limit=100, q=product.brand)
    assert product.id in [p["id"] for p in globex["products"]]

    reader = seeded.keys.headers("acme", ["catalogue:read"])
    async with seeded.client.put(
        f"{PRODUCTS}/{product.id}/curation", json={"enabled": True}, headers=reader
    ) as r:
        assert r.status == 403


async def test_custom_products_belong_to_their_tenant(seeded: Cluster) -> None:
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
    headers = seeded.keys.headers("acme")
    async with seeded.client.post(PRODUCTS, json=custom, headers=headers) as r:
        assert r.status == 201
        body = await r.json()
    assert body["custom"] is True
    _, acme = await get(seeded, PRODUCTS, q="offsite")
    assert [p["id"] for p in acme["products"]] == ["acme-offsite-day"]
    _, globex = await get(seeded, PRODUCTS, "globex", q="offsite")
    assert globex["total"] == 0
    async with seeded.client.post(PRODUCTS, json=custom, headers=headers) as r:
        assert r.status == 409
