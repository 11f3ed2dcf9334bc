"""Offline: the service worker keeps the shell and the last catalogue pages, so browsing
works without a network, and redeeming says plainly that nothing was ordered."""

from __future__ import annotations

from typing import Any

import pytest

from tests.browser.conftest import PHONE, Live
from tests.browser.pwa_support import new_person, points, sign_in

#: On the catalogue's first page (it is sorted by name).
FIRST = "Bael Play gift card"

pytestmark = [pytest.mark.browser, pytest.mark.slow]


def test_browse_the_cached_catalogue_offline_and_redeeming_says_offline(
    browser: Any, live: Live
) -> None:
    person = new_person(live, 3_000)
    context = browser.new_context(viewport=PHONE, base_url=live.base)
    page = context.new_page()
    try:
        sign_in(page, person)
        page.wait_for_function("navigator.serviceWorker.controller !== null")
        page.reload()  # now under the worker: the catalogue it answers is kept
        page.get_by_role("heading", name="Rewards", exact=True).wait_for()
        page.get_by_role("link", name=FIRST).wait_for()
        page.get_by_role("link", name=FIRST).click()
        page.get_by_role("heading", name=FIRST).wait_for()
        page.get_by_role("link", name="Back to the catalogue").click()
        page.get_by_role("link", name=FIRST).wait_for()

        context.set_offline(True)
        page.reload()
        page.get_by_text("You are offline.", exact=False).first.wait_for()
        page.get_by_role("link", name=FIRST).wait_for()  # the cached catalogue
        assert page.get_by_text("Offline: showing what was saved on this device.").is_visible()
        page.get_by_role("link", name=FIRST).click()
        page.get_by_role("heading", name=FIRST).wait_for()
        page.get_by_role("button", name="Redeem").click()
        page.get_by_role("button", name="Confirm").click()
        page.get_by_text("You are offline: nothing was ordered.", exact=False).wait_for()
    finally:
        context.close()
    assert points(live, person) == 3_000
