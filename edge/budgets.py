"""REST resources for budgets: open, list, read, debit (the operations live in
:mod:`edge.operations` and :mod:`edge.listings`, shared with GraphQL)."""

from __future__ import annotations

from aiohttp import web

from bus.messages import Err
from edge import listings, operations
from edge.http import answer, caller, read_json, read_query
from edge.schemas import CreateBudgetIn, DebitIn, UpdateBudgetIn

routes = web.RouteTableDef()


@routes.post("/api/v1/budgets")
async def create_budget(request: web.Request) -> web.Response:
    who = caller(request)
    result = await operations.create_budget(who, await read_json(request, CreateBudgetIn))
    response = answer(request, result, status=201)
    if not isinstance(result, Err):
        response.headers["Location"] = f"/api/v1/budgets/{result.id}"
    return response


@routes.get("/api/v1/budgets")
async def list_budgets(request: web.Request) -> web.Response:
    who = caller(request)
    query = read_query(request, listings.PageQuery)
    response = answer(request, await listings.list_budgets(who, query))
    return response


@routes.get("/api/v1/budgets/{budget_id}")
async def get_budget(request: web.Request) -> web.Response:
    result = await operations.get_budget(caller(request), request.match_info["budget_id"])
    return answer(request, result)


@routes.patch("/api/v1/budgets/{budget_id}")
async def update_budget(request: web.Request) -> web.Response:
    who = caller(request)
    body = await read_json(request, UpdateBudgetIn)
    result = await operations.update_budget(who, request.match_info["budget_id"], body)
    return answer(request, result)


@routes.post("/api/v1/budgets/{budget_id}/debits")
async def debit_budget(request: web.Request) -> web.Response:
    who = caller(request)
    body = await read_json(request, DebitIn)
    result = await operations.debit_budget(who, request.match_info["budget_id"], body)
    return answer(request, result, status=201)
