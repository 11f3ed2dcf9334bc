"""Domain events: CloudEvents 1.0 in JSON, published to JetStream exactly once per id.

Actors build an :class:`OutboxEvent` together with the state change it describes; the
storage adapter writes both in one transaction (the outbox). After the commit the
:class:`EventPublisher` sends the event with a ``Nats-Msg-Id`` header equal to the event
id, so a re-publish after a crash is dropped by JetStream's de-duplication window.
"""

from __future__ import annotations

import asyncio
import functools
import itertools
import random
import time
from collections.abc import Sequence
from typing import Any

import msgspec
from nats.aio.client import NO_RESPONDERS_STATUS
from nats.aio.client import Client as NatsClient
from nats.aio.msg import Msg
from nats.js import JetStreamContext
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy, Header, StorageType, StreamConfig
from nats.js.errors import NotFoundError

from bus import subjects
from bus.time import rfc3339

_json = msgspec.json.Encoder()
#: Event ids are random version-4 UUIDs; they need to be unique, not unguessable, so they
#: come from a generator seeded once from the system's random source, not one system
#: call (``uuid4``) per event.
_ids = random.Random()
#: The version (4) and variant (RFC 4122) bits of a UUID, set in 128 random bits.
_UUID4_CLEAR = ~((0xF000 << 64) | (0xC000 << 48))
_UUID4_SET = (0x4000 << 64) | (0x8000 << 48)


def _event_id() -> str:
    """A random version-4 UUID, as ``str(uuid.UUID(int=…, version=4))`` spells it."""
    h = f"{_ids.getrandbits(128) & _UUID4_CLEAR | _UUID4_SET:032x}"
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


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
    event_id = _event_id()
    now_ms = time.time_ns() // 1_000_000
    cloud = CloudEvent(
        id=event_id,
        source=f"/perkbus/tenants/{tenant}",
        type=event_type,
        subject=f"{aggregate}/{entity_id}",
        time=rfc3339(now_ms),
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


class _AckError(msgspec.Struct, frozen=True):
    code: int = 0
    description: str = ""


class _PubAck(msgspec.Struct, frozen=True):
    stream: str = ""
    seq: int = 0
    error: _AckError | None = None


_ack_decoder = msgspec.json.Decoder(_PubAck)


class EventNotStored(Exception):
    """JetStream did not store an event (no stream, or the stream refused it)."""


class _Acks:
    """The acks a batch of events still waits for, and the future they complete."""

    __slots__ = ("done", "missing")

    def __init__(self, count: int, done: asyncio.Future[None]) -> None:
        self.missing = set(range(count))
        self.done = done


class EventPublisher:
    """Publishes outbox events and waits for every JetStream ack.

    All events of a batch are sent at once and their acks come back on one subscription
    of the publisher's (reply subject ``<inbox>.<batch>-<event>``), under one timeout
    and one future for the batch. (``JetStreamContext.publish`` makes each event a
    request of its own — a timer, a future wrapper and fresh random bytes per event —
    which was a fifth of the actor host's CPU in a burst; ADR 21.)
    """

    def __init__(self, nc: NatsClient, ack_timeout_s: float = 5.0) -> None:
        self._nc = nc
        self._timeout = ack_timeout_s
        self._inbox = ""
        self._batches = itertools.count()
        self._waiting: dict[str, _Acks] = {}

    async def publish(self, events: Sequence[OutboxEvent]) -> None:
        """Raises if any event was not stored; publishing the same ids again is harmless."""
        if not events:
            return
        if not self._inbox:
            inbox = self._nc.new_inbox()
            await self._nc.subscribe(f"{inbox}.*", cb=self._on_ack)
            self._inbox = inbox
        batch = str(next(self._batches))
        acks = self._waiting[batch] = _Acks(len(events), asyncio.get_running_loop().create_future())
        reply = f"{self._inbox}.{batch}-"
        try:
            for i, e in enumerate(events):
                await self._nc.publish(
                    e.subject,
                    e.payload,
                    reply=f"{reply}{i}",
                    headers={"Nats-Msg-Id": e.event_id, "Content-Type": "application/json"},
                )
            try:
                await asyncio.wait_for(acks.done, self._timeout)
            except TimeoutError:
                raise EventNotStored(f"no ack within {self._timeout:.1f} s") from None
        finally:
            del self._waiting[batch]

    async def _on_ack(self, msg: Msg) -> None:
        batch, _, event = msg.subject.rpartition(".")[2].partition("-")
        acks = self._waiting.get(batch)
        if acks is None or acks.done.done():
            return
        if msg.headers and msg.headers.get(Header.STATUS) == NO_RESPONDERS_STATUS:
            acks.done.set_exception(EventNotStored(f"no stream takes {msg.subject}"))
            return
        try:
            ack = _ack_decoder.decode(msg.data)
        except msgspec.DecodeError as e:
            acks.done.set_exception(EventNotStored(f"unreadable ack: {e}"))
            return
        if ack.error is not None:
            acks.done.set_exception(EventNotStored(f"{ack.error.code}: {ack.error.description}"))
            return
        acks.missing.discard(int(event) if event.isdigit() else -1)
        if not acks.missing:
            acks.done.set_result(None)


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
