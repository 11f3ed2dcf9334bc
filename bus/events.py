"""Domain events: CloudEvents 1.0 in JSON, published to JetStream exactly once per id.

Actors build an :class:`OutboxEvent` together with the state change it describes; the
storage adapter writes both in one transaction (the outbox). After the commit the
:class:`EventPublisher` sends the event with a ``Nats-Msg-Id`` header equal to the event
id, so a re-publish after a crash is dropped by JetStream's de-duplication window.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import itertools
import random
import time
import uuid
from collections.abc import Sequence
from typing import Any

import msgspec
from nats.aio.client import NO_RESPONDERS_STATUS
from nats.aio.client import Client as NatsClient
from nats.aio.msg import Msg
from nats.js import JetStreamContext
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy, Header, StorageType, StreamConfig
from nats.js.errors import NotFoundError

from bus import fast_batches, subjects
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
    """Create (or update) the PB_EVENTS stream: file storage, de-duplication window,
    fast batches."""
    config = StreamConfig(
        name=subjects.EVENTS_STREAM,
        subjects=[subjects.all_events()],
        storage=StorageType.FILE,
        duplicate_window=float(duplicate_window_s),
        num_replicas=replicas,
        # fast batches (nats-server 2.14+; an older server ignores the field, and the
        # publisher then sends each event alone)
        allow_batched=True,
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
    """What a batch of events still waits for, and the future it completes."""

    __slots__ = ("done", "fast", "missing", "sent")

    def __init__(self, sent: int, fast: bool, done: asyncio.Future[None]) -> None:
        self.sent = sent
        #: Sent as a fast batch (one ack for the whole), else one ack per event.
        self.fast = fast
        self.missing = set() if fast else set(range(sent))
        self.done = done


class EventPublisher:
    """Publishes outbox events and waits until JetStream has stored every one.

    All events of a batch are sent at once, under one timeout and one future, and their
    acks come back on one subscription of the publisher's. (``JetStreamContext.publish``
    makes each event a request of its own — a timer, a future wrapper and fresh random
    bytes per event — which was a fifth of the actor host's CPU in a burst; ADR 21.)

    Where the stream takes fast batches (``bus.fast_batches``: nats-server 2.14 and
    later; the publisher asks the stream once, and again after a failure), two events or
    more go as one: the server answers the batch with a few acks instead of one per event
    (ADR 7, amendment). Elsewhere each event carries a reply subject of its own,
    ``<inbox>.<batch>-<event>``, and is acked alone — and so for a while after a fast
    batch failed, so that a failure of fast batches alone cannot stop the outbox.
    """

    def __init__(
        self, nc: NatsClient, ack_timeout_s: float = 5.0, plain_after_refusal_s: float = 60.0
    ) -> None:
        self._nc = nc
        self._timeout = ack_timeout_s
        #: After a fast batch fails, how long events go one by one before the stream is
        #: asked again (whatever failed the batch, the next publish must not meet it).
        self._plain_after_refusal_s = plain_after_refusal_s
        self._plain_until = 0.0
        self._inbox = ""
        #: Batch ids: the server keys a stream's fast batches by id, whoever sends them.
        self._prefix = f"{random.getrandbits(48):012x}"
        self._batches = itertools.count()
        self._waiting: dict[str, _Acks] = {}
        #: Whether the stream takes fast batches; None until asked.
        self._fast: bool | None = None
        #: Acks (and other answers) received, for whoever watches the publisher's cost.
        self.acks_received = 0

    async def publish(self, events: Sequence[OutboxEvent]) -> None:
        """Raises if any event was not stored; publishing the same ids again is harmless."""
        if not events:
            return
        if not self._inbox:
            inbox = self._nc.new_inbox()
            await self._nc.subscribe(f"{inbox}.>", cb=self._on_ack)
            self._inbox = inbox
        loop = asyncio.get_running_loop()
        if self._fast is None and loop.time() >= self._plain_until:
            self._fast = await self._stream_takes_batches()
        batch = f"{self._prefix}{next(self._batches)}"
        fast = bool(self._fast) and len(events) > 1
        acks = _Acks(len(events), fast, loop.create_future())
        self._waiting[batch] = acks
        try:
            publish = self._nc.publish
            for e, reply in zip(events, self._replies(batch, len(events), fast), strict=True):
                await publish(
                    e.subject,
                    e.payload,
                    reply=reply,
                    headers={"Nats-Msg-Id": e.event_id, "Content-Type": "application/json"},
                )
            try:
                await asyncio.wait_for(acks.done, self._timeout)
            except TimeoutError:
                raise EventNotStored(f"no ack within {self._timeout:.1f} s") from None
        except EventNotStored:
            self._fast = None  # the stream may have changed: ask it again, later if ...
            if fast:  # ... a fast batch failed: the retry goes event by event meanwhile
                self._plain_until = loop.time() + self._plain_after_refusal_s
            raise
        finally:
            del self._waiting[batch]

    def _replies(self, batch: str, count: int, fast: bool) -> list[str]:
        """Each event's reply subject: its place in a fast batch, or an ack of its own."""
        if fast:
            prefix = f"{self._inbox}.{batch}"
            return [fast_batches.reply_subject(prefix, seq, count) for seq in range(1, count + 1)]
        return [f"{self._inbox}.{batch}-{i}" for i in range(count)]

    async def _stream_takes_batches(self) -> bool:
        try:
            info = await self._nc.jetstream().stream_info(subjects.EVENTS_STREAM)
        except Exception:  # no stream yet (the publish will say so) or no JetStream
            return False
        return bool(info.config.allow_batched)

    async def _on_ack(self, msg: Msg) -> None:
        self.acks_received += 1
        rest = msg.subject[len(self._inbox) + 1 :]
        if rest.endswith(fast_batches.SUFFIX):
            batch, event = rest.partition(".")[0], ""
        else:
            batch, _, event = rest.partition("-")
        acks = self._waiting.get(batch)
        if acks is None or acks.done.done():
            return
        if msg.headers and msg.headers.get(Header.STATUS) == NO_RESPONDERS_STATUS:
            acks.done.set_exception(EventNotStored(f"no stream takes {msg.subject}"))
            return
        try:
            if acks.fast:
                if fast_batches.settled(fast_batches.frame_decoder.decode(msg.data), acks.sent):
                    acks.done.set_result(None)
                return
            ack = _ack_decoder.decode(msg.data)
        except msgspec.DecodeError as e:
            acks.done.set_exception(EventNotStored(f"unreadable ack: {e}"))
            return
        except fast_batches.BatchRefused as e:
            acks.done.set_exception(EventNotStored(f"batch not stored whole: {e}"))
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
    #: What the event is about: ``budget``, ``order``, ``people``… (its subject's token).
    aggregate: str = ""


def aggregate_of(subject: str) -> str:
    """``pb.evt.<tenant>.<aggregate>.<event>`` → the aggregate."""
    parts = subject.split(".")
    return parts[3] if len(parts) > 3 else ""


async def read_events(
    js: JetStreamContext, tenant: str, after: int, limit: int, wait_s: float = 0.3
) -> list[StoredEvent]:
    """Up to ``limit`` events of ``tenant`` with stream sequence above ``after``, in order:
    replay from any point. Sequences are the stream's, so a tenant's are not contiguous.

    The consumer's creation says how many of the tenant's events it has to deliver
    (``num_pending``): exactly that many (up to ``limit``) are fetched, and a client that
    is caught up is answered without a fetch. Waiting ``wait_s`` for events that are not
    there (the replay's floor before, as a caught-up client's poll was the usual case)
    happens only if events counted went away before they were fetched (the stream's
    limits removed them)."""
    name = f"replay-{uuid.uuid4().hex}"
    config = ConsumerConfig(
        name=name,
        deliver_policy=DeliverPolicy.BY_START_SEQUENCE,
        opt_start_seq=after + 1,
        ack_policy=AckPolicy.NONE,
        inactive_threshold=30.0,
        filter_subject=subjects.events_of_tenant(tenant),
    )
    found: list[StoredEvent] = []
    info = await js.add_consumer(subjects.EVENTS_STREAM, config=config)
    try:
        wanted = min(limit, info.num_pending or 0)
        if wanted == 0:  # caught up: nothing to fetch, nothing to wait for
            return found
        sub = await js.pull_subscribe_bind(stream=subjects.EVENTS_STREAM, name=name)
        try:
            while len(found) < wanted:
                try:
                    batch = await sub.fetch(wanted - len(found), timeout=wait_s)
                except TimeoutError:
                    break
                found.extend(
                    StoredEvent(
                        m.metadata.sequence.stream, msgspec.Raw(m.data), aggregate_of(m.subject)
                    )
                    for m in batch
                )
        finally:
            await sub.unsubscribe()
    finally:
        # gone now, not 30 s of inactivity later: an integrator polling the replay would
        # otherwise keep hundreds of consumers alive on the server
        with contextlib.suppress(Exception):
            await js.delete_consumer(subjects.EVENTS_STREAM, name)
    return found
