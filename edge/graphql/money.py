"""GraphQL for budgets, rewards and wallets (operations shared with REST)."""

from __future__ import annotations

import json
from typing import Annotated

import strawberry
from strawberry.scalars import JSON

from bus.messages import Err
from edge import listings, operations
from edge.graphql.common import (
    LONG_ZERO,
    AnyError,
    GqlInfo,
    Long,
    MinorUnits,
    Money,
    MoneyInput,
    caller,
    error,
    invalid,
    money,
    mutate,
    page_query,
)
from edge.schemas import (
    AllocateIn,
    AllocationOut,
    BudgetOut,
    CreateBudgetIn,
    DebitIn,
    DebitOut,
    DepositIn,
    FundingOut,
    FxRateIn,
    FxTableOut,
    IssuePointsIn,
    OpenFundingIn,
    PointsRateIn,
    PointsRateOut,
    ReplayQuery,
    RewardOut,
    UpdateBudgetIn,
    WalletOut,
)
from edge.validation import Invalid, convert


@strawberry.type
class Budget:
    id: strawberry.ID
    name: str
    balance: Money
    version: int
    cap_minor: MinorUnits | None
    held: Money
    low_balance_minor: MinorUnits | None


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


@strawberry.type
class BudgetList:
    budgets: list[Budget]
    #: Pass as ``after`` for the next page; null on the last page.
    next_cursor: str | None


BudgetResult = Annotated[Budget | AnyError, strawberry.union("BudgetResult")]
BudgetListResult = Annotated[BudgetList | AnyError, strawberry.union("BudgetListResult")]
DebitResult = Annotated[Debit | AnyError, strawberry.union("DebitResult")]
RewardResult = Annotated[Reward | AnyError, strawberry.union("RewardResult")]
WalletResult = Annotated[Wallet | AnyError, strawberry.union("WalletResult")]


@strawberry.input
class CreateBudgetInput:
    id: strawberry.ID
    name: str
    initial: MoneyInput
    cap_minor: MinorUnits | None = None
    low_balance_minor: MinorUnits | None = None


@strawberry.input
class UpdateBudgetInput:
    name: str | None = None
    cap_minor: MinorUnits | None = None
    low_balance_minor: MinorUnits | None = None


@strawberry.input
class DebitInput:
    amount: MoneyInput
    memo: str = ""


@strawberry.input
class IssuePointsInput:
    budget_id: strawberry.ID
    person_id: strawberry.ID
    points: MinorUnits
    memo: str = ""


def budget(out: BudgetOut) -> Budget:
    cap = MinorUnits(out.cap_minor) if out.cap_minor is not None else None
    return Budget(
        id=strawberry.ID(out.id),
        name=out.name,
        balance=money(out.balance),
        version=out.version,
        cap_minor=cap,
        held=money(out.held),
        low_balance_minor=(
            MinorUnits(out.low_balance_minor) if out.low_balance_minor is not None else None
        ),
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


async def get_budget(info: GqlInfo, id: strawberry.ID) -> BudgetResult:
    result = await operations.get_budget(caller(info), str(id))
    return error(result) if isinstance(result, Err) else budget(result)


async def list_budgets(
    info: GqlInfo, first: int = 20, after: str | None = None
) -> BudgetListResult:
    try:
        query = convert(page_query(first, after), listings.PageQuery)
    except Invalid as e:
        return invalid(e, "budgets")
    result = await listings.list_budgets(caller(info), query)
    if isinstance(result, Err):
        return error(result)
    return BudgetList(budgets=[budget(b) for b in result.budgets], next_cursor=result.next_cursor)


async def get_wallet(info: GqlInfo, person_id: strawberry.ID) -> WalletResult:
    result = await operations.get_wallet(caller(info), str(person_id))
    return error(result) if isinstance(result, Err) else wallet(result)


async def create_budget(
    info: GqlInfo, input: CreateBudgetInput, idempotency_key: str | None = None
) -> BudgetResult:
    result: BudgetResult = await mutate(
        info, idempotency_key, input, CreateBudgetIn, operations.create_budget, budget
    )
    return result


async def update_budget(
    info: GqlInfo,
    budget_id: strawberry.ID,
    input: UpdateBudgetInput,
    idempotency_key: str | None = None,
) -> BudgetResult:
    async def operation(who: operations.Caller, data: UpdateBudgetIn) -> BudgetOut | Err:
        return await operations.update_budget(who, str(budget_id), data)

    result: BudgetResult = await mutate(
        info, idempotency_key, input, UpdateBudgetIn, operation, budget
    )
    return result


async def debit_budget(
    info: GqlInfo,
    budget_id: strawberry.ID,
    input: DebitInput,
    idempotency_key: str | None = None,
) -> DebitResult:
    async def operation(who: operations.Caller, data: DebitIn) -> DebitOut | Err:
        return await operations.debit_budget(who, str(budget_id), data)

    result: DebitResult = await mutate(info, idempotency_key, input, DebitIn, operation, debit)
    return result


async def issue_points(
    info: GqlInfo, input: IssuePointsInput, idempotency_key: str | None = None
) -> RewardResult:
    result: RewardResult = await mutate(
        info, idempotency_key, input, IssuePointsIn, operations.issue_points, reward
    )
    return result


@strawberry.type
class FxRate:
    base: str
    quote: str
    rate: str
    updated_at: str


@strawberry.type
class FxTable:
    rates: list[FxRate]


FxResult = Annotated[FxTable | AnyError, strawberry.union("FxResult")]


def fx_table(out: FxTableOut) -> FxTable:
    return FxTable(
        rates=[
            FxRate(base=r.base, quote=r.quote, rate=r.rate, updated_at=r.updated_at)
            for r in out.rates
        ]
    )


async def get_fx_rates(info: GqlInfo) -> FxResult:
    result = await operations.get_fx_rates(caller(info))
    return error(result) if isinstance(result, Err) else fx_table(result)


async def set_fx_rate(
    info: GqlInfo, base: str, quote: str, rate: str, idempotency_key: str | None = None
) -> FxResult:
    async def operation(who: operations.Caller, data: FxRateIn) -> FxTableOut | Err:
        return await operations.set_fx_rate(who, base, quote, data)

    result: FxResult = await mutate(
        info, idempotency_key, {"rate": rate}, FxRateIn, operation, fx_table, argument=""
    )
    return result


@strawberry.type
class PointsRate:
    currency: str
    points_per_unit: str
    locked: bool
    points_issued: MinorUnits


PointsRateResult = Annotated[PointsRate | AnyError, strawberry.union("PointsRateResult")]


def points_rate(out: PointsRateOut) -> PointsRate:
    return PointsRate(
        currency=out.currency,
        points_per_unit=out.points_per_unit,
        locked=out.locked,
        points_issued=MinorUnits(out.points_issued),
    )


async def get_points_rate(info: GqlInfo) -> PointsRateResult:
    result = await operations.get_points_rate(caller(info))
    return error(result) if isinstance(result, Err) else points_rate(result)


async def set_points_rate(
    info: GqlInfo, currency: str, points_per_unit: str, idempotency_key: str | None = None
) -> PointsRateResult:
    raw = {"currency": currency, "points_per_unit": points_per_unit}
    result: PointsRateResult = await mutate(
        info,
        idempotency_key,
        raw,
        PointsRateIn,
        operations.set_points_rate,
        points_rate,
        argument="",
    )
    return result


@strawberry.type
class FundingAccount:
    id: strawberry.ID
    name: str
    balance: Money
    version: int


@strawberry.type
class Allocation:
    id: strawberry.ID
    from_account: strawberry.ID
    budget_id: strawberry.ID
    amount: Money
    funding_balance_after: Money
    budget_balance_after: Money


FundingResult = Annotated[FundingAccount | AnyError, strawberry.union("FundingResult")]
AllocationResult = Annotated[Allocation | AnyError, strawberry.union("AllocationResult")]


@strawberry.input
class OpenFundingInput:
    id: strawberry.ID
    name: str
    currency: str


@strawberry.input
class DepositInput:
    amount: MoneyInput
    reference: str = ""


@strawberry.input
class AllocateInput:
    from_account: strawberry.ID
    amount: MoneyInput


def funding(out: FundingOut) -> FundingAccount:
    return FundingAccount(
        id=strawberry.ID(out.id), name=out.name, balance=money(out.balance), version=out.version
    )


def allocation(out: AllocationOut) -> Allocation:
    return Allocation(
        id=strawberry.ID(out.id),
        from_account=strawberry.ID(out.from_account),
        budget_id=strawberry.ID(out.budget_id),
        amount=money(out.amount),
        funding_balance_after=money(out.funding_balance_after),
        budget_balance_after=money(out.budget_balance_after),
    )


async def get_funding(info: GqlInfo, id: strawberry.ID) -> FundingResult:
    result = await operations.get_funding(caller(info), str(id))
    return error(result) if isinstance(result, Err) else funding(result)


async def open_funding(
    info: GqlInfo, input: OpenFundingInput, idempotency_key: str | None = None
) -> FundingResult:
    result: FundingResult = await mutate(
        info, idempotency_key, input, OpenFundingIn, operations.open_funding, funding
    )
    return result


async def deposit(
    info: GqlInfo,
    account_id: strawberry.ID,
    input: DepositInput,
    idempotency_key: str | None = None,
) -> FundingResult:
    async def operation(who: operations.Caller, data: DepositIn) -> FundingOut | Err:
        return await operations.deposit(who, str(account_id), data)

    result: FundingResult = await mutate(
        info, idempotency_key, input, DepositIn, operation, funding
    )
    return result


async def allocate(
    info: GqlInfo,
    budget_id: strawberry.ID,
    input: AllocateInput,
    idempotency_key: str | None = None,
) -> AllocationResult:
    async def operation(who: operations.Caller, data: AllocateIn) -> AllocationOut | Err:
        return await operations.allocate(who, str(budget_id), data)

    result: AllocationResult = await mutate(
        info, idempotency_key, input, AllocateIn, operation, allocation
    )
    return result


@strawberry.type
class EventPage:
    events: list[JSON]
    sequences: list[Long]
    next_after: Long


EventPageResult = Annotated[EventPage | AnyError, strawberry.union("EventPageResult")]


async def get_events(info: GqlInfo, after: Long = LONG_ZERO, limit: int = 100) -> EventPageResult:
    try:
        query = convert({"after": after, "limit": limit}, ReplayQuery)
    except Invalid as e:
        return invalid(e, "arguments")
    result = await operations.replay_events(caller(info), query)
    if isinstance(result, Err):
        return error(result)
    events = [json.loads(bytes(e)) for e in result.events]
    sequences = [Long(n) for n in result.sequences]
    return EventPage(events=events, sequences=sequences, next_after=Long(result.next_after))
