"""Browser tests: real headless Chromium (Debian's ``chromium``, never a downloaded one)
driven by Playwright, against ``perkbus up --demo`` in a child process on a free port.

One system per test session (starting one takes seconds); tests sign in as different
demo people, or make their own state, so they do not depend on each other's.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.servers import free_port
from tests.support import unavailable

CHROMIUM = os.environ.get("PERKBUS_TEST_CHROMIUM", "/usr/bin/chromium")
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


def _ready(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2) as r:
            return int(r.status) == 200
    except (OSError, urllib.error.HTTPError):
        return False


@pytest.fixture(scope="session")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Live]:
    workdir = tmp_path_factory.mktemp("live")
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("PERKBUS_")}
    env["PERKBUS_EDGE_PORT"] = str(port)
    log = workdir / "up.log"
    with log.open("wb") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "perkbus", "up", "--demo"],
            cwd=workdir,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 90
        while "perkbus is up" not in log.read_text(errors="replace") or not _ready(
            f"{base}/readyz"
        ):
            assert process.poll() is None, log.read_text(errors="replace")
            assert time.monotonic() < deadline, log.read_text(errors="replace")
            time.sleep(0.2)
        demo = json.loads((workdir / "var" / "demo.json").read_text())
        yield Live(base, workdir / "var", demo, log)
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(60)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


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
