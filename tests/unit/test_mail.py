"""Emails' templates, headers and transports (ADR 41), without a bus."""

from __future__ import annotations

import mailbox
from email.message import EmailMessage
from pathlib import Path

import msgspec
import pytest

from actors.mail_templates import BUILT_IN, choose, one_line, reason_text, render
from actors.mail_transport import MaildirTransport, SmtpTransport, transport_for
from actors.mailer import catalogue_locale
from bus.messages.tenant_config import EmailTemplate, EmailTemplates, decode_document

FR = EmailTemplate("Bonjour", "Bonjour {{person_name}}")
PT = EmailTemplate("Olá", "Olá {{person_name}}")
PT_BR = EmailTemplate("Oi", "Oi {{person_name}}")
EN = EmailTemplate("Hello", "Hello {{person_name}}")


def test_the_tenants_template_for_the_locale_then_its_language_then_english_then_built_in() -> None:
    tenant = EmailTemplates(templates={"welcome": {"fr": FR, "pt": PT, "pt-BR": PT_BR}})
    assert choose(tenant, "welcome", "pt-BR") == (PT_BR, "pt-BR")
    assert choose(tenant, "welcome", "pt-PT") == (PT, "pt")
    assert choose(tenant, "welcome", "fr-CA") == (FR, "fr")
    assert choose(tenant, "welcome", "de") == (BUILT_IN["welcome"], "en")
    with_english = EmailTemplates(templates={"welcome": {"en": EN}})
    assert choose(with_english, "welcome", "de") == (EN, "en")
    assert choose(tenant, "points.issued", "fr") == (BUILT_IN["points.issued"], "en")
    assert choose(None, "order.failed", "fr") == (BUILT_IN["order.failed"], "en")


def test_reasons_read_as_words_and_staffs_own_stay_with_staff() -> None:
    assert reason_text("perkbus.order.failed", "out_of_stock") == "it is out of stock"
    assert reason_text("perkbus.order.failed", "forbidden") == "it could not be carried out"
    assert reason_text("perkbus.order.cancelled", "wrong person, ticket 9") == (
        "the programme cancelled it"
    )


def test_placeholders_are_filled_in_and_those_without_a_value_left_empty() -> None:
    text = "Hi {{person_name}}, {{ points }} {{points_name}}{{reason}}."
    assert render(text, {"person_name": "Ann", "points": "5", "points_name": "Kudos"}) == (
        "Hi Ann, 5 Kudos."
    )
    # a value is not read again as a template
    assert render("{{person_name}}", {"person_name": "{{points}}", "points": "5"}) == "{{points}}"


def test_a_header_never_carries_a_line_break_whatever_a_value_holds() -> None:
    subject = render(BUILT_IN["order.fulfilled"].subject, {"product_name": "Card\r\nBcc: x@y.z"})
    assert one_line(subject) == "Your Card Bcc: x@y.z is ready"
    assert one_line("a\u2028b\u2029c\x00d\te  f") == "a b c d e f"
    assert one_line("Acme \u202eknab\u202c Rewards \u2066x\u2069") == "Acme knab Rewards x"
    assert one_line("\u0645\u0631\u062d\u0628\u0627 \U0001f468\u200d\U0001f469") == (
        "\u0645\u0631\u062d\u0628\u0627 \U0001f468\u200d\U0001f469"  # RTL text, ZWJ kept
    )
    message = EmailMessage()
    message["Subject"] = one_line(subject)  # the email library takes it as one header
    assert "\n" not in str(message["Subject"])


def test_emails_turned_off_must_be_known_and_listed_once() -> None:
    doc = decode_document("email-templates", b'{"off": ["welcome", "order.placed"]}')
    assert isinstance(doc, EmailTemplates)
    assert doc.off == ("welcome", "order.placed")
    with pytest.raises(msgspec.ValidationError, match=r"no email template order\.shipped"):
        decode_document("email-templates", b'{"off": ["order.shipped"]}')
    with pytest.raises(msgspec.ValidationError, match="listed once"):
        decode_document("email-templates", b'{"off": ["welcome", "welcome"]}')


def test_smtp_urls_name_the_server_its_tls_and_its_login() -> None:
    plain = SmtpTransport("smtp://mail.example.com", timeout_s=5)
    assert plain.name == "smtp://mail.example.com:587"
    tls = SmtpTransport("smtps://u%40x:p%3Aw@mail.example.com", timeout_s=5)
    assert tls.name == "smtps://mail.example.com:465"  # no login in the name
    assert (tls._user, tls._password, tls._implicit_tls) == ("u@x", "p:w", True)
    for wrong in ("http://mail.example.com", "smtp://", "mail.example.com"):
        with pytest.raises(ValueError, match="smtp://"):
            SmtpTransport(wrong, timeout_s=5)


async def test_the_embedded_default_keeps_each_email_in_a_maildir(tmp_path: Path) -> None:
    (tmp_path / "mail").mkdir()  # a folder made before (empty): its parts are made too
    transport = transport_for("", str(tmp_path / "mail"), timeout_s=5)
    assert isinstance(transport, MaildirTransport)
    message = EmailMessage()
    message["To"] = "ann@acme.example"
    message["Subject"] = "Welcome"
    message.set_content("Hello Ann")
    await transport.send(message, "r@acme.example", "ann@acme.example")
    [kept] = list(mailbox.Maildir(tmp_path / "mail"))
    assert kept["Subject"] == "Welcome"
    assert str(kept.get_payload()).strip() == "Hello Ann"


def test_products_are_named_in_the_catalogues_form_of_the_tenants_locale() -> None:
    assert [catalogue_locale(t) for t in ("pt-BR", "fr", "zh-Hant-TW", "es-419", "fil")] == [
        "pt-BR",
        "fr",
        "zh",
        "es",
        "en",
    ]


def test_a_login_never_crosses_in_clear_text() -> None:
    assert SmtpTransport("smtp://u:p@mail.example.com", timeout_s=5).start_tls is True
    assert SmtpTransport("smtp://mail.example.com", timeout_s=5).start_tls is None  # if offered
    assert SmtpTransport("smtps://u:p@mail.example.com", timeout_s=5).start_tls is False  # TLS
