"""Orders held for review, over REST and GraphQL: an order paid in points whose face value
reaches the programme's threshold waits with its points held; a reviewer approves it (it
is carried out) or rejects it (the points go back); nobody reviews their own order, nor
another tenant's; gifts from a budget and orders under the threshold are not held."""

from __future__ import annotations

from typing import Any

import pytest

from bus.messages import Ok, Principal
from bus.messages.treasury import SetFxRate
from storage.ports import CatalogueStore
from tests.conftest import Cluster
from tests.integration.api import BudgetApi, GraphQL, Rest
from tests.integration.test_order_limits import set_programme

#: Above the ledger (holding and reviewing orders is the orders actors' logic; the ledger
#: contract suite holds order rows and their statuses): SQLite only (ADR 30).
pytestmark = pytest.mark.ledgers("sqlite")

ADMIN = Principal("admin@acme", roles=("admin",))


@pytest.fixture(params=["rest", "graphql"])
async def api(
    request: pytest.FixtureRequest, cluster: Cluster, catalogue: CatalogueStore
) -> BudgetApi:
    await cluster.open_shop(catalogue, 10, 1_000_000, {"ann": 10_000, "bob": 10_000})
    await set_programme(cluster, {"review_threshold": {"amount_minor": 2500, "currency": "EUR"}})
    return Rest(cluster.client) if request.param == "rest" else GraphQL(cluster.client)


def person(cluster: Cluster, subject: str, roles: tuple[str, ...] = ("end_user",)) -> Any:
    return cluster.keys.headers("acme", roles=list(roles), subject=subject)


def card(recipient: str, **extra: object) -> dict[str, object]:
    return {"product_id": "card-de", "face_value_minor": 2500, "recipient": recipient, **extra}


async def held_order(api: BudgetApi, cluster: Cluster, who: str, key: str) -> dict[str, Any]:
    placed = (await api.place(person(cluster, who), card(who), key=key)).value
    assert placed is not None
    assert (placed["status"], placed["voucher_id"]) == ("held", "")
    admin = cluster.keys.headers("acme")
    async with cluster.client.get("/api/v1/orders?status=held", headers=admin) as r:
        assert placed["id"] in [o["id"] for o in (await r.json())["orders"]]
    return placed


async def test_an_approved_order_is_carried_out(api: BudgetApi, cluster: Cluster) -> None:
    placed = await held_order(api, cluster, "ann", "ann-1")
    balance = cluster.ledger.account_balance
    assert await balance("acme", "wallet:ann") == 7_500
    assert await balance("acme", f"hold:{placed['id']}") == 2_500  # held, not spent
    assert await balance("acme", "points:redeemed") == 0
    assert (await api.place(person(cluster, "ann"), card("ann"), key="ann-1")).value == placed

    admin = cluster.keys.headers("acme")
    out = await api.review(admin, placed["id"], approve=True, note="fine")
    approved = out.value
    assert approved is not None, out
    assert (approved["status"], approved["failure_reason"]) == ("fulfilled", "")
    codes = (await api.order_vouchers(person(cluster, "ann"), placed["id"])).value
    assert codes is not None
    assert codes["vouchers"][0]["code"].startswith("SECRET-")
    assert await balance("acme", "wallet:ann") == 7_500
    assert await balance("acme", f"hold:{placed['id']}") == 0
    assert await balance("acme", "points:redeemed") == 2_500  # spent

    async with cluster.client.get("/api/v1/audit?action=orders.review", headers=admin) as r:
        entries = (await r.json())["entries"]
    assert [(e["target"], e["outcome"]) for e in entries] == [(placed["id"], "ok")]
    again = (await api.review(admin, placed["id"], approve=True)).value
    assert again is not None
    assert again["status"] == "fulfilled"  # approved already: as it stands
    assert (await api.review(admin, placed["id"], approve=False)).code == "invalid_request"


async def test_a_rejected_order_gives_the_points_back(api: BudgetApi, cluster: Cluster) -> None:
    placed = await held_order(api, cluster, "bob", "bob-1")
    finance = person(cluster, "fin@acme", ("finance",))
    # a note is one of REST's or refused, whichever the API: never cut or kept with controls
    for note in ("ok\u001b[2J\u0007", "x" * 201):
        bad = await api.review(finance, placed["id"], approve=False, note=note)
        assert (bad.code, bad.pointer) == ("invalid_request", "#/note"), note
    rejected = (await api.review(finance, placed["id"], approve=False, note="too much")).value
    assert rejected is not None
    assert (rejected["status"], rejected["failure_reason"]) == ("failed", "review_rejected")
    assert await cluster.ledger.account_balance("acme", "wallet:bob") == 10_000
    assert await cluster.ledger.account_balance("acme", f"hold:{placed['id']}") == 0
    assert await cluster.ledger.account_balance("acme", "points:redeemed") == 0
    again = (await api.review(finance, placed["id"], approve=False)).value
    assert again is not None
    assert again["status"] == "failed"
    assert (await api.review(finance, placed["id"], approve=True)).code == "invalid_request"


async def test_only_reviewers_review_and_never_their_own(api: BudgetApi, cluster: Cluster) -> None:
    placed = await held_order(api, cluster, "ann", "ann-2")
    oid = placed["id"]
    assert (await api.review(person(cluster, "ann"), oid, approve=True)).code == "forbidden"
    own = person(cluster, "ann", ("admin",))  # an admin ordering for herself
    assert (await api.review(own, oid, approve=True)).code == "not_found"
    # an admin spending ann's points places an order; that admin may not approve it
    placer = person(cluster, "adm2@acme", ("admin",))
    for_ann = (await api.place(placer, card("ann"), key="for-ann")).value
    assert for_ann is not None
    assert for_ann["status"] == "held"
    assert (await api.review(placer, for_ann["id"], approve=True)).code == "not_found"
    other = person(cluster, "adm3@acme", ("admin",))
    approved = (await api.review(other, for_ann["id"], approve=True)).value
    assert approved is not None
    assert approved["status"] == "fulfilled"
    auditor = person(cluster, "aud@acme", ("auditor",))
    assert (await api.review(auditor, oid, approve=True)).code == "forbidden"
    globex = cluster.keys.headers("globex")
    assert (await api.review(globex, oid, approve=True)).code == "not_found"
    still = (await api.order(cluster.keys.headers("acme"), oid)).value
    assert still is not None
    assert still["status"] == "held"
    assert await cluster.ledger.account_balance("acme", "wallet:ann") == 5_000  # two orders


async def test_what_is_not_held(api: BudgetApi, cluster: Cluster) -> None:
    admin = cluster.keys.headers("acme")
    gift = (await api.place(admin, card("ann", budget_id="b1"), key="gift-1")).value
    assert gift is not None
    assert gift["status"] == "fulfilled"  # from a budget: not a person's own order
    await set_programme(cluster, {"review_threshold": {"amount_minor": 2501, "currency": "EUR"}})
    under = (await api.place(person(cluster, "ann"), card("ann"), key="under-1")).value
    assert under is not None
    assert under["status"] == "fulfilled"
    assert (await api.review(admin, under["id"], approve=False)).code == "invalid_request"
    assert (await api.review(admin, under["id"], approve=True)).code == "invalid_request"
    other = person(cluster, "adm9@acme", ("admin",))  # not the gift's placer
    assert (await api.review(other, gift["id"], approve=True)).code == "invalid_request"


async def test_a_threshold_in_another_currency_is_converted(
    api: BudgetApi, cluster: Cluster
) -> None:
    await set_programme(cluster, {"review_threshold": {"amount_minor": 3000, "currency": "USD"}})
    await held_order(api, cluster, "ann", "usd-1")  # no EUR → USD rate: a person decides
    rate = await cluster.bus.request("acme", "treasury", SetFxRate("EUR", "USD", "1.1"), ADMIN, 10)
    assert isinstance(rate, Ok)
    placed = (await api.place(person(cluster, "bob"), card("bob"), key="usd-2")).value
    assert placed is not None
    assert placed["status"] == "fulfilled"  # 25.00 EUR = 27.50 USD < 30.00
    await set_programme(cluster, {"review_threshold": {"amount_minor": 2750, "currency": "USD"}})
    await held_order(api, cluster, "bob", "usd-3")


async def test_an_approved_order_takes_a_code_the_treasury_leased(
    cluster: Cluster, catalogue: CatalogueStore
) -> None:
    """The treasury leases codes for the orders it decides, held ones too (ADR 21): the
    only code in stock is the treasury's, and approval must find it there."""
    await cluster.open_shop(catalogue, 1, 1_000_000, {"ann": 10_000, "bob": 10_000})
    await set_programme(cluster, {"review_threshold": {"amount_minor": 2500, "currency": "EUR"}})
    api = Rest(cluster.client)
    placed = await held_order(api, cluster, "ann", "one-1")
    manager = person(cluster, "pm@acme", ("programme_manager",))
    approved = (await api.review(manager, placed["id"], approve=True)).value
    assert approved is not None
    assert approved["status"] == "fulfilled"
    bob = await held_order(api, cluster, "bob", "one-2")
    short = (await api.review(manager, bob["id"], approve=True)).value
    assert short is not None
    assert (short["status"], short["failure_reason"]) == ("failed", "out_of_stock")
    assert await cluster.ledger.account_balance("acme", "wallet:bob") == 10_000  # given back


async def test_a_reviewer_narrowed_to_budgets_reviews_no_points_order(
    api: BudgetApi, cluster: Cluster
) -> None:
    placed = await held_order(api, cluster, "ann", "narrow-1")
    narrowed = cluster.keys.headers(
        "acme", roles=["finance"], subject="f@acme", grants=["budget:b1"]
    )
    assert (await api.review(narrowed, placed["id"], approve=True)).code == "not_found"
    admin, oid = cluster.keys.headers("acme"), placed["id"]
    first = (await api.review(admin, oid, approve=False, key="review-1")).value
    again = (await api.review(admin, oid, approve=False, key="review-1")).value
    assert first is not None
    assert again == first  # a retry under the same key: the same answer
    reused = await api.review(admin, oid, approve=True, key="review-1")
    assert reused.code == "idempotency_key_reused"


async def test_an_order_is_held_while_the_programme_cannot_be_read(
    cluster: Cluster, catalogue: CatalogueStore
) -> None:
    await cluster.open_shop(catalogue, 5, 1_000_000, {"ann": 10_000})
    docs = cluster.host.context.tenant_docs
    assert docs is not None
    await docs.close()  # before the treasury ever read the programme: a person decides
    api = Rest(cluster.client)
    placed = await held_order(api, cluster, "ann", "blind-1")
    approved = (await api.review(cluster.keys.headers("acme"), placed["id"], approve=True)).value
    assert approved is not None
    assert approved["status"] == "fulfilled"
