"""A person's history over HTTP: their orders and their wallet's movements (REST and
GraphQL), who may see whose, and pages newest first."""

from __future__ import annotations

from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient

from actors.history import encode_cursor
from bus.messages import Ok, Principal
from bus.messages.wallet import IssuePoints
from storage.ports import CatalogueStore
from tests.conftest import Cluster

#: Above the ledger (order pages and account entries are held equal on both ledgers by the
#: contract suite, tests/contract/test_ledger_history.py): SQLite only (ADR 30).
pytestmark = pytest.mark.ledgers("sqlite")

ADMIN = Principal("admin@acme", roles=("admin",))
Client = TestClient[web.Request, web.Application]


@pytest.fixture
async def shop(cluster: Cluster, catalogue: CatalogueStore) -> Cluster:
    """acme: ann rewarded twice and one redemption of hers; a gift card for raj paid
    from budget b1."""
    await cluster.open_shop(catalogue, 3, 100_000, {})
    for reward_id, points in (("rwd_a", 2000), ("rwd_b", 1000)):
        issued = await cluster.bus.request(
            "acme", "treasury", IssuePoints("b1", "ann", points, reward_id), ADMIN, 10
        )
        assert isinstance(issued, Ok)
    redeem = {"product_id": "card-de", "face_value_minor": 2500, "recipient": "ann"}
    headers = {**person(cluster, "ann"), "Idempotency-Key": "ann-1"}
    async with cluster.client.post("/api/v1/orders", json=redeem, headers=headers) as r:
        assert r.status == 201, await r.text()
    gift = {**redeem, "recipient": "raj", "budget_id": "b1"}
    headers = {**cluster.keys.headers("acme"), "Idempotency-Key": "raj-1"}
    async with cluster.client.post("/api/v1/orders", json=gift, headers=headers) as r:
        assert r.status == 201, await r.text()
    return cluster


def person(cluster: Cluster, subject: str) -> dict[str, str]:
    """An end user's bearer token, as the storefront holds it."""
    return cluster.keys.headers("acme", roles=["end_user"], subject=subject)


async def get(client: Client, path: str, headers: dict[str, str]) -> tuple[int, Any]:
    async with client.get(path, headers=headers) as r:
        return r.status, await r.json(content_type=None)


async def test_an_end_user_lists_only_their_own_orders(shop: Cluster) -> None:
    ann = person(shop, "ann")
    status, page = await get(shop.client, "/api/v1/orders", ann)
    assert status == 200
    assert [o["recipient"] for o in page["orders"]] == ["ann"]
    (order,) = page["orders"]
    assert (order["status"], order["payer"]) == ("fulfilled", "wallet:ann")
    assert page["next_cursor"] is None
    status, same = await get(shop.client, "/api/v1/orders?recipient=ann", ann)
    assert (status, same) == (200, page)
    status, problem = await get(shop.client, "/api/v1/orders?recipient=raj", ann)
    assert (status, problem["code"]) == (403, "forbidden")
    status, nothing = await get(shop.client, "/api/v1/orders", person(shop, "li"))
    assert (status, nothing) == (200, {"orders": [], "next_cursor": None})


async def test_staff_list_the_tenants_orders_newest_first_in_pages(shop: Cluster) -> None:
    owner = shop.keys.headers("acme")
    status, everything = await get(shop.client, "/api/v1/orders", owner)
    assert status == 200
    assert [o["recipient"] for o in everything["orders"]] == ["raj", "ann"]
    status, first = await get(shop.client, "/api/v1/orders?limit=1", owner)
    assert first["orders"] == everything["orders"][:1]
    cursor = first["next_cursor"]
    assert isinstance(cursor, str)
    status, second = await get(shop.client, f"/api/v1/orders?limit=1&cursor={cursor}", owner)
    assert (second["orders"], second["next_cursor"]) == (everything["orders"][1:], None)
    status, raj = await get(shop.client, "/api/v1/orders?recipient=raj", owner)
    assert [o["recipient"] for o in raj["orders"]] == ["raj"]
    status, failed = await get(shop.client, "/api/v1/orders?status=failed", owner)
    assert failed["orders"] == []


async def test_grants_narrow_staff_to_the_orders_their_budgets_paid(shop: Cluster) -> None:
    def manager(grants: list[str]) -> dict[str, str]:
        return shop.keys.headers("acme", roles=["programme_manager"], grants=grants)

    status, b1 = await get(shop.client, "/api/v1/orders", manager(["budget:b1"]))
    assert [o["payer"] for o in b1["orders"]] == ["budget:b1"]
    status, b2 = await get(shop.client, "/api/v1/orders", manager(["budget:b2"]))
    assert (status, b2["orders"]) == (200, [])


async def test_bad_listing_input_is_a_problem(shop: Cluster) -> None:
    owner = shop.keys.headers("acme")
    for query in ("limit=0", "limit=101", "status=lost", "recipient=bad%20id", "colour=red"):
        status, problem = await get(shop.client, f"/api/v1/orders?{query}", owner)
        assert (status, problem["code"]) == (422, "invalid_request"), query
    status, problem = await get(shop.client, "/api/v1/orders?cursor=not-ours", owner)
    assert (status, problem["code"]) == (422, "invalid_request")
    # crafted positions: digits int() refuses, a number past the database's integers
    for cursor in (encode_cursor("²", "ord_x"), encode_cursor("9" * 140, "ord_x")):
        status, problem = await get(shop.client, f"/api/v1/orders?cursor={cursor}", owner)
        assert (status, problem["code"]) == (422, "invalid_request"), cursor
    status, problem = await get(
        shop.client, f"/api/v1/wallets/ann/history?cursor={encode_cursor('²')}", owner
    )
    assert (status, problem["code"]) == (422, "invalid_request")
    no_scope = shop.keys.headers("acme", ["catalogue:read"])
    status, problem = await get(shop.client, "/api/v1/orders", no_scope)
    assert (status, problem["code"]) == (403, "forbidden")
    status, _ = await get(shop.client, "/api/v1/orders", {})
    assert status == 401


async def test_wallet_history_shows_rewards_and_redemptions(shop: Cluster) -> None:
    ann = person(shop, "ann")
    status, page = await get(shop.client, "/api/v1/wallets/ann/history", ann)
    assert status == 200, page
    seen = [(e["kind"], e["points"]) for e in page["entries"]]
    assert seen == [("redemption", -2500), ("reward", 1000), ("reward", 2000)]
    redemption, newest_reward, _ = page["entries"]
    assert redemption["order_id"].startswith("ord_")
    assert redemption["product_id"] == "card-de"
    assert redemption["description"] == "Redeemed card-de"
    assert (newest_reward["id"], newest_reward["order_id"]) == ("rwd_b", None)
    assert page["next_cursor"] is None
    status, orders = await get(shop.client, "/api/v1/orders", ann)
    assert redemption["order_id"] == orders["orders"][0]["id"]
    # pages of one, newest first, to the end
    cursor, kinds = "", []
    while True:
        status, one = await get(
            shop.client, f"/api/v1/wallets/ann/history?limit=1&cursor={cursor}", ann
        )
        kinds += [e["kind"] for e in one["entries"]]
        if one["next_cursor"] is None:
            break
        cursor = one["next_cursor"]
    assert kinds == ["redemption", "reward", "reward"]


async def test_wallet_history_is_one_person_s_own(shop: Cluster) -> None:
    status, problem = await get(shop.client, "/api/v1/wallets/ann/history", person(shop, "raj"))
    assert (status, problem["code"]) == (403, "forbidden")
    status, page = await get(shop.client, "/api/v1/wallets/ann/history", shop.keys.headers("acme"))
    assert (status, len(page["entries"])) == (200, 3)
    status, empty = await get(shop.client, "/api/v1/wallets/li/history", person(shop, "li"))
    assert (status, empty) == (200, {"entries": [], "next_cursor": None})
    status, problem = await get(shop.client, "/api/v1/wallets/bad%20id/history", person(shop, "li"))
    assert (status, problem["code"]) == (404, "not_found")
    status, problem = await get(
        shop.client, "/api/v1/wallets/ann/history?cursor=!!", shop.keys.headers("acme")
    )
    assert (status, problem["code"]) == (422, "invalid_request")


async def graphql(client: Client, headers: dict[str, str], query: str) -> Any:
    async with client.post("/graphql", json={"query": query}, headers=headers) as r:
        assert r.status == 200
        body = await r.json()
    assert "errors" not in body, body
    return body["data"]


async def test_graphql_gives_the_same_history(shop: Cluster) -> None:
    ann = person(shop, "ann")
    data = await graphql(
        shop.client,
        ann,
        "{ orders { ... on OrderList { orders { id recipient status } nextCursor } }"
        ' walletHistory(personId: "ann") { ... on WalletHistory {'
        " entries { id kind points orderId productId } nextCursor } } }",
    )
    _, rest_orders = await get(shop.client, "/api/v1/orders", ann)
    assert [o["id"] for o in data["orders"]["orders"]] == [o["id"] for o in rest_orders["orders"]]
    assert data["orders"]["nextCursor"] is None
    kinds = [(e["kind"], e["points"]) for e in data["walletHistory"]["entries"]]
    assert kinds == [("redemption", -2500), ("reward", 1000), ("reward", 2000)]
    refused = await graphql(
        shop.client,
        ann,
        '{ orders(recipient: "raj") { ... on Error { code } } walletHistory(personId: "raj")'
        " { ... on Error { code } } }",
    )
    assert refused == {"orders": {"code": "forbidden"}, "walletHistory": {"code": "forbidden"}}
