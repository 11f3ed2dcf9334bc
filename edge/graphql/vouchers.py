"""GraphQL for voucher pools (operations shared with REST)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

import strawberry

from bus.messages import Err
from edge import listings, operations
from edge.graphql.common import (
    AnyError,
    GqlInfo,
    MinorUnits,
    caller,
    error,
    invalid,
    mutate,
    page_query,
)
from edge.schemas import GenerateCodesIn, ImportReportOut, PoolOut
from edge.validation import Invalid, check_idempotency_key, convert
from edge.vouchers import parse_csv


@strawberry.type
class Pool:
    product_id: strawberry.ID
    face_value_minor: MinorUnits
    available: int
    allocated: int


@strawberry.type
class RowProblem:
    row: int
    reason: str


@strawberry.type
class ImportReport:
    imported: int
    rejected: list[RowProblem]
    pool: Pool


@strawberry.type
class PoolList:
    pools: list[Pool]
    #: Pass as ``after`` for the next page; null on the last page.
    next_cursor: str | None


PoolResult = Annotated[Pool | AnyError, strawberry.union("PoolResult")]
PoolListResult = Annotated[PoolList | AnyError, strawberry.union("PoolListResult")]
ImportResult = Annotated[ImportReport | AnyError, strawberry.union("ImportResult")]


@strawberry.input
class ImportCodesInput:
    currency: str
    csv: str = strawberry.field(description="code[,pin][,url][,expires_at], with a header row")


@strawberry.input
class GenerateCodesInput:
    currency: str
    count: int
    expires_at: datetime | None = None


def pool(out: PoolOut) -> Pool:
    return Pool(
        product_id=strawberry.ID(out.product_id),
        face_value_minor=MinorUnits(out.face_value_minor),
        available=out.available,
        allocated=out.allocated,
    )


def report(out: ImportReportOut) -> ImportReport:
    return ImportReport(
        imported=out.imported,
        rejected=[RowProblem(row=p.row, reason=p.reason) for p in out.rejected],
        pool=pool(out.pool),
    )


async def get_pool(info: GqlInfo, product_id: strawberry.ID, face_value: MinorUnits) -> PoolResult:
    result = await operations.get_pool(caller(info), str(product_id), str(face_value))
    return error(result) if isinstance(result, Err) else pool(result)


async def list_pools(info: GqlInfo, first: int = 20, after: str | None = None) -> PoolListResult:
    try:
        query = convert(page_query(first, after), listings.PageQuery)
    except Invalid as e:
        return invalid(e, "voucherPools")
    result = await listings.list_pools(caller(info), query)
    if isinstance(result, Err):
        return error(result)
    return PoolList(pools=[pool(p) for p in result.pools], next_cursor=result.next_cursor)


async def import_codes(
    info: GqlInfo,
    product_id: strawberry.ID,
    face_value: MinorUnits,
    input: ImportCodesInput,
    idempotency_key: str | None = None,
) -> ImportResult:
    try:
        check_idempotency_key(idempotency_key)
    except Invalid as e:
        return invalid(e, "idempotencyKey")
    try:
        data = parse_csv(input.csv, input.currency)
    except Invalid as e:
        return invalid(e)
    who = caller(info, idempotency_key)
    result = await operations.import_codes(who, str(product_id), str(face_value), data)
    return error(result) if isinstance(result, Err) else report(result)


async def generate_codes(
    info: GqlInfo,
    product_id: strawberry.ID,
    face_value: MinorUnits,
    input: GenerateCodesInput,
    idempotency_key: str | None = None,
) -> ImportResult:
    async def operation(who: operations.Caller, data: GenerateCodesIn) -> ImportReportOut | Err:
        return await operations.generate_codes(who, str(product_id), str(face_value), data)

    result: ImportResult = await mutate(
        info, idempotency_key, input, GenerateCodesIn, operation, report
    )
    return result
