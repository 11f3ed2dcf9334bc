"""The warehouse loader: ``PB_EVENTS`` → the reporting star schema, each event once.

The warehouse itself remembers how far it has loaded (the stream sequence of the last
event applied, advanced in the same transaction as the rows: ``storage.warehouse_ports``).
So the loader keeps no state of its own and acknowledges nothing: on every (re)start it
asks the warehouse for that sequence and reads the stream from the next one, with a
consumer that exists only while it reads. Killed between two batches, or in the middle
of one, it starts again where the last committed batch ended; a batch applied whose
commit it never heard about is skipped by the warehouse on the second try.

While events pour in faster than ``burst_events_per_s`` — a redemption burst — the loader
waits, for at most ``burst_lag_s`` after it last caught up, and loads the backlog once the
burst has passed: on a machine shared with the redemption path, loading during a burst
took a fifth of the burst's throughput, even at the lowest CPU priority (the events'
delivery costs the NATS server too). Reports lag by up to ``burst_lag_s`` meanwhile.

Events the warehouse has no use for (and any it cannot read) are applied all the same:
they only advance the sequence; one it cannot store (a value out of its range) is
logged and skipped. When the warehouse (or NATS) is unreachable the loader
backs off and starts over; JetStream keeps the events meanwhile (ADR 26). The reading
itself is :mod:`actors.runtime.stream_follower`'s, shared with the webhook relay.
"""

from __future__ import annotations

import logging

import msgspec
from nats.aio.msg import Msg
from nats.js import JetStreamContext

from actors.runtime.stream_follower import StreamFollower
from bus.events import CloudEvent
from storage.warehouse_ports import SequencedEvent, Warehouse

log = logging.getLogger(__name__)

_decoder = msgspec.json.Decoder(CloudEvent)
#: What stands for a message that is not a CloudEvent: of no type, so it only counts.
_UNREADABLE = CloudEvent("", "", "", "", "", "", msgspec.Raw(b"null"))


class WarehouseLoader(StreamFollower):
    name = "warehouse-loader"

    def __init__(
        self,
        js: JetStreamContext,
        warehouse: Warehouse,
        batch_max: int = 1000,
        fetch_wait_s: float = 0.5,
        batch_interval_s: float = 0.0,
        max_backoff_s: float = 5.0,
        burst_events_per_s: int = 0,
        burst_lag_s: float = 0.0,
        probe_s: float = 0.5,
    ) -> None:
        super().__init__(
            js,
            batch_max,
            fetch_wait_s,
            batch_interval_s,
            max_backoff_s,
            burst_events_per_s,
            burst_lag_s,
            probe_s,
        )
        self._warehouse = warehouse
        self._migrated = False
        #: Events the warehouse could not store, skipped (each logged).
        self.skipped = 0

    async def _start_after(self) -> int:
        if not self._migrated:
            await self._warehouse.migrate()
            self._migrated = True
        return await self._warehouse.last_sequence()

    async def _handle(self, messages: list[Msg]) -> None:
        await self._apply(
            [SequencedEvent(m.metadata.sequence.stream, _read(m.data)) for m in messages]
        )

    async def _apply(self, batch: list[SequencedEvent]) -> None:
        """Apply a batch; if the warehouse refuses it, its events one at a time. An event
        the warehouse refuses while it takes a place-holder of no type at the same
        sequence is one it cannot store (a value out of its range): logged and skipped,
        so that it does not hold up every later event of every tenant (ADR 26). If the
        place-holder fails too, the warehouse is down: the error goes up, and the loader
        backs off and starts over."""
        try:
            await self._warehouse.apply(batch)
            return
        except Exception as e:
            log.warning(
                "warehouse loader: a batch of %d failed (%s); event by event", len(batch), e
            )
        for item in batch:
            try:
                await self._warehouse.apply([item])
            except Exception as e:
                await self._warehouse.apply([SequencedEvent(item.sequence, _UNREADABLE)])
                self.skipped += 1
                log.error(
                    "warehouse loader: event %d (%s, %s) cannot be stored, skipped: %s",
                    item.sequence,
                    item.event.type,
                    item.event.id,
                    e,
                )


def _read(data: bytes) -> CloudEvent:
    try:
        return _decoder.decode(data)
    except msgspec.DecodeError:
        log.error("warehouse loader: a message of PB_EVENTS is not a CloudEvent")
        return _UNREADABLE
