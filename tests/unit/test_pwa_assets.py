"""The app's static promises, checked without a browser: the default palette meets WCAG
AA contrast, every language has every string, and the JavaScript stays under budget."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

PWA = Path(__file__).resolve().parents[2] / "pwa"
#: Text on background pairs the app draws, as (foreground, background) custom properties.
PAIRS = [
    ("--pb-text", "--pb-background"),
    ("--pb-text", "--pb-surface"),
    ("--pb-muted", "--pb-background"),
    ("--pb-muted", "--pb-surface"),
    ("--pb-primary", "--pb-background"),
    ("--pb-primary", "--pb-surface"),
    ("--pb-on-primary", "--pb-primary"),
    ("--pb-error", "--pb-background"),
    ("--pb-error", "--pb-surface"),
    ("--pb-ok", "--pb-background"),
    ("--pb-on-accent", "--pb-accent"),
]
JS_BUDGET = 100 * 1024


def _palette() -> dict[str, str]:
    css = (PWA / "app" / "app.css").read_text()
    block = css[css.index(":root") : css.index("}", css.index(":root"))]
    return dict(re.findall(r"(--pb-[a-z-]+):\s*(#[0-9a-fA-F]{6})", block))


def _luminance(colour: str) -> float:
    def channel(hex2: str) -> float:
        c = int(hex2, 16) / 255
        return c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4

    r, g, b = (channel(colour[i : i + 2]) for i in (1, 3, 5))
    return 0.2126 * r + 0.7152 * g + 0.0722 * b


def contrast(a: str, b: str) -> float:
    high, low = sorted((_luminance(a), _luminance(b)), reverse=True)
    return (high + 0.05) / (low + 0.05)


@pytest.mark.parametrize(("foreground", "background"), PAIRS)
def test_default_palette_meets_wcag_aa(foreground: str, background: str) -> None:
    palette = _palette()
    assert contrast(palette[foreground], palette[background]) >= 4.5


def test_contrast_formula() -> None:
    assert round(contrast("#000000", "#ffffff"), 1) == 21.0


def test_every_language_has_every_string() -> None:
    folder = PWA / "app" / "i18n"
    english = json.loads((folder / "en.json").read_text())
    for path in folder.glob("*.json"):
        strings = json.loads(path.read_text())
        assert set(strings) == set(english), path.name
        for key, text in strings.items():
            wanted = set(re.findall(r"\{(\w+)\}", english[key]))
            assert set(re.findall(r"\{(\w+)\}", text)) == wanted, (path.name, key)


def test_all_the_javascript_is_under_the_budget() -> None:
    """Every module of the app and the service worker together (the first load fetches
    fewer): well under 100 KB, uncompressed."""
    total = sum(p.stat().st_size for p in [*(PWA / "app").rglob("*.js"), PWA / "sw.js"])
    assert 0 < total < JS_BUDGET


def test_the_service_worker_precaches_every_module() -> None:
    sw = (PWA / "sw.js").read_text()
    for path in (PWA / "app").rglob("*"):
        if path.suffix in {".js", ".json", ".css"}:
            assert f'"/app/{path.relative_to(PWA / "app").as_posix()}"' in sw, path.name


def test_the_manifest_makes_the_app_installable() -> None:
    manifest = json.loads((PWA / "manifest.webmanifest").read_text())
    assert manifest["display"] == "standalone"
    assert manifest["start_url"].startswith("/")
    assert re.fullmatch(r"#[0-9a-f]{6}", manifest["theme_color"])
    sizes = {icon["sizes"] for icon in manifest["icons"]}
    assert {"192x192", "512x512"} <= sizes  # what browsers ask of an installable app
    for icon in manifest["icons"]:
        path = PWA / icon["src"].removeprefix("/")
        head = path.read_bytes()[:24]
        if icon["type"] == "image/png":
            width, height = (int.from_bytes(head[16:20]), int.from_bytes(head[20:24]))
            assert f"{width}x{height}" == icon["sizes"]
        else:
            assert head.startswith(b"<svg")
