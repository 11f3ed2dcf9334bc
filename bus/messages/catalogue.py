"""Catalogue context: the rewards people can choose, as each tenant curates them.

A product is a gift card, voucher or item from a brand, sold in one currency, in some
countries, at fixed denominations or any amount in a range. Texts are per locale (English
always present). The platform's catalogue is shared by every tenant; each tenant enables
or disables products, sets a markup, and may add products of its own.
"""

from __future__ import annotations

import re
from typing import Annotated, Literal

import msgspec

from bus.messages.common import (
    FREE_TEXT,
    ISO_4217,
    ONE_LINE,
    PUBLIC_URL_PATTERN,
    TENANT_WIDE,
    Currency,
    whole,
)

KIND = "catalogue"

PRODUCT_ID_PATTERN = whole("[a-z0-9][a-z0-9_.-]{0,63}")
ProductId = Annotated[str, msgspec.Meta(pattern=PRODUCT_ID_PATTERN)]
Country = Annotated[str, msgspec.Meta(pattern=whole("[A-Z]{2}"), description="ISO 3166-1")]
Locale = Annotated[str, msgspec.Meta(pattern=whole("[a-z]{2}(-[A-Z]{2})?"))]
MarkupBps = Annotated[int, msgspec.Meta(ge=0, le=10_000, description="basis points")]
#: A face value in minor units (2**53 at most: exact in every JSON reader).
FaceValue = Annotated[int, msgspec.Meta(ge=1, le=2**53)]
#: A price bound of a filter, in minor units.
PriceBound = Annotated[int, msgspec.Meta(ge=0, le=2**62)]
ProductKind = Literal["gift_card", "voucher", "merchandise", "experience"]
Status = Literal["active", "inactive"]


class Texts(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """What a person reads, in one locale."""

    name: str
    description: str = ""
    terms: str = ""


class Range(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    min_minor: FaceValue
    max_minor: FaceValue


class Product(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    id: ProductId
    brand: str
    kind: ProductKind
    category: str
    currency: Currency
    countries: tuple[Country, ...]
    texts: dict[Locale, Texts]
    #: Fixed face values in minor units; empty when ``range`` is set.
    denominations: tuple[FaceValue, ...] = ()
    range: Range | None = None
    image_url: str = ""
    status: Status = "active"
    #: The tenant that owns a custom product; empty for the platform's catalogue.
    tenant: str = ""

    def text(self, locale: str) -> Texts:
        return self.texts.get(locale) or self.texts.get(locale[:2]) or self.texts["en"]


#: What a tenant's own product may say (the platform's catalogue is loaded by operators
#: and read as it is): one-line names, texts without control characters, an image on
#: https or on the site itself, a sane number of locales.
CUSTOM_LIMITS = {"name": 200, "brand": 100, "category": 60, "description": 5_000, "terms": 5_000}
MAX_CUSTOM_LOCALES = 30


def custom_product_problem(product: Product) -> str | None:
    """Why ``product`` cannot be a tenant's own product, or None."""
    fields: list[tuple[str, str, str]] = [  # (where, value, pattern)
        ("brand", product.brand, ONE_LINE),
        ("category", product.category, ONE_LINE),
    ]
    for locale, t in product.texts.items():
        fields += [
            (f"texts.{locale}.name", t.name, ONE_LINE),
            (f"texts.{locale}.description", t.description, FREE_TEXT),
            (f"texts.{locale}.terms", t.terms, FREE_TEXT),
        ]
    for where, value, pattern in fields:
        limit = CUSTOM_LIMITS[where.rsplit(".", 1)[-1]]
        if len(value) > limit or not re.search(pattern, value):
            lines = "one line of 1" if pattern == ONE_LINE else "0"
            return f"{where}: {lines} to {limit:,} characters, no control characters"
    if product.currency not in ISO_4217:  # the platform's may be read as stored
        return "currency: the ISO 4217 code of a currency in use"
    if product.image_url and not re.search(PUBLIC_URL_PATTERN, product.image_url):
        return "image_url: an https URL, or a path on this site"
    if len(product.texts) > MAX_CUSTOM_LOCALES:
        return f"texts: at most {MAX_CUSTOM_LOCALES} locales"
    return None


class Curation(msgspec.Struct, frozen=True):
    """A tenant's choices: disabled products and markups (basis points) per product."""

    disabled: frozenset[str] = frozenset()
    markup_bps: dict[str, int] = msgspec.field(default_factory=dict)
    default_markup_bps: int = 0
    version: int = 0


class ProductFilter(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    country: Country | None = None
    currency: Currency | None = None
    category: str | None = None
    #: Face value bounds in minor units: a product matches if any of its values is inside.
    min_price: PriceBound | None = None
    max_price: PriceBound | None = None
    q: Annotated[str, msgspec.Meta(max_length=200)] | None = None


class ListProducts(msgspec.Struct, frozen=True, tag="catalogue.list"):
    filter: ProductFilter = ProductFilter()
    locale: Locale = "en"
    limit: Annotated[int, msgspec.Meta(ge=1, le=100)] = 20
    #: Opaque: the ``next_cursor`` of the previous page.
    cursor: str | None = None

    @property
    def actor_key(self) -> str:
        return TENANT_WIDE


class GetProduct(msgspec.Struct, frozen=True, tag="catalogue.get"):
    product_id: ProductId
    locale: Locale = "en"

    @property
    def actor_key(self) -> str:
        return TENANT_WIDE


class CurateProduct(msgspec.Struct, frozen=True, tag="catalogue.curate"):
    product_id: ProductId
    enabled: bool
    markup_bps: MarkupBps | None = None

    @property
    def actor_key(self) -> str:
        return TENANT_WIDE


class AddCustomProduct(msgspec.Struct, frozen=True, tag="catalogue.add_custom"):
    product: Product

    @property
    def actor_key(self) -> str:
        return TENANT_WIDE


class ExportCatalogue(msgspec.Struct, frozen=True, tag="catalogue.export"):
    """The tenant's whole catalogue as it curated it, disabled products included, by id:
    for an admin to review markups or hand the catalogue to another system."""

    locale: Locale = "en"
    limit: Annotated[int, msgspec.Meta(ge=1, le=500)] = 200
    #: Opaque: the ``next_cursor`` of the previous page.
    cursor: ProductId | None = None

    @property
    def actor_key(self) -> str:
        return TENANT_WIDE


CatalogueCommand = ListProducts | GetProduct | CurateProduct | AddCustomProduct | ExportCatalogue


class ProductView(msgspec.Struct, frozen=True, tag="catalogue.product"):
    """A product as a tenant shows it, in one locale."""

    id: str
    brand: str
    kind: str
    category: str
    name: str
    description: str
    terms: str
    image_url: str
    countries: tuple[str, ...]
    currency: str
    denominations: tuple[int, ...]
    range: Range | None
    markup_bps: int
    enabled: bool
    custom: bool
    locales: tuple[str, ...]


class FacetCount(msgspec.Struct, frozen=True):
    """How many products of a list have this value (a category, brand or country)."""

    value: str
    count: int


class PriceBandCount(msgspec.Struct, frozen=True):
    """How many products of a list have a face value in ``[min_minor, max_minor)`` of
    ``currency`` (``max_minor`` 0: no upper bound); bands are ``bus.price_bands``'s."""

    currency: str
    min_minor: int
    max_minor: int
    count: int


class Facets(msgspec.Struct, frozen=True):
    """Counts of the values of a list's products, by most frequent first: what a shopper
    can narrow the list by."""

    category: tuple[FacetCount, ...] = ()
    brand: tuple[FacetCount, ...] = ()
    country: tuple[FacetCount, ...] = ()
    price: tuple[PriceBandCount, ...] = ()


class ProductPage(msgspec.Struct, frozen=True, tag="catalogue.page"):
    products: tuple[ProductView, ...]
    next_cursor: str | None
    total: int
    #: Counts over every product the filter matches (not only this page's).
    facets: Facets = Facets()
    #: True when a search was answered without the search index (it was unreachable):
    #: by prefix, not typo tolerant.
    degraded: bool = False


class ProductChanged(msgspec.Struct, frozen=True):
    """``perkbus.catalogue.product_changed``: a tenant added a product of its own, or
    curated one (enabled, disabled, marked up). The search indexer re-indexes the tenant's
    products when it sees one."""

    product_id: str
    #: ``added`` or ``curated``.
    change: str
    enabled: bool = True


class CatalogueChanged(msgspec.Struct, frozen=True, tag="catalogue.changed"):
    """A core-NATS hint to every edge and actor host (``subjects.CATALOGUE_CHANGED``)
    that what it kept of a catalogue is stale — an edge's cached pages, a host's products
    kept for its treasuries: one tenant's (its curation, its custom products), or — with
    ``tenant`` empty — every tenant's, when the platform catalogue's ``revision`` moved.
    Not a domain event: nothing replays it; a lost one is covered by the pages' and the
    kept products' short times to live."""

    tenant: str = ""
    revision: int = 0


class CatalogueExport(msgspec.Struct, frozen=True, tag="catalogue.export_page"):
    """A page of an export; ``next_cursor`` is None on the last."""

    products: tuple[ProductView, ...]
    next_cursor: str | None
