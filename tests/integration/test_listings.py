"""A tenant's budgets and voucher pools listed over REST and GraphQL (one suite over
both APIs): in order, in pages walked by cursor, as each is read alone, narrowed by
grants, never another tenant's, and bad paging input refused."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import pytest

from actors.cursors import encode_cursor
from bus.messages import Ok, Principal
from bus.messages.budget import BudgetPage, ListBudgets
from bus.messages.vouchers import AllocateCode, GenerateCodes
from tests.conftest import Cluster
from tests.integration.api import BudgetApi, GraphQL, Outcome, Rest

ADMIN = Principal("admin@acme", roles=("admin",))
Listing = Callable[[dict[str, str], int, str | None], Awaitable[Outcome]]


@pytest.fixture(params=["rest", "graphql"])
def api(request: pytest.FixtureRequest, cluster: Cluster) -> BudgetApi:
    return Rest(cluster.client) if request.param == "rest" else GraphQL(cluster.client)


async def walk(listing: Listing, headers: dict[str, str], limit: int, items: str) -> list[Any]:
    """Every page of a listing, following ``next_cursor`` to the end: the ids of each."""
    pages: list[Any] = []
    cursor: str | None = None
    for _ in range(20):
        page = (await listing(headers, limit, cursor)).value
        assert page is not None
        pages.append([key(item) for item in page[items]])
        cursor = page["next_cursor"]
        if cursor is None:
            return pages
    raise AssertionError("the pages never end")


def key(item: dict[str, Any]) -> Any:
    return item["id"] if "id" in item else (item["product_id"], item["face_value_minor"])


async def test_budgets_are_listed_by_id_as_each_is_read(api: BudgetApi, cluster: Cluster) -> None:
    acme = cluster.keys.headers("acme")
    for budget_id, amount in (("a1", 1000), ("B2", 2000), ("a-1", 3000), ("10", 4000)):
        await cluster.open_budget("acme", budget_id, amount)
    assert (await api.debit(acme, "B2", 250)).value is not None
    # the treasury's other accounts are not budgets
    assert (await api.issue(acme, "a1", "ann", 100)).value is not None  # 100 cents
    assert (await api.open_funding(acme, "f1")).value is not None
    listed = (await api.budgets(acme)).value
    assert listed is not None
    assert listed["next_cursor"] is None
    budgets = listed["budgets"]
    assert [(b["id"], b["balance"]["amount_minor"]) for b in budgets] == [
        ("10", 4000),  # by id, byte by byte: digits, capitals, then the rest
        ("B2", 1750),
        ("a-1", 3000),
        ("a1", 900),
    ]
    assert budgets == [(await api.get(acme, b["id"])).value for b in budgets]
    assert budgets[1]["version"] == 2


async def test_small_pages_walk_every_budget_once(api: BudgetApi, cluster: Cluster) -> None:
    ids = [f"b{n}" for n in range(7)]
    for budget_id in reversed(ids):
        await cluster.open_budget("acme", budget_id, 100)
    acme = cluster.keys.headers("acme")
    assert await walk(api.budgets, acme, 3, "budgets") == [ids[:3], ids[3:6], ids[6:]]
    assert await walk(api.budgets, acme, 7, "budgets") == [ids]
    assert await walk(api.budgets, acme, 100, "budgets") == [ids]


async def test_a_manager_narrowed_by_grants_lists_only_their_budgets(
    api: BudgetApi, cluster: Cluster
) -> None:
    for budget_id in ("eng", "hr", "ops", "sales"):
        await cluster.open_budget("acme", budget_id, 100)

    def manager(*grants: str) -> dict[str, str]:
        return cluster.keys.headers("acme", roles=["programme_manager"], grants=list(grants))

    ops_and_eng = manager("budget:ops", "budget:eng", "budget:gone")
    assert await walk(api.budgets, ops_and_eng, 20, "budgets") == [["eng", "ops"]]
    assert await walk(api.budgets, ops_and_eng, 1, "budgets") == [["eng"], ["ops"]]
    assert await walk(api.budgets, manager("budget:gone"), 20, "budgets") == [[]]
    owner = cluster.keys.headers("acme")
    assert await walk(api.budgets, owner, 20, "budgets") == [["eng", "hr", "ops", "sales"]]


async def test_the_treasury_narrows_a_listing_whatever_the_edge_did(cluster: Cluster) -> None:
    """A listing that reaches the bus another way shows only the budgets granted."""
    for budget_id in ("eng", "sales"):
        await cluster.open_budget("acme", budget_id, 100)
    narrowed = Principal("pm@acme", roles=("programme_manager",), grants=("budget:sales",))
    reply = await cluster.bus.request("acme", "treasury", ListBudgets(), narrowed, 10)
    assert isinstance(reply, Ok)
    assert isinstance(reply.value, BudgetPage)
    assert [b.budget_id for b in reply.value.budgets] == ["sales"]


async def test_another_tenant_lists_none_of_them(api: BudgetApi, cluster: Cluster) -> None:
    for budget_id, amount in (("b1", 1111), ("b2", 2222), ("b3", 3333)):
        await cluster.open_budget("acme", budget_id, amount)
    await stock(cluster, (("card-de", 2500, 2), ("card-de", 500, 1)))
    acme = cluster.keys.headers("acme")
    budgets, pools = (await api.budgets(acme, 1)).value, (await api.pools(acme, 1)).value
    assert budgets is not None
    assert pools is not None
    globex = cluster.keys.headers("globex")
    nothing: dict[str, Any] = {"budgets": [], "next_cursor": None}
    assert (await api.budgets(globex)).value == nothing
    assert (await api.budgets(globex, 1, budgets["next_cursor"])).value == nothing
    assert (await api.pools(globex)).value == {"pools": [], "next_cursor": None}
    assert (await api.pools(globex, 1, pools["next_cursor"])).value == {
        "pools": [],
        "next_cursor": None,
    }
    await cluster.open_budget("globex", "b2", 7)  # its own, under a name acme uses too
    mine = (await api.budgets(globex)).value
    assert mine is not None
    assert [(b["id"], b["balance"]["amount_minor"]) for b in mine["budgets"]] == [("b2", 7)]


async def test_listing_needs_what_reading_one_needs(api: BudgetApi, cluster: Cluster) -> None:
    await cluster.open_budget("acme", "b1", 100)
    await stock(cluster, (("card-de", 2500, 1),))

    def token(scopes: list[str] | None = None, roles: list[str] | None = None) -> dict[str, str]:
        return cluster.keys.headers("acme", scopes, roles)

    for headers in (token(roles=["end_user"]), token(["catalogue:read", "orders:read"])):
        assert (await api.budgets(headers)).code == "forbidden"
        assert (await api.pools(headers)).code == "forbidden"
    budgets_only, vouchers_only = token(["budgets:read"]), token(["vouchers:read"])
    assert (await api.budgets(budgets_only)).value is not None
    assert (await api.pools(budgets_only)).code == "forbidden"
    assert (await api.pools(vouchers_only)).value is not None
    assert (await api.budgets(vouchers_only)).code == "forbidden"
    for role in ("auditor", "finance", "integrator", "programme_manager"):
        headers = token(roles=[role])
        assert (await api.budgets(headers)).value is not None, role
        assert (await api.pools(headers)).value is not None, role


#: Cursors this API never gives: garbled, too long, of the other listing, positions that
#: cannot be (a budget id with a space, a face value of 0, a product id in capitals).
BAD_CURSORS = {
    "budgets": ["not-ours", "x" * 201, encode_cursor(["card-de", 2500]), encode_cursor("b 1")],
    "pools": [
        "not-ours",
        "x" * 201,
        encode_cursor("b1"),
        encode_cursor(["card-de", 0]),
        encode_cursor(["Card-DE", 2500]),
    ],
}


@pytest.mark.parametrize("listing", ["budgets", "pools"])
async def test_bad_paging_input_is_refused(api: BudgetApi, cluster: Cluster, listing: str) -> None:
    await cluster.open_budget("acme", "b1", 100)
    await stock(cluster, (("card-de", 2500, 1),))
    acme = cluster.keys.headers("acme")
    listed: Listing = api.budgets if listing == "budgets" else api.pools
    for limit in (0, 101, -1):
        refused = await listed(acme, limit, None)
        assert (refused.code, refused.pointer) == ("invalid_request", "#/limit"), limit
    for cursor in BAD_CURSORS[listing]:
        assert (await listed(acme, 20, cursor)).code == "invalid_request", cursor
    assert (await listed(acme, 100, None)).value is not None


@pytest.mark.parametrize("path", ["/api/v1/budgets", "/api/v1/vouchers/pools"])
async def test_bad_paging_input_is_a_problem_over_rest(cluster: Cluster, path: str) -> None:
    await cluster.open_budget("acme", "b1", 100)
    acme = cluster.keys.headers("acme")
    for query in ("limit=0", "limit=101", "limit=ten", "colour=red", "cursor=not-ours"):
        async with cluster.client.get(f"{path}?{query}", headers=acme) as r:
            body = await r.json(content_type=None)
            assert (r.status, r.content_type) == (422, "application/problem+json"), query
        assert (body["status"], body["code"]) == (422, "invalid_request"), query
        assert body["detail"], query
        assert "b1" not in str(body)
    async with cluster.client.get(path, headers=acme) as r:
        assert r.status == 200
        assert r.headers["Cache-Control"] == "no-store"  # kept by no cache (ADR 15)


async def stock(cluster: Cluster, pools: tuple[tuple[str, int, int], ...]) -> None:
    """acme's pools: so many codes of each (product, face value)."""
    for product_id, face, count in pools:
        made = GenerateCodes(product_id, face, "EUR", count)
        assert isinstance(await cluster.bus.request("acme", "vouchers", made, ADMIN, 10), Ok)


async def give(cluster: Cluster, product_id: str, face: int, order_id: str) -> None:
    """One code of a pool given to an order."""
    allocate = AllocateCode(product_id, face, order_id)
    assert isinstance(await cluster.bus.request("acme", "vouchers", allocate, ADMIN, 10), Ok)


#: (product, face value, codes), not in order.
POOLS = (
    ("card-de", 2500, 3),
    ("zz-mug", 700, 1),
    ("card-de", 10_000, 1),
    ("acme-voucher", 1000, 4),
    ("card-de", 500, 2),
)


async def test_pools_are_listed_in_order_as_each_is_read(api: BudgetApi, cluster: Cluster) -> None:
    await stock(cluster, POOLS)
    await give(cluster, "card-de", 2500, "ord-1")
    await give(cluster, "zz-mug", 700, "ord-2")  # its last code: listed still
    acme = cluster.keys.headers("acme")
    listed = (await api.pools(acme)).value
    assert listed is not None
    assert listed["next_cursor"] is None
    pools = listed["pools"]
    assert [
        (p["product_id"], p["face_value_minor"], p["available"], p["allocated"]) for p in pools
    ] == [
        ("acme-voucher", 1000, 4, 0),
        ("card-de", 500, 2, 0),  # face values as numbers, not as text
        ("card-de", 2500, 2, 1),
        ("card-de", 10_000, 1, 0),
        ("zz-mug", 700, 0, 1),
    ]
    singles = [(await api.pool(acme, p["product_id"], p["face_value_minor"])).value for p in pools]
    assert pools == singles
    # grants narrow budgets, not pools: a narrowed manager reads every pool, one or all
    manager = cluster.keys.headers("acme", roles=["programme_manager"], grants=["budget:eng"])
    assert (await api.pools(manager)).value == listed


async def test_small_pages_walk_every_pool_once(api: BudgetApi, cluster: Cluster) -> None:
    await stock(cluster, POOLS)
    acme = cluster.keys.headers("acme")
    everything = [
        ("acme-voucher", 1000),
        ("card-de", 500),
        ("card-de", 2500),
        ("card-de", 10_000),
        ("zz-mug", 700),
    ]
    # a page ends inside card-de's face values: the next goes on with the rest of them
    pages = await walk(api.pools, acme, 2, "pools")
    assert pages == [everything[:2], everything[2:4], everything[4:]]
    assert await walk(api.pools, acme, 1, "pools") == [[p] for p in everything]
    assert await walk(api.pools, acme, 5, "pools") == [everything]
