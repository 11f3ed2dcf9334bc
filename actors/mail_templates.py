"""What each email says (ADR 41): the events that send one, the built-in English
templates, a tenant's own (its ``email-templates`` document, per locale), and filling in
their ``{{placeholders}}``.

A tenant's template for the tenant's default locale wins; then its template for that
locale's language (``pt`` for ``pt-BR``); then its English one; then the built-in one.
Values are plain text, the body is plain text: nothing a person typed becomes markup,
and a subject never holds a line break (no header can be added through a name).
"""

from __future__ import annotations

import re
import unicodedata

from bus.messages.tenant_config import (
    TEMPLATE_PLACEHOLDERS,
    EmailTemplate,
    EmailTemplates,
)

#: CloudEvents ``type`` → the email it sends to the person it is about. An order sends
#: ``order.placed`` only while it waits for review: one fulfilled at once sends only
#: ``order.fulfilled``, the email with its link, which staff's "resend" sends again.
EVENT_TEMPLATES: dict[str, str] = {
    "perkbus.people.person_created": "welcome",
    # ``password.invite`` instead for a person with no password yet (the event says)
    "perkbus.people.password_reset_asked": "password.reset",
    "perkbus.reward.issued": "points.issued",
    "perkbus.order.held": "order.placed",
    "perkbus.order.fulfilled": "order.fulfilled",
    "perkbus.order.resent": "order.fulfilled",
    "perkbus.order.failed": "order.failed",
    "perkbus.order.cancelled": "order.cancelled",
}

#: Why an order failed or was cancelled, as a person reads it (the ``{{reason}}`` of
#: those emails); other codes, and staff's own words for a cancellation (which may be
#: meant for staff), read as the event's default.
REASONS: dict[str, str] = {
    "out_of_stock": "it is out of stock",
    "insufficient_funds": "there were not enough points or funds for it",
    "order_limit_reached": "you reached the programme's limit of orders for now",
    "review_rejected": "it was not approved",
    "currency_mismatch": "it is not sold in the programme's currency",
}
#: What an order's email says when its reason is not one of :data:`REASONS`.
OTHER_REASONS = {
    "perkbus.order.failed": "it could not be carried out",
    "perkbus.order.cancelled": "the programme cancelled it",
}


def reason_text(event_type: str, code: str) -> str:
    return REASONS.get(code) or OTHER_REASONS.get(event_type, "")


BUILT_IN: dict[str, EmailTemplate] = {
    "welcome": EmailTemplate(
        subject="Welcome to {{programme_name}}",
        body=(
            "Hello {{person_name}},\n\n"
            "you can now sign in to {{programme_name}} to see your rewards and choose"
            " what to redeem them for:\n\n{{sign_in_url}}\n"
        ),
    ),
    "password.reset": EmailTemplate(
        subject="Choose a new password for {{programme_name}}",
        body=(
            "Hello {{person_name}},\n\n"
            "someone asked to reset your password for {{programme_name}}. If it was you,"
            " choose a new one here (the link works once, for an hour):\n\n"
            "{{password_url}}\n\n"
            "If it was not you, ignore this email: your password stays as it is.\n"
        ),
    ),
    "password.invite": EmailTemplate(
        subject="You are invited to {{programme_name}}",
        body=(
            "Hello {{person_name}},\n\n"
            "you are invited to {{programme_name}}. Choose your password here to sign in"
            " (the link works once, for a week):\n\n"
            "{{password_url}}\n"
        ),
    ),
    "points.issued": EmailTemplate(
        subject="You received {{points}} {{points_name}}",
        body=(
            "Hello {{person_name}},\n\n"
            "you received {{points}} {{points_name}} in {{programme_name}}.\n"
            "{{reason}}\n\n"
            "You now have {{balance}} {{points_name}}. Choose what to redeem them for:\n\n"
            "{{sign_in_url}}\n"
        ),
    ),
    "order.placed": EmailTemplate(
        subject="Your order of {{product_name}} is being reviewed",
        body=(
            "Hello {{person_name}},\n\n"
            "your order {{order_id}} of {{product_name}} in {{programme_name}} waits for"
            " a reviewer. We will write again once it is decided.\n"
        ),
    ),
    "order.fulfilled": EmailTemplate(
        subject="Your {{product_name}} is ready",
        body=(
            "Hello {{person_name}},\n\n"
            "your order {{order_id}} of {{product_name}} in {{programme_name}} is ready."
            " Open it to see your code:\n\n{{code_url}}\n"
        ),
    ),
    "order.failed": EmailTemplate(
        subject="Your order of {{product_name}} could not be completed",
        body=(
            "Hello {{person_name}},\n\n"
            "your order {{order_id}} of {{product_name}} in {{programme_name}} could not"
            " be completed: {{reason}}. Nothing was taken from you.\n"
        ),
    ),
    "order.cancelled": EmailTemplate(
        subject="Your order of {{product_name}} was cancelled",
        body=(
            "Hello {{person_name}},\n\n"
            "your order {{order_id}} of {{product_name}} in {{programme_name}} was"
            " cancelled ({{reason}}). Its code no longer works, and what it cost was given"
            " back.\n"
        ),
    ),
}
# every built-in template uses only its email's placeholders (checked at import)
EmailTemplates(templates={tid: {"en": t} for tid, t in BUILT_IN.items()})
assert set(BUILT_IN) == set(TEMPLATE_PLACEHOLDERS)

_PLACEHOLDER = re.compile(r"\{\{\s*([a-z_][a-z0-9_]*)\s*\}\}")


def choose(
    tenants: EmailTemplates | None, template_id: str, locale: str
) -> tuple[EmailTemplate, str]:
    """The template of ``template_id`` for a tenant whose default locale is ``locale``,
    and the language it is written in."""
    if tenants is not None:
        by_locale = tenants.templates.get(template_id, {})
        for tag in (locale, locale.partition("-")[0], "en"):
            if tag in by_locale:
                return by_locale[tag], tag
    return BUILT_IN[template_id], "en"


def render(text: str, values: dict[str, str]) -> str:
    """``text`` with each ``{{name}}`` replaced by its value (empty when it has none)."""
    return _PLACEHOLDER.sub(lambda m: values.get(m.group(1), ""), text)


#: Bidirectional embeddings, overrides and isolates: in a name or subject they can make a
#: mail client show text in another order than it is written ("moc.knab@" for a bank).
_BIDI_CONTROLS = frozenset("\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")


def one_line(text: str) -> str:
    """``text`` for a header: control characters (line breaks among them) and bidi
    controls become spaces, and runs of spaces one."""
    cleaned = "".join(
        " " if c in _BIDI_CONTROLS or unicodedata.category(c) in ("Cc", "Zl", "Zp") else c
        for c in text
    )
    return " ".join(cleaned.split())
