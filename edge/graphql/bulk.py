"""GraphQL for bulk rewards (operations shared with REST)."""

from __future__ import annotations

import uuid
from typing import Annotated

import strawberry

from bus.messages import Err
from edge import operations
from edge.bulk import parse_rows
from edge.graphql.common import AnyError, GqlInfo, Long, caller, error, invalid
from edge.schemas import BulkJobOut
from edge.validation import Invalid, check_idempotency_key


@strawberry.type
class BulkJob:
    id: strawberry.ID
    budget_id: strawberry.ID
    status: str
    total: int
    done: int
    succeeded: int
    failed: int
    created_at: str
    updated_at: str


@strawberry.type
class BulkRowResult:
    row: int
    person_id: str
    points: Long
    status: str
    reason: str
    reward_id: str


@strawberry.type
class BulkResultPage:
    rows: list[BulkRowResult]
    next_offset: int | None


BulkJobResult = Annotated[BulkJob | AnyError, strawberry.union("BulkJobResult")]
BulkResultsResult = Annotated[BulkResultPage | AnyError, strawberry.union("BulkResultsResult")]


def job(out: BulkJobOut) -> BulkJob:
    return BulkJob(
        id=strawberry.ID(out.id),
        budget_id=strawberry.ID(out.budget_id),
        status=out.status,
        total=out.total,
        done=out.done,
        succeeded=out.succeeded,
        failed=out.failed,
        created_at=out.created_at,
        updated_at=out.updated_at,
    )


async def start_bulk(
    info: GqlInfo, budget_id: strawberry.ID, csv: str, idempotency_key: str | None = None
) -> BulkJobResult:
    try:
        check_idempotency_key(idempotency_key)
    except Invalid as e:
        return invalid(e, "idempotencyKey")
    try:
        rows = parse_rows(csv)
    except Invalid as e:
        return invalid(e, "csv")
    who = caller(info, idempotency_key)
    job_id = operations.bulk_job_id(who, uuid.uuid4().hex, rows)
    result = await operations.start_bulk(who, job_id, str(budget_id), rows)
    return error(result) if isinstance(result, Err) else job(result)


async def get_bulk(info: GqlInfo, id: strawberry.ID) -> BulkJobResult:
    result = await operations.get_bulk(caller(info), str(id))
    return error(result) if isinstance(result, Err) else job(result)


async def get_bulk_results(info: GqlInfo, id: strawberry.ID, offset: int = 0) -> BulkResultsResult:
    result = await operations.bulk_results(caller(info), str(id), offset)
    if isinstance(result, Err):
        return error(result)
    rows = [
        BulkRowResult(
            row=r[0], person_id=r[1], points=Long(r[2]), status=r[3], reason=r[4], reward_id=r[5]
        )
        for r in result
    ]
    return BulkResultPage(rows=rows, next_offset=offset + len(rows) if rows else None)
