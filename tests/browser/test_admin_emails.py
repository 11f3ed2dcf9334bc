"""The Emails section of the console's Settings view (ADR 41) in real Chromium against
``perkbus up --demo``: which emails a tenant sends and their text in its default locale,
written over the revision read like branding and programme — checked through the API,
not the page."""

from __future__ import annotations

import json
import re
import urllib.request
import uuid
from typing import Any

import pytest
from playwright.sync_api import expect

from bus.messages.tenant_config import TEMPLATE_PLACEHOLDERS
from tests.browser.conftest import Live
from tests.browser.pwa_support import call, owner_token
from tests.browser.test_admin_console import go, owner_at_settings, sign_in, staff

pytestmark = [pytest.mark.browser, pytest.mark.slow]

EMAILS = "/api/v1/tenant/config/email-templates"
LABELS = {
    "welcome": "Welcome",
    "password.reset": "Password reset",
    "password.invite": "Invitation",
    "points.issued": "Points received",
    "order.placed": "Order waiting for review",
    "order.fulfilled": "Order ready",
    "order.failed": "Order failed",
    "order.cancelled": "Order cancelled",
}
#: The tenant's own English text of one email, which the French edits must keep.
ENGLISH = {"subject": "Points!", "body": "Hi {{person_name}}, {{points}} for you."}


def document(live: Live, token: str) -> tuple[str, Any]:
    """(ETag, body) of the tenant's email templates as stored now."""
    headers = {"Authorization": f"Bearer {token}"}
    request = urllib.request.Request(f"{live.base}{EMAILS}", headers=headers)
    with urllib.request.urlopen(request, timeout=10) as r:
        return str(r.headers["ETag"]), json.loads(r.read())


def french_tenant(live: Live, desk: Any) -> str:
    """A tenant of its own whose default locale is fr, with an English text for "Points
    received" and a French one for "Welcome"; its owner signed in at Settings. Answers an
    owner's token for the API."""
    tenant = f"mail{uuid.uuid4().hex[:8]}"
    token = owner_token(live, tenant)
    locales = {"default": "fr", "enabled": ["fr", "en"]}
    create = {"If-None-Match": "*"}
    status, body = call(live, "PUT", "/api/v1/tenant/config/locales", locales, token, create)
    assert status == 201, body
    seeded = {
        "templates": {
            "points.issued": {"en": ENGLISH},
            "welcome": {"fr": {"subject": "Bienvenue", "body": "Bonjour {{person_name}}"}},
        },
        "off": [],
    }
    assert call(live, "PUT", EMAILS, seeded, token, create)[0] == 201
    owner_at_settings(desk, live, tenant, token)
    return token


def test_emails_turned_off_and_written_in_french_are_stored_and_refusals_change_nothing(
    desk: Any, live: Live
) -> None:
    token = french_tenant(live, desk)
    before = document(live, token)
    form = desk.get_by_role("form", name="Emails")
    welcome = form.get_by_role("group", name="Welcome")
    points = form.get_by_role("group", name="Points received")
    expect(welcome.get_by_label("Subject (fr)")).to_have_value("Bienvenue")
    expect(welcome.get_by_label("Body (fr)")).to_have_value("Bonjour {{person_name}}")
    expect(points.get_by_label("Subject (fr)")).to_have_value("")  # only an English one
    expect(points).to_contain_text("your own text in en")
    expect(form.get_by_role("group", name="Order ready")).to_contain_text(
        "perkbus's own English text"
    )

    points.get_by_label("Sent").uncheck()
    points.get_by_label("Subject (fr)").fill("Vous avez reçu {{points}} {{points_name}}")
    # a subject alone: the server needs both, the console says so before sending
    form.get_by_role("button", name="Save emails").click()
    expect(form.get_by_role("alert")).to_contain_text(
        "Points received: write both a subject and a body"
    )
    # a placeholder "Points received" may not use: the server's words, nothing stored
    points.get_by_label("Body (fr)").fill("Bonjour {{person_name}}, code : {{code_url}}")
    form.get_by_role("button", name="Save emails").click()
    expect(form.get_by_role("alert")).to_contain_text("points.issued (fr) uses code_url")
    assert document(live, token) == before

    french = {
        "subject": "Vous avez reçu {{points}} {{points_name}}",
        "body": "Bonjour {{person_name}},\nvous avez maintenant {{balance}} {{points_name}}.",
    }
    points.get_by_label("Body (fr)").fill(french["body"])
    welcome.get_by_label("Subject (fr)").fill("")  # emptied: the built-in text again
    welcome.get_by_label("Body (fr)").fill("")
    form.get_by_role("button", name="Save emails").click()
    desk.get_by_text("Emails saved.").wait_for()
    etag, stored = document(live, token)
    assert stored["off"] == ["points.issued"]
    assert stored["templates"] == {"points.issued": {"en": ENGLISH, "fr": french}}

    # read again: the new revision, as saved
    form = desk.get_by_role("form", name="Emails")
    points = form.get_by_role("group", name="Points received")
    expect(points.get_by_label("Sent")).not_to_be_checked()
    expect(points.get_by_label("Body (fr)")).to_have_value(french["body"])
    expect(form.get_by_role("group", name="Welcome").get_by_label("Sent")).to_be_checked()

    other = {**stored, "off": []}  # someone else saves, meanwhile
    assert call(live, "PUT", EMAILS, other, token, {"If-Match": etag})[0] == 200
    form.get_by_role("group", name="Order failed").get_by_label("Sent").uncheck()
    form.get_by_role("button", name="Save emails").click()
    expect(form.get_by_role("alert")).to_contain_text("Someone else saved these settings")
    assert document(live, token)[1] == other  # the stale save changed nothing


@pytest.mark.parametrize(
    ("roles", "narrowed"), [(["programme_manager"], True), (["auditor"], False)]
)
def test_who_may_not_write_config_reads_the_emails_without_saving(
    desk: Any, live: Live, roles: list[str], narrowed: bool
) -> None:
    grants = [f"budget:{live.demo['budget_id']}"] if narrowed else []
    sign_in(desk, staff(live, roles, grants))
    go(desk, "Settings")
    form = desk.get_by_role("form", name="Emails")
    for template_id, label in LABELS.items():
        group = form.get_by_role("group", name=label)
        expect(group.get_by_label("Sent")).to_be_disabled()
        expect(group.get_by_label(re.compile(r"^Subject \("))).to_be_disabled()
        expect(group.get_by_label(re.compile(r"^Body \("))).to_be_disabled()
        shown = re.findall(r"\{\{(\w+)\}\}", group.inner_text())
        assert set(shown) == TEMPLATE_PLACEHOLDERS[template_id], label
    assert set(LABELS) == set(TEMPLATE_PLACEHOLDERS)
    assert form.get_by_role("button").count() == 0
    desk.get_by_role("form", name="Programme").wait_for()  # the others read-only alike
    assert desk.get_by_role("button", name="Save programme").count() == 0
