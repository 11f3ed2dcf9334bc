"""Requests about webhook deliveries (``pb.whk.<tenant>``), answered by the relay.

Not an actor: the deliveries are the relay's (``perkbus webhooks``, ADR 37), which
subscribes to every tenant's subject in one queue group, as the warehouse does for
reports. The edge has checked the token; this checks again: the envelope's tenant is
the subject's, the principal may manage webhooks and is not narrowed to some budgets,
and every read of the store is scoped by the tenant.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import uuid

import msgspec
from nats.aio.client import Client as NatsClient
from nats.aio.msg import Msg
from nats.aio.subscription import Subscription

from actors.service_health import store_health
from actors.webhook_targets import TargetDirectory, TargetsUnavailable
from bus import subjects
from bus.barrier import barrier
from bus.errors import ErrorCode
from bus.events import CloudEvent
from bus.messages import encoder
from bus.messages.common import Err, Ok, Principal
from bus.messages.webhooks import (
    AttemptView,
    DeliveriesReply,
    DeliveryDetail,
    DeliveryPage,
    DeliveryView,
    GetDelivery,
    ListDeliveries,
    Redeliver,
    SendTestEvent,
    WebhookTest,
    deliveries_request_decoder,
)
from bus.scopes import SCOPE_WEBHOOKS, permissions
from bus.time import now_ms, rfc3339
from bus.webhook_filters import PRIVATE_SCOPES, aggregate_of, readable
from storage.errors import StorageError
from storage.webhook_ports import Delivery, KeyReused, NewDelivery, WebhookStore

log = logging.getLogger(__name__)

QUEUE = "webhooks"
TEST_EVENT = "perkbus.webhook.test"
_json = msgspec.json.Encoder()


def delivery_view(d: Delivery) -> DeliveryView:
    return DeliveryView(
        d.id,
        d.endpoint_id,
        d.event_id,
        d.event_type,
        d.status,
        d.attempts,
        d.created_ms,
        d.next_attempt_ms if d.status == "pending" else 0,
        d.last_attempt_ms,
        d.last_status_code,
        d.last_error,
    )


class DeliveriesService:
    def __init__(
        self,
        nc: NatsClient,
        store: WebhookStore,
        targets: TargetDirectory,
        on_added: asyncio.Event,
    ) -> None:
        self._nc = nc
        self._store = store
        self._targets = targets
        self._on_added = on_added
        self._subs: list[Subscription] = []

    async def start(self) -> None:
        self._subs = [
            await self._nc.subscribe(subjects.all_webhooks(), queue=QUEUE, cb=self._on_request),
            await self._nc.subscribe(subjects.WEBHOOKS_HEALTH, cb=self._on_health),
        ]
        await barrier(self._nc)  # started means answering

    async def stop(self) -> None:
        for sub in self._subs:
            await sub.unsubscribe()
        self._subs = []

    async def _on_health(self, msg: Msg) -> None:
        if msg.reply:
            health = await store_health("webhooks", self._store.name, self._store.ping)
            await msg.respond(encoder.encode(health))

    async def _on_request(self, msg: Msg) -> None:
        try:
            tenant = subjects.parse_webhooks(msg.subject)
        except subjects.InvalidToken:
            return
        reply = await self.answer(tenant, msg.data)
        if msg.reply:
            await msg.respond(encoder.encode(reply))

    async def answer(self, tenant: str, data: bytes) -> DeliveriesReply:
        try:
            request = deliveries_request_decoder.decode(data)
        except msgspec.DecodeError as e:  # ValidationError is one
            return Err.of(ErrorCode.INVALID_REQUEST, f"not a deliveries request: {e}")
        if request.tenant != tenant:
            return Err.of(ErrorCode.FORBIDDEN, "the request is about another tenant")
        principal = request.principal
        if SCOPE_WEBHOOKS not in permissions(principal.roles, principal.scopes):
            return Err.of(ErrorCode.FORBIDDEN, f"webhooks need the permission {SCOPE_WEBHOOKS}")
        if principal.grants:
            why = "webhooks carry the whole tenant's events, not some budgets'"
            return Err.of(ErrorCode.FORBIDDEN, why)
        if request.deadline_ms < now_ms():
            return Err.of(ErrorCode.DEADLINE_EXCEEDED, "the request's deadline has passed")
        body = request.body
        try:
            match body:
                case ListDeliveries():
                    return await self._list(tenant, body, principal)
                case GetDelivery(delivery_id=delivery_id):
                    return await self._detail(tenant, delivery_id, principal)
                case Redeliver(delivery_id=delivery_id, key=key):
                    found = await self._store.delivery(tenant, delivery_id)
                    if found is not None and not _may_read(principal, found.event_type):
                        return _no_delivery()
                    keyed = _scoped(principal.subject, key)
                    found = await self._store.redeliver(tenant, delivery_id, now_ms(), keyed)
                    if found is None:
                        return _no_delivery()
                    self._on_added.set()
                    return Ok(delivery_view(found))
                case SendTestEvent(endpoint_id=endpoint_id, key=key):
                    return await self._test(tenant, endpoint_id, _scoped(principal.subject, key))
        except KeyReused:
            why = "the Idempotency-Key was already used to send another delivery again"
            return Err.of(ErrorCode.IDEMPOTENCY_KEY_REUSED, why)
        except (StorageError, TargetsUnavailable) as e:
            log.warning("webhook deliveries: %s", e)
            return Err.of(ErrorCode.UNAVAILABLE, "the webhook deliveries are unavailable")
        except Exception:
            log.exception("webhook deliveries: %s for %s", type(body).__name__, tenant)
            return Err.of(ErrorCode.INTERNAL, "the request failed")
        raise AssertionError("unreachable")  # pragma: no cover

    async def _list(
        self, tenant: str, body: ListDeliveries, principal: Principal
    ) -> DeliveriesReply:
        before = None
        if body.after is not None:
            # ASCII digits only: "²" is a digit to str.isdigit, and no number to int()
            if not (body.after.isascii() and body.after.isdigit()) or len(body.after) > 18:
                return Err.of(ErrorCode.INVALID_REQUEST, "cursor: not one this API gave")
            before = int(body.after)
        if body.endpoint_id is not None and not await self._endpoint_exists(
            tenant, body.endpoint_id
        ):
            return Err.of(ErrorCode.NOT_FOUND, "no webhook endpoint has that id")
        found = await self._store.deliveries(
            tenant, body.endpoint_id, body.status, body.limit + 1, before
        )
        page = found[: body.limit]
        cursor = str(page[-1].id) if len(found) > body.limit else None
        # deliveries of events the caller may not read are not there for them (as in the
        # events replay): a page may hold fewer than its limit
        shown = (delivery_view(d) for d in page if _may_read(principal, d.event_type))
        return Ok(DeliveryPage(tuple(shown), cursor))

    async def _endpoint_exists(self, tenant: str, endpoint_id: str) -> bool:
        """Whether the tenant has the endpoint (asked again if not known to be)."""
        for fresh in (False, True):
            if any(t.endpoint_id == endpoint_id for t in await self._targets.of(tenant, fresh)):
                return True
        return False

    async def _detail(self, tenant: str, delivery_id: int, principal: Principal) -> DeliveriesReply:
        found = await self._store.delivery(tenant, delivery_id)
        if found is None:
            return _no_delivery()
        if not _may_read(principal, found.event_type):
            return _no_delivery()  # an event of people, clients or funding: not theirs
        attempts = await self._store.attempts(tenant, delivery_id)
        views = tuple(
            AttemptView(a.n, a.at_ms, a.duration_ms, a.status_code, a.error, a.response)
            for a in attempts
        )
        return Ok(DeliveryDetail(delivery_view(found), views, found.payload))

    async def _test(self, tenant: str, endpoint_id: str, key: str | None) -> DeliveriesReply:
        target = next(
            (t for t in await self._targets.of(tenant, fresh=True) if t.endpoint_id == endpoint_id),
            None,
        )
        if target is None:
            return Err.of(ErrorCode.NOT_FOUND, "no webhook endpoint has that id")
        if not target.enabled:
            return Err.of(ErrorCode.INVALID_REQUEST, "the endpoint is disabled: enable it first")
        now = now_ms()
        # keyed: a retry makes the same event, which the store has already (one delivery)
        if key:  # the same key on another endpoint is another test event
            event_id = "test_" + hashlib.sha256(f"{key}\n{endpoint_id}".encode()).hexdigest()[:32]
        else:
            event_id = str(uuid.uuid4())
        data = WebhookTest(endpoint_id, "A test event from perkbus: the endpoint works.")
        event = CloudEvent(
            id=event_id,
            source=f"/perkbus/tenants/{tenant}",
            type=TEST_EVENT,
            subject=f"webhook/{endpoint_id}",
            time=rfc3339(now),
            tenant=tenant,
            data=msgspec.Raw(_json.encode(data)),
        )
        added = await self._store.add(
            NewDelivery(tenant, endpoint_id, event_id, TEST_EVENT, _json.encode(event), now, now, 0)
        )
        self._on_added.set()
        return Ok(delivery_view(added))


def _may_read(principal: Principal, event_type: str) -> bool:
    aggregate = aggregate_of(event_type)
    return aggregate not in PRIVATE_SCOPES or aggregate in readable(principal)


def _scoped(subject: str, key: str | None) -> str | None:
    """An Idempotency-Key as the relay keeps it: its caller's, hashed."""
    if key is None:
        return None
    return hashlib.sha256(f"{subject}\n{key}".encode()).hexdigest()


def _no_delivery() -> Err:
    return Err.of(ErrorCode.NOT_FOUND, "no webhook delivery has that id")
