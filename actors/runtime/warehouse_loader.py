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
backs off and starts over; JetStream keeps the events meanwhile (ADR 26).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

import msgspec
from nats.js import JetStreamContext
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy

from actors.runtime.background import Background
from actors.runtime.bursts import BurstWatch
from bus import subjects
from bus.events import CloudEvent
from storage.warehouse_ports import SequencedEvent, Warehouse

log = logging.getLogger(__name__)

_FIRST_BACKOFF_S = 0.05
_decoder = msgspec.json.Decoder(CloudEvent)
#: What stands for a message that is not a CloudEvent: of no type, so it only counts.
_UNREADABLE = CloudEvent("", "", "", "", "", "", msgspec.Raw(b"null"))


class WarehouseLoader(Background):
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
        super().__init__()
        self._js = js
        self._warehouse = warehouse
        self._batch_max = batch_max
        self._fetch_wait_s = fetch_wait_s
        #: After a batch that was not full: wait for more to gather (fewer transactions).
        self._batch_interval_s = batch_interval_s
        self._max_backoff_s = max_backoff_s
        #: Waiting out bursts: off unless both are set.
        self._bursts = BurstWatch(js, burst_events_per_s, burst_lag_s, probe_s)
        #: Loop time when the loader last had nothing left to read.
        self._caught_up_at = 0.0
        self._migrated = False
        #: How long to wait before starting over: doubles per failure, reset by progress.
        self._backoff = _FIRST_BACKOFF_S
        #: Events applied by this loader, and attempts that failed (for tests and logs).
        self.loaded = 0
        #: Batches applied (each one transaction of the warehouse).
        self.batches = 0
        self.failures = 0
        #: Events the warehouse could not store, skipped (each logged).
        self.skipped = 0
        #: Times the loader waited because a burst was under way.
        self.deferrals = 0

    async def _run(self) -> None:
        self._wakeup.clear()  # set by an earlier stop(): only a new stop() may cut waits
        while not self._stopping:
            try:
                await self._load()
            except Exception as e:
                self.failures += 1
                if self._stopping:
                    return
                log.warning("warehouse loader: %s; starting over in %.2fs", e, self._backoff)
                with contextlib.suppress(TimeoutError):  # stop() cuts the wait short
                    await asyncio.wait_for(self._wakeup.wait(), self._backoff)
                self._backoff = min(self._backoff * 2, self._max_backoff_s)

    async def _load(self) -> None:
        """Read from the warehouse's sequence on and apply batch by batch, until stopped."""
        if not self._migrated:
            await self._warehouse.migrate()
            self._migrated = True
        after = await self._warehouse.last_sequence()
        config = ConsumerConfig(
            deliver_policy=DeliverPolicy.BY_START_SEQUENCE,
            opt_start_seq=after + 1,
            ack_policy=AckPolicy.NONE,
            inactive_threshold=30.0,
        )
        sub = await self._js.pull_subscribe(
            subjects.all_events(), stream=subjects.EVENTS_STREAM, config=config
        )
        self._caught_up_at = asyncio.get_running_loop().time()
        try:
            while not self._stopping:
                await self._wait_out_burst()
                try:
                    messages = await sub.fetch(self._batch_max, timeout=self._fetch_wait_s)
                except TimeoutError:
                    self._caught_up_at = asyncio.get_running_loop().time()
                    continue
                if len(messages) < self._batch_max:
                    self._caught_up_at = asyncio.get_running_loop().time()
                batch = [
                    SequencedEvent(m.metadata.sequence.stream, _read(m.data)) for m in messages
                ]
                if not batch:
                    continue
                await self._apply(batch)
                self.loaded += len(batch)
                self.batches += 1
                self._backoff = _FIRST_BACKOFF_S
                if len(batch) < self._batch_max and self._batch_interval_s > 0:
                    await self._pause(self._batch_interval_s)
        finally:
            try:
                await sub.unsubscribe()
            except Exception as e:  # the connection is gone: the consumer lapses by itself
                log.debug("warehouse loader: unsubscribe: %s", e)

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

    async def _wait_out_burst(self) -> None:
        """Wait while events arrive faster than the burst rate, unless the loader has
        been behind for ``burst_lag_s`` already."""
        while not self._stopping and await self._bursts.under_way(self._caught_up_at, self._pause):
            self.deferrals += 1
            await self._pause(self._bursts.probe_s)

    async def _pause(self, seconds: float) -> None:
        with contextlib.suppress(TimeoutError):  # stop() cuts the wait short
            await asyncio.wait_for(self._wakeup.wait(), seconds)


def _read(data: bytes) -> CloudEvent:
    try:
        return _decoder.decode(data)
    except msgspec.DecodeError:
        log.error("warehouse loader: a message of PB_EVENTS is not a CloudEvent")
        return _UNREADABLE
