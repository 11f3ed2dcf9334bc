"""The tenant configuration documents accept what the PWA and the mailer can use, and
refuse the rest with the place it was found."""

from __future__ import annotations

from unittest.mock import ANY

import msgspec
import pytest

from bus.messages.tenant_config import (
    READABLE_PAIRS,
    Branding,
    Colours,
    EmailTemplates,
    Locales,
    Programme,
    contrast,
    decode_document,
    placeholders,
)


def test_colours_become_css_custom_properties() -> None:
    colours = Colours(primary="#112233", on_primary="#FFFFFF80")
    props = colours.css_properties()
    assert props["--pb-primary"] == "#112233"
    assert props["--pb-on-primary"] == "#FFFFFF80"
    assert set(props) == {"--pb-" + f.replace("_", "-") for f in Colours.__struct_fields__}


@pytest.mark.parametrize("tag", ["en", "en-GB", "pt-BR", "zh-Hant-TW", "es-419", "fil"])
def test_canonical_bcp47_tags_are_locales(tag: str) -> None:
    locales = decode_document("locales", msgspec.json.encode({"default": tag, "enabled": [tag]}))
    assert locales == Locales(tag, (tag,))


@pytest.mark.parametrize("tag", ["EN", "en_GB", "en-gb", "english", "e", "en-GB\n", ""])
def test_other_spellings_are_not(tag: str) -> None:
    with pytest.raises(msgspec.ValidationError, match=r"\$\.default"):
        decode_document("locales", msgspec.json.encode({"default": tag, "enabled": ["en"]}))


def test_the_default_locale_is_enabled_and_none_twice() -> None:
    with pytest.raises(msgspec.ValidationError, match="must be one of the enabled"):
        decode_document("locales", b'{"default": "fr", "enabled": ["en"]}')
    with pytest.raises(msgspec.ValidationError, match="once"):
        decode_document("locales", b'{"default": "en", "enabled": ["en", "en"]}')


@pytest.mark.parametrize(
    "origin",
    ["https://intranet.example.com", "https://a.b.example:8443", "http://localhost:5173"],
)
def test_embedding_origins(origin: str) -> None:
    body = msgspec.json.encode({"allowed_origins": [origin]})
    assert decode_document("programme", body) == Programme(allowed_origins=(origin,))


@pytest.mark.parametrize(
    "origin",
    [
        "https://intranet.example.com/",
        "https://intranet.example.com/app",
        "http://intranet.example.com",
        "https://*.example.com",
        "https://EXAMPLE.com",
        "intranet.example.com",
        "https://example.com 'unsafe-inline'",
    ],
)
def test_origins_that_are_not_bare_https_origins_are_refused(origin: str) -> None:
    body = msgspec.json.encode({"allowed_origins": [origin]})
    with pytest.raises(msgspec.ValidationError, match=r"allowed_origins\[0\]"):
        decode_document("programme", body)


def test_programme_limits_and_threshold() -> None:
    body = b"""{"points_name": "Kudos", "max_orders_per_day": 3, "max_orders_per_week": 10,
                "review_threshold": {"amount_minor": 50000, "currency": "EUR"}}"""
    programme = decode_document("programme", body)
    assert isinstance(programme, Programme)
    assert programme.review_threshold is not None
    assert programme.review_threshold.amount_minor == 50000
    for bad in (
        b'{"max_orders_per_day": 5, "max_orders_per_week": 4}',
        b'{"review_threshold": {"amount_minor": 0, "currency": "EUR"}}',
        b'{"review_threshold": {"amount_minor": 1.5, "currency": "EUR"}}',
        b'{"review_threshold": {"amount_minor": 100, "currency": "eur"}}',
    ):
        with pytest.raises(msgspec.ValidationError):
            decode_document("programme", bad)


@pytest.mark.parametrize(
    "logo",
    ["https://cdn.example.com/logo.svg", "/static/logo.png", "https://cdn.example.com:8443/a"],
)
def test_logos_are_https_or_site_paths(logo: str) -> None:
    body = msgspec.json.encode({"display_name": "Acme", "logo_url": logo})
    assert decode_document("branding", body) == Branding("Acme", logo)


@pytest.mark.parametrize(
    "logo",
    [
        "javascript:alert(1)",
        "http://cdn.example.com/logo.svg",
        "data:image/svg+xml,<svg/>",
        "//evil.example/logo.svg",
        'https://cdn.example.com/a"onload="x',
    ],
)
def test_other_logo_urls_are_refused(logo: str) -> None:
    body = msgspec.json.encode({"display_name": "Acme", "logo_url": logo})
    with pytest.raises(msgspec.ValidationError, match=r"logo_url"):
        decode_document("branding", body)


def test_placeholders_are_named_and_balanced() -> None:
    assert placeholders("Hi {{person_name}}, {{ points }} {{points}}") == {"person_name", "points"}
    for bad in ("Hi {{", "Hi }}", "Hi {{Person}}", "Hi {{ 1x }}", "{{a}} and {{b"):
        with pytest.raises(ValueError, match="placeholder"):
            placeholders(bad)


def test_templates_use_only_their_own_placeholders() -> None:
    ok = {"order.failed": {"en": {"subject": "{{product_name}}", "body": "{{reason}}"}}}
    templates = decode_document("email-templates", msgspec.json.encode({"templates": ok}))
    assert isinstance(templates, EmailTemplates)
    wrong = {"welcome": {"en": {"subject": "Hi", "body": "{{code_url}}"}}}
    with pytest.raises(msgspec.ValidationError, match="code_url"):
        decode_document("email-templates", msgspec.json.encode({"templates": wrong}))
    multiline = {"welcome": {"en": {"subject": "Hi\nBcc: x", "body": "b"}}}
    with pytest.raises(msgspec.ValidationError, match="subject"):
        decode_document("email-templates", msgspec.json.encode({"templates": multiline}))


def test_contrast_is_wcags_ratio() -> None:
    assert contrast("#000000", "#ffffff") == pytest.approx(21.0)
    assert contrast("#ffffff", "#000000") == pytest.approx(21.0)
    assert contrast("#777777", "#777777") == pytest.approx(1.0)
    assert contrast("#767676", "#ffffff") == pytest.approx(4.54, abs=0.01)  # the AA grey


def test_the_default_palette_reads_and_each_pair_is_checked() -> None:
    assert Colours().unreadable() is None
    for text, over in READABLE_PAIRS:  # the text's colour made its background's
        faint = Colours(**{text: getattr(Colours(), over)})
        assert faint.unreadable() == (text, ANY), (text, over)
    assert Colours(surface="#1b1f24").unreadable() == ("text", ANY)
    assert Colours(text="#1b1f2480").unreadable() == ("text", ANY)
    assert Colours(text="#1b1f24ff").unreadable() is None  # opaque, written with alpha
