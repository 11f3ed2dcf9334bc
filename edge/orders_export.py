"""The tenant's orders as a CSV file, for finance to reconcile: ``GET
/api/v1/orders/export?from=&to=[&status=]``, days in UTC, both inclusive, newest first.

Staff who read others' orders only (an end user has the app's history); the history
actor narrows those with grants to the orders their budgets paid (ADR 19), as it does the
listing. The file is streamed a page at a time, so a year of orders never sits in memory;
a cell a spreadsheet would take for a formula is written as text (``edge.bulk.inert``).
"""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime, time, timedelta

import msgspec
from aiohttp import web

from bus.errors import ErrorCode
from bus.messages import Err
from bus.messages.history import EXPORT_PAGE, KIND, OTHERS_ORDERS_READERS, ExportOrders, OrderPage
from bus.messages.orders import OrderStatus, OrderView
from bus.messages.reports import Day, report_days
from bus.scopes import SCOPE_ORDERS_READ
from bus.time import rfc3339
from edge.bulk import inert
from edge.http import answer, caller, read_query
from edge.operations import Caller, call, missing_scope, refused

routes = web.RouteTableDef()

#: Orders read from the history actor per page of the file: a page is a bus round trip,
#: so the export asks for pages ten times the API's (``ExportOrders``).
PAGE = EXPORT_PAGE
COLUMNS = (
    "order_id",
    "created_at",
    "updated_at",
    "status",
    "recipient",
    "payer",
    "product_id",
    "face_value_minor",
    "face_value_currency",
    "price_minor",
    "price_currency",
    "voucher_id",
    "failure_reason",
    "external_id",
    "fx_rate",
    "points_rate",
)


class OrdersExportQuery(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    first: Day = msgspec.field(name="from")
    last: Day = msgspec.field(name="to")
    status: OrderStatus | None = None


def _row(o: OrderView) -> list[object]:
    return [
        inert(cell)
        for cell in (
            o.order_id,
            rfc3339(o.created_ms),
            rfc3339(o.updated_ms),
            o.status,
            o.recipient,
            o.payer,
            o.product_id,
            o.face_value.amount_minor,
            o.face_value.currency,
            o.price.amount_minor,
            o.price.currency,
            o.code_id,
            o.reason,
            o.external_id,
            o.fx_rate,
            o.points_rate,
        )
    ]


def _ms(day: datetime) -> int:
    return int(day.timestamp() * 1000)


async def export_page(caller: Caller, query: OrdersExportQuery, cursor: str) -> OrderPage | Err:
    """One page of the export, from ``cursor`` ("" for the newest)."""
    if denied := missing_scope(caller, SCOPE_ORDERS_READ):
        return denied
    if not OTHERS_ORDERS_READERS & set(caller.identity.principal.roles):
        why = "the orders export is for staff who read the tenant's orders"
        refused(caller, why)
        return Err.of(ErrorCode.FORBIDDEN, why)
    days = report_days(query.first, query.last)
    if isinstance(days, Err):
        return days
    if days[0].year < 1970 or days[1].year > 9998:
        return Err.of(ErrorCode.INVALID_REQUEST, "orders are exported from 1970 to 9998")
    first, last = (datetime.combine(d, time(), UTC) for d in days)
    command = ExportOrders(
        status=query.status,
        limit=PAGE,
        cursor=cursor,
        since_ms=_ms(first),
        until_ms=_ms(last + timedelta(days=1)),
    )
    value = await call(caller, KIND, command, keyed=False)
    if isinstance(value, Err | OrderPage):
        return value
    return Err.of(ErrorCode.INTERNAL, f"unexpected reply {type(value).__name__}")


@routes.get("/api/v1/orders/export")
async def export_orders(request: web.Request) -> web.StreamResponse:
    who = caller(request)
    query = read_query(request, OrdersExportQuery)
    page = await export_page(who, query, "")
    if isinstance(page, Err):
        return answer(request, page)
    name = f"orders-{query.first}-{query.last}.csv"
    response = web.StreamResponse(
        headers={
            "Content-Type": "text/csv; charset=utf-8",
            "Content-Disposition": f'attachment; filename="{name}"',
            "Cache-Control": "private, no-store",
        }
    )
    await response.prepare(request)
    await response.write((",".join(COLUMNS) + "\r\n").encode())
    while True:
        out = io.StringIO()
        csv.writer(out).writerows(_row(o) for o in page.orders)
        await response.write(out.getvalue().encode())
        if not page.next_cursor:
            break
        following = await export_page(who, query, page.next_cursor)
        if isinstance(following, Err):  # a failure half-way: end the body; the client retries
            raise ConnectionResetError(following.message)
        page = following
    await response.write_eof()
    return response
