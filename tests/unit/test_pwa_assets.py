"""The app's static promises, checked without a browser: the default palette meets WCAG
AA contrast, every language has every string, the JavaScript stays under budget, and a
changed shell reaches installed apps (a new service worker version)."""

from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path

import pytest

from bus.messages.common import MINOR_DIGITS

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


#: The app shell's digest at each service worker ``VERSION`` (``pwa/sw.js``). An installed
#: app serves the shell it cached until ``VERSION`` changes (ADR 27), so a change to any
#: file of the shell needs a new ``VERSION`` — and its digest recorded here, as a new entry.
SHELL_RELEASES = {
    "pwa-2026-11-28.1": "06ff51bb39fe2c57",
    "pwa-2026-11-28.2": "a6a2be5e994c4d1a",
    "pwa-2026-11-28.3": "ab9a2d7291e2e869",
}


def _service_worker() -> tuple[str, list[str]]:
    """The service worker's ``VERSION`` and the paths of its ``SHELL``."""
    sw = (PWA / "sw.js").read_text()
    version = re.search(r'const VERSION = "([^"]+)";', sw)
    assert version is not None
    start = sw.index("const SHELL = [")
    return version[1], re.findall(r'"(/[^"]*)"', sw[start : sw.index("];", start)])


def shell_digest(paths: list[str]) -> str:
    digest = hashlib.sha256()
    for path in paths:
        file = PWA / "index.html" if path == "/" else PWA / path.lstrip("/")
        digest.update(path.encode() + b"\0" + file.read_bytes() + b"\0")
    return digest.hexdigest()[:16]


def test_a_changed_shell_comes_with_a_new_service_worker_version() -> None:
    version, paths = _service_worker()
    digest = shell_digest(paths)
    assert SHELL_RELEASES.get(version) == digest, (
        f"the app shell is {digest} under VERSION {version!r}: if a file of the shell"
        " changed, give pwa/sw.js a new VERSION and record it with this digest in"
        " SHELL_RELEASES (installed apps keep the shell they cached until VERSION changes)"
    )


def test_the_shell_holds_every_module_the_app_imports() -> None:
    _, paths = _service_worker()
    imported = {
        f"/app/{name}"
        for module in (PWA / "app").glob("*.js")
        for name in re.findall(r'from "\./([^"]+)"', module.read_text())
    }
    assert imported <= set(paths)  # or the app would not start offline


def test_the_app_counts_minor_digits_as_the_ledger_does() -> None:
    """The app scales amounts by its own table of minor digits (Intl's differs for some
    currencies): the table is the server's."""
    source = (PWA / "app" / "currencies.js").read_text()
    none = re.search(r'const NO_MINOR_UNITS = "([A-Z ]+)";', source)
    assert none is not None
    table = dict.fromkeys(none[1].split(), 0)
    listed = re.findall(r"\[([^\]]+)\]\.map\(\(c\) => \[c, (\d)\]\)", source)
    for codes, digits in listed:
        table.update(dict.fromkeys(re.findall(r"[A-Z]{3}", codes), int(digits)))
    table.update({code: int(d) for code, d in re.findall(r"^  ([A-Z]{3}): (\d),$", source, re.M)})
    assert len(listed) == 2
    assert table == MINOR_DIGITS
