"""The search port: full-text search of the catalogue and of the audit log.

The index is a *copy*: the catalogue store and the ledger hold the truth, and the indexer
(``actors.search_indexer``) keeps the copy in step. So the index may be lost at any time
(an in-memory server restarted, a cluster rebuilt) and be rebuilt from the truth; the
indexer's own progress is kept in the index too (:meth:`SearchIndex.get_meta`), so a lost
index is noticed and rebuilt rather than silently left behind.

Products are indexed per owner: the platform's under tenant ``""`` (seen by every
tenant), a tenant's own under its id (seen by that tenant only). A tenant's disabled
products are left out by the query (``ProductQuery.exclude``), as the catalogue actor
knows them. Audit entries are indexed per tenant and only ever searched within one.
"""

from __future__ import annotations

import hashlib
import unicodedata
from collections.abc import Iterable, Sequence
from typing import Protocol

import msgspec

from bus import price_bands
from bus.messages.catalogue import (
    FacetCount,
    Facets,
    PriceBandCount,
    Product,
    ProductFilter,
)
from storage.ports import AuditRecord

#: Locales with an analyser of their own (stemming, stop words); others share one that
#: only folds case and accents.
ANALYSED_LOCALES = ("en", "es", "fr", "de", "it", "pt", "hi")
OTHER = "other"
#: Facet values listed per facet (the most frequent first).
FACET_SIZE = 50


class ProductQuery(msgspec.Struct, frozen=True):
    tenant: str
    text: str
    locale: str = "en"
    filter: ProductFilter = ProductFilter()
    #: Products the tenant has disabled: never a hit, never counted.
    exclude: frozenset[str] = frozenset()
    limit: int = 20
    offset: int = 0


class ProductHits(msgspec.Struct, frozen=True):
    #: ``(owner tenant, product id)`` of this page's hits, most relevant first.
    hits: tuple[tuple[str, str], ...]
    total: int
    facets: Facets


class AuditQuery(msgspec.Struct, frozen=True):
    tenant: str
    text: str = ""
    actor: str | None = None
    action: str | None = None
    outcome: str | None = None
    #: ``at_ms`` bounds, inclusive (0: unbounded).
    since_ms: int = 0
    until_ms: int = 0
    limit: int = 100
    offset: int = 0


class AuditHits(msgspec.Struct, frozen=True):
    #: Most relevant first with a text; else newest first.
    records: tuple[AuditRecord, ...]
    total: int


class SearchIndex(Protocol):
    """Catalogue and audit-log search. Every write is searchable when it returns
    (the adapters refresh), so "changed, then found" holds within the indexer's lag."""

    name: str

    async def migrate(self) -> None:
        """Create the tables or indices (idempotent)."""

    async def ping(self) -> None: ...

    async def close(self) -> None: ...

    async def put_products(self, products: Sequence[Product]) -> None:
        """Index (or re-index) products, each under its ``tenant``."""

    async def remove_products(self, tenant: str, product_ids: Sequence[str]) -> None: ...

    async def product_digests(self, tenant: str) -> dict[str, str]:
        """``product id → digest`` of what is indexed for ``tenant`` (see :func:`digest`):
        what the indexer compares with the store to index only what changed."""

    async def search_products(self, query: ProductQuery) -> ProductHits: ...

    async def put_audit(self, records: Sequence[AuditRecord]) -> None: ...

    async def search_audit(self, query: AuditQuery) -> AuditHits: ...

    async def get_meta(self, key: str) -> str | None:
        """A value the indexer keeps with the index (its cursors); None once the index
        is lost."""

    async def set_meta(self, key: str, value: str) -> None: ...


_json = msgspec.json.Encoder()


def digest(product: Product) -> str:
    """A short hash of everything indexed of a product."""
    return hashlib.sha256(_json.encode(product)).hexdigest()[:24]


def fold(text: str) -> str:
    """Lower case without accents: "Café" and "cafe" search alike."""
    decomposed = unicodedata.normalize("NFKD", text.casefold())
    return "".join(c for c in decomposed if not unicodedata.combining(c))


def locale_group(locale: str) -> str:
    """The analysed locale a text of ``locale`` (``fr-CA`` …) is indexed under."""
    base = locale[:2]
    return base if base in ANALYSED_LOCALES else OTHER


def texts_by_group(product: Product) -> dict[str, tuple[str, str]]:
    """``locale group → (names, descriptions)``, texts of one group joined."""
    grouped: dict[str, tuple[list[str], list[str]]] = {}
    for locale, text in sorted(product.texts.items()):
        names, descriptions = grouped.setdefault(locale_group(locale), ([], []))
        names.append(text.name)
        descriptions.append(text.description)
    return {g: (" ".join(n), " ".join(d)) for g, (n, d) in grouped.items()}


def product_bands(product: Product) -> list[str]:
    span = (product.range.min_minor, product.range.max_minor) if product.range else None
    return price_bands.of_product(product.currency, product.denominations, span)


def build_facets(
    category: Iterable[tuple[str, int]],
    brand: Iterable[tuple[str, int]],
    country: Iterable[tuple[str, int]],
    bands: Iterable[tuple[str, int]],
) -> Facets:
    """Facets from ``(value, count)`` pairs: most frequent first, then by value; price
    bands by currency, then ascending."""

    def top(pairs: Iterable[tuple[str, int]]) -> tuple[FacetCount, ...]:
        ranked = sorted((p for p in pairs if p[1] > 0), key=lambda p: (-p[1], p[0]))
        return tuple(FacetCount(v, n) for v, n in ranked[:FACET_SIZE])

    price = []
    for band, n in bands:
        if n > 0:
            currency, low, high = price_bands.parse(band)
            price.append(PriceBandCount(currency, low, high, n))
    price.sort(key=lambda b: (b.currency, b.min_minor))
    return Facets(top(category), top(brand), top(country), tuple(price))


def count_facets(products: Iterable[Product]) -> Facets:
    """The facets of products in memory (the catalogue actor's list without a search)."""
    counts: tuple[dict[str, int], ...] = ({}, {}, {}, {})
    for p in products:
        values = ((p.category,), (p.brand,), set(p.countries), product_bands(p))
        for into, vs in zip(counts, values, strict=True):
            for v in vs:
                into[v] = into.get(v, 0) + 1
    return build_facets(*(c.items() for c in counts))
