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


#: A dark theme a tenant may set: the colours it cannot set must follow it.
DARK = {"--pb-text": "#f5f5f5", "--pb-background": "#121212", "--pb-surface": "#1e1e1e"}
#: Colours made from the tenant's (``.pb-app`` in app.css) and what each must reach on
#: the background and the surface: text 4.5:1; borders and the focus ring 3:1 (WCAG 1.4.11).
DERIVED = [("--pb-muted", 4.5), ("--pb-ok", 4.5), ("--pb-focus", 3.0)]


def _block(css: str, selector: str) -> str:
    start = css.index(selector)
    return css[start : css.index("}", start)]


def _mix(a: str, b: str, share: float) -> str:
    """CSS ``color-mix(in srgb, a share, b)``: each gamma-encoded channel mixed linearly."""
    channels = (
        round(int(a[i : i + 2], 16) * share + int(b[i : i + 2], 16) * (1 - share))
        for i in (1, 3, 5)
    )
    return "#" + "".join(f"{c:02x}" for c in channels)


def _palette(theme: dict[str, str] | None = None) -> dict[str, str]:
    """The app's colours as hex: the defaults of ``:root``, a tenant's ``theme`` over them,
    and those the frame (``.pb-app``) makes of them (``var()``, ``color-mix(in srgb …)``)."""
    css = (PWA / "app" / "app.css").read_text()
    declared = dict(re.findall(r"(--pb-[a-z-]+):\s*([^;]+);", _block(css, ":root")))
    declared |= theme or {}
    declared |= dict(re.findall(r"(--pb-[a-z-]+):\s*([^;]+);", _block(css, "\n.pb-app {")))

    def value(text: str) -> str:
        text = text.strip()
        if re.fullmatch(r"#[0-9a-fA-F]{6}", text):
            return text
        if var := re.fullmatch(r"var\((--pb-[a-z-]+)\)", text):
            return value(declared[var.group(1)])
        mix = re.fullmatch(r"color-mix\(in srgb, (.+) (\d+)%, (.+)\)", text)
        assert mix, f"a colour the test cannot read: {text}"
        return _mix(value(mix.group(1)), value(mix.group(3)), int(mix.group(2)) / 100)

    return {
        name: value(text)
        for name, text in declared.items()
        if text.strip().startswith(("#", "var(", "color-mix("))
    }


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


@pytest.mark.parametrize("theme", [None, DARK], ids=["default", "dark"])
@pytest.mark.parametrize(("colour", "ratio"), DERIVED)
def test_colours_a_tenant_cannot_set_follow_its_own(
    theme: dict[str, str] | None, colour: str, ratio: float
) -> None:
    palette = _palette(theme)
    for background in ("--pb-background", "--pb-surface"):
        assert contrast(palette[colour], palette[background]) >= ratio, (colour, background)


def test_contrast_formula() -> None:
    assert round(contrast("#000000", "#ffffff"), 1) == 21.0


#: The plural categories (Intl.PluralRules, CLDR) a language has beyond English's
#: ``one`` and ``other``: a counted string (``catalogue.count.one`` …) has a form for each.
EXTRA_PLURALS = {"ar": {"zero", "two", "few", "many"}, "es": {"many"}, "fr": {"many"}}
PLURAL = re.compile(r"^(.+)\.(zero|one|two|few|many|other)$")


def _plural_base(key: str, english: dict[str, str]) -> str | None:
    """The counted string a plural form belongs to (``catalogue.count`` for
    ``catalogue.count.few``), if English has its ``.other``."""
    match = PLURAL.match(key)
    return match.group(1) if match and f"{match.group(1)}.other" in english else None


def test_every_language_has_every_string() -> None:
    """The same keys everywhere, but for the plural forms a language has beyond English's
    (Arabic's zero, two, few and many); each text names what English's does, except that
    a plural form other than ``other`` may leave the number out ("مكافأتان": two rewards)."""
    folder = PWA / "app" / "i18n"
    english = json.loads((folder / "en.json").read_text())
    bases = {base for key in english if (base := _plural_base(key, english))}
    for path in folder.glob("*.json"):
        strings = json.loads(path.read_text())
        extra = {f"{base}.{form}" for base in bases for form in EXTRA_PLURALS.get(path.stem, ())}
        assert set(strings) == set(english) | extra, path.name
        for key, text in strings.items():
            base = _plural_base(key, english)
            wanted = set(re.findall(r"\{(\w+)\}", english[f"{base}.other" if base else key]))
            found = set(re.findall(r"\{(\w+)\}", text))
            if base and not key.endswith(".other"):
                assert found <= wanted, (path.name, key)
            else:
                assert found == wanted, (path.name, key)


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
    "pwa-2026-11-29.2": "e11f07b144f2b4fb",
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
