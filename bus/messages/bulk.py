"""Bulk rewards: up to 100,000 rows (person, points) in one job, carried out in the
background in chunks, each chunk exactly once; progress and a per-row result.

A job may carry a name and a time to start (a campaign, ADR 39): it then waits as
``scheduled`` until that time, and may be moved to another time or cancelled until it
starts."""

from __future__ import annotations

from typing import Annotated, Literal

import msgspec

from bus.messages.budget import BudgetId
from bus.messages.common import ONE_LINE, TENANT_WIDE, Cursor, PageSize

KIND = "bulk"
MAX_ROWS = 100_000
#: The most points one job's rows may add up to: as many as one reward may issue
#: (``bus.messages.wallet.Points``), far past what any budget pays for, and within the
#: ledger's 64-bit integers.
MAX_JOB_POINTS = 2**53
#: Rows sent to the job per message while it is loading (keeps messages small).
LOAD_CHUNK = 5_000
#: A job is loaded, then waits for its time (if it has one), runs, and is done; a job
#: waiting for its time may be cancelled instead.
BulkStatus = Literal["loading", "scheduled", "running", "done", "cancelled"]
#: A campaign's name, as people read it in lists.
JobName = Annotated[str, msgspec.Meta(max_length=120, pattern=f"^$|{ONE_LINE}")]
#: When a job starts, in milliseconds since 1970; 0 is at once.
StartAt = Annotated[int, msgspec.Meta(ge=0, lt=2**53)]


class BulkRow(msgspec.Struct, frozen=True, array_like=True):
    person_id: str
    points: int
    memo: str = ""


class LoadBulkRows(msgspec.Struct, frozen=True, tag="bulk.load"):
    """Add rows (from ``offset``) to a new job; the first call opens it."""

    job_id: str
    budget_id: BudgetId
    offset: Annotated[int, msgspec.Meta(ge=0, lt=MAX_ROWS)]
    rows: Annotated[tuple[BulkRow, ...], msgspec.Meta(max_length=LOAD_CHUNK)]

    @property
    def actor_key(self) -> str:
        return self.job_id


class StartBulk(msgspec.Struct, frozen=True, tag="bulk.start"):
    """Close a loaded job's rows and start it: at once, or at ``start_at_ms`` if that is
    later than now (it is then ``scheduled``)."""

    job_id: str
    total: Annotated[int, msgspec.Meta(ge=1, le=MAX_ROWS)]
    name: JobName = ""
    start_at_ms: StartAt = 0

    @property
    def actor_key(self) -> str:
        return self.job_id


class ContinueBulk(msgspec.Struct, frozen=True, tag="bulk.continue"):
    """Carry out the next chunk (a job sends this to itself; any number is harmless)."""

    job_id: str

    @property
    def actor_key(self) -> str:
        return self.job_id


class RescheduleBulk(msgspec.Struct, frozen=True, tag="bulk.reschedule"):
    """Move a scheduled job to another time; 0, or a time past, starts it now."""

    job_id: str
    start_at_ms: StartAt = 0

    @property
    def actor_key(self) -> str:
        return self.job_id


class CancelBulk(msgspec.Struct, frozen=True, tag="bulk.cancel"):
    """Cancel a scheduled job: none of its rows is ever carried out. A job that has
    started cannot be cancelled (its chunks may be with the treasury already)."""

    job_id: str

    @property
    def actor_key(self) -> str:
        return self.job_id


class GetBulk(msgspec.Struct, frozen=True, tag="bulk.get"):
    job_id: str

    @property
    def actor_key(self) -> str:
        return self.job_id


class BulkResults(msgspec.Struct, frozen=True, tag="bulk.results"):
    job_id: str
    offset: int = 0
    limit: Annotated[int, msgspec.Meta(ge=1, le=10_000)] = 10_000

    @property
    def actor_key(self) -> str:
        return self.job_id


class ListBulk(msgspec.Struct, frozen=True, tag="bulk.list"):
    """The tenant's jobs, newest first, of one status or all (read by the history actor:
    each job's own actor knows only its job)."""

    status: BulkStatus | None = None
    limit: PageSize = 20
    cursor: Cursor = ""

    @property
    def actor_key(self) -> str:
        return TENANT_WIDE


BulkCommand = (
    LoadBulkRows
    | StartBulk
    | RescheduleBulk
    | CancelBulk
    | ContinueBulk
    | GetBulk
    | BulkResults
    | ListBulk
)


class BulkView(msgspec.Struct, frozen=True, tag="bulk.job"):
    job_id: str
    budget_id: str
    status: str
    total: int
    done: int
    succeeded: int
    failed: int
    created_ms: int
    updated_ms: int
    name: str = ""
    #: When it starts or started; 0 if it started as soon as it was loaded.
    start_at_ms: int = 0
    #: The points its rows issue if every row succeeds.
    points: int = 0


class BulkEvent(msgspec.Struct, frozen=True):
    """Data of the ``bulk.scheduled``, ``bulk.started``, ``bulk.finished`` and
    ``bulk.cancelled`` events: the job as it is then."""

    job_id: str
    budget_id: str
    name: str
    status: BulkStatus
    total: int
    succeeded: int
    failed: int
    #: The points of all its rows (those that succeed are issued).
    points: int
    #: RFC 3339: when it starts or started; null for jobs from before campaigns.
    start_at: str | None


class BulkPage(msgspec.Struct, frozen=True, tag="bulk.page"):
    jobs: tuple[BulkView, ...]
    next_cursor: str = ""


class RowResult(msgspec.Struct, frozen=True, array_like=True):
    row: int
    person_id: str
    points: int
    status: str
    reason: str
    reward_id: str


class BulkResultPage(msgspec.Struct, frozen=True, tag="bulk.result_page"):
    rows: tuple[RowResult, ...]


class IssueItem(msgspec.Struct, frozen=True, array_like=True):
    person_id: str
    points: int
    reward_id: str
    memo: str = ""


class IssuePointsMany(msgspec.Struct, frozen=True, tag="wallet.issue_many"):
    """Many rewards from one budget in one decision; each item succeeds or fails alone.

    ``after``: the idempotency key of the request that must have been answered first (a
    bulk job's chunk asked ahead names the chunk before it); until it has been, this one
    is refused as retryable and changes nothing, so chunks are issued in their order."""

    budget_id: BudgetId
    items: tuple[IssueItem, ...]
    after: str = ""

    @property
    def actor_key(self) -> str:
        return TENANT_WIDE


class ItemResult(msgspec.Struct, frozen=True, array_like=True):
    ok: bool
    reason: str = ""


class ManyIssued(msgspec.Struct, frozen=True, tag="wallet.many_issued"):
    results: tuple[ItemResult, ...]
