"""Group commit: one transaction for the pending batches of all actors of a host.

Actors hand their change sets to :meth:`GroupCommitter.commit` and wait. A single writer
loop takes everything pending (up to ``max_change_sets``) and writes it with one
``Ledger.apply`` — while that transaction runs, the next group gathers, so the group size
follows the load. If the shared transaction fails, the change sets are retried apart,
each in its own transaction, so that one actor's bad batch (a stale, fenced write, say)
fails only that actor's requests.

Committed events go to the outbox relay, which publishes them after the commit.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Sequence

import msgspec

from actors.runtime.background import Background
from bus.events import OutboxEvent
from storage.ports import ChangeSet, Ledger

log = logging.getLogger(__name__)


class CommitterStats(msgspec.Struct):
    groups: int = 0
    change_sets: int = 0
    split_retries: int = 0
    failed_change_sets: int = 0


class GroupCommitter(Background):
    name = "group-committer"

    def __init__(
        self,
        ledger: Ledger,
        max_change_sets: int = 1024,
        on_committed: Callable[[Sequence[OutboxEvent]], None] | None = None,
    ) -> None:
        super().__init__()
        self._ledger = ledger
        self._max = max_change_sets
        self._on_committed = on_committed
        self._pending: list[tuple[ChangeSet, asyncio.Future[None]]] = []
        self.stats = CommitterStats()

    async def commit(self, change_set: ChangeSet) -> None:
        """Return once ``change_set`` is durably written; raise if it could not be."""
        if self._stopping and self._task is None:
            raise RuntimeError("the committer is stopped")
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._pending.append((change_set, future))
        self._wakeup.set()
        await future

    async def _run(self) -> None:
        while True:
            await self._wakeup.wait()
            self._wakeup.clear()
            while self._pending:
                group = self._pending[: self._max]
                del self._pending[: self._max]
                await self._write(group)
            if self._stopping:
                return

    async def _write(self, group: list[tuple[ChangeSet, asyncio.Future[None]]]) -> None:
        try:
            await self._ledger.apply([cs for cs, _ in group])
        except Exception as e:
            if len(group) == 1:
                self._fail(group[0][1], e)
                return
            log.warning("group of %d failed (%s); retrying apart", len(group), e)
            self.stats.split_retries += 1
            for change_set, future in group:
                try:
                    await self._ledger.apply([change_set])
                except Exception as single:
                    self._fail(future, single)
                else:
                    self._done([(change_set, future)])
        else:
            self._done(group)

    def _done(self, group: list[tuple[ChangeSet, asyncio.Future[None]]]) -> None:
        self.stats.groups += 1
        self.stats.change_sets += len(group)
        events: list[OutboxEvent] = []
        for change_set, future in group:
            events.extend(change_set.events)
            if not future.done():
                future.set_result(None)
        if events and self._on_committed is not None:
            self._on_committed(events)

    def _fail(self, future: asyncio.Future[None], error: Exception) -> None:
        self.stats.failed_change_sets += 1
        if not future.done():
            future.set_exception(error)
