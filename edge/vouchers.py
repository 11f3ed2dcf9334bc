"""REST resources for voucher pools: import codes (CSV or JSON), generate closed-loop
codes, read a pool's stock, list the pools (operations in :mod:`edge.operations` and
:mod:`edge.listings`, shared with GraphQL)."""

from __future__ import annotations

import csv
from typing import Any

from aiohttp import web

from edge import listings, operations
from edge.http import (
    ProblemResponse,
    answer,
    caller,
    invalid,
    read_json,
    read_large,
    read_query,
)
from edge.problems import problem
from edge.schemas import GenerateCodesIn, ImportCodesIn
from edge.validation import Invalid, convert, read_csv

routes = web.RouteTableDef()

POOLS = "/api/v1/vouchers/pools"
POOL = f"{POOLS}/{{product_id}}/{{face_value}}"
#: A CSV of 10,000 codes with PINs and URLs; larger imports go in several requests.
MAX_CSV_BYTES = 4 * 1024 * 1024
CSV_COLUMNS = ("code", "pin", "url", "expires_at")


def parse_csv(text: str, currency: str | None) -> ImportCodesIn:
    """``code[,pin][,url][,expires_at]`` with a header row → the same shape as JSON."""
    codes = read_csv(text, _codes)
    return convert({"currency": currency, "codes": codes}, ImportCodesIn)


def _codes(reader: csv.DictReader[str]) -> list[dict[str, Any]]:
    header = reader.fieldnames or []
    if "code" not in header or not set(header) <= set(CSV_COLUMNS):
        raise Invalid(f"the CSV header must be some of {', '.join(CSV_COLUMNS)}, with code")
    codes: list[dict[str, Any]] = []
    for n, row in enumerate(reader):
        if None in row:  # DictReader keeps the surplus under the key None
            raise Invalid(f"row {n}: more fields than the header names", f"#/codes/{n}")
        codes.append({k: v for k, v in row.items() if v not in (None, "")})
    return codes


async def read_import(request: web.Request) -> ImportCodesIn:
    if request.content_type != "text/csv":
        return await read_json(request, ImportCodesIn)
    body = await read_large(request, MAX_CSV_BYTES)
    try:
        return parse_csv(body.decode("utf-8-sig"), request.query.get("currency"))
    except UnicodeDecodeError as e:
        raise ProblemResponse(problem(400, "malformed_body", "the CSV is not UTF-8")) from e
    except Invalid as e:
        raise ProblemResponse(invalid(e)) from e


@routes.post(f"{POOL}/codes")
async def import_codes(request: web.Request) -> web.Response:
    who = caller(request)
    data = await read_import(request)
    info = request.match_info
    result = await operations.import_codes(who, info["product_id"], info["face_value"], data)
    return answer(request, result)


@routes.post(f"{POOL}/generate")
async def generate_codes(request: web.Request) -> web.Response:
    who = caller(request)
    data = await read_json(request, GenerateCodesIn)
    info = request.match_info
    result = await operations.generate_codes(who, info["product_id"], info["face_value"], data)
    return answer(request, result)


@routes.get(POOLS)
async def list_pools(request: web.Request) -> web.Response:
    who = caller(request)
    query = read_query(request, listings.PageQuery)
    response = answer(request, await listings.list_pools(who, query))
    return response


@routes.get(POOL)
async def get_pool(request: web.Request) -> web.Response:
    info = request.match_info
    result = await operations.get_pool(caller(request), info["product_id"], info["face_value"])
    return answer(request, result)
