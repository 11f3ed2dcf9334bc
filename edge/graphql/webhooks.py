"""GraphQL for a tenant's webhook endpoints and their deliveries (operations shared with
REST, in :mod:`edge.webhook_operations`; scope ``webhooks:admin``, the whole tenant).

An endpoint's ``secret`` is shown once, in the answer that creates or rotates it. A
delivery's id is a ``Long`` (REST's integer), and the event it carried is the ``JSON``
scalar, as delivered.
"""

from __future__ import annotations

import json
from typing import Annotated

import msgspec
import strawberry
from strawberry.scalars import JSON

from bus.errors import ErrorCode
from bus.messages import Err
from edge import webhook_operations as ops
from edge.graphql.common import (
    AnyError,
    GqlInfo,
    Long,
    act,
    caller,
    error,
    invalid,
    mutate,
    page_query,
)
from edge.operations import Caller
from edge.validation import Invalid, convert


@strawberry.type
class Webhook:
    id: strawberry.ID
    url: str
    description: str
    event_types: list[str] = strawberry.field(
        description="The event types (or perkbus.<aggregate>.*) it gets; empty: every type."
    )
    enabled: bool
    created_at: str
    updated_at: str
    private_aggregates: list[str] = strawberry.field(
        description="Aggregates of events only some may read that it gets (people, identity)."
    )
    secret: str | None = strawberry.field(
        description="Only when created or rotated: shown this once."
    )
    old_secret_expires_at: str | None = strawberry.field(
        description="During a rotation, when the old secret stops signing."
    )
    disabled_reason: str | None = strawberry.field(
        description=(
            "failing when perkbus disabled it (a delivery failed for the whole retry "
            "schedule with nothing delivered meanwhile); null otherwise."
        )
    )
    disabled_at: str | None = strawberry.field(description="When perkbus disabled it.")


@strawberry.type
class Webhooks:
    webhooks: list[Webhook]


@strawberry.type
class WebhookDelivery:
    id: Long
    webhook_id: strawberry.ID
    event_id: str
    event_type: str
    status: str = strawberry.field(
        description="pending, delivered, failed (no retries left) or cancelled."
    )
    attempts: int
    created_at: str
    next_attempt_at: str | None
    last_attempt_at: str | None
    last_status_code: int | None = strawberry.field(
        description="The endpoint's last HTTP status (null: it gave none)."
    )
    last_error: str


@strawberry.type
class WebhookDeliveryList:
    deliveries: list[WebhookDelivery]
    #: Pass as ``after`` for the next (older) page; null on the last page.
    next_cursor: str | None


@strawberry.type
class WebhookAttempt:
    n: int
    at: str
    duration_ms: int
    status_code: int | None
    error: str
    response: str = strawberry.field(
        description="The start of the endpoint's answer (1,000 characters at most)."
    )


@strawberry.type
class WebhookDeliveryDetail:
    delivery: WebhookDelivery
    attempts: list[WebhookAttempt]
    event: JSON = strawberry.field(description="The event as delivered.")


WebhookResult = Annotated[Webhook | AnyError, strawberry.union("WebhookResult")]
WebhooksResult = Annotated[Webhooks | AnyError, strawberry.union("WebhooksResult")]
WebhookDeliveryResult = Annotated[
    WebhookDelivery | AnyError, strawberry.union("WebhookDeliveryResult")
]
WebhookDeliveryListResult = Annotated[
    WebhookDeliveryList | AnyError, strawberry.union("WebhookDeliveryListResult")
]
WebhookDeliveryDetailResult = Annotated[
    WebhookDeliveryDetail | AnyError, strawberry.union("WebhookDeliveryDetailResult")
]


@strawberry.input
class CreateWebhookInput:
    url: str
    event_types: list[str] = strawberry.field(
        default_factory=list, description="None: every event the caller may read."
    )
    description: str = ""
    enabled: bool = True


@strawberry.input
class UpdateWebhookInput:
    """What to change; what is left out (or null) stays."""

    url: str | None = None
    event_types: list[str] | None = None
    description: str | None = None
    enabled: bool | None = None


def webhook(out: ops.WebhookOut) -> Webhook:
    return Webhook(
        id=strawberry.ID(out.id),
        url=out.url,
        description=out.description,
        event_types=out.event_types,
        enabled=out.enabled,
        created_at=out.created_at,
        updated_at=out.updated_at,
        private_aggregates=out.private_aggregates,
        secret=out.secret,
        old_secret_expires_at=out.old_secret_expires_at,
        disabled_reason=out.disabled_reason,
        disabled_at=out.disabled_at,
    )


def delivery(out: ops.DeliveryOut) -> WebhookDelivery:
    return WebhookDelivery(
        id=Long(out.id),
        webhook_id=strawberry.ID(out.webhook_id),
        event_id=out.event_id,
        event_type=out.event_type,
        status=out.status,
        attempts=out.attempts,
        created_at=out.created_at,
        next_attempt_at=out.next_attempt_at,
        last_attempt_at=out.last_attempt_at,
        last_status_code=out.last_status_code,
        last_error=out.last_error,
    )


def detail(out: ops.DeliveryDetailOut) -> WebhookDeliveryDetail:
    attempts = [
        WebhookAttempt(
            n=a.n,
            at=a.at,
            duration_ms=a.duration_ms,
            status_code=a.status_code,
            error=a.error,
            response=a.response,
        )
        for a in out.attempts
    ]
    event = json.loads(bytes(out.event))
    return WebhookDeliveryDetail(delivery=delivery(out.delivery), attempts=attempts, event=event)


def _delivery_id(value: Long) -> int | None:
    """An id that cannot be a delivery's is simply not found, as in REST's path."""
    try:
        checked: int = msgspec.convert(value, ops.DeliveryId)
    except msgspec.ValidationError:
        return None
    return checked


def _no_delivery() -> Err:
    return Err.of(ErrorCode.NOT_FOUND, "no webhook delivery has that id")


async def list_webhooks(info: GqlInfo) -> WebhooksResult:
    result = await ops.list_webhooks(caller(info))
    if isinstance(result, Err):
        return error(result)
    return Webhooks(webhooks=[webhook(w) for w in result.webhooks])


async def get_webhook(info: GqlInfo, id: strawberry.ID) -> WebhookResult:
    result = await ops.get_webhook(caller(info), str(id))
    return error(result) if isinstance(result, Err) else webhook(result)


async def list_deliveries(
    info: GqlInfo,
    webhook_id: strawberry.ID,
    status: str | None = None,
    first: int = 20,
    after: str | None = None,
) -> WebhookDeliveryListResult:
    try:
        query = convert({**page_query(first, after), "status": status}, ops.DeliveriesQuery)
    except Invalid as e:
        return invalid(e, "webhookDeliveries")
    result = await ops.list_deliveries(caller(info), str(webhook_id), query)
    if isinstance(result, Err):
        return error(result)
    return WebhookDeliveryList(
        deliveries=[delivery(d) for d in result.deliveries], next_cursor=result.next_cursor
    )


async def get_delivery(
    info: GqlInfo, webhook_id: strawberry.ID, delivery_id: Long
) -> WebhookDeliveryDetailResult:
    if (checked := _delivery_id(delivery_id)) is None:
        return error(_no_delivery())
    result = await ops.get_delivery(caller(info), str(webhook_id), checked)
    return error(result) if isinstance(result, Err) else detail(result)


async def create_webhook(
    info: GqlInfo, input: CreateWebhookInput, idempotency_key: str | None = None
) -> WebhookResult:
    result: WebhookResult = await mutate(
        info, idempotency_key, input, ops.WebhookIn, ops.create_webhook, webhook
    )
    return result


async def update_webhook(
    info: GqlInfo, id: strawberry.ID, input: UpdateWebhookInput, idempotency_key: str | None = None
) -> WebhookResult:
    async def operation(who: Caller, data: ops.WebhookPatchIn) -> ops.WebhookOut | Err:
        return await ops.update_webhook(who, str(id), data)

    result: WebhookResult = await mutate(
        info, idempotency_key, input, ops.WebhookPatchIn, operation, webhook
    )
    return result


async def delete_webhook(
    info: GqlInfo, id: strawberry.ID, idempotency_key: str | None = None
) -> WebhookResult:
    async def operation(who: Caller) -> ops.WebhookOut | Err:
        return await ops.delete_webhook(who, str(id))

    result: WebhookResult = await act(info, idempotency_key, operation, webhook)
    return result


async def rotate_secret(
    info: GqlInfo,
    id: strawberry.ID,
    keep_old_s: int = 86_400,
    idempotency_key: str | None = None,
) -> WebhookResult:
    async def operation(who: Caller, data: ops.RotateSecretIn) -> ops.WebhookOut | Err:
        return await ops.rotate_webhook_secret(who, str(id), data)

    raw = {"keep_old_s": keep_old_s}
    result: WebhookResult = await mutate(
        info, idempotency_key, raw, ops.RotateSecretIn, operation, webhook
    )
    return result


async def send_test(
    info: GqlInfo, id: strawberry.ID, idempotency_key: str | None = None
) -> WebhookDeliveryResult:
    async def operation(who: Caller) -> ops.DeliveryOut | Err:
        return await ops.send_test_event(who, str(id))

    result: WebhookDeliveryResult = await act(info, idempotency_key, operation, delivery)
    return result


async def redeliver(
    info: GqlInfo,
    webhook_id: strawberry.ID,
    delivery_id: Long,
    idempotency_key: str | None = None,
) -> WebhookDeliveryResult:
    checked = _delivery_id(delivery_id)

    async def operation(who: Caller) -> ops.DeliveryOut | Err:
        if checked is None:
            return _no_delivery()
        return await ops.redeliver(who, str(webhook_id), checked)

    result: WebhookDeliveryResult = await act(info, idempotency_key, operation, delivery)
    return result
