"""The outbox's publisher on a real nats-server: a batch returns once JetStream stored
every event of it, and raises when one is not stored."""

from __future__ import annotations

import msgspec
import pytest

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


async def test_an_event_no_stream_takes_fails_its_batch(bus: Bus) -> None:
    publisher = EventPublisher(bus.nc, ack_timeout_s=2.0)  # no stream yet
    with pytest.raises(EventNotStored):
        await publisher.publish([sample_event(1), sample_event(2)])
    await ensure_streams(bus.js, duplicate_window_s=120)
    await publisher.publish([sample_event(3)])  # the publisher is still usable
    assert len(await read_events(bus.js, "acme", 0, 10)) == 1
