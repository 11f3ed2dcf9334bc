"""GraphQL for bulk rewards and campaigns: jobs with a name and a time to start, listed,
moved and cancelled (operations shared with REST)."""

from __future__ import annotations

import uuid
from typing import Annotated

import strawberry

from bus.messages import Err
from edge import bulk_operations, operations
from edge.bulk import parse_rows
from edge.graphql.common import AnyError, GqlInfo, Long, caller, error, invalid, page_query
from edge.schemas import BulkJobOut
from edge.validation import Invalid, check_idempotency_key, convert


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
    #: A campaign's name; "" for a job without one.
    name: str
    #: When it starts (``scheduled``) or started; null for jobs from before campaigns.
    start_at: str | None
    #: The points its rows issue if every row succeeds.
    points: Long


@strawberry.type
class BulkJobList:
    jobs: list[BulkJob]
    #: Pass as ``after`` for the next (older) page; null on the last page.
    next_cursor: str | None


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
BulkJobListResult = Annotated[BulkJobList | AnyError, strawberry.union("BulkJobListResult")]


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
        name=out.name,
        start_at=out.start_at,
        points=Long(out.points),
    )


async def start_bulk(
    info: GqlInfo,
    budget_id: strawberry.ID,
    csv: str,
    idempotency_key: str | None = None,
    name: str | None = None,
    start_at: str | None = None,
) -> BulkJobResult:
    try:
        check_idempotency_key(idempotency_key)
    except Invalid as e:
        return invalid(e, "idempotencyKey")
    try:
        checked_name = bulk_operations.job_name(name)
    except Invalid as e:
        return invalid(Invalid(e.detail), "name")
    try:
        start_at_ms = bulk_operations.start_at_ms(start_at)
    except Invalid as e:
        return invalid(Invalid(e.detail), "startAt")
    try:
        rows = parse_rows(csv)
    except Invalid as e:
        return invalid(e, "csv")
    who = caller(info, idempotency_key)
    job_id = operations.bulk_job_id(who, uuid.uuid4().hex, rows, checked_name, start_at_ms)
    result = await operations.start_bulk(
        who, job_id, str(budget_id), rows, checked_name, start_at_ms
    )
    return error(result) if isinstance(result, Err) else job(result)


async def list_bulk(
    info: GqlInfo, status: str | None = None, first: int = 20, after: str | None = None
) -> BulkJobListResult:
    try:
        args = page_query(first, after) | ({} if status is None else {"status": status})
        query = convert(args, bulk_operations.BulkQuery)
    except Invalid as e:
        return invalid(e, "bulkJobs")
    result = await bulk_operations.list_bulk(caller(info), query)
    if isinstance(result, Err):
        return error(result)
    return BulkJobList(jobs=[job(j) for j in result.jobs], next_cursor=result.next_cursor)


async def reschedule_bulk(
    info: GqlInfo, id: strawberry.ID, start_at: str | None = None
) -> BulkJobResult:
    try:
        start_at_ms = bulk_operations.start_at_ms(start_at)
    except Invalid as e:
        return invalid(Invalid(e.detail), "startAt")
    result = await bulk_operations.reschedule_bulk(caller(info), str(id), start_at_ms)
    return error(result) if isinstance(result, Err) else job(result)


async def cancel_bulk(info: GqlInfo, id: strawberry.ID) -> BulkJobResult:
    result = await bulk_operations.cancel_bulk(caller(info), str(id))
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
