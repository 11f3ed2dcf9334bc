"""Group commit: one transaction for the pending batches of all actors of a host.

Actors hand their change sets to :meth:`GroupCommitter.commit` and wait. A single writer
loop takes everything pending (up to ``max_change_sets``) and writes it with one
``Ledger.apply`` — while that transaction runs, the next group gathers, so the group size
follows the load. If the shared transaction fails, the change sets are retried apart,
each in its own transaction, so that one actor's bad batch (a stale, fenced write, say)
fails only that actor's requests — unless the store itself is unavailable, which fails the
whole group at once. A change set whose requests have all passed their deadline while it
waited is not written at all (:class:`CommitExpired`): its clients have been told to retry.

Committed events go to the outbox relay, one transaction's at a time, which publishes
them after the commit; the ids of their outbox rows come back
(:meth:`GroupCommitter.clear_published`) and the rows are deleted in the next group's
transaction rather than in one of their own: a transaction only for them is started
when no actor's change set has come for ``clear_after_s`` (or ``clear_max`` ids are
waiting). Started at once, such a commit would run in the gap between one batch's commit
and the next one's hand-off, and the next batch would wait for it — measured on one hot
budget, a third of the commits were these, and the busiest actor waited behind each
(ADR 21).

Where the ledger takes more than one group at a time (``Ledger.groups_in_flight``:
MariaDB), the next group is handed over while the last one commits (ADR 33).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import msgspec

from actors.runtime.background import Background
from bus.events import OutboxEvent
from bus.metrics import Histogram
from bus.time import now_ms
from storage.errors import StoreUnavailable
from storage.ports import ChangeSet, Ledger

log = logging.getLogger(__name__)


#: Bytes of events in one group, about (a change set alone may hold more): a group's
#: outbox row travels whole in one statement, hex-encoded to MariaDB, whose packets are
#: at most ``max_allowed_packet`` (16 MiB by default).
MAX_EVENT_BYTES = 4 * 1024 * 1024


class CommitterStats(msgspec.Struct):
    groups: int = 0
    change_sets: int = 0
    split_retries: int = 0
    failed_change_sets: int = 0
    expired_change_sets: int = 0


class CommitExpired(Exception):
    """Every request of the change set had given up before it could be written; nothing
    was written, so the requests can be retried safely."""


@dataclass(slots=True)
class _Pending:
    change_set: ChangeSet
    future: asyncio.Future[None]
    deadline_ms: int


class GroupCommitter(Background):
    name = "group-committer"

    def __init__(
        self,
        ledger: Ledger,
        max_change_sets: int = 1024,
        on_committed: Callable[[Sequence[OutboxEvent]], None] | None = None,
        clear_after_s: float = 0.25,
        clear_max: int = 10_000,
        in_flight: int = 1,
        max_event_bytes: int = MAX_EVENT_BYTES,
    ) -> None:
        super().__init__()
        #: A group's events go to the outbox as one row (``storage.sql.event_rows``):
        #: change sets wait for the next group once theirs hold this many bytes.
        self._max_event_bytes = max_event_bytes
        #: Groups handed to the ledger and not yet answered, at most (ADR 33).
        self._in_flight = in_flight
        self._slots = asyncio.Semaphore(in_flight)
        self._writing: set[asyncio.Task[None]] = set()
        self._ledger = ledger
        self._max = max_change_sets
        self._on_committed = on_committed
        self._clear_after_s = clear_after_s
        self._clear_max = clear_max
        self._pending: list[_Pending] = []
        self._published: list[str] = []
        #: When the oldest of ``_published`` came (loop time), or None if there are none.
        self._published_since: float | None = None
        self.stats = CommitterStats()
        #: How long each group took to write (ADR 40).
        self.commit_seconds = Histogram(
            "perkbus_group_commit_seconds", "Time to write one group of change sets."
        )

    async def commit(self, change_set: ChangeSet, deadline_ms: int | None = None) -> None:
        """Return once ``change_set`` is durably written; raise if it could not be.

        If ``deadline_ms`` (the latest deadline of the batch's requests) passes while the
        change set waits, it is not written and :class:`CommitExpired` is raised.
        """
        await self.submit(change_set, deadline_ms)

    def submit(self, change_set: ChangeSet, deadline_ms: int | None = None) -> asyncio.Future[None]:
        """:meth:`commit`, as a future (done once written, or failed) rather than a
        coroutine: an activation hands over each batch without a task of its own."""
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        if not self.running:
            future.set_exception(RuntimeError("the committer is stopped"))
            return future
        self._pending.append(_Pending(change_set, future, deadline_ms or 2**62))
        self._wakeup.set()
        return future

    def clear_published(self, event_ids: Sequence[str]) -> bool:
        """Delete these published events' outbox rows with the next group (nobody waits:
        rows left by a failed group are published again, harmlessly, and cleared then).
        False if the committer is not running."""
        if not self.running:
            return False
        if not event_ids:
            return True
        self._published.extend(event_ids)
        if self._published_since is None:
            loop = asyncio.get_running_loop()
            self._published_since = loop.time()
            loop.call_later(self._clear_after_s, self._wakeup.set)
        if len(self._published) >= self._clear_max:
            self._wakeup.set()
        return True

    async def _run(self) -> None:
        while True:
            await self._wakeup.wait()
            self._wakeup.clear()
            while self._pending or self._clearing_due():
                if self._in_flight == 1:  # the next group forms as soon as this one is written
                    await self._write(self._take_group())
                    continue
                await self._slots.acquire()
                task = asyncio.create_task(self._write_in_slot(self._take_group()))
                self._writing.add(task)
                task.add_done_callback(self._writing.discard)
            if self._stopping:
                await asyncio.gather(*self._writing)
                if not self._pending and not self._clearing_due():
                    return
                self._wakeup.set()

    def _take_group(self) -> list[_Pending]:
        take, size = 0, 0
        for p in self._pending[: self._max]:
            size += sum(len(e.payload) for e in p.change_set.events)
            if take and size > self._max_event_bytes:
                break
            take += 1
        group = self._pending[:take]
        del self._pending[:take]
        group = self._unexpired(group)
        if self._published:
            group.append(self._clearing())
        return group

    async def _write_in_slot(self, group: list[_Pending]) -> None:
        try:
            await self._write(group)
        finally:
            self._slots.release()

    def _clearing_due(self) -> bool:
        """Whether published ids should be deleted in a transaction of their own."""
        since = self._published_since
        if since is None:
            return False
        waited = asyncio.get_running_loop().time() - since
        return (
            self._stopping
            or waited >= self._clear_after_s
            or len(self._published) >= self._clear_max
        )

    def _clearing(self) -> _Pending:
        ids, self._published = tuple(self._published), []
        self._published_since = None
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        future.add_done_callback(_consume)  # a failure only leaves rows to publish again
        return _Pending(ChangeSet("", published=ids), future, 2**62)

    def _unexpired(self, group: list[_Pending]) -> list[_Pending]:
        now = now_ms()
        live = []
        for p in group:
            if p.deadline_ms > now:
                live.append(p)
            else:
                self.stats.expired_change_sets += 1
                if not p.future.done():
                    p.future.set_exception(CommitExpired("the requests expired before commit"))
        return live

    async def _write(self, group: list[_Pending]) -> None:
        if not group:
            return
        started = time.perf_counter()
        try:
            await self._ledger.apply([p.change_set for p in group])
        except StoreUnavailable as e:
            # The store is down: retrying each change set apart would only wait N times.
            for p in group:
                self._fail(p, e)
        except Exception as e:
            if len(group) == 1:
                self._fail(group[0], e)
                return
            log.warning("group of %d failed (%r); retrying apart", len(group), e)
            self.stats.split_retries += 1
            for p in group:
                try:
                    await self._ledger.apply([p.change_set])
                except Exception as single:
                    self._fail(p, single)
                else:
                    self._done([p])
        else:
            self._done(group)
        finally:
            self.commit_seconds.observe(time.perf_counter() - started)

    def _done(self, group: list[_Pending]) -> None:
        actors = sum(1 for p in group if not p.change_set.published)  # not the relay's
        self.stats.groups += 1 if actors else 0
        self.stats.change_sets += actors
        events: list[OutboxEvent] = []
        for p in group:
            events.extend(p.change_set.events)
            if not p.future.done():
                p.future.set_result(None)
        if events and self._on_committed is not None:
            self._on_committed(events)

    def _fail(self, pending: _Pending, error: Exception) -> None:
        self.stats.failed_change_sets += 1
        if not pending.future.done():
            pending.future.set_exception(error)


def _consume(future: asyncio.Future[None]) -> None:
    if not future.cancelled():
        future.exception()
