"""The webhooks actor: one per tenant, the keeper of its webhook endpoints (ADR 37).

The endpoints are tenant configuration: one document, ``webhooks``, in the tenant
documents store, written with the revision the actor read (the store refuses a stale
one, so two hosts that both believe they own the tenant cannot both write). Each
endpoint's signing secret is sealed under the master key, bound to its tenant and
endpoint; it is shown once, in the reply that creates or rotates it, and given in the
clear only to the webhook relay (the system principal), which signs with it.

Managing endpoints needs ``webhooks:admin`` and the whole tenant: an endpoint receives
the whole tenant's events, so a principal narrowed to some budgets is refused, as it is
for the events replay. Events about people and API clients go to an endpoint only if
whoever last set its event types may read them (:data:`bus.webhook_filters.PRIVATE_AGGREGATES`).
After every change the actor tells the relay (a core NATS hint), which reads the
endpoints again.

The relay may ask it to disable an endpoint that keeps failing (``DisableFailing``): one
whose delivery ran out of retries with nothing delivered to it since that delivery was
made (about 27 hours with the default schedule). It is disabled with the reason
``failing``, unless someone changed it since; enabling it again (or disabling it by hand)
clears the reason.
"""

from __future__ import annotations

import base64
import hashlib
import logging
import secrets
from collections.abc import Sequence

import msgspec

from actors.runtime.actor import ActorContext, ActorKey, ActorKind, Decision
from actors.sealing import SealError
from bus import subjects
from bus.errors import ErrorCode
from bus.messages import Err, Ok, Reply, Request
from bus.messages.common import Principal
from bus.messages.webhooks import (
    KIND,
    MAX_ENDPOINTS,
    CreateEndpoint,
    DeleteEndpoint,
    DeliveryTarget,
    DeliveryTargets,
    DisableFailing,
    EndpointList,
    EndpointView,
    GetDeliveryTargets,
    GetEndpoint,
    ListEndpoints,
    RotateEndpointSecret,
    UpdateEndpoint,
)
from bus.scopes import SCOPE_WEBHOOKS, permissions
from bus.time import now_ms
from bus.webhook_filters import (
    PRIVATE_AGGREGATES,
    PRIVATE_SCOPES,
    aggregates_named,
    readable,
    unknown_filters,
)
from bus.webhook_signatures import new_secret
from bus.webhook_urls import url_problem
from storage.errors import StaleWrite
from storage.tenant_docs_ports import StoredDocument, TenantDocuments

log = logging.getLogger(__name__)

DOCUMENT = "webhooks"


class StoredEndpoint(msgspec.Struct, frozen=True):
    endpoint_id: str
    url: str
    description: str
    event_types: tuple[str, ...]
    private_aggregates: tuple[str, ...]
    enabled: bool
    created_ms: int
    updated_ms: int
    #: The secret, sealed (base64).
    secret: str
    old_secret: str = ""
    old_secret_expires_ms: int = 0
    #: The Idempotency-Key (hashed with its caller) of the last rotation: its retry
    #: answers with the secret it made (the reply holding it is never stored).
    rotated_by: str = ""
    #: "failing" when the relay had it disabled; "" otherwise.
    disabled_reason: str = ""
    disabled_ms: int = 0


class WebhooksDocument(msgspec.Struct, frozen=True):
    endpoints: tuple[StoredEndpoint, ...] = ()


_decode = msgspec.json.Decoder(WebhooksDocument).decode
_encode = msgspec.json.Encoder().encode


def _may_manage(principal: Principal) -> bool:
    return SCOPE_WEBHOOKS in permissions(principal.roles, principal.scopes)


class WebhooksActor:
    def __init__(self, ctx: ActorContext, key: ActorKey) -> None:
        self.ctx = ctx
        self.tenant = key.tenant
        #: The document as stored; None until read (and after a failed write).
        self.stored: StoredDocument | None = None
        self.loaded = False

    async def on_activate(self) -> None:
        self.loaded = False

    async def on_deactivate(self, reason: str) -> None:
        self.loaded = False

    async def handle(self, batch: Sequence[Request]) -> Decision:
        replies: list[Reply] = []
        store = self.ctx.tenant_docs
        for request in batch:
            if store is None:
                replies.append(Err.of(ErrorCode.UNAVAILABLE, "no tenant documents store here"))
                continue
            replies.append(await self._one(store, request))
        return Decision(replies)

    async def _one(self, store: TenantDocuments, request: Request) -> Reply:
        body, principal = request.body, request.principal
        if isinstance(body, DisableFailing):
            if "system" not in principal.roles:
                return Err.of(ErrorCode.FORBIDDEN, "only the webhook relay reports failing")
            return await self._disable_failing(store, await self._document(store), body)
        if isinstance(body, GetDeliveryTargets):
            if "system" not in principal.roles:
                return Err.of(ErrorCode.FORBIDDEN, "only the webhook relay reads secrets")
            try:
                return Ok(self._targets(await self._document(store)))
            except msgspec.DecodeError as e:  # not one tenant's problem for every tenant
                log.error("tenant %s: the webhooks document is unreadable: %s", self.tenant, e)
                return Err.of(ErrorCode.INTERNAL, "the webhooks document is unreadable")
        if not _may_manage(principal):
            return Err.of(ErrorCode.FORBIDDEN, f"managing webhooks needs {SCOPE_WEBHOOKS}")
        if principal.grants:
            why = "webhooks carry the whole tenant's events, not some budgets'"
            return Err.of(ErrorCode.FORBIDDEN, why)
        document = await self._document(store)
        match body:
            case ListEndpoints():
                return Ok(EndpointList(tuple(self._view(e) for e in document.endpoints)))
            case GetEndpoint(endpoint_id=endpoint_id):
                found = _find(document, endpoint_id)
                return Ok(self._view(found)) if found else _not_found()
            case CreateEndpoint():
                endpoint_id = endpoint_id_for(
                    self.tenant, principal.subject, request.idempotency_key
                )
                return await self._create(store, document, body, principal, endpoint_id)
            case UpdateEndpoint():
                return await self._update(store, document, body, principal)
            case DeleteEndpoint(endpoint_id=endpoint_id):
                found = _find(document, endpoint_id)
                if found is None:
                    return _not_found()
                rest = tuple(e for e in document.endpoints if e.endpoint_id != endpoint_id)
                return await self._save(store, WebhooksDocument(rest), self._view(found))
            case RotateEndpointSecret():
                key = _key_hash(principal.subject, request.idempotency_key)
                return await self._rotate(store, document, body, key)
        return Err.of(ErrorCode.INVALID_REQUEST, "not a webhooks request")

    async def _create(
        self,
        store: TenantDocuments,
        document: WebhooksDocument,
        body: CreateEndpoint,
        principal: Principal,
        endpoint_id: str,
    ) -> Reply:
        if _find(document, endpoint_id) is not None:  # a retry of a create that was made
            why = "made already by this Idempotency-Key: rotate its secret to get a new one"
            return Err.of(ErrorCode.ALREADY_EXISTS, why)
        if len(document.endpoints) >= MAX_ENDPOINTS:
            why = f"a tenant has at most {MAX_ENDPOINTS} webhook endpoints"
            return Err.of(ErrorCode.INVALID_REQUEST, why)
        checked = self._check(body.url, body.event_types, principal)
        if isinstance(checked, Err):
            return checked
        secret = new_secret()
        now = now_ms()
        endpoint = StoredEndpoint(
            endpoint_id,
            body.url,
            body.description,
            tuple(dict.fromkeys(body.event_types)),
            checked,
            body.enabled,
            now,
            now,
            self._seal(endpoint_id, secret),
        )
        saved = WebhooksDocument((*document.endpoints, endpoint))
        return await self._save(store, saved, self._view(endpoint, secret))

    async def _update(
        self,
        store: TenantDocuments,
        document: WebhooksDocument,
        body: UpdateEndpoint,
        principal: Principal,
    ) -> Reply:
        found = _find(document, body.endpoint_id)
        if found is None:
            return _not_found()
        changes: dict[str, object] = {"updated_ms": now_ms()}
        if body.url is not None or body.event_types is not None:
            url = found.url if body.url is None else body.url
            types = found.event_types if body.event_types is None else body.event_types
            checked = self._check(url, types, principal)
            if isinstance(checked, Err):
                return checked
            changes["url"] = url
            if body.event_types is not None:  # whoever sets the types decides the private
                changes["event_types"] = tuple(dict.fromkeys(body.event_types))
                changes["private_aggregates"] = checked
            else:  # a new URL gets no private events its setter may not read itself
                may_read = readable(principal)
                changes["private_aggregates"] = tuple(
                    a for a in found.private_aggregates if a in may_read
                )
        if body.description is not None:
            changes["description"] = body.description
        if body.enabled is not None:  # a person decides: perkbus's reason is gone
            changes.update(enabled=body.enabled, disabled_reason="", disabled_ms=0)
        changed = msgspec.structs.replace(found, **changes)
        return await self._save(store, _replaced(document, changed), self._view(changed))

    async def _disable_failing(
        self, store: TenantDocuments, document: WebhooksDocument, body: DisableFailing
    ) -> Reply:
        found = _find(document, body.endpoint_id)
        if found is None:
            return _not_found()
        if not found.enabled or found.updated_ms > body.failing_since_ms:
            # off already, or changed since it began failing: left as it is, and not an
            # act of the relay's for the audit log (which records what succeeded)
            why = "off already" if not found.enabled else "changed since it began failing"
            return Err.of(ErrorCode.INVALID_REQUEST, f"left as it is: {why}")
        now = now_ms()
        changed = msgspec.structs.replace(
            found, enabled=False, disabled_reason="failing", disabled_ms=now, updated_ms=now
        )
        log.warning(
            "tenant %s: webhook endpoint %s disabled: failing since %d",
            self.tenant,
            found.endpoint_id,
            body.failing_since_ms,
        )
        return await self._save(store, _replaced(document, changed), self._view(changed))

    async def _rotate(
        self,
        store: TenantDocuments,
        document: WebhooksDocument,
        body: RotateEndpointSecret,
        key: str,
    ) -> Reply:
        found = _find(document, body.endpoint_id)
        if found is None:
            return _not_found()
        if key and found.rotated_by == key:  # a retry: the secret it made, not another
            current = self._unseal(found.endpoint_id, found.secret)
            return Ok(self._view(found, current))
        secret = new_secret()
        now = now_ms()
        changed = msgspec.structs.replace(
            found,
            secret=self._seal(found.endpoint_id, secret),
            old_secret=found.secret if body.keep_old_s else "",
            old_secret_expires_ms=now + body.keep_old_s * 1000 if body.keep_old_s else 0,
            updated_ms=now,
            rotated_by=key,
        )
        return await self._save(store, _replaced(document, changed), self._view(changed, secret))

    def _check(
        self, url: str, event_types: tuple[str, ...], principal: Principal
    ) -> tuple[str, ...] | Err:
        """The private aggregates the endpoint may get, or why the endpoint is refused."""
        if problem := url_problem(url, self.ctx.webhook_private_targets):
            return Err.of(ErrorCode.INVALID_REQUEST, f"url: {problem}")
        if unknown := unknown_filters(event_types):
            return Err.of(ErrorCode.INVALID_REQUEST, f"event_types: no such events {unknown}")
        may_read = readable(principal)
        named = aggregates_named(event_types)
        denied = sorted(a for a in named & set(PRIVATE_AGGREGATES) if a not in may_read)
        if event_types and denied:  # asked by name: refused, not silently left out
            scopes = ", ".join(PRIVATE_SCOPES[a] for a in denied)
            return Err.of(ErrorCode.FORBIDDEN, f"{denied} events need {scopes}")
        return tuple(a for a in may_read if a in named)

    async def _document(self, store: TenantDocuments) -> WebhooksDocument:
        if not self.loaded:
            self.stored = await store.get(self.tenant, DOCUMENT)
            self.loaded = True
        if self.stored is None:
            return WebhooksDocument()
        return _decode(self.stored.body)

    async def _save(
        self, store: TenantDocuments, document: WebhooksDocument, answer: EndpointView
    ) -> Reply:
        expected = self.stored.revision if self.stored else None
        body = _encode(document)
        try:
            saved = await store.put(self.tenant, DOCUMENT, body, expected)
        except StaleWrite:
            self.loaded = False  # another host wrote it: read it again next time
            return Err.of(ErrorCode.UNAVAILABLE, "the endpoints changed meanwhile: try again")
        self.stored = StoredDocument(body, saved.revision, saved.saved_ms)
        try:
            await self.ctx.notify(subjects.webhook_targets_changed(self.tenant), b"")
        except Exception as e:  # the relay reads the endpoints again within seconds anyway
            log.warning("tenant %s: webhook change not announced: %s", self.tenant, e)
        return Ok(answer)

    def _seal(self, endpoint_id: str, secret: str) -> str:
        sealed = self.ctx.master_key.seal(secret.encode(), f"webhook:{self.tenant}:{endpoint_id}")
        return base64.b64encode(sealed).decode()

    def _unseal(self, endpoint_id: str, sealed: str) -> str:
        context = f"webhook:{self.tenant}:{endpoint_id}"
        return self.ctx.master_key.unseal(base64.b64decode(sealed), context).decode()

    def _targets(self, document: WebhooksDocument) -> DeliveryTargets:
        now = now_ms()
        targets = []
        for e in document.endpoints:
            try:
                signing = [self._unseal(e.endpoint_id, e.secret)]
                if e.old_secret and e.old_secret_expires_ms > now:
                    signing.append(self._unseal(e.endpoint_id, e.old_secret))
            except SealError as error:  # another master key sealed it: nothing can sign
                log.error("tenant %s: %s's secret: %s", self.tenant, e.endpoint_id, error)
                continue
            targets.append(
                DeliveryTarget(
                    e.endpoint_id,
                    e.url,
                    e.event_types,
                    e.private_aggregates,
                    e.enabled,
                    e.created_ms,
                    tuple(signing),
                )
            )
        return DeliveryTargets(tuple(targets))

    @staticmethod
    def _view(e: StoredEndpoint, secret: str = "") -> EndpointView:
        rotating = e.old_secret and e.old_secret_expires_ms > now_ms()
        old_expires = e.old_secret_expires_ms if rotating else 0
        return EndpointView(
            e.endpoint_id,
            e.url,
            e.description,
            e.event_types,
            e.enabled,
            e.created_ms,
            e.updated_ms,
            e.private_aggregates,
            secret,
            old_expires,
            e.disabled_reason,
            e.disabled_ms,
        )


def _key_hash(subject: str, key: str | None) -> str:
    if key is None:
        return ""
    return hashlib.sha256(f"{subject}\n{key}".encode()).hexdigest()


def endpoint_id_for(tenant: str, subject: str, key: str | None) -> str:
    """From an Idempotency-Key, so that a retry finds the endpoint its first attempt made
    (and is refused: the reply with the secret is not kept)."""
    if key is None:
        return f"ep_{secrets.token_hex(16)}"
    digest = hashlib.sha256(f"{tenant}\n{subject}\n{key}".encode()).hexdigest()
    return f"ep_{digest[:32]}"


def _find(document: WebhooksDocument, endpoint_id: str) -> StoredEndpoint | None:
    return next((e for e in document.endpoints if e.endpoint_id == endpoint_id), None)


def _replaced(document: WebhooksDocument, changed: StoredEndpoint) -> WebhooksDocument:
    return WebhooksDocument(
        tuple(changed if e.endpoint_id == changed.endpoint_id else e for e in document.endpoints)
    )


def _not_found() -> Err:
    return Err.of(ErrorCode.NOT_FOUND, "no webhook endpoint has that id")


WEBHOOKS = ActorKind(
    KIND,
    WebhooksActor,
    accepts=(
        CreateEndpoint,
        UpdateEndpoint,
        DeleteEndpoint,
        GetEndpoint,
        ListEndpoints,
        RotateEndpointSecret,
        DisableFailing,
        GetDeliveryTargets,
    ),
)
