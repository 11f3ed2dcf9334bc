"""White label: a tenant's branding and default locale (its configuration documents,
ADR 25) dress the app before anyone signs in."""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from tests.browser.conftest import Live
from tests.browser.pwa_support import call, owner_token

pytestmark = [pytest.mark.browser, pytest.mark.slow]


def test_a_tenants_branding_and_default_locale_dress_the_app(phone: Any, live: Live) -> None:
    tenant = f"brand{uuid.uuid4().hex[:8]}"  # a tenant of its own: demo keeps its looks
    token = owner_token(live, tenant)
    branding = {
        "display_name": "Acme Perks",
        "colours": {"primary": "#7a1fa2", "on_primary": "#ffffff"},
    }
    locales = {"default": "fr", "enabled": ["fr", "en"]}
    for name, document in (("branding", branding), ("locales", locales)):
        status, body = call(
            live,
            "PUT",
            f"/api/v1/tenant/config/{name}",
            document,
            token,
            {"If-None-Match": "*"},
        )
        assert status in (200, 201), body

    phone.goto(f"/?tenant={tenant}")
    phone.get_by_text("Acme Perks").first.wait_for()
    assert phone.title().startswith("Acme Perks") or "Acme Perks" in phone.title()
    header = phone.locator("header").first  # drawn in the tenant's primary colour
    assert header.evaluate("e => getComputedStyle(e).backgroundColor") == "rgb(122, 31, 162)"
    assert phone.locator("html").get_attribute("lang") == "fr"  # the tenant's default
    assert phone.get_by_role("button", name="Se connecter").is_visible()
