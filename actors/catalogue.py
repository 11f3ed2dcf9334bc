"""The catalogue actor: one per tenant, the tenant's view of the catalogue.

The platform's products are shared by every tenant of a host through one
:class:`PlatformCatalogue` (loaded once, reloaded when the store's revision moves); the
actor holds only what is the tenant's own — its curation (disabled products, markups)
and its custom products. Lists are filtered, searched and paged in memory: a catalogue is
thousands of products, not millions.

An export (:class:`ExportCatalogue`) is the one read that does not come from memory: the
store merges the platform's products, the tenant's own and its curation in one query (a
MongoDB aggregation, ADR 0022), page by page, so a tenant's whole catalogue is read from
the documents of record without loading it into the actor.

Search matches every word of the query against the start of a word of the product's name,
description, brand or category in the asked locale (and English), ignoring case and
accents; typo-tolerant search comes with the search port.
"""

from __future__ import annotations

import base64
import unicodedata
from collections.abc import Sequence

import msgspec
from msgspec.structs import replace

from actors.runtime.actor import ActorContext, ActorKey, ActorKind, Decision
from bus import subjects
from bus.errors import ErrorCode
from bus.messages import Err, Ok, Reply, Request
from bus.messages.catalogue import (
    KIND,
    AddCustomProduct,
    CatalogueChanged,
    CatalogueExport,
    CurateProduct,
    Curation,
    ExportCatalogue,
    GetProduct,
    ListProducts,
    Product,
    ProductFilter,
    ProductPage,
    ProductView,
)


def fold(text: str) -> str:
    """Lower case without accents: "Café" and "cafe" search alike."""
    decomposed = unicodedata.normalize("NFKD", text.casefold())
    return "".join(c for c in decomposed if not unicodedata.combining(c))


def _words(product: Product, locale: str) -> set[str]:
    parts = [product.brand, product.category]
    for t in {product.text(locale), product.text("en")}:
        parts += [t.name, t.description]
    return {w for part in parts for w in fold(part).replace("-", " ").split()}


def _matches(product: Product, f: ProductFilter, locale: str) -> bool:
    if product.status != "active":
        return False
    if f.country and f.country not in product.countries:
        return False
    if f.currency and f.currency != product.currency:
        return False
    if f.category and f.category != product.category:
        return False
    low, high = f.min_price or 0, f.max_price if f.max_price is not None else 2**62
    if f.min_price is not None or f.max_price is not None:
        if product.range is not None:
            if product.range.max_minor < low or product.range.min_minor > high:
                return False
        elif not any(low <= d <= high for d in product.denominations):
            return False
    if f.q:
        words = _words(product, locale)
        return all(any(w.startswith(q) for w in words) for q in fold(f.q).split())
    return True


_cursor = msgspec.json.Decoder(tuple[str, str])
_changes = msgspec.msgpack.Encoder()


def encode_cursor(sort_key: str, product_id: str) -> str:
    raw = msgspec.json.encode((sort_key, product_id))
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str) -> tuple[str, str] | None:
    try:
        return _cursor.decode(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
    except (ValueError, msgspec.DecodeError):
        return None


def view(p: Product, locale: str, enabled: bool, markup_bps: int) -> ProductView:
    """A product as a tenant shows it, in one locale."""
    text = p.text(locale)
    return ProductView(
        id=p.id,
        brand=p.brand,
        kind=p.kind,
        category=p.category,
        name=text.name,
        description=text.description,
        terms=text.terms,
        image_url=p.image_url,
        countries=p.countries,
        currency=p.currency,
        denominations=p.denominations,
        range=p.range,
        markup_bps=markup_bps,
        enabled=enabled,
        custom=bool(p.tenant),
        locales=tuple(sorted(p.texts)),
    )


class CatalogueActor:
    def __init__(self, ctx: ActorContext, key: ActorKey) -> None:
        self.ctx = ctx
        self.tenant = key.tenant
        self.curation = Curation()
        self.custom: dict[str, Product] = {}

    async def on_activate(self) -> None:
        store = self.ctx.catalogue
        self.curation = await store.curation(self.tenant)
        self.custom = {p.id: p for p in await store.products(self.tenant)}

    async def on_deactivate(self, reason: str) -> None:
        self.custom = {}

    async def handle(self, batch: Sequence[Request]) -> Decision:
        platform = await self.ctx.platform.products()
        if (revision := self.ctx.platform.news()) is not None:
            await self._changed(CatalogueChanged("", revision))
        replies: list[Reply] = []
        for request in batch:
            match request.body:
                case ListProducts() as query:
                    replies.append(self._list(platform, query))
                case GetProduct(product_id=pid, locale=locale):
                    product = self.custom.get(pid) or platform.get(pid)
                    if product is None or product.status != "active":
                        replies.append(Err.of(ErrorCode.NOT_FOUND, f"no product {pid}"))
                    else:
                        replies.append(Ok(self._view(product, locale)))
                case CurateProduct() as curate:
                    replies.append(await self._curate(platform, curate))
                case AddCustomProduct(product=product):
                    replies.append(await self._add(platform, product))
                case ExportCatalogue() as export:
                    replies.append(await self._export(export))
                case _:
                    replies.append(Err.of(ErrorCode.INVALID_REQUEST, "not a catalogue request"))
        return Decision(replies)

    def _view(self, p: Product, locale: str) -> ProductView:
        markup = self.curation.markup_bps.get(p.id, self.curation.default_markup_bps)
        return view(p, locale, p.id not in self.curation.disabled, markup)

    def _list(self, platform: dict[str, Product], query: ListProducts) -> Reply:
        after = decode_cursor(query.cursor) if query.cursor else None
        if query.cursor and after is None:
            return Err.of(ErrorCode.INVALID_REQUEST, "the cursor is not one this API gave out")
        locale = query.locale
        found = [
            (fold(p.text(locale).name), p)
            for p in (*platform.values(), *self.custom.values())
            if p.id not in self.curation.disabled and _matches(p, query.filter, locale)
        ]
        found.sort(key=lambda kp: (kp[0], kp[1].id))
        total = len(found)
        if after is not None:
            found = [kp for kp in found if (kp[0], kp[1].id) > after]
        page = found[: query.limit]
        more = len(found) > query.limit
        next_cursor = encode_cursor(page[-1][0], page[-1][1].id) if more and page else None
        views = tuple(self._view(p, locale) for _, p in page)
        return Ok(ProductPage(views, next_cursor, total))

    async def _export(self, export: ExportCatalogue) -> Reply:
        after = export.cursor or ""
        page = await self.ctx.catalogue.effective_catalogue(self.tenant, after, export.limit)
        views = tuple(
            view(c.product, export.locale, c.enabled, c.markup_bps)
            for c in page
            if c.product.status == "active"
        )
        more = len(page) == export.limit
        return Ok(CatalogueExport(views, page[-1].product.id if more else None))

    async def _save(self, curation: Curation) -> None:
        await self.ctx.catalogue.save_curation(self.tenant, curation)
        self.curation = curation
        await self._changed(CatalogueChanged(self.tenant))

    async def _changed(self, change: CatalogueChanged) -> None:
        """Tell the edges their cached pages are stale (after the store has the change,
        before the reply: an edge's own cache is bumped by the edge itself)."""
        await self.ctx.notify(subjects.CATALOGUE_CHANGED, _changes.encode(change))

    async def _curate(self, platform: dict[str, Product], cmd: CurateProduct) -> Reply:
        product = self.custom.get(cmd.product_id) or platform.get(cmd.product_id)
        if product is None:
            return Err.of(ErrorCode.NOT_FOUND, f"no product {cmd.product_id}")
        c = self.curation
        disabled = c.disabled - {product.id} if cmd.enabled else c.disabled | {product.id}
        markups = dict(c.markup_bps)
        if cmd.markup_bps is not None:
            markups[product.id] = cmd.markup_bps
        await self._save(replace(c, disabled=disabled, markup_bps=markups, version=c.version + 1))
        return Ok(self._view(product, "en"))

    async def _add(self, platform: dict[str, Product], product: Product) -> Reply:
        if product.id in platform or product.id in self.custom:
            return Err.of(ErrorCode.ALREADY_EXISTS, f"product {product.id} exists")
        if "en" not in product.texts:
            return Err.of(ErrorCode.INVALID_REQUEST, "a product needs English texts")
        if bool(product.denominations) == (product.range is not None):
            return Err.of(ErrorCode.INVALID_REQUEST, "a product has denominations or a range")
        if product.range is not None and product.range.min_minor > product.range.max_minor:
            return Err.of(ErrorCode.INVALID_REQUEST, "a range's min_minor is above its max_minor")
        own = replace(product, tenant=self.tenant)
        await self.ctx.catalogue.put_products([own])
        self.custom[own.id] = own
        await self._changed(CatalogueChanged(self.tenant))
        return Ok(self._view(own, "en"))


CATALOGUE = ActorKind(
    KIND,
    CatalogueActor,
    accepts=(ListProducts, GetProduct, CurateProduct, AddCustomProduct, ExportCatalogue),
)
