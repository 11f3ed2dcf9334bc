"""Webhook endpoints and their deliveries, once for REST and GraphQL (ADR 37).

Endpoints are the tenant's webhooks actor's (``pb.rpc.<tenant>.webhooks``); deliveries
are the webhook relay's (``pb.whk.<tenant>``). Both need ``webhooks:admin`` and the whole
tenant (a webhook carries every event of it), checked here and again where the data is.
"""

from __future__ import annotations

from typing import Annotated

import msgspec

from bus.errors import BusError, ErrorCode
from bus.messages import Err, Ok
from bus.messages.common import Cursor, PageSize
from bus.messages.webhooks import (
    KIND,
    CreateEndpoint,
    DeleteEndpoint,
    DeliveriesCommand,
    DeliveriesValue,
    DeliveryDetail,
    DeliveryPage,
    DeliveryView,
    Description,
    EndpointId,
    EndpointList,
    EndpointView,
    EventFilters,
    GetDelivery,
    GetEndpoint,
    KeepOldSecret,
    ListDeliveries,
    ListEndpoints,
    Redeliver,
    RotateEndpointSecret,
    SendTestEvent,
    UpdateEndpoint,
    WebhookUrl,
)
from bus.messages.webhooks import DeliveryStatus as Status
from bus.scopes import SCOPE_WEBHOOKS
from bus.time import rfc3339
from edge.operations import Caller, call, whole_tenant_only

DeliveryId = Annotated[int, msgspec.Meta(ge=1, le=2**62)]


class WebhookIn(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """A new endpoint. No ``event_types``: every event the caller may read."""

    url: WebhookUrl
    event_types: EventFilters = ()
    description: Description = ""
    enabled: bool = True


class WebhookPatchIn(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """What to change; what is left out stays."""

    url: WebhookUrl | None = None
    event_types: EventFilters | None = None
    description: Description | None = None
    enabled: bool | None = None


class RotateSecretIn(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    #: How long the old secret goes on signing beside the new one (0: stops at once).
    keep_old_s: KeepOldSecret = 86_400


class WebhookOut(msgspec.Struct, frozen=True):
    id: str
    url: str
    description: str
    #: The event types (or ``perkbus.<aggregate>.*``) it gets; empty: every type.
    event_types: list[str]
    enabled: bool
    created_at: str
    updated_at: str
    #: Aggregates of events only some may read that it gets (``people``, ``identity``).
    private_aggregates: list[str]
    #: Only when created or rotated: shown this once.
    secret: str | None
    #: During a rotation, when the old secret stops signing.
    old_secret_expires_at: str | None
    #: ``failing`` when perkbus disabled it (a delivery failed for the whole retry
    #: schedule with nothing delivered meanwhile); null otherwise. Enabling it clears it.
    disabled_reason: str | None = None
    disabled_at: str | None = None


class WebhookListOut(msgspec.Struct, frozen=True):
    webhooks: list[WebhookOut]


class DeliveriesQuery(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    status: Status | None = None
    limit: PageSize = 20
    cursor: Cursor | None = None


class DeliveryOut(msgspec.Struct, frozen=True):
    id: int
    webhook_id: str
    event_id: str
    event_type: str
    #: pending, delivered, failed (no retries left) or cancelled (endpoint gone or off).
    status: str
    attempts: int
    created_at: str
    next_attempt_at: str | None
    last_attempt_at: str | None
    #: The endpoint's last HTTP status (null: it gave none).
    last_status_code: int | None
    last_error: str


class DeliveryPageOut(msgspec.Struct, frozen=True):
    deliveries: list[DeliveryOut]
    next_cursor: str | None


class AttemptOut(msgspec.Struct, frozen=True):
    n: int
    at: str
    duration_ms: int
    status_code: int | None
    error: str
    #: The start of the endpoint's answer (1,000 characters at most).
    response: str


class DeliveryDetailOut(msgspec.Struct, frozen=True):
    delivery: DeliveryOut
    attempts: list[AttemptOut]
    #: The event as delivered.
    event: msgspec.Raw


def _time(ms: int) -> str | None:
    return rfc3339(ms) if ms else None


def webhook_out(v: EndpointView) -> WebhookOut:
    return WebhookOut(
        v.endpoint_id,
        v.url,
        v.description,
        list(v.event_types),
        v.enabled,
        rfc3339(v.created_ms),
        rfc3339(v.updated_ms),
        list(v.private_aggregates),
        v.secret or None,
        _time(v.old_secret_expires_ms),
        v.disabled_reason or None,
        _time(v.disabled_ms),
    )


def delivery_out(v: DeliveryView) -> DeliveryOut:
    return DeliveryOut(
        v.delivery_id,
        v.endpoint_id,
        v.event_id,
        v.event_type,
        v.status,
        v.attempts,
        rfc3339(v.created_ms),
        _time(v.next_attempt_ms),
        _time(v.last_attempt_ms),
        v.last_status_code or None,
        v.last_error,
    )


def _whole_tenant(caller: Caller) -> Err | None:
    why = "webhooks carry the whole tenant's events, not some budgets'"
    return whole_tenant_only(caller, SCOPE_WEBHOOKS, why)


def _endpoint_id(value: str) -> str | None:
    try:
        checked: str = msgspec.convert(value, EndpointId)
    except msgspec.ValidationError:
        return None
    return checked


def _no_endpoint() -> Err:
    return Err.of(ErrorCode.NOT_FOUND, "no webhook endpoint has that id")


async def _endpoint_call(
    caller: Caller,
    command: CreateEndpoint | UpdateEndpoint | DeleteEndpoint | GetEndpoint | RotateEndpointSecret,
    keyed: bool,
) -> WebhookOut | Err:
    if denied := _whole_tenant(caller):
        return denied
    value = await call(caller, KIND, command, keyed=keyed)
    if isinstance(value, Err):
        return value
    if not isinstance(value, EndpointView):
        return Err.of(ErrorCode.INTERNAL, f"unexpected reply {type(value).__name__}")
    return webhook_out(value)


async def create_webhook(caller: Caller, data: WebhookIn) -> WebhookOut | Err:
    command = CreateEndpoint(data.url, data.event_types, data.description, data.enabled)
    return await _endpoint_call(caller, command, keyed=True)


async def list_webhooks(caller: Caller) -> WebhookListOut | Err:
    if denied := _whole_tenant(caller):
        return denied
    value = await call(caller, KIND, ListEndpoints(), keyed=False)
    if isinstance(value, Err):
        return value
    if not isinstance(value, EndpointList):
        return Err.of(ErrorCode.INTERNAL, f"unexpected reply {type(value).__name__}")
    return WebhookListOut([webhook_out(e) for e in value.endpoints])


async def get_webhook(caller: Caller, endpoint_id: str) -> WebhookOut | Err:
    if (checked := _endpoint_id(endpoint_id)) is None:
        return _whole_tenant(caller) or _no_endpoint()
    return await _endpoint_call(caller, GetEndpoint(checked), keyed=False)


async def update_webhook(
    caller: Caller, endpoint_id: str, data: WebhookPatchIn
) -> WebhookOut | Err:
    if (checked := _endpoint_id(endpoint_id)) is None:
        return _whole_tenant(caller) or _no_endpoint()
    command = UpdateEndpoint(checked, data.url, data.event_types, data.description, data.enabled)
    return await _endpoint_call(caller, command, keyed=True)


async def delete_webhook(caller: Caller, endpoint_id: str) -> WebhookOut | Err:
    if (checked := _endpoint_id(endpoint_id)) is None:
        return _whole_tenant(caller) or _no_endpoint()
    return await _endpoint_call(caller, DeleteEndpoint(checked), keyed=True)


async def rotate_webhook_secret(
    caller: Caller, endpoint_id: str, data: RotateSecretIn
) -> WebhookOut | Err:
    if (checked := _endpoint_id(endpoint_id)) is None:
        return _whole_tenant(caller) or _no_endpoint()
    return await _endpoint_call(caller, RotateEndpointSecret(checked, data.keep_old_s), True)


async def _ask_relay(caller: Caller, body: DeliveriesCommand) -> DeliveriesValue | Err:
    if denied := _whole_tenant(caller):
        return denied
    identity = caller.identity
    try:
        reply = await caller.bus.webhook_deliveries(
            identity.tenant, body, identity.principal, timeout_s=caller.timeout_s
        )
    except BusError as e:
        return Err(code=e.code, message=str(e), retryable=True)
    return reply.value if isinstance(reply, Ok) else reply


def _delivery_answer(value: DeliveriesValue | Err) -> DeliveryOut | Err:
    if isinstance(value, Err):
        return value
    if not isinstance(value, DeliveryView):
        return Err.of(ErrorCode.INTERNAL, f"unexpected reply {type(value).__name__}")
    return delivery_out(value)


async def list_deliveries(
    caller: Caller, endpoint_id: str, query: DeliveriesQuery
) -> DeliveryPageOut | Err:
    if (checked := _endpoint_id(endpoint_id)) is None:
        return _whole_tenant(caller) or _no_endpoint()
    value = await _ask_relay(
        caller, ListDeliveries(checked, query.status, query.limit, query.cursor)
    )
    if isinstance(value, Err):
        return value
    if not isinstance(value, DeliveryPage):
        return Err.of(ErrorCode.INTERNAL, f"unexpected reply {type(value).__name__}")
    return DeliveryPageOut([delivery_out(d) for d in value.deliveries], value.next_cursor)


async def get_delivery(
    caller: Caller, endpoint_id: str, delivery_id: int
) -> DeliveryDetailOut | Err:
    value = await _ask_relay(caller, GetDelivery(delivery_id))
    if isinstance(value, Err):
        return value
    if not isinstance(value, DeliveryDetail):
        return Err.of(ErrorCode.INTERNAL, f"unexpected reply {type(value).__name__}")
    if value.delivery.endpoint_id != endpoint_id:  # another endpoint's: not under this one
        return Err.of(ErrorCode.NOT_FOUND, "no webhook delivery has that id")
    attempts = [
        AttemptOut(a.n, rfc3339(a.at_ms), a.duration_ms, a.status_code or None, a.error, a.response)
        for a in value.attempts
    ]
    return DeliveryDetailOut(delivery_out(value.delivery), attempts, msgspec.Raw(value.payload))


async def redeliver(caller: Caller, endpoint_id: str, delivery_id: int) -> DeliveryOut | Err:
    """Once more, now; the delivery must be the endpoint's."""
    detail = await get_delivery(caller, endpoint_id, delivery_id)
    if isinstance(detail, Err):
        return detail
    return _delivery_answer(
        await _ask_relay(caller, Redeliver(delivery_id, caller.idempotency_key))
    )


async def send_test_event(caller: Caller, endpoint_id: str) -> DeliveryOut | Err:
    if (checked := _endpoint_id(endpoint_id)) is None:
        return _whole_tenant(caller) or _no_endpoint()
    command = SendTestEvent(checked, caller.idempotency_key)
    return _delivery_answer(await _ask_relay(caller, command))
