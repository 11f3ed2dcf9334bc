"""``perkbus screenshots``: pictures of the end-user app's main screens, at phone and
desktop sizes, and of the admin console's views, so that anyone can look at them without
running them.

It starts ``perkbus up --demo`` on a free port in a temporary directory, drives Chromium
(Debian's, through Playwright, a development dependency: never a downloaded browser)
through the journeys — sign in, catalogue, product, confirmation, my rewards with a code
shown, wallet, then the catalogue in Hindi and in Arabic — and writes one PNG a screen.
:func:`capture` is the core, usable against any running system (the tests use theirs).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

DEFAULT_CHROMIUM = "/usr/bin/chromium"
SIZES = {"phone": {"width": 390, "height": 844}, "desktop": {"width": 1280, "height": 800}}
DEMO_PASSWORD = "perkbus-demo-2026"
#: A demo person with points, and a gift card the demo stocks with codes.
DEMO_PERSON = "ann@demo.example"
#: The demo tenant's owner, for the admin console.
DEMO_ADMIN = "admin@demo.example"
STOCKED_SEARCH, STOCKED_NAME = "filuhu", "Filuhu Yoga gift card"


class ScreenshotsError(Exception):
    """The screenshots cannot be taken (what is missing is said in the message)."""


def _playwright() -> Any:
    try:
        from playwright.sync_api import sync_playwright
    except ImportError as e:
        raise ScreenshotsError(
            "Playwright for Python is missing: it is a development dependency "
            "(make .venv/.installed-dev, or pip install -e '.[dev]')"
        ) from e
    return sync_playwright


def _check_chromium(chromium: str) -> None:
    if not (shutil.which(chromium) or Path(chromium).is_file()):
        raise ScreenshotsError(
            f"no Chromium at {chromium}: apt-get install chromium, or pass --chromium PATH"
        )


def _journey(page: Any, out: Path, size: str, email: str, password: str) -> list[Path]:
    shots: list[Path] = []

    def shot(name: str) -> None:
        page.wait_for_load_state("networkidle")
        path = out / f"{size}-{len(shots) + 1:02d}-{name}.png"
        page.screenshot(path=str(path), full_page=False)
        shots.append(path)

    page.goto("/?tenant=demo")
    page.get_by_label("Email").wait_for()
    shot("sign-in")
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Sign in", exact=True).click()
    page.get_by_role("heading", name="Rewards", exact=True).wait_for()
    shot("catalogue")
    page.get_by_label("Search rewards").fill(STOCKED_SEARCH)
    page.get_by_role("button", name="Search", exact=True).click()
    page.get_by_role("link", name=STOCKED_NAME).click()
    page.get_by_role("heading", name=STOCKED_NAME).wait_for()
    shot("product")
    page.get_by_role("button", name="Redeem").click()
    page.get_by_role("button", name="Confirm").wait_for()
    shot("confirm")
    page.get_by_role("button", name="Confirm").click()
    page.get_by_role("link", name="See my reward").click()
    page.get_by_role("button", name="Show code").first.click()
    page.locator(".pb-code").first.wait_for()
    shot("my-rewards-code")
    page.get_by_role("link", name="Wallet").click()
    page.locator(".pb-balance-value").wait_for()
    shot("wallet")
    page.get_by_role("link", name="Catalogue").click()
    page.get_by_label("Search rewards").fill("")
    page.get_by_role("button", name="Search", exact=True).click()
    page.get_by_label("Language").select_option("hi")
    page.get_by_role("heading", name="रिवॉर्ड", exact=True).wait_for()
    shot("hindi")
    page.get_by_label("भाषा").select_option("ar")
    page.get_by_role("heading", name="المكافآت", exact=True).wait_for()
    shot("arabic")
    return shots


#: The admin console's views pictured, at desktop size (it is a desk tool).
CONSOLE_VIEWS = (
    "Budgets",
    "Funding",
    "Orders",
    "Vouchers",
    "People",
    "Webhooks",
    "Audit log",
    "Reports",
)


def _console(page: Any, out: Path, email: str, password: str) -> list[Path]:
    shots: list[Path] = []
    page.goto("/admin/?tenant=demo")
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Sign in", exact=True).click()
    nav = page.get_by_role("navigation", name="Console")
    for view in CONSOLE_VIEWS:
        nav.get_by_role("link", name=view).click()
        page.get_by_role("heading", level=1, name=view).wait_for()
        page.wait_for_load_state("networkidle")
        page.get_by_text("Loading…").first.wait_for(state="hidden")
        name = view.lower().replace(" ", "-")
        path = out / f"console-{len(shots) + 1:02d}-{name}.png"
        page.screenshot(path=str(path), full_page=False)
        shots.append(path)
    return shots


def capture(
    base_url: str,
    out: Path,
    chromium: str = DEFAULT_CHROMIUM,
    email: str = DEMO_PERSON,
    password: str = DEMO_PASSWORD,
    admin: tuple[str, str] | None = None,
) -> list[Path]:
    """Take the screenshots of the app at ``base_url`` into ``out``, and with ``admin``
    (email, password of staff) of the admin console; the PNGs written. The person redeems
    one gift card per size (it needs 2,000 points)."""
    sync_playwright = _playwright()
    _check_chromium(chromium)
    out.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=chromium, args=["--no-sandbox"], headless=True
        )
        try:
            for size, viewport in SIZES.items():
                context = browser.new_context(
                    viewport=viewport, base_url=base_url, device_scale_factor=1
                )
                try:
                    written += _journey(context.new_page(), out, size, email, password)
                finally:
                    context.close()
            if admin is not None:
                context = browser.new_context(
                    viewport=SIZES["desktop"], base_url=base_url, device_scale_factor=1
                )
                try:
                    written += _console(context.new_page(), out, *admin)
                finally:
                    context.close()
        finally:
            browser.close()
    return written


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _ready(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2) as response:
            return int(response.status) == 200
    except (OSError, urllib.error.HTTPError):
        return False


@contextmanager
def demo_system(
    workdir: Path | None = None,
    timeout_s: float = 120.0,
    settings: Mapping[str, str] | None = None,
) -> Iterator[str]:
    """``perkbus up --demo`` on a free port, in ``workdir`` (its ``var/`` ends there) or
    a temporary directory, with ``settings`` (``PERKBUS_*`` variables) over the defaults:
    its base URL, until the block ends."""
    with contextlib.ExitStack() as stack:
        if workdir is None:
            workdir = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="perkbus-")))
        port = _free_port()
        env = {k: v for k, v in os.environ.items() if not k.startswith("PERKBUS_")}
        env.update(settings or {})
        env["PERKBUS_EDGE_PORT"] = str(port)
        log = workdir / "up.log"
        with log.open("wb") as output:
            process = subprocess.Popen(
                [sys.executable, "-m", "perkbus", "up", "--demo"],
                cwd=workdir,
                env=env,
                stdout=output,
                stderr=subprocess.STDOUT,
            )
        base = f"http://127.0.0.1:{port}"
        try:
            deadline = time.monotonic() + timeout_s
            while "perkbus is up" not in log.read_text(errors="replace") or not _ready(
                f"{base}/readyz"
            ):
                if process.poll() is not None or time.monotonic() > deadline:
                    raise ScreenshotsError(
                        "perkbus up --demo did not start:\n" + log.read_text(errors="replace")
                    )
                time.sleep(0.2)
            yield base
        finally:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(60)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def _warn_without_devanagari() -> None:
    """Hindi needs a Devanagari font; without one Chromium draws boxes."""
    if not shutil.which("fc-list"):
        return
    found = subprocess.run(["fc-list", ":lang=hi"], capture_output=True, text=True, check=False)
    if not found.stdout.strip():
        print(
            "perkbus screenshots: no Devanagari font: the Hindi screens will show boxes "
            "(Debian: apt-get install fonts-noto-core)",
            file=sys.stderr,
        )


def main(out: Path, chromium: str) -> int:
    _warn_without_devanagari()
    try:
        _playwright()
        _check_chromium(chromium)
        with demo_system() as base:
            written = capture(base, out, chromium, admin=(DEMO_ADMIN, DEMO_PASSWORD))
    except ScreenshotsError as e:
        print(f"perkbus screenshots: {e}", file=sys.stderr)
        return 1
    for path in written:
        print(path)
    print(f"{len(written)} screenshots in {out}", file=sys.stderr)
    return 0
