"""What an accessibility review asked of the admin console: a form's errors are tied to
their fields (aria-invalid, aria-describedby, focus on the first), a save's outcome is
said by a live region that was on the page before it, a new view's heading takes focus,
and a wide table's scrolling box can be reached by the keyboard."""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator
from typing import Any

import pytest

from tests.browser.conftest import Live
from tests.browser.pwa_support import owner_token
from tests.browser.test_admin_console import go, owner, owner_at_settings, sign_in

pytestmark = [pytest.mark.browser, pytest.mark.slow]


@pytest.fixture
def console(desk: Any) -> Iterator[Any]:
    """The desk, failing the test on any uncaught error of the page's scripts."""
    errors: list[str] = []
    desk.on("pageerror", lambda error: errors.append(str(error)))
    yield desk
    assert errors == []


def error_of(page: Any, field: Any) -> str:
    """The text of what describes ``field`` first (its error, when it has one)."""
    first = str(field.get_attribute("aria-describedby") or "").split()[0]
    return str(page.locator(f"#{first}").inner_text())


def is_focused(field: Any) -> bool:
    return bool(field.evaluate("el => el === document.activeElement"))


def test_a_forms_errors_are_tied_to_their_fields(console: Any, live: Live) -> None:
    sign_in(console, owner(live))
    go(console, "Rewards")
    assert is_focused(console.get_by_role("heading", level=1, name="Rewards"))
    form = console.get_by_role("form", name="Issue a reward")
    # a form of a section is under its h2
    assert console.get_by_role("heading", level=3, name="Issue a reward").count() == 1
    person, budget, points = (form.get_by_label(n) for n in ("Person id", "From budget", "Points"))
    budget.fill(str(live.demo["budget_id"]))
    points.fill("ten")
    form.get_by_role("button", name="Issue reward").click()
    assert person.get_attribute("aria-invalid") == "true"  # required, and empty
    assert error_of(console, person)
    assert points.get_attribute("aria-invalid") is None  # not checked yet: the form is not sent
    assert is_focused(person)

    person.fill("someone@demo.example")
    form.get_by_role("button", name="Issue reward").click()
    form.get_by_role("alert").wait_for()
    assert person.get_attribute("aria-invalid") is None  # right now
    assert points.get_attribute("aria-invalid") == "true"
    assert error_of(console, points) == "Points must be a whole number"
    assert is_focused(points)
    # the field's own hint is still said, after its error
    assert form.get_by_label("Message").get_attribute("aria-describedby")


def test_a_save_is_said_in_the_status_line_already_there(console: Any, live: Live) -> None:
    tenant = f"a11y{uuid.uuid4().hex[:8]}"  # a tenant of its own: demo keeps its settings
    owner_at_settings(console, live, tenant, owner_token(live, tenant))
    programme = console.get_by_role("form", name="Programme")
    programme.get_by_label("What points are called").wait_for()
    status = console.locator(".pa-view > [role=status]")
    assert status.count() == 1
    status.evaluate("el => { el.keptAcrossTheSave = true; }")  # on this very element
    programme.get_by_label("Orders a person may place a day").fill("4")
    programme.get_by_role("button", name="Save programme").click()
    console.get_by_text("Programme saved.").wait_for()
    # the same element (a new one holding its text when added would not be announced)
    assert status.evaluate("el => el.keptAcrossTheSave === true")
    assert status.inner_text() == "Programme saved."
    form = console.get_by_role("form", name="Programme")
    saved = form.get_by_role("button", name="Save programme")
    assert is_focused(saved)  # back on the form saved, not on the page


def test_branding_says_each_colour_pairs_contrast(console: Any, live: Live) -> None:
    tenant = f"a11y{uuid.uuid4().hex[:8]}"
    owner_at_settings(console, live, tenant, owner_token(live, tenant))
    branding = console.get_by_role("form", name="Branding")
    pair = branding.get_by_text(re.compile("^Text on background:"))
    pair.wait_for()
    assert "under 4.5:1" not in pair.inner_text()
    text = branding.locator("input[name='colour:text']")
    text.evaluate(
        "el => { el.value = '#eeeeee'; el.dispatchEvent(new Event('input', { bubbles: true })); }"
    )
    assert "under 4.5:1" in pair.inner_text()
    described = str(text.get_attribute("aria-describedby")).split()
    assert pair.get_attribute("id") in described


def test_a_wide_table_can_be_scrolled_by_keyboard(console: Any, live: Live) -> None:
    sign_in(console, owner(live))
    go(console, "Budgets")
    box = console.locator(".pa-table-wrap").first
    box.wait_for()
    assert box.get_attribute("tabindex") == "0"
    assert box.get_attribute("role") == "region"
    assert box.get_attribute("aria-label")
