"""Domain events: CloudEvents 1.0 in JSON, published to JetStream exactly once per id.

Actors build an :class:`OutboxEvent` together with the state change it describes; the
storage adapter writes both in one transaction (the outbox). After the commit the
:class:`EventPublisher` sends the event with a ``Nats-Msg-Id`` header equal to the event
id, so a re-publish after a crash is dropped by JetStream's de-duplication window.
"""

from __future__ import annotations

import asyncio
import functools
import time
import uuid
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

import msgspec
from nats.js import JetStreamContext
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy, StorageType, StreamConfig
from nats.js.errors import NotFoundError

from bus import subjects

_json = msgspec.json.Encoder()


class CloudEvent(msgspec.Struct, frozen=True):
    """The public JSON form of an event (CloudEvents 1.0, structured mode)."""

    id: str
    source: str
    type: str
    subject: str
    time: str
    tenant: str
    data: msgspec.Raw
    specversion: str = "1.0"
    datacontenttype: str = "application/json"


class OutboxEvent(msgspec.Struct, frozen=True):
    """An event as stored in the outbox and sent on the bus."""

    event_id: str
    tenant: str
    subject: str
    payload: bytes
    created_ms: int


@functools.cache
def _event_types() -> dict[str, type]:
    from bus.event_types import EVENT_TYPES  # imports this module: looked up on first use

    return dict(EVENT_TYPES)


def make_event(tenant: str, aggregate: str, name: str, entity_id: str, data: Any) -> OutboxEvent:
    """A CloudEvent of a public type (``bus.event_types``, which serves its JSON Schema);
    an unregistered type or a ``data`` of another shape is a programming error."""
    event_type = f"perkbus.{aggregate}.{name}"
    if _event_types().get(event_type) is not type(data):
        raise TypeError(f"{event_type} with {type(data).__name__} data is not a public event")
    event_id = str(uuid.uuid4())
    now_ms = time.time_ns() // 1_000_000
    cloud = CloudEvent(
        id=event_id,
        source=f"/perkbus/tenants/{tenant}",
        type=event_type,
        subject=f"{aggregate}/{entity_id}",
        time=datetime.fromtimestamp(now_ms / 1000, UTC).isoformat(timespec="milliseconds"),
        tenant=tenant,
        data=msgspec.Raw(_json.encode(data)),
    )
    return OutboxEvent(
        event_id=event_id,
        tenant=tenant,
        subject=subjects.event(tenant, aggregate, name),
        payload=_json.encode(cloud),
        created_ms=now_ms,
    )


async def ensure_streams(js: JetStreamContext, duplicate_window_s: int, replicas: int = 1) -> None:
    """Create (or update) the PB_EVENTS stream: file storage, de-duplication window."""
    config = StreamConfig(
        name=subjects.EVENTS_STREAM,
        subjects=[subjects.all_events()],
        storage=StorageType.FILE,
        duplicate_window=float(duplicate_window_s),
        num_replicas=replicas,
    )
    try:
        await js.stream_info(subjects.EVENTS_STREAM)
    except NotFoundError:
        await js.add_stream(config)
    else:
        await js.update_stream(config)


class EventPublisher:
    """Publishes outbox events and waits for every JetStream ack."""

    def __init__(self, js: JetStreamContext, ack_timeout_s: float = 5.0) -> None:
        self._js = js
        self._timeout = ack_timeout_s

    async def publish(self, events: Sequence[OutboxEvent]) -> None:
        """Raises if any event was not stored; publishing the same ids again is harmless."""
        acks = [
            self._js.publish(
                e.subject,
                e.payload,
                timeout=self._timeout,
                headers={"Nats-Msg-Id": e.event_id, "Content-Type": "application/json"},
            )
            for e in events
        ]
        await asyncio.gather(*acks)


class StoredEvent(msgspec.Struct, frozen=True):
    """An event as read back from the stream: its stream sequence and its JSON."""

    sequence: int
    payload: msgspec.Raw


async def read_events(
    js: JetStreamContext, tenant: str, after: int, limit: int, wait_s: float = 0.3
) -> list[StoredEvent]:
    """Up to ``limit`` events of ``tenant`` with stream sequence above ``after``, in order:
    replay from any point. Sequences are the stream's, so a tenant's are not contiguous."""
    config = ConsumerConfig(
        deliver_policy=DeliverPolicy.BY_START_SEQUENCE,
        opt_start_seq=after + 1,
        ack_policy=AckPolicy.NONE,
        inactive_threshold=30.0,
    )
    sub = await js.pull_subscribe(
        subjects.events_of_tenant(tenant), stream=subjects.EVENTS_STREAM, config=config
    )
    found: list[StoredEvent] = []
    try:
        while len(found) < limit:
            try:
                batch = await sub.fetch(limit - len(found), timeout=wait_s)
            except TimeoutError:
                break
            found.extend(
                StoredEvent(m.metadata.sequence.stream, msgspec.Raw(m.data)) for m in batch
            )
    finally:
        await sub.unsubscribe()
    return found
