"""REST resources for budgets: open, read, debit."""

from __future__ import annotations

import uuid

import msgspec
from aiohttp import web

from bus.messages.budget import (
    KIND,
    BudgetId,
    BudgetView,
    CreateBudget,
    DebitBudget,
    DebitReceipt,
    GetBudget,
)
from bus.messages.common import Money
from edge.http import (
    ProblemResponse,
    ask,
    json_response,
    read_json,
    require_scope,
    rfc3339,
)
from edge.problems import problem
from edge.schemas import BudgetOut, CreateBudgetIn, DebitIn, DebitOut

SCOPE_READ = "budgets:read"
SCOPE_DEBIT = "budgets:debit"
SCOPE_ADMIN = "budgets:admin"

routes = web.RouteTableDef()


def _budget_out(view: BudgetView) -> BudgetOut:
    return BudgetOut(view.budget_id, view.name, view.balance, view.version)


@routes.post("/api/v1/budgets")
async def create_budget(request: web.Request) -> web.Response:
    require_scope(request, SCOPE_ADMIN)
    body = await read_json(request, CreateBudgetIn)
    initial = Money(body.initial.amount_minor, body.initial.currency)
    value = await ask(request, KIND, CreateBudget(body.id, body.name, initial))
    assert isinstance(value, BudgetView)
    response = json_response(_budget_out(value), status=201)
    response.headers["Location"] = f"/api/v1/budgets/{value.budget_id}"
    return response


@routes.get("/api/v1/budgets/{budget_id}")
async def get_budget(request: web.Request) -> web.Response:
    require_scope(request, SCOPE_READ)
    value = await ask(request, KIND, GetBudget(_budget_id(request)))
    assert isinstance(value, BudgetView)
    return json_response(_budget_out(value))


@routes.post("/api/v1/budgets/{budget_id}/debits")
async def debit_budget(request: web.Request) -> web.Response:
    require_scope(request, SCOPE_DEBIT)
    budget_id = _budget_id(request)
    body = await read_json(request, DebitIn)
    amount = Money(body.amount.amount_minor, body.amount.currency)
    debit = DebitBudget(budget_id, f"dbt_{uuid.uuid4().hex}", amount, body.memo)
    value = await ask(request, KIND, debit)
    assert isinstance(value, DebitReceipt)
    out = DebitOut(
        value.debit_id,
        value.budget_id,
        value.amount,
        value.balance_after,
        rfc3339(value.created_ms),
    )
    return json_response(out, status=201)


def _budget_id(request: web.Request) -> str:
    """An id that cannot be a budget's is simply not found (and never reaches the bus)."""
    budget_id = request.match_info["budget_id"]
    try:
        return msgspec.convert(budget_id, BudgetId)
    except msgspec.ValidationError as e:
        raise ProblemResponse(
            problem(404, "not_found", "no budget has that id", instance=request.path)
        ) from e
