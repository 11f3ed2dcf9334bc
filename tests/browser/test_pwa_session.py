"""The cookie session outlives its access token: the app refreshes it once, then goes on
(reads and writes, with the new CSRF token)."""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from tests.browser.conftest import Live
from tests.browser.pwa_support import new_person, points, redeem_stocked, sign_in

pytestmark = [pytest.mark.browser, pytest.mark.slow]


def test_an_expired_access_cookie_is_refreshed_and_writes_go_on(phone: Any, live: Live) -> None:
    person = new_person(live, 2_000)
    sign_in(phone, person)
    names = {c["name"] for c in phone.context.cookies()}
    assert {"pb_access", "pb_refresh", "pb_csrf"} <= names
    phone.context.clear_cookies(name="pb_access")  # as when it expires

    redeem_stocked(phone)
    phone.get_by_text("Done! Your reward is ready.").wait_for()
    assert "pb_access" in {c["name"] for c in phone.context.cookies()}
    assert points(live, person) == 1_000


def test_sign_out_ends_the_session(phone: Any, live: Live) -> None:
    sign_in(phone, new_person(live, 100))
    phone.get_by_role("button", name="Sign out").click()
    phone.get_by_role("heading", name="Sign in to perkbus").wait_for()
    phone.reload()
    phone.get_by_role("heading", name="Sign in to perkbus").wait_for()
    assert "pb_access" not in {c["name"] for c in phone.context.cookies()}


def test_a_session_that_cannot_be_refreshed_returns_to_sign_in(phone: Any, live: Live) -> None:
    sign_in(phone, new_person(live, 100))
    phone.context.clear_cookies()  # access and refresh gone: nothing to refresh with
    phone.get_by_role("link", name="Wallet").click()
    phone.get_by_role("heading", name="Sign in to perkbus").wait_for()


def test_a_session_of_another_tenant_is_not_shown_under_this_ones_name(
    phone: Any, live: Live
) -> None:
    """Signed in to demo, a link to another tenant's app asks to sign in there (its look
    over demo's session would mislead); the link does not change where the app opens."""
    sign_in(phone, new_person(live, 100))
    phone.goto(f"{live.base}/?tenant=other{uuid.uuid4().hex[:6]}")
    phone.get_by_text("You are signed in to another programme (demo).").wait_for()
    assert phone.get_by_role("button", name="Sign out").count() == 0
    phone.goto(f"{live.base}/")  # no ?tenant=: where this device last signed in
    phone.get_by_role("button", name="Sign out").wait_for()
