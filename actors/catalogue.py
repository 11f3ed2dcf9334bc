"""The catalogue actor: one per tenant, the tenant's view of the catalogue.

The platform's products are shared by every tenant of a host through one
:class:`PlatformCatalogue` (loaded once, reloaded when the store's revision moves); the
actor holds only what is the tenant's own — its curation (disabled products, markups)
and its custom products. Lists are filtered, searched and paged in memory: a catalogue is
thousands of products, not millions — sorted once per change of the catalogue, not per
request (:mod:`actors.catalogue_listing`: the host's event loop is every tenant's).

An export (:class:`ExportCatalogue`) is the one read that does not come from memory: the
store merges the platform's products, the tenant's own and its curation in one query (a
MongoDB aggregation, ADR 0022), page by page, so a tenant's whole catalogue is read from
the documents of record without loading it into the actor.

A list with a query (``q``) is a search: the search port (ADR 24) finds the products,
typo tolerant and in order of relevance, and counts the facets. When the search index
cannot be reached the list is answered here, in memory, and marked ``degraded``: every
word of the query must then be the start of a word of the product's name, description,
brand or category in the asked locale (and English), ignoring case and accents. A list
without a query is always answered in memory, ordered by name.

Adding a product and curating one raise ``perkbus.catalogue.product_changed``, which the
search indexer follows to keep the index in step.
"""

from __future__ import annotations

import base64
import logging
import time
from collections.abc import Sequence

import msgspec
from msgspec.structs import replace

from actors.catalogue_listing import Matches, SortedCatalogue
from actors.runtime.actor import ActorContext, ActorKey, ActorKind, Decision
from bus import acl, subjects
from bus.errors import ErrorCode
from bus.events import OutboxEvent, make_event
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
    ProductChanged,
    ProductPage,
    ProductView,
    custom_product_problem,
)
from bus.messages.common import Principal
from bus.scopes import SCOPE_CATALOGUE_ADMIN, permissions
from storage.ports import ChangeSet
from storage.search_ports import ProductQuery, SearchIndex

log = logging.getLogger(__name__)

#: After the search index failed, lists are answered in memory for this long before it
#: is tried again (so an unreachable index does not slow every list down).
SEARCH_RETRY_S = 2.0


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


_offset = msgspec.json.Decoder(int)


def encode_offset(offset: int) -> str:
    """The cursor of a search's next page: how many hits came before it (relevance
    order has no key to continue after)."""
    return base64.urlsafe_b64encode(msgspec.json.encode(offset)).decode().rstrip("=")


#: How deep a search may page (Elasticsearch's and OpenSearch's own limit,
#: ``index.max_result_window``): the same in every index and in memory.
SEARCH_DEPTH = 10_000


def decode_offset(cursor: str) -> int | None:
    try:
        offset = _offset.decode(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
    except (ValueError, msgspec.DecodeError):
        return None
    return offset if offset >= 0 else None


def _admin(principal: Principal) -> bool:
    return SCOPE_CATALOGUE_ADMIN in permissions(principal.roles, principal.scopes)


class CatalogueActor:
    def __init__(self, ctx: ActorContext, key: ActorKey) -> None:
        self.ctx = ctx
        self.tenant = key.tenant
        self.curation = Curation()
        self.custom: dict[str, Product] = {}
        self._search_down_until = 0.0
        #: The lists, sorted once per change of the catalogue (not per request).
        self.sorted = SortedCatalogue()

    async def on_activate(self) -> None:
        store = self.ctx.catalogue
        self.curation = await store.curation(self.tenant)
        self.custom = {p.id: p for p in await store.products(self.tenant)}
        self.sorted.clear()

    async def on_deactivate(self, reason: str) -> None:
        self.custom = {}
        self.sorted.clear()

    async def handle(self, batch: Sequence[Request]) -> Decision:
        platform = await self.ctx.platform.products()
        if (revision := self.ctx.platform.news()) is not None:
            await self._changed(CatalogueChanged("", revision))
        replies: list[Reply] = []
        events: list[OutboxEvent] = []
        for request in batch:
            match request.body:
                case ListProducts() as query:
                    replies.append(await self._list(platform, query))
                case GetProduct(product_id=pid, locale=locale):
                    product = self.custom.get(pid) or platform.get(pid)
                    if product is None or product.status != "active":
                        replies.append(Err.of(ErrorCode.NOT_FOUND, f"no product {pid}"))
                    else:
                        replies.append(Ok(self._view(product, locale)))
                case CurateProduct() | AddCustomProduct() | ExportCatalogue() if not _admin(
                    request.principal
                ):
                    # the edge checked already; the actor that owns the data checks again
                    replies.append(Err.of(ErrorCode.FORBIDDEN, "needs catalogue:admin"))
                case CurateProduct() | AddCustomProduct() if why := acl.whole_tenant(
                    request.principal, "the catalogue"
                ):
                    replies.append(Err.of(ErrorCode.FORBIDDEN, why))
                case CurateProduct() as curate:
                    replies.append(await self._curate(platform, curate, events))
                case AddCustomProduct(product=product):
                    replies.append(await self._add(platform, product, events))
                case ExportCatalogue() as export:
                    replies.append(await self._export(export))
                case _:
                    replies.append(Err.of(ErrorCode.INVALID_REQUEST, "not a catalogue request"))
        changes = ChangeSet(self.tenant, events=tuple(events)) if events else None
        return Decision(replies, changes)

    def _change_event(self, product_id: str, change: str, enabled: bool) -> OutboxEvent:
        data = ProductChanged(product_id, change, enabled)
        return make_event(self.tenant, "catalogue", "product_changed", product_id, data)

    def _view(self, p: Product, locale: str) -> ProductView:
        markup = self.curation.markup_bps.get(p.id, self.curation.default_markup_bps)
        return view(p, locale, p.id not in self.curation.disabled, markup)

    async def _list(self, platform: dict[str, Product], query: ListProducts) -> Reply:
        if not query.filter.q:
            return self._list_by_name(platform, query)
        offset = decode_offset(query.cursor) if query.cursor else 0
        if offset is None:
            return Err.of(ErrorCode.INVALID_REQUEST, "the cursor is not one this API gave out")
        if offset + query.limit > SEARCH_DEPTH:  # past it an index refuses, as if it were down
            return Err.of(
                ErrorCode.INVALID_REQUEST,
                f"a search goes {SEARCH_DEPTH:,} results deep: narrow it with words or filters",
            )
        search = self.ctx.search
        if search is not None and time.monotonic() >= self._search_down_until:
            try:
                return await self._search(search, platform, query, offset)
            except Exception as e:
                self._search_down_until = time.monotonic() + SEARCH_RETRY_S
                log.warning("search index unreachable, listing in memory: %r", e)
        return self._search_in_memory(platform, query, offset, degraded=search is not None)

    def _candidates(self, platform: dict[str, Product], query: ListProducts) -> Matches:
        """What the list's filter matches, in list order: kept from an earlier request
        while the catalogue is unchanged (:mod:`actors.catalogue_listing`)."""
        return self.sorted.matching(
            platform, self.custom, self.curation, query.locale, query.filter
        )

    def _list_by_name(self, platform: dict[str, Product], query: ListProducts) -> Reply:
        after = decode_cursor(query.cursor) if query.cursor else None
        if query.cursor and after is None:
            return Err.of(ErrorCode.INVALID_REQUEST, "the cursor is not one this API gave out")
        found = self._candidates(platform, query)
        start = found.start_after(after) if after is not None else 0
        end = start + query.limit
        page = found.products[start:end]
        more = len(found.products) > end
        next_cursor = encode_cursor(*found.keys[end - 1]) if more and page else None
        views = tuple(self._view(p, query.locale) for p in page)
        return Ok(ProductPage(views, next_cursor, len(found.products), found.facets()))

    def _search_in_memory(
        self, platform: dict[str, Product], query: ListProducts, offset: int, degraded: bool
    ) -> Reply:
        found = self._candidates(platform, query)
        page = found.products[offset : offset + query.limit]
        end = offset + query.limit
        next_cursor = encode_offset(end) if end < len(found.products) else None
        views = tuple(self._view(p, query.locale) for p in page)
        total = len(found.products)
        return Ok(ProductPage(views, next_cursor, total, found.facets(), degraded))

    async def _search(
        self,
        search: SearchIndex,
        platform: dict[str, Product],
        query: ListProducts,
        offset: int,
    ) -> Reply:
        hits = await search.search_products(
            ProductQuery(
                tenant=self.tenant,
                text=query.filter.q or "",
                locale=query.locale,
                filter=query.filter,
                exclude=self.curation.disabled,
                limit=query.limit,
                offset=offset,
            )
        )
        views = []
        for owner, pid in hits.hits:
            # The index may lag the store by a moment: what it no longer holds is skipped.
            if not owner and pid in self.custom:
                continue  # hidden by the tenant's own product of that id
            product = self.custom.get(pid) if owner else platform.get(pid)
            if product is not None and product.status == "active":
                views.append(self._view(product, query.locale))
        end = offset + query.limit
        next_cursor = encode_offset(end) if end < hits.total else None
        return Ok(ProductPage(tuple(views), next_cursor, hits.total, hits.facets))

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
        """Drop this host's kept views of the products, and tell the edges their cached
        pages are stale and the other hosts their kept products (after the store has the
        change, before the reply: an edge's own cache is bumped by the edge itself)."""
        self.sorted.clear()  # the lists sorted before the change
        self.ctx.product_views.changed(change.tenant)
        await self.ctx.notify(subjects.CATALOGUE_CHANGED, _changes.encode(change))

    async def _curate(
        self, platform: dict[str, Product], cmd: CurateProduct, events: list[OutboxEvent]
    ) -> Reply:
        product = self.custom.get(cmd.product_id) or platform.get(cmd.product_id)
        if product is None:
            return Err.of(ErrorCode.NOT_FOUND, f"no product {cmd.product_id}")
        c = self.curation
        disabled = c.disabled - {product.id} if cmd.enabled else c.disabled | {product.id}
        markups = dict(c.markup_bps)
        if cmd.markup_bps is not None:
            markups[product.id] = cmd.markup_bps
        await self._save(replace(c, disabled=disabled, markup_bps=markups, version=c.version + 1))
        events.append(self._change_event(product.id, "curated", cmd.enabled))
        return Ok(self._view(product, "en"))

    async def _add(
        self, platform: dict[str, Product], product: Product, events: list[OutboxEvent]
    ) -> Reply:
        if product.id in platform or product.id in self.custom:
            return Err.of(ErrorCode.ALREADY_EXISTS, f"product {product.id} exists")
        if "en" not in product.texts:
            return Err.of(ErrorCode.INVALID_REQUEST, "a product needs English texts")
        if problem := custom_product_problem(product):
            return Err.of(ErrorCode.INVALID_REQUEST, problem)
        if bool(product.denominations) == (product.range is not None):
            return Err.of(ErrorCode.INVALID_REQUEST, "a product has denominations or a range")
        if product.range is not None and product.range.min_minor > product.range.max_minor:
            return Err.of(ErrorCode.INVALID_REQUEST, "a range's min_minor is above its max_minor")
        own = replace(product, tenant=self.tenant)
        await self.ctx.catalogue.put_products([own])
        self.custom[own.id] = own
        await self._changed(CatalogueChanged(self.tenant))
        events.append(self._change_event(own.id, "added", True))
        return Ok(self._view(own, "en"))


CATALOGUE = ActorKind(
    KIND,
    CatalogueActor,
    accepts=(ListProducts, GetProduct, CurateProduct, AddCustomProduct, ExportCatalogue),
)
