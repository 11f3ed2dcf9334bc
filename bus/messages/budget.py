"""Budget context: a tenant's spendable programme budgets.

Budgets belong to the tenant's treasury actor (see :mod:`bus.messages.treasury`). Amounts
are :class:`~bus.messages.common.Money`; a debit never takes a balance below zero.
"""

from __future__ import annotations

from typing import Annotated, ClassVar

import msgspec

from bus.messages.common import Cursor, Money, PageSize, whole
from bus.messages.treasury import KIND, TREASURY_KEY

__all__ = ["KIND"]

BUDGET_ID_SYNTAX = "[A-Za-z0-9][A-Za-z0-9_.-]{0,63}"
BUDGET_ID_PATTERN = whole(BUDGET_ID_SYNTAX)
BudgetId = Annotated[str, msgspec.Meta(pattern=BUDGET_ID_PATTERN)]


class GetBudget(msgspec.Struct, frozen=True, tag="budget.get"):
    budget_id: BudgetId

    @property
    def actor_key(self) -> str:
        return TREASURY_KEY


class CreateBudget(msgspec.Struct, frozen=True, tag="budget.create"):
    """Open a budget funded with ``initial`` from the tenant's funding account."""

    budget_id: BudgetId
    name: str
    initial: Money
    #: Hard cap on the balance in minor units (0: none).
    cap_minor: Annotated[int, msgspec.Meta(ge=0, le=2**62)] = 0
    #: Falling below this balance raises ``budget.low_balance`` (0: never).
    low_balance_minor: Annotated[int, msgspec.Meta(ge=0, le=2**62)] = 0

    @property
    def actor_key(self) -> str:
        return TREASURY_KEY


NonNegativeMinor = Annotated[int, msgspec.Meta(ge=0, le=2**62)]


class UpdateBudget(msgspec.Struct, frozen=True, tag="budget.update"):
    """Rename a budget, or change its cap or low-balance threshold (``None``: unchanged;
    0: none). A cap below balance + held is refused."""

    budget_id: BudgetId
    name: str | None = None
    cap_minor: NonNegativeMinor | None = None
    low_balance_minor: NonNegativeMinor | None = None

    @property
    def actor_key(self) -> str:
        return TREASURY_KEY


class DebitBudget(msgspec.Struct, frozen=True, tag="budget.debit"):
    """Take ``amount`` (positive) from the budget; ``debit_id`` names the ledger transaction."""

    #: Ids the edge makes afresh for every attempt: not part of what the request asks for.
    generated_ids: ClassVar[tuple[str, ...]] = ("debit_id",)

    budget_id: BudgetId
    debit_id: str
    amount: Money
    memo: str = ""

    @property
    def actor_key(self) -> str:
        return TREASURY_KEY


class RefundBudget(msgspec.Struct, frozen=True, tag="budget.refund"):
    """Give back an amount taken by a debit (system only: sagas compensating)."""

    budget_id: BudgetId
    amount: Money
    txn_id: str

    @property
    def actor_key(self) -> str:
        return TREASURY_KEY


class ListBudgets(msgspec.Struct, frozen=True, tag="budget.list"):
    """The tenant's budgets by id, ``limit`` at a time, after ``cursor`` (the
    ``next_cursor`` of the page before); a principal with grants sees only the budgets
    they name (ADR 19). Answered with a :class:`BudgetPage`."""

    limit: PageSize = 20
    cursor: Cursor = ""

    @property
    def actor_key(self) -> str:
        return TREASURY_KEY


BudgetCommand = GetBudget | CreateBudget | UpdateBudget | DebitBudget | RefundBudget | ListBudgets


class BudgetView(msgspec.Struct, frozen=True, tag="budget"):
    budget_id: str
    name: str
    balance: Money
    version: int
    cap_minor: int = 0
    #: Set aside by orders in progress: not in ``balance``, not spent yet.
    held_minor: int = 0
    low_balance_minor: int = 0


class BudgetPage(msgspec.Struct, frozen=True, tag="budget.page"):
    budgets: tuple[BudgetView, ...]
    #: The cursor of the next page ("" on the last).
    next_cursor: str = ""


class DebitReceipt(msgspec.Struct, frozen=True, tag="budget.debit_receipt"):
    debit_id: str
    budget_id: str
    amount: Money
    balance_after: Money
    created_ms: int


class BudgetDebited(msgspec.Struct, frozen=True):
    """Data of the ``budget.debited`` event."""

    budget_id: str
    debit_id: str
    amount: Money
    balance_after: Money
    memo: str = ""


class BudgetCreated(msgspec.Struct, frozen=True):
    """Data of the ``budget.created`` event."""

    budget_id: str
    name: str
    initial: Money


class BudgetLowBalance(msgspec.Struct, frozen=True):
    """Data of the ``budget.low_balance`` event: a spend took the balance below the
    budget's threshold (raised again only after the balance has been above it)."""

    budget_id: str
    balance: Money
    threshold: Money
    #: Set aside by orders in progress when the balance crossed the threshold.
    held: Money


class BudgetUpdated(msgspec.Struct, frozen=True):
    """Data of the ``budget.updated`` event."""

    budget_id: str
    name: str
    cap_minor: int
    low_balance_minor: int
