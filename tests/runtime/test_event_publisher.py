"""The outbox's publisher on a real nats-server: a batch returns once JetStream stored
every event of it, and raises when one is not stored — as a fast batch where the stream
takes them, event by event where it does not."""

from __future__ import annotations

import asyncio
from dataclasses import replace
from typing import Any

import msgspec
import pytest
from nats.aio.msg import Msg
from nats.js import JetStreamContext
from nats.js.api import DiscardPolicy, StorageType, StreamConfig

from bus import fast_batches, subjects
from bus.client import Bus
from bus.events import CloudEvent, EventNotStored, EventPublisher, ensure_streams, read_events
from tests.support import sample_event


async def test_a_batch_returns_once_every_event_is_stored(bus: Bus) -> None:
    await ensure_streams(bus.js, duplicate_window_s=120)
    publisher = EventPublisher(bus.nc)
    first = [sample_event(n) for n in range(300)]
    await publisher.publish(first)
    await publisher.publish([sample_event(300)])
    stored = await read_events(bus.js, "acme", 0, 1000)
    ids = [msgspec.json.decode(e.payload, type=CloudEvent).id for e in stored]
    assert ids == [e.event_id for e in first] + [ids[-1]]
    await publisher.publish(first[:10])  # again: harmless, stored once
    assert len(await read_events(bus.js, "acme", 0, 1000)) == 301
    info = await bus.js.stream_info(subjects.EVENTS_STREAM)
    assert info.state.consumer_count == 0  # each replay's consumer went with it


async def test_a_replay_fetches_what_is_pending_and_waits_for_nothing_more(
    bus: Bus, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A client that is caught up (the usual poll) is answered without a fetch; one with
    fewer events left than its limit gets exactly those, without waiting for more."""
    await ensure_streams(bus.js, duplicate_window_s=120)
    publisher = EventPublisher(bus.nc)
    await publisher.publish([sample_event(n) for n in range(5)])
    fetches: list[tuple[int, int | None]] = []  # (asked for, got; None: waited in vain)
    fetch = JetStreamContext.PullSubscription.fetch

    async def counted(
        sub: JetStreamContext.PullSubscription, batch: int = 1, **options: Any
    ) -> list[Msg]:
        try:
            got = await fetch(sub, batch, **options)
        except TimeoutError:
            fetches.append((batch, None))
            raise
        fetches.append((batch, len(got)))
        return got

    monkeypatch.setattr(JetStreamContext.PullSubscription, "fetch", counted)

    stored = await read_events(bus.js, "acme", 0, 100)
    assert len(stored) == 5
    assert fetches == [(5, 5)]  # what was there, and no wait for the other 95
    end = stored[-1].sequence
    fetches.clear()
    assert await read_events(bus.js, "acme", end, 100) == []
    assert fetches == []  # caught up: not even a fetch
    await publisher.publish([sample_event(9, tenant="globex")])
    assert await read_events(bus.js, "acme", end, 100) == []  # not acme's
    assert fetches == []

    await publisher.publish([sample_event(n) for n in range(5, 8)])
    newer = await read_events(bus.js, "acme", end, 2)  # the limit still counts
    assert [e.sequence for e in newer] == [end + 2, end + 3]  # globex's took end + 1
    rest = await read_events(bus.js, "acme", newer[-1].sequence, 100)
    assert [e.sequence for e in rest] == [end + 4]
    assert fetches == [(2, 2), (1, 1)]
    info = await bus.js.stream_info(subjects.EVENTS_STREAM)
    assert info.state.consumer_count == 0  # each replay's consumer went with it


async def test_an_event_no_stream_takes_fails_its_batch(bus: Bus) -> None:
    publisher = EventPublisher(bus.nc, ack_timeout_s=2.0)  # no stream yet
    with pytest.raises(EventNotStored):
        await publisher.publish([sample_event(1), sample_event(2)])
    await ensure_streams(bus.js, duplicate_window_s=120)
    await publisher.publish([sample_event(3)])  # the publisher is still usable
    assert len(await read_events(bus.js, "acme", 0, 10)) == 1


def events_stream(**config: Any) -> StreamConfig:
    """The events stream as ``ensure_streams`` makes it, with ``config`` over it."""
    base = {"duplicate_window": 120.0, "storage": StorageType.FILE, **config}
    return StreamConfig(name=subjects.EVENTS_STREAM, subjects=[subjects.all_events()], **base)


async def stored_ids(bus: Bus) -> list[str]:
    stored = await read_events(bus.js, "acme", 0, 2000)
    return [msgspec.json.decode(e.payload, type=CloudEvent).id for e in stored]


async def test_a_batch_is_acked_as_a_whole_where_the_stream_takes_fast_batches(bus: Bus) -> None:
    await ensure_streams(bus.js, duplicate_window_s=120)
    assert (await bus.js.stream_info(subjects.EVENTS_STREAM)).config.allow_batched
    publisher = EventPublisher(bus.nc)
    events = [sample_event(n) for n in range(1200)]
    await publisher.publish(events)
    assert await stored_ids(bus) == [e.event_id for e in events]
    # the start, a flow ack every 500 at most, the commit: not one ack per event
    assert publisher.acks_received <= 6
    await publisher.publish(events[:700])  # again: every one a duplicate, none stored twice
    assert len(await stored_ids(bus)) == 1200


async def test_where_the_stream_takes_no_fast_batches_each_event_is_acked(bus: Bus) -> None:
    await bus.js.add_stream(events_stream())  # as an older nats-server keeps it
    publisher = EventPublisher(bus.nc)
    events = [sample_event(n) for n in range(300)]
    await publisher.publish(events)
    assert await stored_ids(bus) == [e.event_id for e in events]
    assert publisher.acks_received == 300


@pytest.mark.parametrize("batched", [True, False])
async def test_a_batch_the_stream_stores_only_in_part_fails(bus: Bus, batched: bool) -> None:
    limited = events_stream(max_msgs=5, discard=DiscardPolicy.NEW)
    await bus.js.add_stream(replace(limited, allow_batched=batched or None))
    publisher = EventPublisher(bus.nc, ack_timeout_s=2.0)
    events = [sample_event(n) for n in range(10)]
    with pytest.raises(EventNotStored):
        await publisher.publish(events)
    assert await stored_ids(bus) == [e.event_id for e in events[:5]]
    await bus.js.update_stream(replace(limited, max_msgs=-1, allow_batched=batched or None))
    await publisher.publish(events)  # the outbox's retry: the first five are duplicates
    assert await stored_ids(bus) == [e.event_id for e in events]


async def test_the_publisher_follows_a_stream_that_stops_taking_fast_batches(bus: Bus) -> None:
    await ensure_streams(bus.js, duplicate_window_s=120)
    publisher = EventPublisher(bus.nc, ack_timeout_s=2.0)
    await publisher.publish([sample_event(n) for n in range(3)])
    await bus.js.delete_stream(subjects.EVENTS_STREAM)
    await bus.js.add_stream(events_stream())  # no fast batches any more
    later = [sample_event(n) for n in range(3, 6)]
    with pytest.raises(EventNotStored):
        await publisher.publish(later)  # sent as a fast batch: refused whole
    await publisher.publish(later)  # asked the stream again: each event alone
    assert await stored_ids(bus) == [e.event_id for e in later]


async def test_after_a_fast_batch_fails_events_go_one_by_one_for_a_while(
    bus: Bus, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Whatever fails fast batches alone (here a reply subject the server does not take
    as one) must not stop the outbox: its retry goes event by event."""
    await ensure_streams(bus.js, duplicate_window_s=120)
    publisher = EventPublisher(bus.nc, ack_timeout_s=2.0, plain_after_refusal_s=0.5)
    good = fast_batches.reply_subject
    monkeypatch.setattr(
        fast_batches, "reply_subject", lambda *a: good(*a).replace(".fail.", ".bogus.")
    )
    events = [sample_event(n) for n in range(20)]
    with pytest.raises(EventNotStored):
        await publisher.publish(events)
    await publisher.publish(events)  # the retry: each event alone, each acked
    assert await stored_ids(bus) == [e.event_id for e in events]
    monkeypatch.setattr(fast_batches, "reply_subject", good)
    await asyncio.sleep(0.6)
    more = [sample_event(n) for n in range(20, 320)]
    acks = publisher.acks_received
    await publisher.publish(more)  # the stream asked again: one fast batch
    assert publisher.acks_received - acks <= 3
    assert await stored_ids(bus) == [e.event_id for e in events + more]
