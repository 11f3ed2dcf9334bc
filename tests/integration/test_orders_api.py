"""Orders over REST and GraphQL: one suite over both APIs."""

from __future__ import annotations

import pytest

from bus.messages import Ok, Principal
from bus.messages.vouchers import CodeRow, ImportCodes
from bus.messages.wallet import IssuePoints
from storage.ports import CatalogueStore
from tests.conftest import Cluster
from tests.integration.api import BudgetApi, GraphQL, Rest
from tests.support import gift_card

ADMIN = Principal("admin@acme", roles=("admin",))


@pytest.fixture(params=["rest", "graphql"])
async def api(
    request: pytest.FixtureRequest, cluster: Cluster, catalogue: CatalogueStore
) -> BudgetApi:
    await catalogue.put_products(
        [
            gift_card(),
            gift_card("card-jp", currency="JPY", country="JP", denominations=(3000,)),
        ]
    )
    await cluster.open_budget("acme", "b1", 100_000)
    rows = tuple(CodeRow(f"SECRET-{i:04d}", pin=f"{i:04d}") for i in range(3))
    imported = await cluster.bus.request(
        "acme", "vouchers", ImportCodes("card-de", 2500, "EUR", rows), ADMIN, 10
    )
    assert isinstance(imported, Ok)
    yen = tuple(CodeRow(f"YEN-{i:04d}") for i in range(2))
    imported = await cluster.bus.request(
        "acme", "vouchers", ImportCodes("card-jp", 3000, "JPY", yen), ADMIN, 10
    )
    assert isinstance(imported, Ok)
    return Rest(cluster.client) if request.param == "rest" else GraphQL(cluster.client)


def gift(recipient: str = "ann", **extra: object) -> dict[str, object]:
    return {
        "product_id": "card-de",
        "face_value_minor": 2500,
        "recipient": recipient,
        "budget_id": "b1",
        **extra,
    }


async def test_order_a_gift_card_and_see_its_code(api: BudgetApi, cluster: Cluster) -> None:
    acme = cluster.keys.headers("acme")
    placed = (await api.place(acme, gift(), key="order-1")).value
    assert placed is not None
    assert placed["status"] == "fulfilled"
    assert placed["price"] == {"amount_minor": 2500, "currency": "EUR"}
    assert placed["payer"] == "budget:b1"
    assert (await api.place(acme, gift(), key="order-1")).value == placed
    assert (await api.order(acme, placed["id"])).value == placed
    codes = (await api.order_vouchers(acme, placed["id"])).value
    assert codes is not None
    (voucher,) = codes["vouchers"]
    assert voucher["code"].startswith("SECRET-")
    assert voucher["id"] == placed["voucher_id"]
    assert (await api.order(cluster.keys.headers("globex"), placed["id"])).code == "not_found"


async def test_order_ids_grow_in_the_order_orders_are_placed(
    api: BudgetApi, cluster: Cluster
) -> None:
    # they keep a burst's rows on neighbouring pages of the ledger (ADR 21)
    acme = cluster.keys.headers("acme")
    ids = []
    for n in range(3):
        placed = (await api.place(acme, gift(f"p{n}"), key=f"grow-{n}")).value
        assert placed is not None, n
        ids.append(str(placed["id"]))
    assert ids == sorted(ids)
    assert len(set(ids)) == 3
    again = (await api.place(acme, gift("p0"), key="grow-0")).value  # a retry: the first id
    assert again is not None
    assert again["id"] == ids[0]


async def test_redeem_points(api: BudgetApi, cluster: Cluster) -> None:
    issued = await cluster.bus.request(
        "acme", "treasury", IssuePoints("b1", "ann", 3000, "rwd-1"), ADMIN, 10
    )
    assert isinstance(issued, Ok)
    ann = {"Authorization": f"Bearer {cluster.keys.token('acme')}"}
    placed = (await api.place(ann, gift(budget_id=None), key="r-1")).value
    assert placed is not None
    assert placed["status"] == "fulfilled"
    assert placed["price"] == {"amount_minor": 2500, "currency": "PTS"}
    second = (await api.place(ann, gift(budget_id=None), key="r-2")).value
    assert second is not None
    assert (second["status"], second["failure_reason"]) == ("failed", "insufficient_funds")
    assert await cluster.ledger.account_balance("acme", "wallet:ann") == 500


async def test_bad_orders_are_refused(api: BudgetApi, cluster: Cluster) -> None:
    acme = cluster.keys.headers("acme")
    assert (await api.place(acme, gift(product_id="nope"))).code == "not_found"
    wrong = await api.place(acme, gift(face_value_minor=999))
    assert wrong.code == "invalid_request"
    zero = await api.place(acme, gift(face_value_minor=0))
    assert zero.code == "invalid_request"
    assert zero.pointer == "#/face_value_minor"
    reader = cluster.keys.headers("acme", ["orders:read"])
    assert (await api.place(reader, gift())).code == "forbidden"
    assert (await api.order(acme, "ord_unknown")).code == "not_found"
    record = await cluster.ledger.account_balance("acme", "budget:b1")
    assert record == 100_000


async def test_cancel_voids_and_refunds(api: BudgetApi, cluster: Cluster) -> None:
    acme = cluster.keys.headers("acme")
    placed = (await api.place(acme, gift(), key="order-9")).value
    assert placed is not None
    cancelled = (await api.cancel(acme, placed["id"], "sent to the wrong person")).value
    assert cancelled is not None
    assert (cancelled["status"], cancelled["failure_reason"]) == (
        "cancelled",
        "sent to the wrong person",
    )
    assert await cluster.ledger.account_balance("acme", "budget:b1") == 100_000
    assert (await api.order_vouchers(acme, placed["id"])).code == "not_found"
    assert (await api.cancel(acme, "ord_unknown", "")).code == "not_found"


async def test_a_cancel_needs_no_body(cluster: Cluster, catalogue: CatalogueStore) -> None:
    """Its one field is optional: no body, or an empty one, is a cancel without a reason."""
    await cluster.open_shop(catalogue, 2, 100_000, {})
    acme = cluster.keys.headers("acme")
    for n, headers in enumerate((acme, {**acme, "Content-Type": "application/json"})):
        async with cluster.client.post(
            "/api/v1/orders", json=gift(), headers={**acme, "Idempotency-Key": f"k{n}"}
        ) as r:
            placed = await r.json()
            assert r.status == 201, placed
        async with cluster.client.post(
            f"/api/v1/orders/{placed['id']}/cancel", headers=headers
        ) as r:
            cancelled = await r.json()
            assert r.status == 200, cancelled
        assert (cancelled["status"], cancelled["failure_reason"]) == ("cancelled", "cancelled")
    assert await cluster.ledger.account_balance("acme", "budget:b1") == 100_000


async def test_an_order_in_another_currency_uses_the_tenants_rate(
    api: BudgetApi, cluster: Cluster
) -> None:
    acme = cluster.keys.headers("acme")
    yen = gift(product_id="card-jp", face_value_minor=3000)
    assert (await api.place(acme, yen)).code == "currency_mismatch"
    rates = (await api.set_rate(acme, "JPY", "EUR", "0.0061")).value
    assert rates is not None
    assert [(r["base"], r["quote"], r["rate"]) for r in rates["rates"]] == [
        ("JPY", "EUR", "0.0061")
    ]
    placed = (await api.place(acme, yen)).value
    assert placed is not None
    assert (placed["status"], placed["price"], placed["fx_rate"]) == (
        "fulfilled",
        {"amount_minor": 1830, "currency": "EUR"},
        "0.0061",
    )
    assert (await api.set_rate(acme, "JPY", "EUR", "-1")).code == "invalid_request"
    reader = cluster.keys.headers("acme", ["budgets:read"])
    assert (await api.set_rate(reader, "JPY", "EUR", "1")).code == "forbidden"


async def test_the_tenants_points_rate_prices_rewards_and_redemptions(
    api: BudgetApi, cluster: Cluster
) -> None:
    acme = cluster.keys.headers("acme")
    default = (await api.points_rate(acme)).value
    assert default == {
        "currency": "EUR",
        "points_per_unit": "100",
        "locked": False,
        "points_issued": 0,
    }
    # three points to the euro: a point is worth 33⅓ cents, never a whole number of cents
    rate = (await api.set_points_rate(acme, "EUR", "3")).value
    assert rate is not None
    assert (rate["currency"], rate["points_per_unit"], rate["locked"]) == ("EUR", "3", False)
    issued = (await api.issue(acme, "b1", "ann", 80, key="reward-80")).value
    assert issued is not None
    assert issued["cost"] == {"amount_minor": 2667, "currency": "EUR"}  # 26.66…, rounded up
    assert await cluster.ledger.account_balance("acme", "budget:b1") == 100_000 - 2667
    after_issue = {**rate, "locked": True, "points_issued": 80}
    assert (await api.points_rate(acme)).value == after_issue
    locked = await api.set_points_rate(acme, "EUR", "4")
    assert (locked.code, locked.retryable) == ("rate_locked", False)
    assert (await api.set_points_rate(acme, "EUR", "3.0")).value == after_issue
    ann = {"Authorization": f"Bearer {cluster.keys.token('acme')}"}
    placed = (await api.place(ann, gift(budget_id=None), key="r-pts")).value
    assert placed is not None
    # 25.00 EUR at 3 points per euro = 75 points; the rate is locked into the order
    assert (placed["status"], placed["price"], placed["points_rate"]) == (
        "fulfilled",
        {"amount_minor": 75, "currency": "PTS"},
        "3",
    )
    assert await cluster.ledger.account_balance("acme", "wallet:ann") == 5
    # the pool keeps what the 5 points left are worth (166.67 cents), never less
    assert await cluster.ledger.account_balance("acme", "points:EUR") == 2667 - 2500
    assert await cluster.ledger.account_balance("acme", "redeemed:EUR") == 2500
    assert await cluster.ledger.entries_total("acme") == 0
    # cancelled: the 75 points and exactly the money they took go back
    cancelled = (await api.cancel(acme, placed["id"], "wrong card")).value
    assert cancelled is not None
    assert cancelled["status"] == "cancelled"
    assert await cluster.ledger.account_balance("acme", "wallet:ann") == 80
    assert await cluster.ledger.account_balance("acme", "points:EUR") == 2667
    assert await cluster.ledger.account_balance("acme", "redeemed:EUR") == 0
    assert await cluster.ledger.entries_total("acme") == 0


async def test_points_orders_in_another_currency_round_once(
    api: BudgetApi, cluster: Cluster
) -> None:
    acme = cluster.keys.headers("acme")
    assert (await api.set_points_rate(acme, "EUR", "1000")).value is not None
    assert (await api.set_rate(acme, "JPY", "EUR", "0.0061")).value is not None
    assert (await api.issue(acme, "b1", "ann", 20_000)).value is not None
    ann = {"Authorization": f"Bearer {cluster.keys.token('acme')}"}
    yen = gift(product_id="card-jp", face_value_minor=3000, budget_id=None)
    placed = (await api.place(ann, yen)).value
    assert placed is not None
    # 3,000 JPY at 0.0061 = 18.30 EUR, at 1,000 points per euro
    assert (placed["price"], placed["fx_rate"], placed["points_rate"]) == (
        {"amount_minor": 18_300, "currency": "PTS"},
        "0.0061",
        "1000",
    )
    assert await cluster.ledger.account_balance("acme", "redeemed:EUR") == 1830


async def test_bad_points_rates_are_refused_and_change_nothing(
    api: BudgetApi, cluster: Cluster
) -> None:
    acme = cluster.keys.headers("acme")
    zero = await api.set_points_rate(acme, "EUR", "0")
    assert zero.code == "invalid_request"
    bad = await api.set_points_rate(acme, "eur", "100")
    assert (bad.code, bad.pointer) == ("invalid_request", "#/currency")
    worse = await api.set_points_rate(acme, "EUR", "1e3")
    assert (worse.code, worse.pointer) == ("invalid_request", "#/points_per_unit")
    reader = cluster.keys.headers("acme", ["budgets:read"])
    assert (await api.set_points_rate(reader, "USD", "1")).code == "forbidden"
    assert (await api.set_rate(acme, "EUR", "PTS", "100")).code == "not_found"  # no currency
    unchanged = (await api.points_rate(acme)).value
    assert unchanged is not None
    assert (unchanged["currency"], unchanged["points_per_unit"]) == ("EUR", "100")
    # another currency before any points are issued: the old rate is retired
    usd = (await api.set_points_rate(acme, "USD", "100")).value
    assert usd is not None
    assert (await api.points_rate(acme)).value == usd
    refused = await api.issue(acme, "b1", "ann", 10)  # b1 is in EUR
    assert refused.code == "currency_mismatch"
    other_tenant = (await api.points_rate(cluster.keys.headers("globex"))).value
    assert other_tenant == {
        "currency": "EUR",
        "points_per_unit": "100",
        "locked": False,
        "points_issued": 0,
    }
