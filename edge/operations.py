"""What the API can do, once for REST and GraphQL both.

Each operation takes a :class:`Caller` (who asks, over which bus, with which key) and input
already validated against the public Structs of :mod:`edge.schemas`, checks the scope,
sends the bus request, and returns the public result or an :class:`~bus.messages.Err`.
The REST handlers turn an ``Err`` into problem details, the GraphQL resolvers into a
member of an error union; neither decides anything itself.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime

import msgspec

from bus.client import Bus
from bus.errors import BusError, ErrorCode
from bus.messages import Command, Err, Ok, ReplyValue
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
from bus.messages.wallet import GetWallet, IssuePoints, PersonId, PointsIssued, WalletView
from edge.auth import Identity
from edge.schemas import (
    BudgetOut,
    CreateBudgetIn,
    DebitIn,
    DebitOut,
    IssuePointsIn,
    RewardOut,
    WalletOut,
)

SCOPE_READ = "budgets:read"
SCOPE_DEBIT = "budgets:debit"
SCOPE_ADMIN = "budgets:admin"
SCOPE_ISSUE = "rewards:issue"
SCOPE_WALLETS = "wallets:read"


@dataclass(frozen=True)
class Caller:
    bus: Bus
    identity: Identity
    timeout_s: float
    #: Only for mutations: reads are never keyed (a key would store, and replay, a view).
    idempotency_key: str | None = None


async def call(caller: Caller, kind: str, body: Command, keyed: bool) -> ReplyValue | Err:
    try:
        reply = await caller.bus.request(
            caller.identity.tenant,
            kind,
            body,
            caller.identity.principal,
            timeout_s=caller.timeout_s,
            idempotency_key=caller.idempotency_key if keyed else None,
        )
    except BusError as e:
        return Err(code=e.code, message=str(e), retryable=True)
    match reply:
        case Ok(value=value):
            return value
        case Err() as err:
            return err
    raise AssertionError("unreachable")  # pragma: no cover


def _missing_scope(caller: Caller, scope: str) -> Err | None:
    if caller.identity.has_scope(scope):
        return None
    return Err.of(ErrorCode.FORBIDDEN, f"the token lacks the scope {scope}")


def _unexpected(value: object) -> Err:
    return Err.of(ErrorCode.INTERNAL, f"unexpected reply {type(value).__name__}")


def budget_out(view: BudgetView) -> BudgetOut:
    return BudgetOut(view.budget_id, view.name, view.balance, view.version)


def rfc3339(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, UTC).isoformat(timespec="milliseconds")


def valid_budget_id(budget_id: str) -> str | None:
    """An id that cannot be a budget's is simply not found (and never reaches the bus)."""
    try:
        return msgspec.convert(budget_id, BudgetId)
    except msgspec.ValidationError:
        return None


async def create_budget(caller: Caller, data: CreateBudgetIn) -> BudgetOut | Err:
    if denied := _missing_scope(caller, SCOPE_ADMIN):
        return denied
    initial = Money(data.initial.amount_minor, data.initial.currency)
    value = await call(caller, KIND, CreateBudget(data.id, data.name, initial), keyed=True)
    if isinstance(value, Err):
        return value
    return budget_out(value) if isinstance(value, BudgetView) else _unexpected(value)


async def get_budget(caller: Caller, budget_id: str) -> BudgetOut | Err:
    if denied := _missing_scope(caller, SCOPE_READ):
        return denied
    checked = valid_budget_id(budget_id)
    if checked is None:
        return Err.of(ErrorCode.NOT_FOUND, "no budget has that id")
    value = await call(caller, KIND, GetBudget(checked), keyed=False)
    if isinstance(value, Err):
        return value
    return budget_out(value) if isinstance(value, BudgetView) else _unexpected(value)


async def debit_budget(caller: Caller, budget_id: str, data: DebitIn) -> DebitOut | Err:
    if denied := _missing_scope(caller, SCOPE_DEBIT):
        return denied
    checked = valid_budget_id(budget_id)
    if checked is None:
        return Err.of(ErrorCode.NOT_FOUND, "no budget has that id")
    amount = Money(data.amount.amount_minor, data.amount.currency)
    debit = DebitBudget(checked, f"dbt_{uuid.uuid4().hex}", amount, data.memo)
    value = await call(caller, KIND, debit, keyed=True)
    if isinstance(value, Err):
        return value
    if not isinstance(value, DebitReceipt):
        return _unexpected(value)
    return DebitOut(
        value.debit_id,
        value.budget_id,
        value.amount,
        value.balance_after,
        rfc3339(value.created_ms),
    )


def valid_person_id(person_id: str) -> str | None:
    try:
        return msgspec.convert(person_id, PersonId)
    except msgspec.ValidationError:
        return None


async def issue_points(caller: Caller, data: IssuePointsIn) -> RewardOut | Err:
    if denied := _missing_scope(caller, SCOPE_ISSUE):
        return denied
    issue = IssuePoints(
        data.budget_id, data.person_id, data.points, f"rwd_{uuid.uuid4().hex}", data.memo
    )
    value = await call(caller, KIND, issue, keyed=True)
    if isinstance(value, Err):
        return value
    if not isinstance(value, PointsIssued):
        return _unexpected(value)
    return RewardOut(
        value.reward_id,
        value.budget_id,
        value.person_id,
        value.points,
        value.cost,
        value.budget_balance_after,
        value.wallet_points_after,
        rfc3339(value.created_ms),
    )


async def get_wallet(caller: Caller, person_id: str) -> WalletOut | Err:
    if denied := _missing_scope(caller, SCOPE_WALLETS):
        return denied
    checked = valid_person_id(person_id)
    if checked is None:
        return Err.of(ErrorCode.NOT_FOUND, "no person has that id")
    value = await call(caller, KIND, GetWallet(checked), keyed=False)
    if isinstance(value, Err):
        return value
    if not isinstance(value, WalletView):
        return _unexpected(value)
    return WalletOut(value.person_id, value.points, value.version)
