"""Browser tests: real headless Chromium (Debian's ``chromium``, never a downloaded one)
driven by Playwright, against ``perkbus up --demo`` in a child process on a free port.

One system per test session (starting one takes seconds); tests sign in as different
demo people, or make their own state, so they do not depend on each other's.
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from perkbus.screenshots import demo_system
from tests.support import unavailable

CHROMIUM = os.environ.get("PERKBUS_TEST_CHROMIUM", "/usr/bin/chromium")
#: The system's settings: webhooks may go to the tests' receivers on 127.0.0.1, and a
#: failed attempt is next tried in an hour (a test sends it again when it means to).
SETTINGS = {
    "PERKBUS_WEBHOOKS_PRIVATE_TARGETS": "true",
    "PERKBUS_WEBHOOKS_RETRY_SCHEDULE_S": "3600",
}
PHONE = {"width": 390, "height": 844}
DESKTOP = {"width": 1280, "height": 800}


@dataclass(frozen=True)
class Live:
    """A running system: its base URL, its var directory and the demo's credentials."""

    base: str
    var: Path
    demo: dict[str, Any]
    log: Path

    @property
    def password(self) -> str:
        return str(self.demo["sign_in"]["password"])


@pytest.fixture(scope="session")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Live]:
    workdir = tmp_path_factory.mktemp("live")
    with demo_system(workdir, settings=SETTINGS) as base:
        demo = json.loads((workdir / "var" / "demo.json").read_text())
        yield Live(base, workdir / "var", demo, workdir / "up.log")


@pytest.fixture
def browser() -> Iterator[Any]:
    """Chromium for one test: Playwright's sync API runs an event loop of its own while
    it is started, which must be stopped before the next asyncio test of the session."""
    if not shutil.which(CHROMIUM) and not Path(CHROMIUM).exists():
        unavailable(f"no Chromium at {CHROMIUM} (apt-get install chromium)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(
            executable_path=CHROMIUM, args=["--no-sandbox"], headless=True
        )
        try:
            yield chromium
        finally:
            chromium.close()


@pytest.fixture
def phone(browser: Any, live: Live) -> Iterator[Any]:
    """A fresh browser context the size of a phone, on the live system."""
    context = browser.new_context(viewport=PHONE, base_url=live.base)
    try:
        yield context.new_page()
    finally:
        context.close()


@pytest.fixture
def desk(browser: Any, live: Live) -> Iterator[Any]:
    """A fresh browser context the size of a desktop, on the live system (the console)."""
    context = browser.new_context(viewport={"width": 1280, "height": 900}, base_url=live.base)
    try:
        yield context.new_page()
    finally:
        context.close()
