"""mount(root, options) as the embeddable storefront uses it: inside a shadow root, with
bearer tokens in memory (no cookies), leaving the host page's URL and title alone."""

from __future__ import annotations

from typing import Any

import pytest

from tests.browser.conftest import Live
from tests.browser.pwa_support import new_person, points, redeem_stocked

pytestmark = [pytest.mark.browser, pytest.mark.slow]

HOST_PAGE = """<!doctype html><html><head><title>Intranet</title></head><body>
<h1>Our intranet</h1><div id="store"></div>
<script type="module">
  const shadow = document.getElementById("store").attachShadow({ mode: "open" });
  const css = document.createElement("link");
  css.rel = "stylesheet";
  css.href = "/app/app.css";
  shadow.append(css);
  const { mount } = await import("/app/main.js");
  await mount(shadow, { apiBase: "/api/v1", origin: "", tenant: "demo", embedded: true });
  document.body.dataset.mounted = "yes";
</script></body></html>"""


def test_mounted_in_a_shadow_root_with_bearer_tokens(phone: Any, live: Live) -> None:
    person = new_person(live, 2_000)
    phone.route(
        "**/intranet.html",
        lambda route: route.fulfill(status=200, content_type="text/html", body=HOST_PAGE),
    )
    phone.goto("/intranet.html")
    phone.wait_for_function("document.body.dataset.mounted === 'yes'")
    assert phone.evaluate("document.getElementById('store').shadowRoot.querySelector('form')")
    assert phone.locator("form").count() == 1  # Playwright's locators pierce the shadow
    phone.get_by_label("Email").fill(person.email)
    phone.get_by_label("Password").fill(person.password)
    phone.get_by_role("button", name="Sign in", exact=True).click()
    redeem_stocked(phone)
    phone.get_by_text("Done! Your reward is ready.").wait_for()

    assert phone.context.cookies() == []  # bearer tokens, held in memory only
    assert phone.url.endswith("/intranet.html")  # no hash routing in the host's URL
    assert phone.title() == "Intranet"
    assert phone.evaluate("document.documentElement.dir") == ""
    assert phone.evaluate("document.querySelectorAll('.pb-app').length") == 0
    assert points(live, person) == 1_000
