"""The end user's journeys in the app, in real Chromium: sign in, search with a typo,
redeem, see the code; a double tap and a retry after a dropped connection make one order."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest

from tests.browser.conftest import PHONE, Live
from tests.browser.pwa_support import (
    STOCKED,
    bearer,
    call,
    edit_programme,
    losing_the_first_order_answer,
    new_person,
    open_stocked,
    points,
    redeem_stocked,
    sign_in,
)

pytestmark = [pytest.mark.browser, pytest.mark.slow]


def test_sign_in_search_with_a_typo_redeem_and_see_the_code(phone: Any, live: Live) -> None:
    person = new_person(live, 5_000)
    sign_in(phone, person)

    phone.get_by_label("Search rewards").fill("filuhu yoha")  # "yoga", misspelt
    phone.get_by_role("button", name="Search", exact=True).click()
    phone.get_by_role("link", name=STOCKED).click()
    phone.get_by_role("heading", name=STOCKED).wait_for()
    assert phone.get_by_role("heading", name="Terms").is_visible()

    phone.get_by_role("button", name="Redeem").click()
    phone.get_by_role("button", name="Confirm").click()
    phone.get_by_text("Done! Your reward is ready.").wait_for()
    phone.get_by_role("link", name="See my reward").click()
    phone.get_by_role("heading", name="My rewards").wait_for()
    assert phone.locator(".pb-code").count() == 0  # codes are shown only when asked

    phone.get_by_role("button", name="Show code").click()
    code = phone.locator(".pb-code").first
    code.wait_for()
    assert re.fullmatch(r"[A-Z0-9]{4}(-[A-Z0-9]{4}){4}", code.inner_text().strip())
    assert phone.get_by_role("img", name=re.compile("QR code of")).is_visible()
    assert phone.get_by_text("Does not expire").is_visible()
    assert points(live, person) == 5_000 - 1_000  # €10.00 at 100 points a euro


def test_wallet_shows_the_balance(phone: Any, live: Live) -> None:
    person = new_person(live, 4_321)
    sign_in(phone, person)
    phone.get_by_role("link", name="Wallet").click()
    assert phone.locator(".pb-balance-value").inner_text() == "4,321"


def test_too_few_points_is_said_plainly_and_costs_nothing(phone: Any, live: Live) -> None:
    person = new_person(live, 500)
    sign_in(phone, person)
    redeem_stocked(phone)
    phone.get_by_text("You do not have enough points for this reward.").wait_for()
    assert points(live, person) == 500


def test_an_order_past_the_programmes_day_limit_is_said_plainly_and_costs_nothing(
    phone: Any, live: Live
) -> None:
    person = new_person(live, 5_000)
    edit_programme(live, lambda p: p.update(max_orders_per_day=1))
    try:
        sign_in(phone, person)
        redeem_stocked(phone)
        phone.get_by_text("Done! Your reward is ready.").wait_for()
        phone.get_by_role("link", name="Catalogue", exact=True).click()
        redeem_stocked(phone)
        phone.get_by_text("as many orders as your programme allows", exact=False).wait_for()
    finally:
        edit_programme(live, lambda p: p.pop("max_orders_per_day", None))
    assert points(live, person) == 5_000 - 1_000


def test_a_large_order_is_held_for_review_then_approved(phone: Any, live: Live) -> None:
    person = new_person(live, 5_000)
    threshold = {"amount_minor": 1000, "currency": "EUR"}  # the stocked card's €10.00
    edit_programme(live, lambda p: p.update(review_threshold=threshold))
    try:
        sign_in(phone, person)
        redeem_stocked(phone)
        phone.get_by_text("Your order is held for review.", exact=False).wait_for()
    finally:
        edit_programme(live, lambda p: p.pop("review_threshold", None))
    assert points(live, person) == 5_000 - 1_000  # held, not spent twice
    admin = str(live.demo["token"])
    status, listed = call(live, "GET", "/api/v1/orders?status=held", token=admin)
    assert status == 200, listed
    (held,) = [o for o in listed["orders"] if o["recipient"] == person.email]
    review = {"approve": True, "note": "checked"}
    status, approved = call(live, "POST", f"/api/v1/orders/{held['id']}/review", review, admin)
    assert (status, approved["status"]) == (200, "fulfilled"), approved
    phone.get_by_role("link", name="My rewards").click()
    phone.get_by_role("button", name="Show code").first.click()
    phone.locator(".pb-code").first.wait_for()


@pytest.mark.parametrize("again", ["try again", "cancel and redeem again"])
def test_a_double_tap_and_a_retry_after_a_dropped_answer_make_one_order(
    browser: Any, live: Live, again: str
) -> None:
    """The answer to an order is lost; the person taps Try again, or cancels and redeems
    the same card again: the attempt the server never answered is taken up again, key
    and all, and the person pays once."""
    person = new_person(live, 5_000)
    # no service worker here: routing sees every request the page makes
    context = browser.new_context(viewport=PHONE, base_url=live.base, service_workers="block")
    page = context.new_page()
    keys: list[str] = []
    try:
        page.route("**/api/v1/orders", losing_the_first_order_answer(keys))
        sign_in(page, person)
        open_stocked(page)
        page.get_by_role("button", name="Confirm").dblclick()
        page.get_by_text("The connection dropped before we heard back.", exact=False).wait_for()
        if again == "try again":
            page.get_by_role("button", name="Try again").click()
        else:
            page.get_by_role("button", name="Cancel").click()
            page.get_by_role("button", name="Redeem").click()
            page.get_by_role("button", name="Confirm").click()
        page.get_by_text("Done! Your reward is ready.").wait_for()
    finally:
        context.close()

    assert len(keys) == 2, keys  # the double tap sent once; the retry once more
    assert keys[0] == keys[1]  # ...with the same key
    assert points(live, person) == 5_000 - 1_000  # paid once
    token = bearer(live, person)
    order = {"product_id": "filuhu-yoga-es", "face_value_minor": 1000, "recipient": person.email}
    status, replay = call(
        live, "POST", "/api/v1/orders", order, token, {"Idempotency-Key": keys[0]}
    )
    assert status in (200, 201), replay
    status, listed = call(live, "GET", f"/api/v1/orders?recipient={person.email}", token=token)
    if status == 200:  # servers that list a person's orders: exactly one
        assert [o["id"] for o in listed["orders"]] == [replay["id"]]
    assert points(live, person) == 5_000 - 1_000  # the replay is the same order


def test_an_order_whose_status_cannot_be_read_stays_shown_as_being_processed(
    browser: Any, live: Live
) -> None:
    """An order answered as still on its way (orders of earlier versions are) is looked
    at again; when those looks fail, the order is still shown as on its way, not as an
    error that invites ordering again."""
    person = new_person(live, 5_000)
    context = browser.new_context(viewport=PHONE, base_url=live.base, service_workers="block")
    page = context.new_page()

    def answer_as_accepted(route: Any) -> None:
        if route.request.method != "POST":
            route.continue_()
            return
        response = route.fetch()
        body = {**response.json(), "status": "accepted"}
        route.fulfill(response=response, body=json.dumps(body))

    def unavailable(route: Any) -> None:
        problem = {"status": 503, "code": "unavailable", "detail": "try later", "retryable": True}
        route.fulfill(status=503, content_type="application/problem+json", body=json.dumps(problem))

    try:
        page.route("**/api/v1/orders", answer_as_accepted)
        page.route(re.compile(r".*/api/v1/orders/ord_[^/]+$"), unavailable)
        sign_in(page, person)
        open_stocked(page)
        page.get_by_role("button", name="Confirm").click()
        page.get_by_text("Your order is being processed.").wait_for()
        page.wait_for_timeout(2_500)  # the looks that follow, each refused
        assert page.get_by_text("Your order is being processed.").is_visible()
        assert page.locator(".pb-error").count() == 0
    finally:
        context.close()


def test_out_of_stock_is_said_plainly_and_costs_nothing(phone: Any, live: Live) -> None:
    person = new_person(live, 5_000)
    sign_in(phone, person)
    phone.get_by_role("link", name="Bael Play gift card").click()  # no codes in stock
    phone.get_by_role("button", name="Redeem").click()
    phone.get_by_role("button", name="Confirm").click()
    phone.get_by_text("This reward is out of stock. No points were taken.").wait_for()
    assert points(live, person) == 5_000


def test_filters_narrow_the_catalogue_as_the_api_does(phone: Any, live: Live) -> None:
    person = new_person(live, 100)
    sign_in(phone, person)
    phone.get_by_label("Category").select_option("wellness")
    phone.get_by_label("Country").select_option("ES")
    phone.get_by_label("Currency").select_option("EUR")
    price = phone.get_by_label("Price")
    # the bands come with the page the currency asked for: wait for it to arrive
    price.locator('option[value*=":"]').first.wait_for(state="attached")
    bands = [v for v in price.locator("option").evaluate_all("o => o.map(x => x.value)") if v]
    assert bands, "the price bands come from the facets"
    price.select_option(bands[0])
    _, low, high = bands[0].split(":")
    query = f"category=wellness&country=ES&currency=EUR&min_price={low}&limit=1"
    if high != "0":
        query += f"&max_price={int(high) - 1}"
    status, page = call(
        live, "GET", f"/api/v1/catalogue/products?{query}", token=bearer(live, person)
    )
    assert status == 200, page
    assert page["total"] > 0
    expected = f"{page['total']:,} reward{'' if page['total'] == 1 else 's'}"
    phone.locator(".pb-summary").filter(has_text=expected).wait_for()
    assert phone.locator(".pb-product").count() == min(page["total"], 24)


def test_copy_puts_the_code_on_the_clipboard(browser: Any, live: Live) -> None:
    person = new_person(live, 1_000)
    context = browser.new_context(viewport=PHONE, base_url=live.base)
    context.grant_permissions(["clipboard-read", "clipboard-write"], origin=live.base)
    page = context.new_page()
    try:
        sign_in(page, person)
        redeem_stocked(page)
        page.get_by_role("link", name="See my reward").click()
        page.get_by_role("button", name="Show code").click()
        code = page.locator(".pb-code").first.inner_text().strip()
        page.get_by_role("button", name="Copy code").click()
        page.get_by_text("Copied", exact=True).wait_for()
        assert page.evaluate("navigator.clipboard.readText()") == code
    finally:
        context.close()


def test_signing_out_offline_says_the_session_is_still_open(phone: Any, live: Live) -> None:
    """The session lives in cookies only the server can clear: offline, signing out
    cannot end it, and the app says so instead of showing the sign-in screen over it."""
    sign_in(phone, new_person(live, 100))
    phone.context.set_offline(True)
    phone.get_by_role("button", name="Sign out").click()
    phone.get_by_role("alert").filter(has_text="You are still signed in").wait_for()
    assert phone.get_by_role("heading", name="Rewards", exact=True).is_visible()
    phone.context.set_offline(False)
    phone.get_by_role("button", name="Sign out").click()
    phone.get_by_role("button", name="Sign in", exact=True).wait_for()
    assert not phone.get_by_role("alert").is_visible()
    me = phone.evaluate("fetch('/auth/me', {credentials: 'same-origin'}).then(r => r.status)")
    assert me == 401  # the cookies are gone: no one here is signed in


def test_a_gift_card_paid_from_a_budget_shows_its_price_in_money(phone: Any, live: Live) -> None:
    """ "My rewards" lists what staff ordered for the person from a budget, too: its price
    is in the budget's currency, not in points."""
    person = new_person(live, 1)
    admin = str(live.demo["token"])
    status, found = call(live, "GET", "/api/v1/catalogue/products?q=filuhu", token=admin)
    assert status == 200, found
    (stocked,) = [p for p in found["products"] if p["name"] == STOCKED]
    order = {
        "product_id": stocked["id"],
        "face_value_minor": 1000,
        "recipient": person.email,
        "budget_id": live.demo["budget_id"],
    }
    key = {"Idempotency-Key": f"pwa-budget-{person.email}"}
    status, placed = call(live, "POST", "/api/v1/orders", order, admin, key)
    assert status == 201, placed
    assert placed["price"]["currency"] == "EUR"
    sign_in(phone, person)
    phone.get_by_role("link", name="My rewards").click()
    line = phone.locator(f'[data-order="{placed["id"]}"] p').first
    line.wait_for()
    text = line.inner_text()
    assert text.startswith("€10.00 · €10.00 · "), text
    assert "points" not in text


def test_a_link_with_a_broken_escape_opens_the_catalogue(phone: Any, live: Live) -> None:
    sign_in(phone, new_person(live, 1))
    phone.goto("/?tenant=demo#/product/100%")  # "%" alone: decodeURIComponent throws
    phone.get_by_role("heading", name="Rewards", exact=True).wait_for()


def test_a_slow_answer_to_an_older_search_does_not_replace_a_newer_one(
    browser: Any, live: Live
) -> None:
    person = new_person(live, 1)
    context = browser.new_context(viewport=PHONE, base_url=live.base, service_workers="block")
    page = context.new_page()
    held: list[Any] = []

    def hold_the_search_for_trust(route: Any) -> None:
        if "q=trust" in route.request.url and not held:
            held.append(route)  # answered later, after the newer search
            return
        route.continue_()

    try:
        sign_in(page, person)
        page.route("**/api/v1/catalogue/products?*", hold_the_search_for_trust)
        search = page.get_by_label("Search rewards")
        search.fill("trust")
        page.get_by_role("button", name="Search", exact=True).click()
        search.fill("filuhu yoga")
        page.get_by_role("button", name="Search", exact=True).click()
        page.get_by_role("link", name=STOCKED).wait_for()
        assert held
        held[0].continue_()
        page.wait_for_timeout(1_000)
        assert page.get_by_role("link", name=STOCKED).is_visible()  # the newer answer stays
    finally:
        context.close()
