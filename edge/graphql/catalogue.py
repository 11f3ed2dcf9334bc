"""GraphQL for the catalogue (operations shared with REST)."""

from __future__ import annotations

from typing import Annotated

import strawberry

from bus.messages import Err
from bus.messages.catalogue import FacetCount as FacetCountOut
from bus.messages.catalogue import Product as ProductDocument
from edge import operations
from edge.graphql.common import AnyError, GqlInfo, MinorUnits, caller, error, invalid, mutate, plain
from edge.schemas import (
    CatalogueExportOut,
    CurationIn,
    ExportQuery,
    ProductOut,
    ProductPageOut,
    ProductQuery,
)
from edge.validation import Invalid, convert


@strawberry.type
class PriceRange:
    min_minor: MinorUnits
    max_minor: MinorUnits


@strawberry.type
class Product:
    id: strawberry.ID
    brand: str
    kind: str
    category: str
    name: str
    description: str
    terms: str
    image_url: str
    countries: list[str]
    currency: str
    denominations: list[MinorUnits]
    range: PriceRange | None
    markup_bps: int
    enabled: bool
    custom: bool
    locales: list[str]


@strawberry.type
class FacetCount:
    value: str
    count: int


@strawberry.type
class PriceBandCount:
    currency: str
    min_minor: MinorUnits
    #: 0: no upper bound.
    max_minor: MinorUnits
    count: int


@strawberry.type
class Facets:
    category: list[FacetCount]
    brand: list[FacetCount]
    country: list[FacetCount]
    price: list[PriceBandCount]


@strawberry.type
class ProductPage:
    products: list[Product]
    next_cursor: str | None
    total: int
    facets: Facets
    degraded: bool = strawberry.field(
        description="A search answered without the search index: word starts only."
    )


@strawberry.type
class CatalogueExport:
    products: list[Product]
    next_cursor: str | None


ProductResult = Annotated[Product | AnyError, strawberry.union("ProductResult")]
ProductPageResult = Annotated[ProductPage | AnyError, strawberry.union("ProductPageResult")]
CatalogueExportResult = Annotated[
    CatalogueExport | AnyError, strawberry.union("CatalogueExportResult")
]


@strawberry.input
class ProductFilterInput:
    country: str | None = None
    currency: str | None = None
    category: str | None = None
    min_price: MinorUnits | None = None
    max_price: MinorUnits | None = None
    q: str | None = None


@strawberry.input
class CurationInput:
    enabled: bool
    markup_bps: int | None = None


@strawberry.input
class TextsInput:
    locale: str
    name: str
    description: str = ""
    terms: str = ""


@strawberry.input
class PriceRangeInput:
    min_minor: MinorUnits
    max_minor: MinorUnits


@strawberry.input
class CustomProductInput:
    id: strawberry.ID
    brand: str
    kind: str
    category: str
    currency: str
    countries: list[str]
    texts: list[TextsInput]
    denominations: list[MinorUnits] = strawberry.field(default_factory=list)
    range: PriceRangeInput | None = None
    image_url: str = ""


def product(out: ProductOut) -> Product:
    r = out.range
    return Product(
        id=strawberry.ID(out.id),
        brand=out.brand,
        kind=out.kind,
        category=out.category,
        name=out.name,
        description=out.description,
        terms=out.terms,
        image_url=out.image_url,
        countries=list(out.countries),
        currency=out.currency,
        denominations=[MinorUnits(d) for d in out.denominations],
        range=PriceRange(min_minor=MinorUnits(r.min_minor), max_minor=MinorUnits(r.max_minor))
        if r
        else None,
        markup_bps=out.markup_bps,
        enabled=out.enabled,
        custom=out.custom,
        locales=list(out.locales),
    )


def page(out: ProductPageOut) -> ProductPage:
    f = out.facets

    def counts(values: tuple[FacetCountOut, ...]) -> list[FacetCount]:
        return [FacetCount(value=c.value, count=c.count) for c in values]

    facets = Facets(
        category=counts(f.category),
        brand=counts(f.brand),
        country=counts(f.country),
        price=[
            PriceBandCount(
                currency=b.currency,
                min_minor=MinorUnits(b.min_minor),
                max_minor=MinorUnits(b.max_minor),
                count=b.count,
            )
            for b in f.price
        ],
    )
    return ProductPage(
        products=[product(p) for p in out.products],
        next_cursor=out.next_cursor,
        total=out.total,
        facets=facets,
        degraded=out.degraded,
    )


async def list_products(
    info: GqlInfo,
    filter: ProductFilterInput | None = None,
    locale: str = "en",
    first: int = 20,
    after: str | None = None,
) -> ProductPageResult:
    raw = {**(plain(filter) if filter else {}), "locale": locale, "limit": first}
    if after is not None:
        raw["cursor"] = after
    try:
        query = convert({k: v for k, v in raw.items() if v is not None}, ProductQuery)
    except Invalid as e:
        return invalid(e, "filter")
    result = await operations.list_products(caller(info), query)
    return error(result) if isinstance(result, Err) else page(result)


async def export_catalogue(
    info: GqlInfo, locale: str = "en", first: int = 200, after: str | None = None
) -> CatalogueExportResult:
    raw: dict[str, object] = {"locale": locale, "limit": first}
    if after is not None:
        raw["cursor"] = after
    try:
        query = convert(raw, ExportQuery)
    except Invalid as e:
        return invalid(e, "catalogueExport")
    result = await operations.export_catalogue(caller(info), query)
    if isinstance(result, Err):
        return error(result)
    return exported(result)


def exported(out: CatalogueExportOut) -> CatalogueExport:
    return CatalogueExport(products=[product(p) for p in out.products], next_cursor=out.next_cursor)


async def get_product(info: GqlInfo, id: strawberry.ID, locale: str = "en") -> ProductResult:
    result = await operations.get_product(caller(info), str(id), locale)
    return error(result) if isinstance(result, Err) else product(result)


async def curate_product(
    info: GqlInfo,
    product_id: strawberry.ID,
    input: CurationInput,
    idempotency_key: str | None = None,
) -> ProductResult:
    async def operation(who: operations.Caller, data: CurationIn) -> ProductOut | Err:
        return await operations.curate_product(who, str(product_id), data)

    result: ProductResult = await mutate(
        info, idempotency_key, input, CurationIn, operation, product
    )
    return result


async def add_custom_product(
    info: GqlInfo, input: CustomProductInput, idempotency_key: str | None = None
) -> ProductResult:
    raw = plain(input)
    texts = raw.pop("texts")
    raw["texts"] = {t.pop("locale"): t for t in texts}
    raw = {k: v for k, v in raw.items() if v is not None}
    result: ProductResult = await mutate(
        info, idempotency_key, raw, ProductDocument, operations.add_custom_product, product
    )
    return result
