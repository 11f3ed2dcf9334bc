"""Campaigns, once for REST and GraphQL: bulk jobs with a name and a time to start,
listed, moved to another time and cancelled before they start (ADR 39).

A time to start is RFC 3339 with its offset (``2026-12-01T09:00:00+01:00``, or ``Z``). One
a few minutes past is taken as now (a clock a little behind, a form sent late); one
further in the past is refused as a likely mistake, since a job that starts spends.
"""

from __future__ import annotations

import re
from datetime import datetime

import msgspec

from bus.errors import ErrorCode
from bus.messages import Err
from bus.messages.bulk import KIND, BulkPage, BulkStatus, BulkView, CancelBulk, ListBulk
from bus.messages.bulk import RescheduleBulk as RescheduleBulkCommand
from bus.messages.common import ONE_LINE, Cursor, PageSize
from bus.messages.history import KIND as HISTORY
from bus.scopes import SCOPE_BULK
from bus.time import now_ms
from edge.operations import Caller, bulk_out, call, missing_scope
from edge.schemas import BulkJobOut
from edge.validation import Invalid

#: How far in the past a time to start is still taken as now.
PAST_GRACE_MS = 5 * 60 * 1000
#: How far ahead a job may be scheduled.
AHEAD_MAX_MS = 366 * 24 * 3600 * 1000
#: A campaign's name, as :data:`bus.messages.bulk.JobName`.
NAME_MAX = 120
_NAME = re.compile(ONE_LINE)


class BulkQuery(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """The query string of ``GET /api/v1/rewards/bulk``."""

    status: BulkStatus | None = None
    limit: PageSize = 20
    cursor: Cursor | None = None


class BulkListOut(msgspec.Struct, frozen=True):
    jobs: list[BulkJobOut]
    #: Send it back as ``cursor`` for the next (older) page; null on the last page.
    next_cursor: str | None


class RescheduleIn(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """The body of ``PATCH /api/v1/rewards/bulk/{job_id}``: the new time to start; null
    starts the job now."""

    start_at: str | None


def start_at_ms(text: str | None, now: int | None = None) -> int:
    """Milliseconds since 1970 of a time to start as given (0: none given, start now), or
    :class:`Invalid`. A time that has come is kept as given, not made 0: a job's id is
    made from it, and a retry of an upload after its time must find the same job (the
    actor starts a job whose time has come at once)."""
    if text is None:
        return 0
    found = _RFC3339.fullmatch(text)
    if found is None:
        raise Invalid(
            "start_at is an RFC 3339 time with its offset, such as 2026-12-01T09:00:00Z",
            "#/start_at",
        )
    day, clock, fraction, offset = found.groups()
    try:  # fromisoformat takes more than RFC 3339: only the checked parts are given it
        at = datetime.fromisoformat(f"{day}T{clock}{offset.upper().replace('Z', '+00:00')}")
    except ValueError as e:
        raise Invalid(f"start_at is not a time of the calendar: {e}", "#/start_at") from e
    ms = int(at.timestamp()) * 1000 + int((fraction or "0")[:3].ljust(3, "0"))
    now = now_ms() if now is None else now
    if ms < now - PAST_GRACE_MS:
        raise Invalid("start_at is in the past; leave it out to start now", "#/start_at")
    if ms > now + AHEAD_MAX_MS:
        raise Invalid("start_at is more than a year ahead", "#/start_at")
    return ms


#: RFC 3339 ``date-time`` (section 5.6): ``T`` or ``t`` (or a space, which its note
#: allows), seconds 00 to 59 (a leap second is refused: no clock here shows one), an offset
#: ``Z``/``z`` or ±hh:mm.
_RFC3339 = re.compile(
    r"([0-9]{4}-[0-9]{2}-[0-9]{2})[Tt ]([0-9]{2}:[0-9]{2}:[0-5][0-9])(?:\.([0-9]{1,9}))?"
    r"([Zz]|[+-][0-9]{2}:[0-9]{2})"
)


def job_name(text: str | None) -> str:
    """A campaign's name: one line (a line break would forge rows in CSV exports and
    log lines), at most :data:`NAME_MAX` characters; "" for none."""
    name = (text or "").strip()
    if name and (len(name) > NAME_MAX or not _NAME.fullmatch(name)):
        raise Invalid(f"name is one line of at most {NAME_MAX} characters", "#/name")
    return name


async def list_bulk(caller: Caller, query: BulkQuery) -> BulkListOut | Err:
    if denied := missing_scope(caller, SCOPE_BULK):
        return denied
    command = ListBulk(query.status, query.limit, query.cursor or "")
    value = await call(caller, HISTORY, command, keyed=False)
    if isinstance(value, Err):
        return value
    if not isinstance(value, BulkPage):
        return Err.of(ErrorCode.INTERNAL, f"unexpected reply {type(value).__name__}")
    return BulkListOut([bulk_out(j) for j in value.jobs], value.next_cursor or None)


async def reschedule_bulk(caller: Caller, job_id: str, start_at: int) -> BulkJobOut | Err:
    return await _job_command(caller, RescheduleBulkCommand(job_id[:64], start_at))


async def cancel_bulk(caller: Caller, job_id: str) -> BulkJobOut | Err:
    return await _job_command(caller, CancelBulk(job_id[:64]))


async def _job_command(
    caller: Caller, command: RescheduleBulkCommand | CancelBulk
) -> BulkJobOut | Err:
    if denied := missing_scope(caller, SCOPE_BULK):
        return denied
    value = await call(caller, KIND, command, keyed=True)  # a retry gets the first answer
    if isinstance(value, Err):
        return value
    if not isinstance(value, BulkView):
        return Err.of(ErrorCode.INTERNAL, f"unexpected reply {type(value).__name__}")
    return bulk_out(value)
