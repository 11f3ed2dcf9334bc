"""``perkbus screenshots``: its core drives the app through the main screens and writes a
PNG of each at phone and desktop sizes; without Playwright it says so."""

from __future__ import annotations

import builtins
import struct
from pathlib import Path
from typing import Any

import pytest

from perkbus import screenshots
from tests.browser.conftest import CHROMIUM, Live
from tests.browser.pwa_support import new_person

PNG = b"\x89PNG\r\n\x1a\n"


@pytest.mark.browser
@pytest.mark.slow
def test_capture_writes_a_png_of_each_main_screen(live: Live, tmp_path: Path) -> None:
    person = new_person(live, 2_000)
    admin = (str(live.demo["sign_in"]["admin"]), live.password)
    written = screenshots.capture(
        live.base, tmp_path, CHROMIUM, person.email, person.password, admin
    )
    names = sorted(p.name for p in tmp_path.iterdir())
    assert names == sorted(p.name for p in written)
    screens = [
        "sign-in", "catalogue", "product", "confirm", "my-rewards-code", "wallet", "hindi",
        "arabic",
    ]  # fmt: skip
    for size, (width, height) in {"phone": (390, 844), "desktop": (1280, 800)}.items():
        for number, screen in enumerate(screens, start=1):
            data = (tmp_path / f"{size}-{number:02d}-{screen}.png").read_bytes()
            assert data.startswith(PNG)
            assert struct.unpack(">II", data[16:24]) == (width, height)  # the IHDR size
    for number, view in enumerate(screenshots.CONSOLE_VIEWS, start=1):
        name = view.lower().replace(" ", "-")
        data = (tmp_path / f"console-{number:02d}-{name}.png").read_bytes()
        assert struct.unpack(">II", data[16:24]) == (1280, 800)


def test_without_playwright_the_command_says_so(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    real_import = builtins.__import__

    def no_playwright(name: str, *args: Any, **kwargs: Any) -> Any:
        if name.startswith("playwright"):
            raise ImportError(name)
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_playwright)
    assert screenshots.main(tmp_path, CHROMIUM) == 1
    assert "Playwright for Python is missing" in capsys.readouterr().err
    assert list(tmp_path.iterdir()) == []
