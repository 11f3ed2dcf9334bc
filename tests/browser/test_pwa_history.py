"""A person's orders list and wallet history, from the live system's
``GET /orders?recipient=`` and ``GET /wallets/{id}/history``; and an order held for
review, which the server cannot produce yet (no review step exists): only that answer
is FAKED here, by routing, in the shape of the order API."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest

from tests.browser.conftest import PHONE, Live
from tests.browser.pwa_support import STOCKED, new_person, redeem_stocked, sign_in

pytestmark = [pytest.mark.browser, pytest.mark.slow]


@pytest.fixture
def phone(browser: Any, live: Live) -> Iterator[Any]:
    """A phone without the service worker: its requests would bypass page routing."""
    context = browser.new_context(viewport=PHONE, base_url=live.base, service_workers="block")
    try:
        yield context.new_page()
    finally:
        context.close()


def _order(person: str, status: str, order_id: str = "ord_fake_1") -> dict[str, Any]:
    return {
        "id": order_id,
        "status": status,
        "recipient": person,
        "payer": f"wallet:{person}",
        "product_id": "filuhu-yoga-es",
        "face_value": {"amount_minor": 2500, "currency": "EUR"},
        "price": {"amount_minor": 2500, "currency": "PTS"},
        "voucher_id": "",
        "failure_reason": "",
        "external_id": "",
        "created_at": "2026-11-20T10:00:00+00:00",
        "updated_at": "2026-11-20T10:00:00+00:00",
        "fx_rate": "",
        "points_rate": "100",
    }


def _json(route: Any, body: object, status: int = 200) -> None:
    route.fulfill(status=status, content_type="application/json", body=json.dumps(body))


def test_wallet_history_and_the_orders_list(phone: Any, live: Live) -> None:
    person = new_person(live, 2_000)
    sign_in(phone, person)
    redeem_stocked(phone)
    phone.get_by_text("Done! Your reward is ready.").wait_for()

    phone.get_by_role("link", name="Wallet").click()
    table = phone.get_by_role("table", name="History")
    table.wait_for()
    rows = table.locator("tbody tr")
    assert rows.count() == 2  # newest first: the redemption, then the reward
    what, change = rows.nth(0).inner_text().split("\t")[1:]
    assert what.startswith("Redeemed")
    assert change == "-1,000"
    assert rows.nth(1).inner_text().split("\t")[-1] == "+2,000"

    phone.get_by_role("link", name="My rewards").click()
    phone.get_by_role("heading", name=STOCKED).wait_for()  # from the server's list
    assert phone.get_by_text("this device", exact=False).count() == 0  # not the fallback
    assert phone.get_by_role("button", name="Show code").count() == 1


def test_an_order_held_for_review_is_said_so(phone: Any, live: Live) -> None:
    person = new_person(live, 2_000)
    held = _order(person.email, "held")

    def place(route: Any) -> None:
        if route.request.method == "POST":
            _json(route, held, 201)
        else:
            route.continue_()

    phone.route("**/api/v1/orders", place)
    sign_in(phone, person)
    redeem_stocked(phone)
    phone.get_by_text("Your order is held for review.", exact=False).wait_for()
