"""Tenant configuration: the documents a tenant's admins edit and its PWA reads.

A tenant has four configuration documents, each stored whole with a **revision**:

* ``branding``: the name, logo and colours the PWA and the embeddable storefront show
  (colours become CSS custom properties, see :meth:`Colours.css_properties`);
* ``locales``: the default locale and the locales offered (BCP 47 tags);
* ``programme``: what points are called, per-person order velocity limits, the order value
  from which an order is held for review, and the origins allowed to embed the storefront
  (CSP ``frame-ancestors`` and CORS);
* ``email-templates``: per template and locale, a subject and body with ``{{named}}``
  placeholders from the template's known set.

A write names the revision it replaces (none to create): a writer who read an older
revision is refused (``stale_revision``) and changes nothing, so two admins editing at
once cannot silently overwrite each other (ADR 0025). Every document is validated
strictly on decoding: unknown fields, malformed colours, tags, origins or placeholders
are refused with the place they were found.
"""

from __future__ import annotations

import re
from typing import Annotated, Literal

import msgspec

from bus.messages.common import PUBLIC_URL_PATTERN, TENANT_WIDE, Money, whole

KIND = "tenant_config"

DocumentName = Literal["branding", "locales", "programme", "email-templates"]
DOCUMENT_NAMES: tuple[DocumentName, ...] = ("branding", "locales", "programme", "email-templates")

#: ``#rrggbb`` or ``#rrggbbaa``: what every browser accepts in a CSS custom property.
#: A document stored with a translucent colour still reads; a new one must be opaque
#: (:meth:`Colours.unreadable`).
HexColour = Annotated[str, msgspec.Meta(pattern=whole("#[0-9a-fA-F]{6}([0-9a-fA-F]{2})?"))]
LOGO_URL_PATTERN = PUBLIC_URL_PATTERN
LogoUrl = Annotated[str, msgspec.Meta(pattern=LOGO_URL_PATTERN, max_length=2048)]
#: A BCP 47 language tag in its canonical case: language, optional script and region
#: (``en``, ``en-GB``, ``pt-BR``, ``zh-Hant-TW``, ``es-419``).
LANGUAGE_TAG_PATTERN = whole("[a-z]{2,3}(-[A-Z][a-z]{3})?(-([A-Z]{2}|[0-9]{3}))?")
LanguageTag = Annotated[
    str, msgspec.Meta(pattern=LANGUAGE_TAG_PATTERN, description="BCP 47 language tag")
]
#: A web origin that may embed the storefront: scheme, host and optional port, no path
#: (``https://intranet.example.com``; plain http only for localhost).
ORIGIN_PATTERN = whole(
    "https://[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?(\\.[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)*"
    "(:[0-9]{1,5})?|http://(localhost|127\\.0\\.0\\.1)(:[0-9]{1,5})?"
)
Origin = Annotated[str, msgspec.Meta(pattern=ORIGIN_PATTERN, max_length=255)]
DisplayName = Annotated[
    str, msgspec.Meta(min_length=1, max_length=80, pattern=whole("[^\\n\\r\\t<>]+"))
]
TemplateId = Annotated[str, msgspec.Meta(pattern=whole("[a-z][a-z0-9_]*(\\.[a-z][a-z0-9_]*)*"))]
#: The revision of a stored document: opaque to clients (CouchDB's ``_rev`` form).
Revision = Annotated[str, msgspec.Meta(min_length=1, max_length=200)]

_CSS_PREFIX = "--pb-"


class Colours(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """The palette of the PWA; ``on_*`` colours are for text drawn over their base."""

    primary: HexColour = "#1f5fbf"
    on_primary: HexColour = "#ffffff"
    background: HexColour = "#ffffff"
    surface: HexColour = "#f4f6f8"
    text: HexColour = "#1b1f24"
    accent: HexColour = "#e8a317"
    on_accent: HexColour = "#1b1f24"
    error: HexColour = "#b3261e"

    def css_properties(self) -> dict[str, str]:
        """``--pb-primary: #1f5fbf`` and so on, for a ``:root`` rule (``_`` becomes ``-``)."""
        return {_CSS_PREFIX + f.replace("_", "-"): getattr(self, f) for f in self.__struct_fields__}

    def unreadable(self) -> tuple[str, str] | None:
        """(field, why) if text drawn in these colours would be hard or impossible to read:
        a translucent colour, or a pair of colours the app draws one over the other under
        WCAG's 4.5:1 contrast for text. Checked when a tenant sets its branding, not when
        a stored one is read: an older one keeps working."""
        for name in self.__struct_fields__:
            colour = getattr(self, name)
            if len(colour) == 9 and colour[7:].lower() != "ff":
                return name, f"{name} must be opaque (#rrggbb): translucent text can vanish"
        for name, over in READABLE_PAIRS:
            ratio = contrast(getattr(self, name), getattr(self, over))
            if ratio < MIN_TEXT_CONTRAST:
                return name, (
                    f"{name} over {over} has a contrast of {ratio:.2f}:1; text needs at least "
                    f"{MIN_TEXT_CONTRAST}:1 to be readable (WCAG 2.2, 1.4.3)"
                )
        return None


#: The app draws text in the first colour over the second (pwa/app/app.css).
READABLE_PAIRS: tuple[tuple[str, str], ...] = (
    ("text", "background"),
    ("text", "surface"),
    ("primary", "background"),  # links, prices and headings
    ("on_primary", "primary"),  # buttons and the app bar
    ("on_accent", "accent"),
    ("error", "background"),
)
MIN_TEXT_CONTRAST = 4.5


def contrast(first: str, second: str) -> float:
    """WCAG's contrast ratio of two opaque ``#rrggbb`` colours, from 1 to 21."""
    lighter, darker = sorted((_luminance(first), _luminance(second)), reverse=True)
    return (lighter + 0.05) / (darker + 0.05)


def _luminance(colour: str) -> float:
    def linear(channel: str) -> float:
        c = int(channel, 16) / 255
        return c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4

    r, g, b = (linear(colour[i : i + 2]) for i in (1, 3, 5))
    return 0.2126 * r + 0.7152 * g + 0.0722 * b


class Branding(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    display_name: DisplayName
    logo_url: LogoUrl | None = None
    colours: Colours = Colours()


class Locales(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    default: LanguageTag = "en"
    enabled: Annotated[tuple[LanguageTag, ...], msgspec.Meta(min_length=1, max_length=64)] = ("en",)

    def __post_init__(self) -> None:
        if len(set(self.enabled)) != len(self.enabled):
            raise ValueError("enabled locales must each be listed once")
        if self.default not in self.enabled:
            raise ValueError(f"the default locale {self.default} must be one of the enabled")


class Programme(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    #: What the programme calls its points ("Kudos", "Stars").
    points_name: DisplayName = "points"
    #: Most orders one person may pay with their points in a day (UTC); None: no limit.
    #: The treasury enforces it (see :class:`OrderRules`); orders that failed do not count.
    max_orders_per_day: Annotated[int, msgspec.Meta(ge=1, le=10_000)] | None = None
    #: Most such orders in a week (Monday to Sunday, UTC); None: no limit.
    max_orders_per_week: Annotated[int, msgspec.Meta(ge=1, le=70_000)] | None = None
    #: Orders paid with points whose face value is at least this (converted at the
    #: tenant's exchange rate; held too where there is none) wait for a reviewer; None:
    #: none do.
    review_threshold: Money | None = None
    #: Origins that may embed the storefront (CSP ``frame-ancestors``, CORS).
    allowed_origins: Annotated[tuple[Origin, ...], msgspec.Meta(max_length=50)] = ()

    def __post_init__(self) -> None:
        if len(set(self.allowed_origins)) != len(self.allowed_origins):
            raise ValueError("allowed origins must each be listed once")
        if self.review_threshold is not None and self.review_threshold.amount_minor < 1:
            raise ValueError("a review threshold is at least one minor unit")
        if self.review_threshold is not None and self.review_threshold.currency == "PTS":
            raise ValueError("a review threshold is a face value: in a currency, not in points")
        day, week = self.max_orders_per_day, self.max_orders_per_week
        if day is not None and week is not None and week < day:
            raise ValueError("max_orders_per_week cannot be below max_orders_per_day")


#: The emails perkbus sends, and the placeholders each one's templates may use.
TEMPLATE_PLACEHOLDERS: dict[str, frozenset[str]] = {
    "welcome": frozenset({"person_name", "programme_name", "sign_in_url"}),
    # a link to choose a password: a reset, or an invitation for one who has none (ADR 42)
    "password.reset": frozenset({"person_name", "programme_name", "password_url", "sign_in_url"}),
    "password.invite": frozenset({"person_name", "programme_name", "password_url", "sign_in_url"}),
    "points.issued": frozenset(
        {
            "person_name",
            "programme_name",
            "points",
            "points_name",
            "reason",
            "balance",
            "sign_in_url",
        }
    ),
    "order.placed": frozenset({"person_name", "programme_name", "product_name", "order_id"}),
    "order.fulfilled": frozenset(
        {"person_name", "programme_name", "product_name", "order_id", "code_url"}
    ),
    "order.failed": frozenset(
        {"person_name", "programme_name", "product_name", "order_id", "reason"}
    ),
    "order.cancelled": frozenset(
        {"person_name", "programme_name", "product_name", "order_id", "reason"}
    ),
}

_PLACEHOLDER = re.compile(r"\{\{\s*([a-z_][a-z0-9_]*)\s*\}\}")


def placeholders(text: str) -> set[str]:
    """The ``{{name}}`` placeholders of a text; a stray ``{{`` or ``}}`` is an error."""
    rest = _PLACEHOLDER.sub("", text)
    if "{{" in rest or "}}" in rest:
        raise ValueError("a placeholder is written {{name}}: lower case letters, digits, _")
    return set(_PLACEHOLDER.findall(text))


class EmailTemplate(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    subject: Annotated[str, msgspec.Meta(min_length=1, max_length=200, pattern=whole("[^\\n\\r]+"))]
    body: Annotated[str, msgspec.Meta(min_length=1, max_length=50_000)]


class EmailTemplates(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    #: Template id → locale → template.
    templates: dict[TemplateId, dict[LanguageTag, EmailTemplate]] = msgspec.field(
        default_factory=dict
    )
    #: Emails this tenant does not send (the others are sent, with the built-in English
    #: template where the tenant has none of its own).
    off: tuple[TemplateId, ...] = ()

    def __post_init__(self) -> None:
        if strays := sorted(set(self.off) - set(TEMPLATE_PLACEHOLDERS)):
            ids = ", ".join(sorted(TEMPLATE_PLACEHOLDERS))
            raise ValueError(f"off: no email template {', '.join(strays)} (there are {ids})")
        if len(set(self.off)) != len(self.off):
            raise ValueError("off: each email is listed once")
        for template_id, by_locale in self.templates.items():
            known = TEMPLATE_PLACEHOLDERS.get(template_id)
            if known is None:
                ids = ", ".join(sorted(TEMPLATE_PLACEHOLDERS))
                raise ValueError(f"no email template {template_id!r} (there are {ids})")
            for locale, template in by_locale.items():
                where = f"{template_id} ({locale})"
                try:
                    used = placeholders(template.subject) | placeholders(template.body)
                except ValueError as e:
                    raise ValueError(f"{where}: {e}") from None
                if unknown := used - known:
                    allowed = ", ".join(sorted(known))
                    raise ValueError(
                        f"{where} uses {', '.join(sorted(unknown))}; it may use {allowed}"
                    )


TenantDocument = Branding | Locales | Programme | EmailTemplates
DOCUMENT_TYPES: dict[DocumentName, type[TenantDocument]] = {
    "branding": Branding,
    "locales": Locales,
    "programme": Programme,
    "email-templates": EmailTemplates,
}
_DECODERS = {name: msgspec.json.Decoder(kind) for name, kind in DOCUMENT_TYPES.items()}


def decode_document(name: DocumentName, body: bytes) -> TenantDocument:
    """A document from its JSON, strictly (raises ``msgspec.ValidationError``/``DecodeError``)."""
    document: TenantDocument = _DECODERS[name].decode(body)
    return document


class GetDocument(msgspec.Struct, frozen=True, tag="tenant_config.get"):
    """A document as it is now, or at a past ``revision``."""

    name: DocumentName
    revision: Revision | None = None

    @property
    def actor_key(self) -> str:
        return TENANT_WIDE


class PutDocument(msgspec.Struct, frozen=True, tag="tenant_config.put"):
    """Replace a document. ``body`` is its JSON (validated again by the actor);
    ``expected_revision`` the revision read before, None to create it."""

    name: DocumentName
    body: bytes
    expected_revision: Revision | None

    @property
    def actor_key(self) -> str:
        return TENANT_WIDE


class ListRevisions(msgspec.Struct, frozen=True, tag="tenant_config.revisions"):
    name: DocumentName

    @property
    def actor_key(self) -> str:
        return TENANT_WIDE


class GetPublicProfile(msgspec.Struct, frozen=True, tag="tenant_config.public"):
    """What anyone may read, unauthenticated: branding, locales, embedding origins."""

    @property
    def actor_key(self) -> str:
        return TENANT_WIDE


class GetOrderRules(msgspec.Struct, frozen=True, tag="tenant_config.order_rules.get"):
    """The programme's rules for a person's orders (asked by the treasury, which applies
    them); any principal of the tenant may read them."""

    @property
    def actor_key(self) -> str:
        return TENANT_WIDE


TenantConfigCommand = GetDocument | PutDocument | ListRevisions | GetPublicProfile | GetOrderRules


class DocumentView(msgspec.Struct, frozen=True, tag="tenant_config.document"):
    name: str
    revision: str
    saved_ms: int
    #: The document's JSON.
    body: bytes


class RevisionInfo(msgspec.Struct, frozen=True):
    revision: str
    saved_ms: int


class RevisionList(msgspec.Struct, frozen=True, tag="tenant_config.revision_list"):
    name: str
    #: Newest first; the first is the current revision.
    revisions: tuple[RevisionInfo, ...]


class OrderRules(msgspec.Struct, frozen=True, tag="tenant_config.order_rules"):
    """For orders paid with a person's points: the most in a UTC day, and in a week (Monday
    00:00 to Sunday 24:00 UTC), None for no limit (orders that failed do not count); and
    the face value from which one is held for review, None for none."""

    per_day: int | None = None
    per_week: int | None = None
    review_from: Money | None = None

    @property
    def limited(self) -> bool:
        return self.per_day is not None or self.per_week is not None


class PublicProfile(msgspec.Struct, frozen=True, tag="tenant_config.public_profile"):
    """A tenant's look and languages for the PWA; defaults where nothing is configured."""

    tenant: str
    branding: Branding
    locales: Locales
    allowed_origins: tuple[str, ...]
    points_name: str
