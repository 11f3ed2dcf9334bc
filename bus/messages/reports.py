"""Reports context: questions answered from the warehouse (ADR 26).

The warehouse is loaded from ``PB_EVENTS`` by one process, ``perkbus warehouse``, which
also answers these requests on ``pb.rpt.<tenant>`` (not ``pb.rpc``: that subject space is
partitioned over the actor hosts, and no actor holds the warehouse). A request is always
about the tenant of its envelope; days are UTC calendar days, ``first_day`` to
``last_day`` inclusive. Amounts are integer minor units with their currency, summed per
currency and never converted.
"""

from __future__ import annotations

from datetime import date
from typing import Annotated

import msgspec

from bus.errors import ErrorCode
from bus.messages.common import Envelope, Err, Ok, whole

KIND = "reports"
#: The longest range one request may cover (a year and a day, leap years included).
MAX_DAYS = 367

Day = Annotated[str, msgspec.Meta(pattern=whole("[0-9]{4}-[0-9]{2}-[0-9]{2}"))]


class DailyReport(msgspec.Struct, frozen=True, tag="reports.daily"):
    """Per day: orders by status and currency, rewards issued, budget and funding movements."""

    first_day: Day
    last_day: Day


class TopProducts(msgspec.Struct, frozen=True, tag="reports.top_products"):
    """The products most ordered (fulfilled orders placed in the range)."""

    first_day: Day
    last_day: Day
    limit: Annotated[int, msgspec.Meta(ge=1, le=100)] = 10


ReportCommand = DailyReport | TopProducts


def report_days(first: str, last: str) -> tuple[date, date] | Err:
    """The range a report covers, or why it cannot be one."""
    try:
        start, end = date.fromisoformat(first), date.fromisoformat(last)
    except ValueError as e:
        return Err.of(ErrorCode.INVALID_REQUEST, f"not a calendar day: {e}")
    if end < start:
        return Err.of(ErrorCode.INVALID_REQUEST, f"{last} is before {first}")
    if (end - start).days >= MAX_DAYS:
        return Err.of(ErrorCode.INVALID_REQUEST, f"a report covers {MAX_DAYS} days at most")
    return start, end


class OrderTotal(msgspec.Struct, frozen=True):
    """Orders placed on a day that now have ``status``, by the currency of their face value."""

    status: str
    currency: str
    orders: int
    face_minor: int


class RewardTotal(msgspec.Struct, frozen=True):
    """Rewards issued on a day, by the currency of what they cost their budgets."""

    currency: str
    rewards: int
    points: int
    cost_minor: int


class MovementTotal(msgspec.Struct, frozen=True):
    """What went out of (debit) and into (credit) one budget or funding account on a day."""

    account_kind: str
    account_id: str
    currency: str
    debit_minor: int
    credit_minor: int
    entries: int


class DaySummary(msgspec.Struct, frozen=True):
    day: str
    orders: tuple[OrderTotal, ...] = ()
    rewards: tuple[RewardTotal, ...] = ()
    movements: tuple[MovementTotal, ...] = ()


class DailySummary(msgspec.Struct, frozen=True, tag="reports.daily_summary"):
    """Only days with something in them; ``loaded_sequence`` is how far into ``PB_EVENTS``
    the warehouse has loaded (every later event is not counted yet)."""

    days: tuple[DaySummary, ...]
    loaded_sequence: int


class ProductSales(msgspec.Struct, frozen=True):
    product_id: str
    currency: str
    orders: int
    face_minor: int


class ProductRanking(msgspec.Struct, frozen=True, tag="reports.product_ranking"):
    products: tuple[ProductSales, ...]
    loaded_sequence: int


ReportValue = DailySummary | ProductRanking
ReportReply = Ok[ReportValue] | Err
ReportRequest = Envelope[ReportCommand]

report_request_decoder: msgspec.msgpack.Decoder[ReportRequest] = msgspec.msgpack.Decoder(
    ReportRequest
)
report_reply_decoder: msgspec.msgpack.Decoder[ReportReply] = msgspec.msgpack.Decoder(ReportReply)
