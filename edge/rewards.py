"""REST resources for rewards (points issued from a budget) and point wallets, with
their history."""

from __future__ import annotations

from aiohttp import web

from bus.messages import Err
from edge import history, operations
from edge.http import answer, caller, read_json, read_query
from edge.schemas import IssuePointsIn

routes = web.RouteTableDef()


@routes.post("/api/v1/rewards")
async def issue_points(request: web.Request) -> web.Response:
    who = caller(request)
    result = await operations.issue_points(who, await read_json(request, IssuePointsIn))
    response = answer(request, result, status=201)
    if not isinstance(result, Err):
        response.headers["Location"] = f"/api/v1/wallets/{result.person_id}"
    return response


@routes.get("/api/v1/wallets/{person_id}")
async def get_wallet(request: web.Request) -> web.Response:
    result = await operations.get_wallet(caller(request), request.match_info["person_id"])
    return answer(request, result)


@routes.get("/api/v1/wallets/{person_id}/history")
async def wallet_history(request: web.Request) -> web.Response:
    who = caller(request)
    query = read_query(request, history.HistoryQuery)
    result = await history.wallet_history(who, request.match_info["person_id"], query)
    response = answer(request, result)
    return response
