"""The webhook deliveries port: what the webhook relay must send, has sent, and tried.

The relay (``perkbus webhooks``, ADR 37) reads ``PB_EVENTS`` and, for every event, adds a
*delivery* for each of the tenant's endpoints that wants it. The store remembers how far
the relay has read (the stream sequence of the last event fanned out, advanced in the same
transaction as the deliveries it made), so a relay killed at any point neither loses an
event nor makes its deliveries twice: a delivery is unique by ``(endpoint_id,
event_id)`` within its tenant (another tenant's endpoint of the same id is another
endpoint).

A delivery is ``pending`` until it is ``delivered`` (the endpoint answered 2xx),
``failed`` (no retries left) or ``cancelled`` (its endpoint was deleted or disabled).
:meth:`WebhookStore.claim` hands out pending deliveries that are due and moves their next
attempt a lease ahead, so a relay that dies while sending tries them again once the
lease has passed; :meth:`WebhookStore.record` then writes the attempt and the outcome.
Every read is scoped by tenant.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal, Protocol

import msgspec

DeliveryStatus = Literal["pending", "delivered", "failed", "cancelled"]
DELIVERY_STATUSES: tuple[DeliveryStatus, ...] = ("pending", "delivered", "failed", "cancelled")


class KeyReused(Exception):
    """A redelivery's idempotency key was given before, for another delivery."""


class NewDelivery(msgspec.Struct, frozen=True):
    """A delivery to make: ``payload`` (the event's JSON) to ``endpoint_id`` of ``tenant``."""

    tenant: str
    endpoint_id: str
    event_id: str
    event_type: str
    payload: bytes
    created_ms: int
    #: When the first attempt is due.
    next_attempt_ms: int
    #: Attempts allowed after a failed one (the relay's retry schedule).
    retries_left: int


class Delivery(msgspec.Struct, frozen=True):
    #: The store's id: increasing in the order deliveries were added.
    id: int
    tenant: str
    endpoint_id: str
    event_id: str
    event_type: str
    payload: bytes
    status: DeliveryStatus
    #: Attempts made so far.
    attempts: int
    retries_left: int
    created_ms: int
    #: When the next attempt is due (meaningful while pending).
    next_attempt_ms: int
    #: The last attempt's time (0: none yet), HTTP status (0: no answer) and error.
    last_attempt_ms: int = 0
    last_status_code: int = 0
    last_error: str = ""


class Attempt(msgspec.Struct, frozen=True):
    delivery_id: int
    #: 1 for the first attempt of the delivery, 2 for the next…
    n: int
    at_ms: int
    duration_ms: int
    #: The endpoint's HTTP status; 0 when it gave none (refused, timed out, not allowed).
    status_code: int
    #: Why the attempt failed ("" when it succeeded): at most 500 characters.
    error: str
    #: The start of the endpoint's answer: at most 1,000 characters.
    response: str


class WebhookStore(Protocol):
    """Webhook deliveries and their attempts (MySQL/MariaDB, or SQLite embedded)."""

    name: str

    async def migrate(self) -> None: ...

    async def ping(self) -> None: ...

    async def close(self) -> None: ...

    async def last_sequence(self) -> int:
        """The stream sequence of the last event fanned out (0: none yet)."""
        ...

    async def enqueue(self, deliveries: Sequence[NewDelivery], sequence: int) -> int:
        """In one transaction: add ``deliveries`` (one already there, by ``(endpoint_id,
        event_id)``, is left as it is) and move the sequence to ``sequence`` (never back).
        How many were added."""
        ...

    async def add(self, delivery: NewDelivery) -> Delivery:
        """Add one delivery outside the stream (a test event); if one with its
        ``(endpoint_id, event_id)`` exists already, that one, unchanged."""
        ...

    async def claim(
        self, now_ms: int, limit: int, lease_ms: int, exclude_endpoints: Sequence[str] = ()
    ) -> list[Delivery]:
        """Up to ``limit`` pending deliveries due by ``now_ms`` (the earliest due first;
        of those due at once, the first added first), none of ``exclude_endpoints``
        (those the relay has enough of in hand already), each with its next attempt
        moved to ``now_ms + lease_ms`` (as returned)."""
        ...

    async def record(
        self,
        attempt: Attempt,
        status: DeliveryStatus,
        next_attempt_ms: int,
        retries_left: int,
    ) -> None:
        """Append ``attempt`` to its delivery and set the delivery's status, attempts
        (``attempt.n``), next attempt, retries left and last attempt's time, status code
        and error — unless it was cancelled meanwhile, which it stays (the attempt is
        appended, and the rest set, all the same). A delivery that is gone (pruned)
        keeps nothing."""
        ...

    async def cancel_endpoint(self, tenant: str, endpoint_id: str) -> int:
        """Cancel the endpoint's pending deliveries; how many."""
        ...

    async def delivered_since(self, tenant: str, endpoint_id: str, since_ms: int) -> bool:
        """Whether a delivery of the endpoint was delivered by an attempt made at or after
        ``since_ms`` (the relay disables endpoints that have delivered nothing for the
        whole retry schedule)."""
        ...

    async def deliveries(
        self,
        tenant: str,
        endpoint_id: str | None,
        status: DeliveryStatus | None,
        limit: int,
        before: int | None,
    ) -> list[Delivery]:
        """The tenant's deliveries, newest (highest id) first, with id below ``before``
        when given, of one endpoint and one status when given."""
        ...

    async def delivery(self, tenant: str, delivery_id: int) -> Delivery | None: ...

    async def attempts(self, tenant: str, delivery_id: int) -> list[Attempt]:
        """The delivery's attempts, first first (none for another tenant's delivery)."""
        ...

    async def redeliver(
        self, tenant: str, delivery_id: int, now_ms: int, key: str | None = None
    ) -> Delivery | None:
        """Make the delivery pending again, due at ``now_ms``, whatever its status: one
        more attempt (a pending one keeps the retries it had); None if the tenant has no
        such delivery.
        With an idempotency ``key`` (the tenant's), once: a second call with the key
        changes nothing and returns the delivery as it is; the key given before for
        another delivery raises :class:`KeyReused`."""
        ...

    async def prune(self, before_ms: int) -> int:
        """Delete deliveries no longer pending that were created before ``before_ms``,
        with their attempts, and redelivery keys given before then; how many
        deliveries."""
        ...
