"""Orders over REST and GraphQL: one suite over both APIs."""

from __future__ import annotations

import pytest

from bus.messages import Ok, Principal
from bus.messages.catalogue import Product, Texts
from bus.messages.vouchers import CodeRow, ImportCodes
from bus.messages.wallet import IssuePoints
from storage.ports import CatalogueStore
from tests.conftest import Cluster
from tests.integration.api import BudgetApi, GraphQL, Rest

ADMIN = Principal("admin@acme", roles=("admin",))


@pytest.fixture(params=["rest", "graphql"])
async def api(
    request: pytest.FixtureRequest, cluster: Cluster, catalogue: CatalogueStore
) -> BudgetApi:
    await catalogue.put_products(
        [
            Product(
                id="card-de",
                brand="Brand",
                kind="gift_card",
                category="shopping",
                currency="EUR",
                countries=("DE",),
                texts={"en": Texts("Card")},
                denominations=(2500,),
            ),
            Product(
                id="card-jp",
                brand="Brand",
                kind="gift_card",
                category="shopping",
                currency="JPY",
                countries=("JP",),
                texts={"en": Texts("Card")},
                denominations=(3000,),
            ),
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
