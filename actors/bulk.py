"""The bulk actor: one per job, it issues up to 100,000 rewards in the background.

A job is loaded in slices (``LoadBulkRows``, stored as ``bulk_rows``), then started. The
actor then works in chunks: it reads the next ``CHUNK`` pending rows, asks the treasury to
issue them all in one decision (``IssuePointsMany``, idempotency key = job and chunk, so a
chunk repeated after a crash has no second effect and gets the same per-row results),
writes the rows' results and the job's progress in one commit, and tells itself to go
on. Status and results can be read between chunks. A host that starts tells every
running job to go on, so a job survives a crash of its host.

A job started with a time to start (a campaign, ADR 39) is ``scheduled`` until then; every
host asks the ledger for the scheduled jobs that are due (``due_jobs``, every
``schedule_poll_s``) and tells them to go on, and a job that is told so once its time has
come starts. Until it starts it may be moved to another time or cancelled.

The actor keeps ``AHEAD`` chunks asked ahead: the treasury has the next chunks before
this one's answer is in, so that it decides one while another is written (the treasury
is pipelined, ADR 21) and never waits for the job's own commit. Chunks reach the
treasury, and results the job, in row order; an ask ahead that is never used (the actor
reloaded, or backed off) costs nothing but a stored reply, since asking again with its
key gets the same answer. Each chunk but the first names the chunk before it (``after``):
the treasury refuses it, as retryable and with no effect, until that chunk has been
answered (in memory, or its stored reply), so a chunk the treasury could not answer (a
commit that failed, an ask that expired in its mailbox) is never overtaken by the chunks
asked ahead of it. (A job left for longer than stored replies are kept — 30 days, past
which its chunks' exactly-once would not hold either — waits instead of going on.)
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Sequence
from typing import NamedTuple

from msgspec.structs import replace

from actors.runtime.actor import ActorContext, ActorKey, ActorKind, Decision
from bus import acl
from bus.errors import ErrorCode
from bus.events import OutboxEvent, make_event
from bus.messages import Command, Err, Ok, Reply, Request, treasury
from bus.messages.bulk import (
    KIND,
    MAX_JOB_POINTS,
    BulkEvent,
    BulkResultPage,
    BulkResults,
    BulkView,
    CancelBulk,
    ContinueBulk,
    GetBulk,
    IssueItem,
    IssuePointsMany,
    LoadBulkRows,
    ManyIssued,
    RescheduleBulk,
    RowResult,
    StartBulk,
)
from bus.time import now_ms, rfc3339
from storage.ports import BulkJobRecord, BulkRowRecord, ChangeSet, PutBulkJob, bulk_reward_id

CHUNK = 1000
#: Chunks asked for ahead of the one whose answer is awaited (ADR 21: 1 → 2 took a
#: 100,000-row job from about 17,600 to 19,400 rewards/s).
AHEAD = 2
#: Who may run bulk jobs and read their per-person results (and the system, going on).
OPERATORS = frozenset({"owner", "admin", "finance", "programme_manager", "integrator", "system"})


class _Asked(NamedTuple):
    first: int
    rows: list[BulkRowRecord]
    answer: asyncio.Future[Reply] | None


def view(job: BulkJobRecord) -> BulkView:
    return BulkView(
        job.job_id,
        job.budget_id,
        job.status,
        job.total,
        job.next_row,
        job.succeeded,
        job.failed,
        job.created_ms,
        job.updated_ms,
        job.name,
        job.start_at_ms,
        job.points,
    )


class BulkActor:
    def __init__(self, ctx: ActorContext, key: ActorKey) -> None:
        self.ctx = ctx
        self.tenant = key.tenant
        self.job_id = key.key
        self.job: BulkJobRecord | None = None
        self._backoff = 0.25
        #: The chunks asked for ahead, in row order: first row, rows, the treasury's answer.
        self._ahead: deque[_Asked] = deque()
        self._running_on_record = False

    async def on_activate(self) -> None:
        self._drop_ahead()
        self.job = await self.ctx.ledger.load_bulk_job(self.tenant, self.job_id)

    async def on_deactivate(self, reason: str) -> None:
        self._drop_ahead()
        self.job = None

    async def handle(self, batch: Sequence[Request]) -> Decision:
        before = self.job
        #: The status as committed (the actor is not pipelined: a batch starts from what
        #: was written, or reloaded after a failed write). Chunks are asked for only of a
        #: job whose ``running`` is on record: one started in memory whose commit then
        #: failed would reload as ``scheduled`` and could be cancelled after paying.
        self._running_on_record = before is not None and before.status == "running"
        rows: list[BulkRowRecord] = []
        results: list[BulkRowRecord] = []
        replies: list[Reply] = []
        go_on = False
        for request in batch:
            if refused := self._refusal(request):
                replies.append(refused)
                continue
            match request.body:
                case LoadBulkRows() as load:
                    replies.append(self._load(load, rows))
                case StartBulk() as start:
                    replies.append(self._start(start))
                    go_on = self.job is not None and self.job.status == "running"
                case RescheduleBulk(start_at_ms=start_at_ms):
                    replies.append(self._reschedule(start_at_ms))
                    go_on = self.job is not None and self.job.status == "running"
                case CancelBulk():
                    replies.append(self._cancel())
                case ContinueBulk():
                    before_chunk = self.job
                    replies.append(await self._chunk(results))
                    progressed = self.job is not before_chunk
                    if progressed:
                        self._backoff = 0.25
                    go_on = progressed and self.job is not None and self.job.status == "running"
                case GetBulk():
                    replies.append(self._view())
                    go_on = go_on or (self.job is not None and self.job.status == "running")
                case BulkResults(offset=offset, limit=limit):
                    replies.append(await self._results(offset, limit))
                case _:
                    replies.append(Err.of(ErrorCode.INVALID_REQUEST, "not a bulk request"))
        if self.job is not None and self.job.status == "running" and not self._running_on_record:
            # started in this batch (a later ContinueBulk of the batch could not go on):
            # once the start is written, the first chunk
            go_on = True
        changes = None
        if self.job is not None and self.job != before:
            expected = before.version if before is not None else 0
            # the time a reply of this batch showed, if one changed it; else now
            stamped = self.job.updated_ms > (before.updated_ms if before is not None else 0)
            updated_ms = self.job.updated_ms if stamped else now_ms()
            self.job = replace(self.job, version=expected + 1, updated_ms=updated_ms)
            changes = ChangeSet(
                self.tenant,
                bulk_jobs=(PutBulkJob(self.job, expected),),
                bulk_rows=tuple(rows),
                bulk_results=tuple(results),
                events=self._events(before, self.job),
            )
        if go_on:
            # Sent now, handled after this batch commits: the mailbox is worked in order.
            await self.ctx.tell(self.tenant, KIND, ContinueBulk(self.job_id))
        return Decision(replies, changes)

    def _events(
        self, before: BulkJobRecord | None, after: BulkJobRecord
    ) -> tuple[OutboxEvent, ...]:
        """What integrators are told of a batch's change of status: scheduled, started
        (a job that starts and ends in one batch is told as both), finished, cancelled."""
        was = before.status if before is not None else "loading"
        if was == after.status:
            return ()
        names = []
        if after.status == "scheduled":
            names.append("scheduled")
        if was in ("loading", "scheduled") and after.status in ("running", "done"):
            names.append("started")
        if after.status in ("done", "cancelled"):
            names.append("finished" if after.status == "done" else "cancelled")
        data = BulkEvent(
            after.job_id,
            after.budget_id,
            after.name,
            after.status,  # type: ignore[arg-type]  # a stored status is one of BulkStatus
            after.total,
            after.succeeded,
            after.failed,
            after.points,
            rfc3339(after.start_at_ms) if after.start_at_ms else None,
        )
        return tuple(make_event(self.tenant, KIND, name, after.job_id, data) for name in names)

    def _refusal(self, request: Request) -> Err | None:
        """Only operators, whose grants cover the job's budget (or the one it opens on);
        a job they may not see is not there for them."""
        principal = request.principal
        if not OPERATORS & set(principal.roles):
            return Err.of(ErrorCode.NOT_FOUND, f"no bulk job {self.job_id}")
        if self.job is not None:
            if acl.may_use_budget(principal, self.job.budget_id):
                return None
            return Err.of(ErrorCode.NOT_FOUND, f"no bulk job {self.job_id}")
        why = acl.refusal(principal, request.body)
        return Err.of(ErrorCode.FORBIDDEN, why) if why else None

    def _view(self) -> Reply:
        if self.job is None:
            return Err.of(ErrorCode.NOT_FOUND, f"no bulk job {self.job_id}")
        return Ok(view(self.job))

    def _load(self, cmd: LoadBulkRows, rows: list[BulkRowRecord]) -> Reply:
        created = self.job is None
        if self.job is None:
            now = now_ms()
            self.job = BulkJobRecord(
                self.tenant, self.job_id, cmd.budget_id, "loading", 0, 0, 0, 0, now, now, 0
            )
        job = self.job
        if job.budget_id != cmd.budget_id:
            return Err.of(ErrorCode.ALREADY_EXISTS, f"bulk job {self.job_id} exists")
        if cmd.offset + len(cmd.rows) <= job.total:
            return Ok(view(job))  # a slice sent again (a retried upload): loaded already
        if job.status != "loading":
            return Err.of(ErrorCode.ALREADY_EXISTS, f"bulk job {self.job_id} is {job.status}")
        if cmd.offset != job.total:  # slices arrive in order
            return Err.of(ErrorCode.INVALID_REQUEST, f"expected rows from {job.total}")
        points = job.points + sum(row.points for row in cmd.rows)
        if points > MAX_JOB_POINTS:
            if created:
                self.job = None  # nothing of it is kept
            why = f"a job's points add up to at most {MAX_JOB_POINTS}"
            return Err.of(ErrorCode.INVALID_REQUEST, why)
        for i, row in enumerate(cmd.rows):
            rows.append(
                BulkRowRecord(self.job_id, cmd.offset + i, row.person_id, row.points, row.memo)
            )
        self.job = replace(job, total=job.total + len(cmd.rows), points=points)
        return Ok(view(self.job))

    def _start(self, start: StartBulk) -> Reply:
        """Start a loaded job, at once or at its time (a start sent again is answered
        with the job as it is)."""
        if self.job is None:
            return Err.of(ErrorCode.NOT_FOUND, f"no bulk job {self.job_id}")
        if self.job.status == "loading":
            if self.job.total != start.total:
                return Err.of(
                    ErrorCode.INVALID_REQUEST,
                    f"{self.job.total} rows were loaded, not {start.total}",
                )
            now = now_ms()
            later = start.start_at_ms > now
            self.job = replace(
                self.job,
                status="scheduled" if later else "running",
                name=start.name,
                start_at_ms=start.start_at_ms if later else now,
                updated_ms=now,
            )
        return Ok(view(self.job))

    def _reschedule(self, start_at_ms: int) -> Reply:
        now = now_ms()
        job = self.job
        if job is not None and job.status in ("running", "done") and start_at_ms <= now:
            return Ok(view(job))  # asked to start now, and started (a retry, or its time came)
        if (refused := self._unless_scheduled("moved")) is not None:
            return refused
        assert self.job is not None
        if start_at_ms > now:
            self.job = replace(self.job, start_at_ms=start_at_ms, updated_ms=now)
        else:
            self.job = replace(self.job, status="running", start_at_ms=now, updated_ms=now)
        return Ok(view(self.job))

    def _cancel(self) -> Reply:
        if self.job is not None and self.job.status == "cancelled":
            return Ok(view(self.job))  # cancelled again: as it is
        if (refused := self._unless_scheduled("cancelled")) is not None:
            return refused
        assert self.job is not None
        self.job = replace(self.job, status="cancelled", updated_ms=now_ms())
        return Ok(view(self.job))

    def _unless_scheduled(self, what: str) -> Err | None:
        if self.job is None:
            return Err.of(ErrorCode.NOT_FOUND, f"no bulk job {self.job_id}")
        if self.job.status != "scheduled":
            return Err.of(
                ErrorCode.INVALID_REQUEST,
                f"bulk job {self.job_id} is {self.job.status}: only a scheduled job is {what}",
            )
        return None

    async def _chunk(self, results: list[BulkRowRecord]) -> Reply:
        job = self.job
        if job is not None and job.status == "scheduled" and job.start_at_ms <= now_ms():
            # its time has come: recorded first, and the first chunk asked for once it is
            self.job = replace(job, status="running")
            return Ok(view(self.job))
        if job is None or job.status != "running" or not self._running_on_record:
            return self._view()
        asked = self._take_ahead(job.next_row) or await self._ask_chunk(job, job.next_row)
        rows = asked.rows
        if not rows:
            self.job = replace(job, status="done")
            return Ok(view(self.job))
        last = self._ahead[-1] if self._ahead else asked
        try:
            while len(self._ahead) < AHEAD and (first := last.first + len(last.rows)) < job.total:
                last = await self._ask_chunk(job, first)
                self._ahead.append(last)
        except BaseException:  # a read failed: nobody will wait for this chunk's answer
            self._ahead.appendleft(asked)
            self._drop_ahead()
            raise
        assert asked.answer is not None  # rows were asked for
        issued = await asked.answer
        if isinstance(issued, Err):
            if issued.retryable:  # the treasury is not there: come back in a while
                self._drop_ahead()
                self._backoff = min(self._backoff * 2, 30.0)
                self.ctx.tell_later(self._backoff, self.tenant, KIND, ContinueBulk(self.job_id))
                return Ok(view(job))
            outcomes: list[tuple[bool, str]] = [(False, str(issued.code))] * len(rows)
        elif isinstance(issued.value, ManyIssued):
            outcomes = [(r.ok, r.reason) for r in issued.value.results]
        else:
            return Err.of(ErrorCode.INTERNAL, "unexpected reply from the treasury")
        ok = 0
        for row, (success, reason) in zip(rows, outcomes, strict=True):
            ok += success
            results.append(
                replace(
                    row,
                    status="ok" if success else "failed",
                    reason=reason,
                    reward_id=bulk_reward_id(self.job_id, row.row) if success else "",
                )
            )
        next_row = job.next_row + len(rows)
        self.job = replace(
            job,
            next_row=next_row,
            succeeded=job.succeeded + ok,
            failed=job.failed + len(rows) - ok,
            status="done" if next_row >= job.total else "running",
        )
        return Ok(view(self.job))

    def _chunk_key(self, first: int) -> str:
        """A chunk's idempotency key: the same chunk, the same key."""
        return f"bulk:{self.job_id}:{first}"

    async def _ask_chunk(self, job: BulkJobRecord, first: int) -> _Asked:
        """Read the chunk of rows from ``first`` and ask the treasury to issue them once
        the chunk before has been answered; the answer is awaited later (an empty chunk
        asks nothing). Every chunk but the first names the one before — the same body
        whether it is asked ahead or again after a crash, as its key requires."""
        rows = await self.ctx.ledger.bulk_rows(self.tenant, self.job_id, first, CHUNK)
        if not rows:
            return _Asked(first, rows, None)
        items = tuple(
            IssueItem(r.person_id, r.points, bulk_reward_id(self.job_id, r.row), r.memo)
            for r in rows
        )
        ask = self.ctx.ask(
            self.tenant,
            treasury.KIND,
            IssuePointsMany(job.budget_id, items, self._chunk_key(first - CHUNK) if first else ""),
            self._chunk_key(first),
        )
        # Tasks start in the order they are made: chunks are posted in row order.
        return _Asked(first, rows, asyncio.ensure_future(ask))

    def _take_ahead(self, first: int) -> _Asked | None:
        if self._ahead and self._ahead[0].first == first:
            return self._ahead.popleft()
        while self._ahead:
            answer = self._ahead.pop().answer
            if answer is not None and not answer.cancel() and not answer.cancelled():
                answer.exception()  # done already: nobody waits for it, nothing to log
        return None

    def _drop_ahead(self) -> None:
        self._take_ahead(-1)

    async def _results(self, offset: int, limit: int) -> Reply:
        if self.job is None:
            return Err.of(ErrorCode.NOT_FOUND, f"no bulk job {self.job_id}")
        rows = await self.ctx.ledger.bulk_rows(self.tenant, self.job_id, offset, limit)
        return Ok(
            BulkResultPage(
                tuple(
                    RowResult(r.row, r.person_id, r.points, r.status, r.reason, r.reward_id)
                    for r in rows
                )
            )
        )


async def running_jobs(ctx: ActorContext) -> list[tuple[str, Command]]:
    """What a host sends (on start, then on its schedule) so that jobs whose host died go
    on; a job already going takes the extra nudge as one more chunk."""
    return [(t, ContinueBulk(job)) for t, job in await ctx.ledger.running_bulk_jobs(10_000)]


async def due_jobs(ctx: ActorContext) -> list[tuple[str, Command]]:
    """Scheduled jobs whose time has come: told to go on, they start."""
    return [(t, ContinueBulk(job)) for t, job in await ctx.ledger.due_bulk_jobs(now_ms(), 1_000)]


BULK = ActorKind(
    KIND,
    BulkActor,
    accepts=(
        LoadBulkRows,
        StartBulk,
        RescheduleBulk,
        CancelBulk,
        ContinueBulk,
        GetBulk,
        BulkResults,
    ),
    resume=running_jobs,
    due=due_jobs,
)
