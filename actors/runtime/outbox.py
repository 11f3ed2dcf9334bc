"""The outbox relay: publishes committed events to JetStream, then clears them.

Events are written to the outbox table in the same transaction as the state change they
describe, so none is lost if the process dies after the commit. The relay publishes what
the committer hands it; on start, after any publish failure, and every ``sweep_interval_s``
(for events stranded by a host that died and never came back), it reads the outbox table.
Publishing carries ``Nats-Msg-Id`` = event id, so a second publish of the
same event (after a crash between publish and clean-up) is dropped by JetStream.

A transaction's events are one outbox row, named by its first event's id
(``storage.sql.event_rows``). The committer hands the relay each transaction's events
apart, so once they are published the relay clears just those rows' ids. A sweep reads
rows back as events and clears every id it published: only a row's first one names it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Sequence

from actors.runtime.background import Background
from bus.events import EventPublisher, OutboxEvent
from bus.time import now_ms
from storage.ports import Ledger

log = logging.getLogger(__name__)


class OutboxRelay(Background):
    name = "outbox-relay"

    def __init__(
        self,
        ledger: Ledger,
        publisher: EventPublisher,
        page: int = 1000,
        sweep_interval_s: float = 30.0,
        clear: Callable[[Sequence[str]], bool] | None = None,
    ) -> None:
        super().__init__()
        #: Hands published ids to the group commit; when it declines, the relay deletes
        #: their rows in a transaction of its own.
        self.clear = clear
        self._sweep_interval_s = sweep_interval_s
        self._created_before_ms = 2**62
        self._ledger = ledger
        self._publisher = publisher
        self._page = page
        self._queue: list[OutboxEvent] = []
        #: The outbox row of each transaction in ``_queue``: its first event's id.
        self._queue_rows: list[str] = []
        self._rescan = True  # the table may hold events from before a crash
        self._wakeup.set()
        self._max_queue = 100 * page
        self.published = 0

    def committed(self, events: Sequence[OutboxEvent]) -> None:
        """The events of one committed transaction, in the order it wrote them."""
        # Queued even during a rescan: an event may commit after the scan's SELECT.
        # Publishing one twice is harmless (same Nats-Msg-Id).
        if not events:
            return
        self._queue.extend(events)
        self._queue_rows.append(events[0].event_id)
        if len(self._queue) > self._max_queue:
            self._forget_queue()
        self._wakeup.set()

    def _forget_queue(self) -> None:
        """Drop the queue and read every pending row instead, the young ones too: a
        sweep's cutoff would leave out the events of the queue just dropped."""
        self._queue.clear()
        self._queue_rows.clear()
        self._rescan = True
        self._created_before_ms = 2**62

    async def _run(self) -> None:
        backoff = 0.05
        loop = asyncio.get_running_loop()
        next_sweep = loop.time() + self._sweep_interval_s
        while True:
            # by the clock, busy or not: every commit wakes the relay, so a sweep waiting
            # for a quiet interval never came while a host had steady traffic
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wakeup.wait(), max(next_sweep - loop.time(), 0))
            if loop.time() >= next_sweep:
                next_sweep = loop.time() + self._sweep_interval_s
                if not self._rescan:
                    # Events another host committed and then died before publishing;
                    # young ones are left to the host that is publishing them right now.
                    self._rescan = True
                    self._created_before_ms = now_ms() - int(self._sweep_interval_s * 1000)
            self._wakeup.clear()
            try:
                await self._drain()
                backoff = 0.05
            except Exception as e:
                if self._stopping:
                    return
                log.warning("outbox relay: %s; retrying in %.2fs", e, backoff)
                self._forget_queue()
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, 5.0)
                self._wakeup.set()
                continue
            if self._stopping:
                return

    async def _drain(self) -> None:
        while self._rescan:
            batch = await self._ledger.pending_events(self._page, self._created_before_ms)
            if len(batch) < self._page:
                self._rescan = False
                self._created_before_ms = 2**62
            # deleted before the next page is read, or it would read them again
            await self._send(batch, [e.event_id for e in batch], deferred=False)
        while self._queue:
            batch, self._queue = self._queue, []
            rows, self._queue_rows = self._queue_rows, []
            await self._send(batch, rows)

    async def _send(self, batch: list[OutboxEvent], rows: list[str], deferred: bool = True) -> None:
        """Publish ``batch``, then clear the outbox rows ``rows`` (ids that name them)."""
        if not batch:
            return
        await self._publisher.publish(batch)
        if not (deferred and self.clear is not None and self.clear(rows)):
            await self._ledger.mark_published(rows)
        self.published += len(batch)
