"""Webhooks: a tenant's endpoints, and the deliveries of its events to them (ADR 37).

One webhooks actor per tenant (key ``all``) keeps its endpoints: where events go, which
events, and the secret each delivery is signed with (Standard Webhooks: HMAC-SHA256 of
``<id>.<timestamp>.<body>``). A secret is shown once, in the reply that creates or
rotates it; after a rotation the old one still signs, beside the new, for a while.

The deliveries are the webhook relay's (``perkbus webhooks``), which answers the
requests about them on ``pb.whk.<tenant>`` (not ``pb.rpc``: no actor holds them).
"""

from __future__ import annotations

from typing import Annotated, Literal

import msgspec

from bus.messages.common import (
    TENANT_WIDE,
    Cursor,
    Envelope,
    Err,
    Ok,
    PageSize,
    whole,
)

KIND = "webhooks"
#: How many endpoints one tenant may have.
MAX_ENDPOINTS = 20

ENDPOINT_ID_PATTERN = whole("ep_[0-9a-f]{32}")
EndpointId = Annotated[str, msgspec.Meta(pattern=ENDPOINT_ID_PATTERN)]
#: Where deliveries go: an absolute http(s) URL with no user name, password or fragment
#: (https only, unless the installation allows private targets: ADR 37).
WEBHOOK_URL_PATTERN = whole(
    "https?://([A-Za-z0-9](?:[A-Za-z0-9.-]{0,251}[A-Za-z0-9])?|\\[[0-9A-Fa-f:.]{2,45}\\])"
    "(:[0-9]{1,5})?(/[^\\s#\"'<>\\\\]{0,1900})?"
)
WebhookUrl = Annotated[
    str, msgspec.Meta(pattern=WEBHOOK_URL_PATTERN, max_length=2000, description="https URL")
]
#: An event type (``perkbus.order.fulfilled``), or every type of an aggregate
#: (``perkbus.order.*``).
EventFilter = Annotated[
    str, msgspec.Meta(pattern=whole("perkbus\\.[a-z_]{1,32}\\.([a-z_]{1,64}|\\*)"))
]
EventFilters = Annotated[tuple[EventFilter, ...], msgspec.Meta(max_length=50)]
Description = Annotated[str, msgspec.Meta(max_length=200, pattern=whole("[^\\x00-\\x1f\\x7f]*"))]
#: After a rotation, how long the old secret goes on signing beside the new one.
KeepOldSecret = Annotated[int, msgspec.Meta(ge=0, le=7 * 86_400)]


class CreateEndpoint(msgspec.Struct, frozen=True, tag="webhooks.endpoint.create"):
    """A new endpoint; no ``event_types``: every event the creator may read."""

    url: WebhookUrl
    event_types: EventFilters = ()
    description: Description = ""
    enabled: bool = True

    @property
    def actor_key(self) -> str:
        return TENANT_WIDE


class UpdateEndpoint(msgspec.Struct, frozen=True, tag="webhooks.endpoint.update"):
    """Change what is given; what is None stays."""

    endpoint_id: EndpointId
    url: WebhookUrl | None = None
    event_types: EventFilters | None = None
    description: Description | None = None
    enabled: bool | None = None

    @property
    def actor_key(self) -> str:
        return TENANT_WIDE


class DeleteEndpoint(msgspec.Struct, frozen=True, tag="webhooks.endpoint.delete"):
    endpoint_id: EndpointId

    @property
    def actor_key(self) -> str:
        return TENANT_WIDE


class GetEndpoint(msgspec.Struct, frozen=True, tag="webhooks.endpoint.get"):
    endpoint_id: EndpointId

    @property
    def actor_key(self) -> str:
        return TENANT_WIDE


class ListEndpoints(msgspec.Struct, frozen=True, tag="webhooks.endpoint.list"):
    @property
    def actor_key(self) -> str:
        return TENANT_WIDE


class RotateEndpointSecret(msgspec.Struct, frozen=True, tag="webhooks.endpoint.rotate"):
    """A new secret; the old one signs beside it for ``keep_old_s`` (0: stops at once)."""

    endpoint_id: EndpointId
    keep_old_s: KeepOldSecret = 86_400

    @property
    def actor_key(self) -> str:
        return TENANT_WIDE


class DisableFailing(msgspec.Struct, frozen=True, tag="webhooks.endpoint.disable_failing"):
    """The relay's: an endpoint has delivered nothing since ``failing_since_ms`` and a
    delivery made then has run out of retries: disable it, unless someone changed the
    endpoint since (a new URL deserves its own chance). The system's only."""

    endpoint_id: str
    failing_since_ms: int

    @property
    def actor_key(self) -> str:
        return TENANT_WIDE


class GetDeliveryTargets(msgspec.Struct, frozen=True, tag="webhooks.targets.get"):
    """The tenant's endpoints with their secrets, for the relay (the platform's service
    principal only)."""

    @property
    def actor_key(self) -> str:
        return TENANT_WIDE


WebhooksCommand = (
    CreateEndpoint
    | UpdateEndpoint
    | DeleteEndpoint
    | GetEndpoint
    | ListEndpoints
    | RotateEndpointSecret
    | DisableFailing
    | GetDeliveryTargets
)


class EndpointView(msgspec.Struct, frozen=True, tag="webhooks.endpoint"):
    endpoint_id: str
    url: str
    description: str
    #: What the endpoint asked for (none: every type).
    event_types: tuple[str, ...]
    enabled: bool
    created_ms: int
    updated_ms: int
    #: Aggregates whose events only some may read (people, API clients): the endpoint
    #: gets them only if whoever last set its event types could read them.
    private_aggregates: tuple[str, ...] = ()
    #: Only in the reply that creates the endpoint or rotates its secret.
    secret: str = ""
    #: When the previous secret stops signing (0: there is none).
    old_secret_expires_ms: int = 0
    #: Why it is disabled, when perkbus disabled it: "failing" (deliveries failed for the
    #: whole retry schedule and nothing was delivered meanwhile); "" otherwise.
    disabled_reason: str = ""
    disabled_ms: int = 0

    @property
    def final(self) -> bool:
        """A reply carrying a secret is not kept for replays (it would keep the secret)."""
        return not self.secret


class EndpointList(msgspec.Struct, frozen=True, tag="webhooks.endpoints"):
    endpoints: tuple[EndpointView, ...]


class DeliveryTarget(msgspec.Struct, frozen=True):
    endpoint_id: str
    url: str
    event_types: tuple[str, ...]
    private_aggregates: tuple[str, ...]
    enabled: bool
    created_ms: int
    #: The secrets that sign: the current one first.
    secrets: tuple[str, ...]


class DeliveryTargets(msgspec.Struct, frozen=True, tag="webhooks.targets"):
    targets: tuple[DeliveryTarget, ...]


# --- deliveries: answered by the relay on pb.whk.<tenant> ------------------------------

DeliveryStatus = Literal["pending", "delivered", "failed", "cancelled"]


class ListDeliveries(msgspec.Struct, frozen=True, tag="webhooks.delivery.list"):
    """The tenant's deliveries, newest first."""

    endpoint_id: EndpointId | None = None
    status: DeliveryStatus | None = None
    limit: PageSize = 20
    after: Cursor | None = None


class GetDelivery(msgspec.Struct, frozen=True, tag="webhooks.delivery.get"):
    delivery_id: Annotated[int, msgspec.Meta(ge=1)]


class Redeliver(msgspec.Struct, frozen=True, tag="webhooks.delivery.redeliver"):
    """Send the delivery again, now (whatever its status); with ``key``, once."""

    delivery_id: Annotated[int, msgspec.Meta(ge=1)]
    key: str | None = None


class SendTestEvent(msgspec.Struct, frozen=True, tag="webhooks.delivery.test"):
    """A ``perkbus.webhook.test`` event to one endpoint, delivered like any other; with
    ``key``, once."""

    endpoint_id: EndpointId
    key: str | None = None


DeliveriesCommand = ListDeliveries | GetDelivery | Redeliver | SendTestEvent


class DeliveryView(msgspec.Struct, frozen=True, tag="webhooks.delivery"):
    delivery_id: int
    endpoint_id: str
    event_id: str
    event_type: str
    status: str
    attempts: int
    created_ms: int
    #: When the next attempt is due (0: none is).
    next_attempt_ms: int
    last_attempt_ms: int
    last_status_code: int
    last_error: str


class AttemptView(msgspec.Struct, frozen=True):
    n: int
    at_ms: int
    duration_ms: int
    status_code: int
    error: str
    response: str


class DeliveryPage(msgspec.Struct, frozen=True, tag="webhooks.delivery_page"):
    deliveries: tuple[DeliveryView, ...]
    next_cursor: str | None


class DeliveryDetail(msgspec.Struct, frozen=True, tag="webhooks.delivery_detail"):
    delivery: DeliveryView
    attempts: tuple[AttemptView, ...]
    #: The event as delivered (its JSON).
    payload: bytes


DeliveriesValue = DeliveryView | DeliveryPage | DeliveryDetail
DeliveriesReply = Ok[DeliveriesValue] | Err
DeliveriesRequest = Envelope[DeliveriesCommand]

deliveries_request_decoder: msgspec.msgpack.Decoder[DeliveriesRequest] = msgspec.msgpack.Decoder(
    DeliveriesRequest
)
deliveries_reply_decoder: msgspec.msgpack.Decoder[DeliveriesReply] = msgspec.msgpack.Decoder(
    DeliveriesReply
)


class WebhookTest(msgspec.Struct, frozen=True):
    """The data of ``perkbus.webhook.test``: sent to one endpoint when asked (never on
    the event stream), to try the receiver and its signature check."""

    endpoint_id: str
    message: str
