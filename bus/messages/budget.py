"""Budget context: a tenant's spendable programme budgets.

Budgets belong to the tenant's treasury actor (see :mod:`bus.messages.treasury`). Amounts
are :class:`~bus.messages.common.Money`; a debit never takes a balance below zero.
"""

from __future__ import annotations

from typing import Annotated, ClassVar

import msgspec

from bus.messages.common import Money, whole
from bus.messages.treasury import KIND, TREASURY_KEY

__all__ = ["KIND"]

BUDGET_ID_PATTERN = whole("[A-Za-z0-9][A-Za-z0-9_.-]{0,63}")
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


BudgetCommand = GetBudget | CreateBudget | DebitBudget | RefundBudget


class BudgetView(msgspec.Struct, frozen=True, tag="budget"):
    budget_id: str
    name: str
    balance: Money
    version: int
    cap_minor: int = 0
    #: Set aside by orders in progress: not in ``balance``, not spent yet.
    held_minor: int = 0


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
