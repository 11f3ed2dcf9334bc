"""Report requests (``pb.rpt.<tenant>``), answered from the warehouse.

Not an actor: nothing here decides or writes, and the warehouse has one process that
holds it (``perkbus warehouse``, ADR 26), which subscribes to every tenant's report
subject in one queue group. The edge has checked the token; this checks again what the
data needs: the envelope's tenant is the subject's, the principal may read reports, and
is not narrowed to some budgets (a report covers the whole tenant).
"""

from __future__ import annotations

import logging

import msgspec
from nats.aio.client import Client as NatsClient
from nats.aio.msg import Msg
from nats.aio.subscription import Subscription

from actors.service_health import store_health
from bus import subjects
from bus.barrier import barrier
from bus.errors import ErrorCode
from bus.messages import encoder
from bus.messages.common import Err, Ok
from bus.messages.funding import FUNDING_READERS
from bus.messages.reports import (
    DailyReport,
    DailySummary,
    DaySummary,
    ProductRanking,
    ReportReply,
    TopProducts,
    report_days,
    report_request_decoder,
)
from bus.messages.system import HostHealth
from bus.scopes import SCOPE_REPORTS, permissions
from bus.time import now_ms
from storage.errors import StorageError
from storage.warehouse_ports import Warehouse

log = logging.getLogger(__name__)

QUEUE = "warehouse"


class ReportService:
    def __init__(self, nc: NatsClient, warehouse: Warehouse) -> None:
        self._nc = nc
        self._warehouse = warehouse
        self._subs: list[Subscription] = []

    async def start(self) -> None:
        self._subs = [
            await self._nc.subscribe(subjects.all_reports(), queue=QUEUE, cb=self._on_request),
            await self._nc.subscribe(subjects.WAREHOUSE_HEALTH, cb=self._on_health),
        ]
        await barrier(self._nc)  # started means answering

    async def stop(self) -> None:
        for sub in self._subs:
            await sub.unsubscribe()
        self._subs = []

    async def health(self) -> HostHealth:
        """The warehouse's store, pinged (for the edge's ``/readyz``)."""
        return await store_health("warehouse", self._warehouse.name, self._warehouse.ping)

    async def _on_health(self, msg: Msg) -> None:
        if msg.reply:
            await msg.respond(encoder.encode(await self.health()))

    async def _on_request(self, msg: Msg) -> None:
        try:
            tenant = subjects.parse_reports(msg.subject)
        except subjects.InvalidToken:
            return
        reply = await self.answer(tenant, msg.data)
        if msg.reply:
            await msg.respond(encoder.encode(reply))

    async def answer(self, tenant: str, data: bytes) -> ReportReply:
        try:
            request = report_request_decoder.decode(data)
        except msgspec.DecodeError as e:  # ValidationError is one
            return Err.of(ErrorCode.INVALID_REQUEST, f"not a report request: {e}")
        if request.tenant != tenant:
            return Err.of(ErrorCode.FORBIDDEN, "the request is about another tenant")
        principal = request.principal
        if SCOPE_REPORTS not in permissions(principal.roles, principal.scopes):
            return Err.of(ErrorCode.FORBIDDEN, f"reports need the permission {SCOPE_REPORTS}")
        if principal.grants:
            return Err.of(ErrorCode.FORBIDDEN, "reports cover the whole tenant, not some budgets")
        if request.deadline_ms < now_ms():
            return Err.of(ErrorCode.DEADLINE_EXCEEDED, "the request's deadline has passed")
        body = request.body
        days = report_days(body.first_day, body.last_day)
        if isinstance(days, Err):
            return days
        first, last = days
        try:
            loaded = await self._warehouse.last_sequence()
            match body:
                case DailyReport():
                    found = await self._warehouse.daily_summary(tenant, first, last)
                    if not FUNDING_READERS & set(principal.roles):
                        found = [_without_funding(day) for day in found]
                    return Ok(DailySummary(tuple(found), loaded))
                case TopProducts(limit=limit):
                    ranked = await self._warehouse.top_products(tenant, first, last, limit)
                    return Ok(ProductRanking(tuple(ranked), loaded))
        except StorageError as e:
            log.warning("reports: %s", e)
            return Err.of(ErrorCode.UNAVAILABLE, "the warehouse is unavailable")
        except Exception:
            log.exception("reports: %s for %s", type(body).__name__, tenant)
            return Err.of(ErrorCode.INTERNAL, "the report failed")
        raise AssertionError("unreachable")  # pragma: no cover


def _without_funding(day: DaySummary) -> DaySummary:
    """A day's summary for one who does not read funding (ADR 38): its budgets' movements
    only, not its funding accounts'."""
    movements = tuple(m for m in day.movements if m.account_kind != "funding")
    return msgspec.structs.replace(day, movements=movements)
