"""REST resources for bulk rewards: upload a CSV (``person_id,points[,memo]``), now or to
start at a time with a name (a campaign), follow the job, download the per-row result as
CSV; list the tenant's jobs, move a scheduled one to another time or cancel it."""

from __future__ import annotations

import csv
import io
import re
import uuid
from typing import Any

from aiohttp import web

from bus.messages import Err
from bus.messages.bulk import MAX_JOB_POINTS, MAX_ROWS, BulkRow
from bus.messages.common import FREE_TEXT
from edge import bulk_operations, operations
from edge.http import ProblemResponse, answer, caller, invalid, read_json, read_large, read_query
from edge.problems import problem
from edge.validation import DIGITS, Invalid, read_csv

#: As many as one reward may issue (``bus.messages.wallet.Points``), and one job in all.
MAX_POINTS = MAX_JOB_POINTS

routes = web.RouteTableDef()

#: 100,000 rows with memos; a larger file is refused before it is read.
MAX_CSV_BYTES = 16 * 1024 * 1024


#: What a spreadsheet reads as the start of a formula in a cell.
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def inert(cell: object) -> object:
    """A cell a spreadsheet shows as text: one starting like a formula gets a ``'`` in
    front (an uploaded person id such as ``=HYPERLINK(…)`` comes back in the results)."""
    if isinstance(cell, str) and cell.startswith(FORMULA_STARTS):
        return "'" + cell
    return cell


def parse_rows(text: str) -> list[BulkRow]:
    """``person_id,points[,memo]`` with a header row. Rows are checked when they are
    carried out (each gets its own result); here only the shape of the file is."""
    return read_csv(text, _rows)


def _rows(reader: csv.DictReader[str]) -> list[BulkRow]:
    header = reader.fieldnames or []
    if not {"person_id", "points"} <= set(header) <= {"person_id", "points", "memo"}:
        raise Invalid("the CSV header must be person_id,points and optionally memo")
    rows: list[BulkRow] = []
    total = 0
    for n, row in enumerate(reader):
        if len(rows) == MAX_ROWS:
            raise Invalid(f"at most {MAX_ROWS} rows in one job")
        points = (row.get("points") or "").strip()
        if not DIGITS.fullmatch(points) or not 0 < int(points) <= MAX_POINTS:
            raise Invalid(
                f"row {n}: points must be a whole number from 1 to {MAX_POINTS}", f"#/{n}/points"
            )
        person, memo = row.get("person_id") or "", row.get("memo") or ""
        if len(person) > 90 or len(memo) > 500:
            raise Invalid(f"row {n}: person_id (90) or memo (500) too long", f"#/{n}")
        if not re.search(FREE_TEXT, memo):  # as a single reward's memo
            raise Invalid(f"row {n}: the memo has control characters", f"#/{n}/memo")
        total += int(points)
        if total > MAX_POINTS:
            raise Invalid(
                f"row {n}: the job's points add up to more than {MAX_POINTS}", f"#/{n}/points"
            )
        rows.append(BulkRow(person, int(points), memo))
    if not rows:
        raise Invalid("the CSV has no rows")
    return rows


@routes.post("/api/v1/rewards/bulk")
async def start_bulk(request: web.Request) -> web.Response:
    who = caller(request)
    if request.content_type != "text/csv":
        raise ProblemResponse(problem(415, "unsupported_media_type", "send text/csv"))
    budget_id = request.query.get("budget_id", "")
    try:  # the query first: a wrong time is told before a large file is read
        name = bulk_operations.job_name(request.query.get("name"))
        start_at_ms = bulk_operations.start_at_ms(request.query.get("start_at"))
    except Invalid as e:
        raise ProblemResponse(invalid(e)) from e
    body = await read_large(request, MAX_CSV_BYTES)
    try:
        rows = parse_rows(body.decode("utf-8-sig"))
    except UnicodeDecodeError as e:
        raise ProblemResponse(problem(400, "malformed_body", "the CSV is not UTF-8")) from e
    except Invalid as e:
        raise ProblemResponse(invalid(e)) from e
    job_id = operations.bulk_job_id(who, uuid.uuid4().hex, rows, name, start_at_ms)
    result = await operations.start_bulk(who, job_id, budget_id, rows, name, start_at_ms)
    response = answer(request, result, status=202)
    if not isinstance(result, Err):
        response.headers["Location"] = f"/api/v1/rewards/bulk/{result.id}"
    return response


@routes.get("/api/v1/rewards/bulk")
async def list_bulk(request: web.Request) -> web.Response:
    query = read_query(request, bulk_operations.BulkQuery)
    return answer(request, await bulk_operations.list_bulk(caller(request), query))


@routes.get("/api/v1/rewards/bulk/{job_id}")
async def get_bulk(request: web.Request) -> web.Response:
    return answer(request, await operations.get_bulk(caller(request), request.match_info["job_id"]))


@routes.patch("/api/v1/rewards/bulk/{job_id}")
async def reschedule_bulk(request: web.Request) -> web.Response:
    who = caller(request)
    body = await read_json(request, bulk_operations.RescheduleIn)
    try:
        start_at_ms = bulk_operations.start_at_ms(body.start_at)
    except Invalid as e:
        raise ProblemResponse(invalid(e)) from e
    job_id = request.match_info["job_id"]
    return answer(request, await bulk_operations.reschedule_bulk(who, job_id, start_at_ms))


@routes.post("/api/v1/rewards/bulk/{job_id}/cancel")
async def cancel_bulk(request: web.Request) -> web.Response:
    job_id = request.match_info["job_id"]
    return answer(request, await bulk_operations.cancel_bulk(caller(request), job_id))


@routes.get("/api/v1/rewards/bulk/{job_id}/results")
async def bulk_results(request: web.Request) -> web.StreamResponse:
    who = caller(request)
    job_id = request.match_info["job_id"]
    first = await operations.bulk_results(who, job_id, 0)
    if isinstance(first, Err):
        return answer(request, first)
    response = web.StreamResponse(
        headers={
            "Content-Type": "text/csv; charset=utf-8",
            "Content-Disposition": f'attachment; filename="{job_id}-results.csv"',
        }
    )
    await response.prepare(request)
    await response.write(b"row,person_id,points,status,reason,reward_id\r\n")
    page: Any = first
    offset = 0
    while page:
        out = io.StringIO()
        csv.writer(out).writerows([[inert(cell) for cell in row] for row in page])
        await response.write(out.getvalue().encode())
        offset += len(page)
        page = await operations.bulk_results(who, job_id, offset)
        if isinstance(page, Err):  # a failure half-way: end the body; the client retries
            raise ConnectionResetError(page.message)
    await response.write_eof()
    return response
