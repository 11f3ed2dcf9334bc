"""GraphQL at ``/graphql`` (strawberry): the same operations as REST.

Expected failures are results, not exceptions: every field returns a union of its
success type and the error types, all of which implement the ``Error`` interface
(``code``, ``message``, ``retryable``) with the same stable codes as the REST problem
details. Money amounts use the ``MinorUnits`` scalar: integers beyond GraphQL's 32-bit
``Int``, never floats.
"""

from __future__ import annotations

from typing import Annotated, Any, NewType

import strawberry
from aiohttp import web
from strawberry.aiohttp.views import GraphQLView
from strawberry.schema.config import StrawberryConfig
from strawberry.types import Info

from bus.errors import ErrorCode
from bus.messages import Err
from edge import operations
from edge.http import BUS, CONFIG, IDENTITY
from edge.operations import Caller
from edge.schemas import (
    BudgetOut,
    CreateBudgetIn,
    DebitIn,
    DebitOut,
    IssuePointsIn,
    RewardOut,
    WalletOut,
)
from edge.validation import Invalid, check_idempotency_key, convert


def _parse_minor(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int | str):
        raise ValueError("MinorUnits is an integer (or a string of digits)")
    return int(value)


MinorUnits = NewType("MinorUnits", int)

_MINOR_UNITS = strawberry.scalar(
    name="MinorUnits",
    serialize=int,
    parse_value=_parse_minor,
    description="An integer amount in the currency's minor unit (cents, paise, yen).",
)


@strawberry.type
class Money:
    amount_minor: MinorUnits
    currency: str


@strawberry.type
class Budget:
    id: strawberry.ID
    name: str
    balance: Money
    version: int


@strawberry.type
class Debit:
    id: strawberry.ID
    budget_id: strawberry.ID
    amount: Money
    balance_after: Money
    created_at: str


@strawberry.type
class Reward:
    id: strawberry.ID
    budget_id: strawberry.ID
    person_id: strawberry.ID
    points: MinorUnits
    cost: Money
    budget_balance_after: Money
    wallet_points_after: MinorUnits
    created_at: str


@strawberry.type
class Wallet:
    person_id: strawberry.ID
    points: MinorUnits
    version: int


@strawberry.interface
class Error:
    code: str
    message: str
    retryable: bool


@strawberry.type
class FieldError:
    pointer: str
    detail: str


@strawberry.type
class NotFound(Error):
    pass


@strawberry.type
class InsufficientFunds(Error):
    pass


@strawberry.type
class InvalidInput(Error):
    fields: list[FieldError]


@strawberry.type
class Conflict(Error):
    pass


@strawberry.type
class Forbidden(Error):
    pass


@strawberry.type
class Unavailable(Error):
    pass


_ERROR_TYPES: dict[ErrorCode, type[Error]] = {
    ErrorCode.NOT_FOUND: NotFound,
    ErrorCode.INSUFFICIENT_FUNDS: InsufficientFunds,
    ErrorCode.ALREADY_EXISTS: Conflict,
    ErrorCode.IDEMPOTENCY_KEY_REUSED: Conflict,
    ErrorCode.FORBIDDEN: Forbidden,
    ErrorCode.UNAVAILABLE: Unavailable,
    ErrorCode.DEADLINE_EXCEEDED: Unavailable,
    ErrorCode.INTERNAL: Unavailable,
}

AnyError = NotFound | InsufficientFunds | InvalidInput | Conflict | Forbidden | Unavailable
BudgetResult = Annotated[Budget | AnyError, strawberry.union("BudgetResult")]
DebitResult = Annotated[Debit | AnyError, strawberry.union("DebitResult")]
RewardResult = Annotated[Reward | AnyError, strawberry.union("RewardResult")]
WalletResult = Annotated[Wallet | AnyError, strawberry.union("WalletResult")]


def error(err: Err) -> AnyError:
    if err.code in (ErrorCode.INVALID_REQUEST, ErrorCode.CURRENCY_MISMATCH):
        return InvalidInput(code=err.code.value, message=err.message, retryable=False, fields=[])
    kind = _ERROR_TYPES.get(err.code, Unavailable)
    return kind(code=err.code.value, message=err.message, retryable=err.retryable)  # type: ignore[return-value]


def _camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(part.capitalize() for part in rest)


def invalid(e: Invalid, argument: str = "input") -> InvalidInput:
    """A validation failure, its pointer naming the GraphQL argument and field names."""
    tokens = [t for t in e.pointer.removeprefix("#").split("/") if t]
    pointer = "#/" + "/".join([argument, *(_camel(t) for t in tokens)])
    return InvalidInput(
        code=ErrorCode.INVALID_REQUEST.value,
        message=f"{e.detail} at {pointer}",
        retryable=False,
        fields=[FieldError(pointer=pointer, detail=e.detail)],
    )


def money(m: Any) -> Money:
    return Money(amount_minor=MinorUnits(m.amount_minor), currency=m.currency)


def budget(out: BudgetOut) -> Budget:
    return Budget(
        id=strawberry.ID(out.id), name=out.name, balance=money(out.balance), version=out.version
    )


def debit(out: DebitOut) -> Debit:
    return Debit(
        id=strawberry.ID(out.id),
        budget_id=strawberry.ID(out.budget_id),
        amount=money(out.amount),
        balance_after=money(out.balance_after),
        created_at=out.created_at,
    )


def reward(out: RewardOut) -> Reward:
    return Reward(
        id=strawberry.ID(out.id),
        budget_id=strawberry.ID(out.budget_id),
        person_id=strawberry.ID(out.person_id),
        points=MinorUnits(out.points),
        cost=money(out.cost),
        budget_balance_after=money(out.budget_balance_after),
        wallet_points_after=MinorUnits(out.wallet_points_after),
        created_at=out.created_at,
    )


def wallet(out: WalletOut) -> Wallet:
    return Wallet(
        person_id=strawberry.ID(out.person_id), points=MinorUnits(out.points), version=out.version
    )


@strawberry.input
class IssuePointsInput:
    budget_id: strawberry.ID
    person_id: strawberry.ID
    points: MinorUnits
    memo: str = ""


@strawberry.input
class MoneyInput:
    amount_minor: MinorUnits
    currency: str


@strawberry.input
class CreateBudgetInput:
    id: strawberry.ID
    name: str
    initial: MoneyInput


@strawberry.input
class DebitInput:
    amount: MoneyInput
    memo: str = ""


def _caller(info: Info[dict[str, Any], None], key: str | None = None) -> Caller:
    request: web.Request = info.context["request"]
    return Caller(
        request.app[BUS],
        request[IDENTITY],
        request.app[CONFIG].request_timeout_s,
        check_idempotency_key(key),
    )


def _plain(value: Any) -> Any:
    """A strawberry input object → plain dicts, for validation by the REST Structs."""
    if hasattr(value, "__strawberry_definition__"):
        return {
            f.python_name: _plain(getattr(value, f.python_name))
            for f in value.__strawberry_definition__.fields
        }
    return value


@strawberry.type
class Query:
    @strawberry.field(description="A budget of the caller's tenant.")
    async def budget(self, info: Info[dict[str, Any], None], id: strawberry.ID) -> BudgetResult:
        result = await operations.get_budget(_caller(info), str(id))
        return error(result) if isinstance(result, Err) else budget(result)

    @strawberry.field(description="A person's point wallet (zero points if never rewarded).")
    async def wallet(
        self, info: Info[dict[str, Any], None], person_id: strawberry.ID
    ) -> WalletResult:
        result = await operations.get_wallet(_caller(info), str(person_id))
        return error(result) if isinstance(result, Err) else wallet(result)


@strawberry.type
class Mutation:
    @strawberry.mutation(description="Open a budget funded from the tenant's funding account.")
    async def create_budget(
        self,
        info: Info[dict[str, Any], None],
        input: CreateBudgetInput,
        idempotency_key: str | None = None,
    ) -> BudgetResult:
        try:
            who = _caller(info, idempotency_key)
        except Invalid as e:
            return invalid(e, "idempotencyKey")
        try:
            data = convert(_plain(input), CreateBudgetIn)
        except Invalid as e:
            return invalid(e)
        result = await operations.create_budget(who, data)
        return error(result) if isinstance(result, Err) else budget(result)

    @strawberry.mutation(description="Debit a budget; never takes the balance below zero.")
    async def debit_budget(
        self,
        info: Info[dict[str, Any], None],
        budget_id: strawberry.ID,
        input: DebitInput,
        idempotency_key: str | None = None,
    ) -> DebitResult:
        try:
            who = _caller(info, idempotency_key)
        except Invalid as e:
            return invalid(e, "idempotencyKey")
        try:
            data = convert(_plain(input), DebitIn)
        except Invalid as e:
            return invalid(e)
        result = await operations.debit_budget(who, str(budget_id), data)
        return error(result) if isinstance(result, Err) else debit(result)

    @strawberry.mutation(description="Reward a person with points paid from a budget.")
    async def issue_points(
        self,
        info: Info[dict[str, Any], None],
        input: IssuePointsInput,
        idempotency_key: str | None = None,
    ) -> RewardResult:
        try:
            who = _caller(info, idempotency_key)
        except Invalid as e:
            return invalid(e, "idempotencyKey")
        try:
            data = convert(_plain(input), IssuePointsIn)
        except Invalid as e:
            return invalid(e)
        result = await operations.issue_points(who, data)
        return error(result) if isinstance(result, Err) else reward(result)


schema = strawberry.Schema(
    query=Query,
    mutation=Mutation,
    config=StrawberryConfig(scalar_map={MinorUnits: _MINOR_UNITS}),
)


class View(GraphQLView[dict[str, Any], None]):
    async def get_context(
        self, request: web.Request, response: web.Response | web.WebSocketResponse
    ) -> dict[str, Any]:
        return {"request": request, "response": response}


def view() -> View:
    return View(schema=schema, graphql_ide=None, allow_queries_via_get=False)
