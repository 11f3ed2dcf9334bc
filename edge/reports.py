"""Reports: what the warehouse knows about the caller's tenant, by day (ADR 26).

``GET /api/v1/reports/daily?from=&to=`` and ``GET /api/v1/reports/top-products?from=&to=
&limit=``, days in UTC, both inclusive. The tenant is the token's, always; the request
goes to the warehouse process over ``pb.rpt.<tenant>``. The operations are shared with
GraphQL.
"""

from __future__ import annotations

from typing import Annotated

import msgspec
from aiohttp import web

from bus.errors import BusError, ErrorCode
from bus.messages.common import Err, Ok
from bus.messages.reports import (
    DailyReport,
    DailySummary,
    Day,
    DaySummary,
    ProductRanking,
    ProductSales,
    ReportCommand,
    ReportValue,
    TopProducts,
    report_days,
)
from bus.scopes import SCOPE_REPORTS
from edge.http import answer, caller, read_query
from edge.operations import Caller, missing_scope

routes = web.RouteTableDef()


class ReportQuery(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    first: Day = msgspec.field(name="from")
    last: Day = msgspec.field(name="to")


class TopProductsQuery(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    first: Day = msgspec.field(name="from")
    last: Day = msgspec.field(name="to")
    limit: Annotated[int, msgspec.Meta(ge=1, le=100)] = 10


class DailyReportOut(msgspec.Struct, frozen=True):
    first: str = msgspec.field(name="from")
    last: str = msgspec.field(name="to")
    #: How far into the event stream the warehouse has loaded: later events are not in it.
    loaded_sequence: int = 0
    days: tuple[DaySummary, ...] = ()


class TopProductsOut(msgspec.Struct, frozen=True):
    first: str = msgspec.field(name="from")
    last: str = msgspec.field(name="to")
    loaded_sequence: int = 0
    products: tuple[ProductSales, ...] = ()


async def ask(caller: Caller, body: ReportCommand) -> ReportValue | Err:
    """The checks the warehouse repeats, then the request (tenant from the token)."""
    if denied := missing_scope(caller, SCOPE_REPORTS):
        return denied
    if caller.identity.principal.grants:
        return Err.of(ErrorCode.FORBIDDEN, "reports cover the whole tenant, not some budgets")
    days = report_days(body.first_day, body.last_day)
    if isinstance(days, Err):
        return days
    identity = caller.identity
    try:
        reply = await caller.bus.report(
            identity.tenant, body, identity.principal, timeout_s=caller.timeout_s
        )
    except BusError as e:
        return Err(code=e.code, message=str(e), retryable=True)
    return reply.value if isinstance(reply, Ok) else reply


async def daily_report(caller: Caller, query: ReportQuery) -> DailyReportOut | Err:
    value = await ask(caller, DailyReport(query.first, query.last))
    if isinstance(value, Err):
        return value
    if not isinstance(value, DailySummary):
        return Err.of(ErrorCode.INTERNAL, f"unexpected reply {type(value).__name__}")
    return DailyReportOut(query.first, query.last, value.loaded_sequence, value.days)


async def top_products(caller: Caller, query: TopProductsQuery) -> TopProductsOut | Err:
    value = await ask(caller, TopProducts(query.first, query.last, query.limit))
    if isinstance(value, Err):
        return value
    if not isinstance(value, ProductRanking):
        return Err.of(ErrorCode.INTERNAL, f"unexpected reply {type(value).__name__}")
    return TopProductsOut(query.first, query.last, value.loaded_sequence, value.products)


@routes.get("/api/v1/reports/daily")
async def get_daily_report(request: web.Request) -> web.Response:
    who = caller(request)
    query = read_query(request, ReportQuery)
    return answer(request, await daily_report(who, query))


@routes.get("/api/v1/reports/top-products")
async def get_top_products(request: web.Request) -> web.Response:
    who = caller(request)
    query = read_query(request, TopProductsQuery)
    return answer(request, await top_products(who, query))
