"""Bulk rewards: up to 100,000 rows (person, points) in one job, carried out in the
background in chunks, each chunk exactly once; progress and a per-row result."""

from __future__ import annotations

from typing import Annotated

import msgspec

from bus.messages.budget import BudgetId
from bus.messages.common import TENANT_WIDE

KIND = "bulk"
MAX_ROWS = 100_000
#: Rows sent to the job per message while it is loading (keeps messages small).
LOAD_CHUNK = 5_000


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
    job_id: str
    total: Annotated[int, msgspec.Meta(ge=1, le=MAX_ROWS)]

    @property
    def actor_key(self) -> str:
        return self.job_id


class ContinueBulk(msgspec.Struct, frozen=True, tag="bulk.continue"):
    """Carry out the next chunk (a job sends this to itself; any number is harmless)."""

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


BulkCommand = LoadBulkRows | StartBulk | ContinueBulk | GetBulk | BulkResults


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
