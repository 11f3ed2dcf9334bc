"""A follower of ``PB_EVENTS`` that keeps its place in its own store.

The warehouse loader (ADR 26) and the webhook relay's fan-out (ADR 37) both read every
tenant's events in order, from the sequence after the last one their store says it
handled, with a consumer that exists only while they read: they acknowledge nothing, and
a follower killed anywhere starts again where its last committed batch ended. While
events pour in faster than a burst rate they wait (:class:`BurstWatch`), for at most a
lag bound after they last caught up; when their store or NATS is unreachable they back
off, doubling the wait, and start over.

A subclass says where to start (:meth:`_start_after`) and what to do with a batch
(:meth:`_handle`, which must record the batch's last sequence with its effects).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

from nats.aio.msg import Msg
from nats.js import JetStreamContext
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy

from actors.runtime.background import Background
from actors.runtime.bursts import BurstWatch
from bus import subjects

log = logging.getLogger(__name__)

FIRST_BACKOFF_S = 0.05


class StreamFollower(Background):
    def __init__(
        self,
        js: JetStreamContext,
        batch_max: int,
        fetch_wait_s: float,
        batch_interval_s: float,
        max_backoff_s: float,
        burst_events_per_s: int,
        burst_lag_s: float,
        probe_s: float,
    ) -> None:
        super().__init__()
        self._js = js
        self._batch_max = batch_max
        self._fetch_wait_s = fetch_wait_s
        #: After a batch that was not full: wait for more to gather (fewer transactions).
        self._batch_interval_s = batch_interval_s
        self._max_backoff_s = max_backoff_s
        #: Waiting out bursts: off unless both are set.
        self._bursts = BurstWatch(js, burst_events_per_s, burst_lag_s, probe_s)
        #: Loop time when the follower last had nothing left to read.
        self._caught_up_at = 0.0
        #: How long to wait before starting over: doubles per failure, reset by progress.
        self._backoff = FIRST_BACKOFF_S
        #: Events handled, batches handled, attempts that failed (for tests and logs).
        self.loaded = 0
        self.batches = 0
        self.failures = 0
        #: Times the follower waited because a burst was under way.
        self.deferrals = 0

    async def _start_after(self) -> int:
        """The sequence of the last event already handled (migrating the store first)."""
        raise NotImplementedError

    async def _handle(self, messages: list[Msg]) -> None:
        """Handle a batch and record its last sequence, in one transaction."""
        raise NotImplementedError

    async def _run(self) -> None:
        self._wakeup.clear()  # set by an earlier stop(): only a new stop() may cut waits
        while not self._stopping:
            try:
                await self._follow()
            except Exception as e:
                self.failures += 1
                if self._stopping:
                    return
                log.warning("%s: %s; starting over in %.2fs", self.name, e, self._backoff)
                await self._pause(self._backoff)
                self._backoff = min(self._backoff * 2, self._max_backoff_s)

    async def _follow(self) -> None:
        """Read from the store's sequence on and handle batch by batch, until stopped."""
        after = await self._start_after()
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
                if not messages:
                    continue
                await self._handle(messages)
                self.loaded += len(messages)
                self.batches += 1
                self._backoff = FIRST_BACKOFF_S
                if len(messages) < self._batch_max and self._batch_interval_s > 0:
                    await self._pause(self._batch_interval_s)
        finally:
            try:
                await sub.unsubscribe()
            except Exception as e:  # the connection is gone: the consumer lapses by itself
                log.debug("%s: unsubscribe: %s", self.name, e)

    async def _wait_out_burst(self) -> None:
        """Wait while events arrive faster than the burst rate, unless the follower has
        been behind for the lag bound already."""
        while not self._stopping and await self._bursts.under_way(self._caught_up_at, self._pause):
            self.deferrals += 1
            await self._pause(self._bursts.probe_s)

    async def _pause(self, seconds: float) -> None:
        with contextlib.suppress(TimeoutError):  # stop() cuts the wait short
            await asyncio.wait_for(self._wakeup.wait(), seconds)
