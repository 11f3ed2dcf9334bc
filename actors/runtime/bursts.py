"""Whether a redemption burst is under way, for work that can wait until it has passed.

Followers of the ledger's events that only serve reading — the reporting warehouse
(ADR 26) and the audit log's search index (ADR 24) — compete with redemptions for the
processor on a shared machine. While events arrive on ``PB_EVENTS`` faster than
``events_per_s``, they wait; but never for longer than ``lag_s`` after they last caught
up, so a long burst is followed at that pace and their readers lag by at most about that
much. The rate is read from the stream's last sequence, now and at least ``probe_s``
before: no consumer, no extra message.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Awaitable, Callable

from nats.js import JetStreamContext

from bus import subjects


class BurstWatch:
    def __init__(
        self, js: JetStreamContext, events_per_s: int, lag_s: float, probe_s: float = 0.5
    ) -> None:
        self._js = js
        self._events_per_s = events_per_s
        self._lag_s = lag_s
        self._probe_s = probe_s
        #: (loop time, the stream's last sequence) of recent looks, oldest first.
        self._looks: deque[tuple[float, int]] = deque()

    @property
    def on(self) -> bool:
        """Off unless both a rate and a lag bound are set."""
        return self._events_per_s > 0 and self._lag_s > 0

    @property
    def probe_s(self) -> float:
        return self._probe_s

    async def under_way(
        self, caught_up_at: float, pause: Callable[[float], Awaitable[None]]
    ) -> bool:
        """Whether to wait now: events arrive faster than the burst rate, and the follower
        last caught up (loop time ``caught_up_at``) less than ``lag_s`` ago. Without a
        recent look at the stream, it looks, ``pause``s for ``probe_s`` and looks again."""
        if not self.on:
            return False
        loop = asyncio.get_running_loop()
        looks = self._looks
        for _ in range(2):
            info = await self._js.stream_info(subjects.EVENTS_STREAM)
            now, last = loop.time(), int(info.state.last_seq)
            looks.append((now, last))
            while len(looks) > 1 and now - looks[1][0] >= self._probe_s:
                looks.popleft()  # keep the newest look at least probe_s old
            then, before = looks[0]
            if self._probe_s <= now - then <= 10 * self._probe_s:
                rate = (last - before) / (now - then)
                return rate >= self._events_per_s and now - caught_up_at < self._lag_s
            await pause(self._probe_s)  # no look long enough ago (or a stale one)
        return False
