"""Accessibility: sign in with the keyboard alone, every control has an accessible name
(asked of Chromium's accessibility tree), focus is visible."""

from __future__ import annotations

from typing import Any

import pytest

from tests.browser.conftest import Live
from tests.browser.pwa_support import STOCKED, new_person, redeem_stocked, sign_in

pytestmark = [pytest.mark.browser, pytest.mark.slow]

CONTROLS = {"textbox", "searchbox", "combobox", "button", "link", "radio", "checkbox"}


def _unnamed_controls(page: Any) -> list[str]:
    session = page.context.new_cdp_session(page)
    tree = session.send("Accessibility.getFullAXTree")
    unnamed = []
    for node in tree["nodes"]:
        role = node.get("role", {}).get("value", "")
        name = str(node.get("name", {}).get("value", "")).strip()
        if role in CONTROLS and not node.get("ignored") and not name:
            unnamed.append(role)
    return unnamed


def test_sign_in_with_the_keyboard_alone(phone: Any, live: Live) -> None:
    person = new_person(live, 100)
    phone.goto("/?tenant=demo")
    phone.get_by_label("Email").wait_for()
    for _ in range(10):
        phone.keyboard.press("Tab")
        if phone.evaluate("document.activeElement?.name") == "email":
            break
    assert phone.evaluate("document.activeElement?.name") == "email"
    outline = phone.evaluate("getComputedStyle(document.activeElement).outlineStyle")
    assert outline != "none"  # focus is visible
    phone.keyboard.type(person.email)
    phone.keyboard.press("Tab")
    assert phone.evaluate("document.activeElement?.name") == "password"
    phone.keyboard.type(person.password)
    phone.keyboard.press("Enter")
    phone.get_by_role("heading", name="Rewards", exact=True).wait_for()


def test_a_wrong_password_is_announced(phone: Any, live: Live) -> None:
    phone.goto("/?tenant=demo")
    phone.get_by_label("Email").fill("ann@demo.example")
    phone.get_by_label("Password").fill("not-the-password")
    phone.get_by_role("button", name="Sign in", exact=True).click()
    alert = phone.get_by_role("alert")
    alert.filter(has_text="do not match").wait_for()


def test_an_orders_outcome_is_announced_once(phone: Any, live: Live) -> None:
    sign_in(phone, new_person(live, 5_000))
    redeem_stocked(phone)
    done = "Done! Your reward is ready."
    phone.get_by_role("status").filter(has_text=done).wait_for()
    phone.wait_for_timeout(300)  # the app's announcer writes 50 ms after it is asked
    # in the product's own live region, not said a second time by the app's announcer
    assert phone.get_by_role("status").filter(has_text=done).count() == 1
    assert phone.get_by_text(done).count() == 1


def test_every_control_has_an_accessible_name(phone: Any, live: Live) -> None:
    phone.goto("/?tenant=demo")
    phone.get_by_label("Email").wait_for()
    assert _unnamed_controls(phone) == []
    sign_in(phone, new_person(live, 100))
    phone.get_by_role("link", name="Bael Play gift card").wait_for()
    assert _unnamed_controls(phone) == []
    phone.get_by_label("Search rewards").fill("filuhu")
    phone.get_by_role("button", name="Search", exact=True).click()
    phone.get_by_role("link", name=STOCKED).click()
    phone.get_by_role("button", name="Redeem").click()
    phone.get_by_role("button", name="Confirm").wait_for()
    assert _unnamed_controls(phone) == []
