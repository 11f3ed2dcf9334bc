"""The tenant config actor: one per tenant, the keeper of its configuration documents.

It reads each document from the tenant documents store once and keeps it (with its
revision) until it is passivated, so the PWA's reads of branding and locales cost no
store round trip. A write is validated again here (the edge validated it too: an actor
trusts no caller) and refused to a principal narrowed to some budgets (the settings are
the whole tenant's, ADR 19), then written with the revision the writer read; the store refuses a
stale one (``StaleWrite``), and the actor answers ``stale_revision`` after reloading the
document — its cache may itself be what was stale, if another host wrote it. Nothing is
cached that the store did not accept.

The store's own revision check, not the actor, is what makes writes safe: two hosts that
both believe they own the tenant for a moment still cannot both replace one revision.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

import msgspec

from actors.runtime.actor import ActorContext, ActorKey, ActorKind, Decision
from bus.errors import ErrorCode
from bus.messages import Err, Ok, Reply, Request
from bus.messages.common import Principal
from bus.messages.tenant_config import (
    KIND,
    Branding,
    DocumentName,
    DocumentView,
    GetDocument,
    GetOrderRules,
    GetPublicProfile,
    ListRevisions,
    Locales,
    OrderRules,
    Programme,
    PublicProfile,
    PutDocument,
    RevisionInfo,
    RevisionList,
    TenantDocument,
    decode_document,
)
from bus.scopes import SCOPE_CONFIG, SCOPE_CONFIG_ADMIN, permissions
from storage.errors import StaleWrite
from storage.tenant_docs_ports import StoredDocument, TenantDocuments

log = logging.getLogger(__name__)

_json = msgspec.json.Encoder()


def _may(principal: Principal, scope: str) -> bool:
    """By the token's permissions; perkbus's own processes (``system``: the mailer) read."""
    if scope == SCOPE_CONFIG and "system" in principal.roles:
        return True
    return scope in permissions(principal.roles, principal.scopes)


class TenantConfigActor:
    def __init__(self, ctx: ActorContext, key: ActorKey) -> None:
        self.ctx = ctx
        self.tenant = key.tenant
        #: Document name → the document as stored (None: never written).
        self.cache: dict[str, StoredDocument | None] = {}

    async def on_activate(self) -> None:
        self.cache = {}  # loaded on first use, and again after a failed batch

    async def on_deactivate(self, reason: str) -> None:
        self.cache = {}

    @property
    def store(self) -> TenantDocuments | None:
        return self.ctx.tenant_docs

    async def _current(self, store: TenantDocuments, name: str) -> StoredDocument | None:
        if name not in self.cache:
            self.cache[name] = await store.get(self.tenant, name)
        return self.cache[name]

    async def handle(self, batch: Sequence[Request]) -> Decision:
        replies: list[Reply] = []
        store = self.store
        for request in batch:
            if store is None and isinstance(request.body, GetOrderRules):
                replies.append(Ok(OrderRules()))  # nothing can be configured: no rules
                continue
            if store is None:
                replies.append(Err.of(ErrorCode.UNAVAILABLE, "no tenant documents store here"))
                continue
            match request.body:
                case GetPublicProfile():
                    replies.append(Ok(await self._public(store)))
                case GetOrderRules():
                    p = await self._programme(store)
                    rules = OrderRules(
                        p.max_orders_per_day, p.max_orders_per_week, p.review_threshold
                    )
                    replies.append(Ok(rules))
                case GetDocument() as get if _may(request.principal, SCOPE_CONFIG):
                    replies.append(await self._get(store, get))
                case ListRevisions(name=name) if _may(request.principal, SCOPE_CONFIG):
                    replies.append(await self._revisions(store, name))
                case PutDocument() if request.principal.grants:
                    why = "a principal narrowed to some budgets may not change tenant settings"
                    replies.append(Err.of(ErrorCode.FORBIDDEN, why))
                case PutDocument() as put if _may(request.principal, SCOPE_CONFIG_ADMIN):
                    replies.append(await self._put(store, put))
                case GetDocument() | ListRevisions() | PutDocument():
                    replies.append(Err.of(ErrorCode.FORBIDDEN, "not allowed by this token"))
                case _:
                    replies.append(Err.of(ErrorCode.INVALID_REQUEST, "not a tenant config request"))
        return Decision(replies)

    async def _get(self, store: TenantDocuments, get: GetDocument) -> Reply:
        current = await self._current(store, get.name)
        if get.revision is None or (current is not None and current.revision == get.revision):
            found = current
        else:
            found = await store.get_revision(self.tenant, get.name, get.revision)
        if found is None:
            what = f" at revision {get.revision}" if get.revision else ""
            return Err.of(ErrorCode.NOT_FOUND, f"no {get.name} document{what}")
        return Ok(DocumentView(get.name, found.revision, found.saved_ms, found.body))

    async def _revisions(self, store: TenantDocuments, name: DocumentName) -> Reply:
        history = await store.revisions(self.tenant, name)
        if not history:
            return Err.of(ErrorCode.NOT_FOUND, f"no {name} document")
        infos = tuple(RevisionInfo(r.revision, r.saved_ms) for r in history)
        return Ok(RevisionList(name, infos))

    async def _put(self, store: TenantDocuments, put: PutDocument) -> Reply:
        try:
            document = decode_document(put.name, put.body)
        except (msgspec.ValidationError, msgspec.DecodeError) as e:
            return Err.of(ErrorCode.INVALID_REQUEST, f"{put.name}: {e}")
        if isinstance(document, Branding) and (bad := document.colours.unreadable()):
            return Err.of(ErrorCode.INVALID_REQUEST, f"branding: {bad[1]}")
        body = _json.encode(document)  # canonical: defaults filled in, unknowns refused
        try:
            saved = await store.put(self.tenant, put.name, body, put.expected_revision)
        except StaleWrite:
            self.cache.pop(put.name, None)
            if put.name == "programme":  # another host wrote it: what this one kept is old
                self.ctx.programmes.changed(self.tenant)
            current = await self._current(store, put.name)
            now = f"it is at {current.revision}" if current else "it does not exist"
            expected = put.expected_revision or "none (create)"
            return Err.of(
                ErrorCode.STALE_REVISION,
                f"{put.name} is no longer at revision {expected}; {now}: read it again",
            )
        self.cache[put.name] = StoredDocument(body, saved.revision, saved.saved_ms)
        if put.name == "programme":  # the treasury's order limits: before the reply
            self.ctx.programmes.changed(self.tenant)
        return Ok(DocumentView(put.name, saved.revision, saved.saved_ms, body))

    async def _valid(self, store: TenantDocuments, name: DocumentName) -> TenantDocument | None:
        """The document as stored, decoded; None if unset, or stored by an older version
        in a shape this one no longer reads."""
        stored = await self._current(store, name)
        if stored is None:
            return None
        try:
            return decode_document(name, stored.body)
        except (msgspec.ValidationError, msgspec.DecodeError) as e:
            log.warning("tenant %s: stored %s no longer valid: %s", self.tenant, name, e)
            return None

    async def _programme(self, store: TenantDocuments) -> Programme:
        found = await self._valid(store, "programme")
        return found if isinstance(found, Programme) else Programme()

    async def _public(self, store: TenantDocuments) -> PublicProfile:
        """Branding, locales and embedding origins, with defaults for what is unset."""
        branding = await self._valid(store, "branding")
        if not isinstance(branding, Branding):
            branding = Branding(display_name=self.tenant)
        locales = await self._valid(store, "locales")
        if not isinstance(locales, Locales):
            locales = Locales()
        programme = await self._programme(store)
        return PublicProfile(
            self.tenant, branding, locales, programme.allowed_origins, programme.points_name
        )


TENANT_CONFIG = ActorKind(
    KIND,
    TenantConfigActor,
    accepts=(GetDocument, PutDocument, ListRevisions, GetPublicProfile, GetOrderRules),
)
