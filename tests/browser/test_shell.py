"""The edge serves the app at ``/`` to a real browser."""

from __future__ import annotations

from typing import Any

import pytest

pytestmark = [pytest.mark.browser, pytest.mark.slow]


def test_the_app_loads_in_chromium(phone: Any) -> None:
    response = phone.goto("/")
    assert response is not None
    assert response.status == 200
    assert phone.title() != ""
    assert phone.locator("h1").first.is_visible()
