"""Forgot your password (ADR 42): the app asks for a link, the mailer keeps the email in
the live system's Maildir, the link opens the app's "Choose a password", and the person
is signed in with the new password; the token leaves the URL at once."""

from __future__ import annotations

import email
import email.policy
import re
import time
from typing import Any

import pytest

from tests.browser.conftest import Live
from tests.browser.pwa_support import Person, call, new_person

pytestmark = [pytest.mark.browser, pytest.mark.slow]

NEW_PASSWORD = "a new browser password"


def emailed_link(live: Live, address: str, timeout_s: float = 30.0) -> str:
    """The link to choose a password in the email the mailer kept for ``address``."""
    found = re.compile(r"(\S+/\?tenant=demo#reset=[A-Za-z0-9_-]+)")
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        for path in (live.var / "mail").glob("*/*"):
            message = email.message_from_bytes(path.read_bytes(), policy=email.policy.default)
            if address not in str(message["To"]):
                continue
            body = message.get_body(("plain",))
            link = found.search(body.get_content() if body is not None else "")
            if link:
                return link.group(1)
        time.sleep(0.2)
    raise AssertionError(f"no link emailed to {address}")


def test_a_forgotten_password_is_chosen_again_by_the_emailed_link(phone: Any, live: Live) -> None:
    person = new_person(live, 100)
    phone.goto("/?tenant=demo")
    phone.get_by_role("button", name="Forgot your password?").click()
    phone.get_by_role("heading", name="Reset your password").wait_for()
    phone.get_by_label("Email").fill(person.email)
    phone.get_by_role("button", name="Email me a link").click()
    phone.get_by_text("If an account exists for that address, we've emailed a link.").wait_for()

    link = emailed_link(live, person.email)
    assert link.startswith(f"{live.base}/?tenant=demo#reset=")
    phone.goto(link)
    phone.get_by_role("heading", name="Choose a password").wait_for()
    assert "#reset" not in phone.url  # out of the URL (history, bookmarks) at once
    phone.get_by_label("New password", exact=True).fill(NEW_PASSWORD)
    phone.get_by_label("New password again").fill("not the same password")
    phone.get_by_role("button", name="Save and sign in").click()
    phone.get_by_text("The two passwords are not the same.").wait_for()
    phone.get_by_label("New password again").fill(NEW_PASSWORD)
    phone.get_by_role("button", name="Save and sign in").click()
    phone.get_by_role("button", name="Sign out").wait_for()  # signed in

    old = {"tenant": "demo", "email": person.email, "password": person.password, "mode": "bearer"}
    assert call(live, "POST", "/auth/sign-in", old)[0] == 401
    new = Person(person.email, NEW_PASSWORD)
    signed_in = {**old, "password": new.password}
    assert call(live, "POST", "/auth/sign-in", signed_in)[0] == 200

    phone.goto(link)  # the link again: it worked once
    phone.get_by_label("New password", exact=True).fill("yet another long one")
    phone.get_by_label("New password again").fill("yet another long one")
    phone.get_by_role("button", name="Save and sign in").click()
    phone.get_by_text("This link no longer works").wait_for()
