"""GraphQL for reports from the warehouse (operations shared with REST, ``edge.reports``)."""

from __future__ import annotations

from typing import Annotated

import strawberry

from bus.messages import Err
from bus.messages.reports import DaySummary
from edge import reports
from edge.graphql.common import AnyError, GqlInfo, MinorUnits, caller, error, invalid
from edge.validation import Invalid, convert

FROM = strawberry.argument(name="from", description="First day (UTC, YYYY-MM-DD), inclusive")
TO = strawberry.argument(name="to", description="Last day (UTC), inclusive; ≤ 367 days on")


@strawberry.type
class OrderTotal:
    status: str
    currency: str
    orders: int
    face_minor: MinorUnits


@strawberry.type
class RewardTotal:
    currency: str
    rewards: int
    points: MinorUnits
    cost_minor: MinorUnits


@strawberry.type
class MovementTotal:
    account_kind: str
    account_id: str
    currency: str
    debit_minor: MinorUnits
    credit_minor: MinorUnits
    entries: int


@strawberry.type
class ReportDay:
    day: str
    orders: list[OrderTotal]
    rewards: list[RewardTotal]
    movements: list[MovementTotal]


@strawberry.type
class DailyReport:
    loaded_sequence: MinorUnits
    days: list[ReportDay]


@strawberry.type
class ProductSales:
    product_id: str
    currency: str
    orders: int
    face_minor: MinorUnits


@strawberry.type
class TopProducts:
    loaded_sequence: MinorUnits
    products: list[ProductSales]


DailyReportResult = Annotated[DailyReport | AnyError, strawberry.union("DailyReportResult")]
TopProductsResult = Annotated[TopProducts | AnyError, strawberry.union("TopProductsResult")]


def _day(d: DaySummary) -> ReportDay:
    return ReportDay(
        day=d.day,
        orders=[
            OrderTotal(
                status=o.status,
                currency=o.currency,
                orders=o.orders,
                face_minor=MinorUnits(o.face_minor),
            )
            for o in d.orders
        ],
        rewards=[
            RewardTotal(
                currency=r.currency,
                rewards=r.rewards,
                points=MinorUnits(r.points),
                cost_minor=MinorUnits(r.cost_minor),
            )
            for r in d.rewards
        ],
        movements=[
            MovementTotal(
                account_kind=m.account_kind,
                account_id=m.account_id,
                currency=m.currency,
                debit_minor=MinorUnits(m.debit_minor),
                credit_minor=MinorUnits(m.credit_minor),
                entries=m.entries,
            )
            for m in d.movements
        ],
    )


async def daily_report(
    info: GqlInfo, first: Annotated[str, FROM], last: Annotated[str, TO]
) -> DailyReportResult:
    try:
        query = convert({"from": first, "to": last}, reports.ReportQuery)
    except Invalid as e:
        return invalid(e, "arguments")
    result = await reports.daily_report(caller(info), query)
    if isinstance(result, Err):
        return error(result)
    return DailyReport(
        loaded_sequence=MinorUnits(result.loaded_sequence), days=[_day(d) for d in result.days]
    )


async def top_products(
    info: GqlInfo, first: Annotated[str, FROM], last: Annotated[str, TO], limit: int = 10
) -> TopProductsResult:
    try:
        query = convert({"from": first, "to": last, "limit": limit}, reports.TopProductsQuery)
    except Invalid as e:
        return invalid(e, "arguments")
    result = await reports.top_products(caller(info), query)
    if isinstance(result, Err):
        return error(result)
    return TopProducts(
        loaded_sequence=MinorUnits(result.loaded_sequence),
        products=[
            ProductSales(
                product_id=p.product_id,
                currency=p.currency,
                orders=p.orders,
                face_minor=MinorUnits(p.face_minor),
            )
            for p in result.products
        ],
    )
