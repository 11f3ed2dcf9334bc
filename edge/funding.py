"""REST resources for funding: funding accounts (listed, one by one, and each one's
history), deposits, allocations to budgets."""

from __future__ import annotations

from aiohttp import web

from bus.messages import Err
from edge import funding_reads, operations
from edge.http import answer, caller, read_json, read_query
from edge.schemas import AllocateIn, DepositIn, OpenFundingIn

routes = web.RouteTableDef()


@routes.post("/api/v1/funding-accounts")
async def open_funding(request: web.Request) -> web.Response:
    who = caller(request)
    result = await operations.open_funding(who, await read_json(request, OpenFundingIn))
    response = answer(request, result, status=201)
    if not isinstance(result, Err):
        response.headers["Location"] = f"/api/v1/funding-accounts/{result.id}"
    return response


@routes.get("/api/v1/funding-accounts")
async def list_funding(request: web.Request) -> web.Response:
    query = read_query(request, funding_reads.FundingPageQuery)
    response = answer(request, await funding_reads.list_funding(caller(request), query))
    return response


@routes.get("/api/v1/funding-accounts/{account_id}/history")
async def funding_history(request: web.Request) -> web.Response:
    query = read_query(request, funding_reads.FundingPageQuery)
    account_id = request.match_info["account_id"]
    result = await funding_reads.funding_history(caller(request), account_id, query)
    response = answer(request, result)
    return response


@routes.get("/api/v1/funding-accounts/{account_id}")
async def get_funding(request: web.Request) -> web.Response:
    account_id = request.match_info["account_id"]
    return answer(request, await operations.get_funding(caller(request), account_id))


@routes.post("/api/v1/funding-accounts/{account_id}/deposits")
async def deposit(request: web.Request) -> web.Response:
    who = caller(request)
    body = await read_json(request, DepositIn)
    result = await operations.deposit(who, request.match_info["account_id"], body)
    return answer(request, result, status=201)


@routes.post("/api/v1/budgets/{budget_id}/allocations")
async def allocate(request: web.Request) -> web.Response:
    who = caller(request)
    body = await read_json(request, AllocateIn)
    result = await operations.allocate(who, request.match_info["budget_id"], body)
    return answer(request, result, status=201)
