"""Funding: a tenant's money before it is given to programmes.

A funding account (per currency) receives deposits — money the tenant has paid in — and
budgets are allocated from it. A budget has a hard cap: an allocation that would take its
balance above the cap is refused. All of it belongs to the tenant's treasury actor; an
account's history (its deposits and allocations) is read by the history actor.

Funding is the whole tenant's money: owners, admins and finance move it, and those with
auditors read it (``FUNDING_READERS``); a principal narrowed to some budgets (ADR 19) does
neither.
"""

from __future__ import annotations

from typing import Annotated, ClassVar

import msgspec

from bus.messages.budget import BudgetId
from bus.messages.common import FREE_TEXT, Cursor, IsoCurrency, Money, PageSize
from bus.messages.treasury import TREASURY_KEY

#: Roles that read funding accounts and their history; owners, admins and finance also
#: move funds (``FUNDING_WRITERS``).
FUNDING_READERS = frozenset({"owner", "admin", "finance", "auditor", "system"})
FUNDING_WRITERS = frozenset({"owner", "admin", "finance"})

FundingId = Annotated[str, msgspec.Meta(pattern="^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$(?!\\n)")]


class OpenFunding(msgspec.Struct, frozen=True, tag="funding.open"):
    account_id: FundingId
    name: str
    currency: IsoCurrency

    @property
    def actor_key(self) -> str:
        return TREASURY_KEY


class Deposit(msgspec.Struct, frozen=True, tag="funding.deposit"):
    """Money the tenant paid in (``reference``: the bank transfer, the invoice …)."""

    generated_ids: ClassVar[tuple[str, ...]] = ("deposit_id",)

    account_id: FundingId
    amount: Money
    deposit_id: str
    reference: Annotated[str, msgspec.Meta(max_length=200, pattern=FREE_TEXT)] = ""

    @property
    def actor_key(self) -> str:
        return TREASURY_KEY


class Allocate(msgspec.Struct, frozen=True, tag="funding.allocate"):
    """Move ``amount`` from a funding account to a budget (same currency, within its cap)."""

    generated_ids: ClassVar[tuple[str, ...]] = ("allocation_id",)

    account_id: FundingId
    budget_id: BudgetId
    amount: Money
    allocation_id: str

    @property
    def actor_key(self) -> str:
        return TREASURY_KEY


class GetFunding(msgspec.Struct, frozen=True, tag="funding.get"):
    account_id: FundingId

    @property
    def actor_key(self) -> str:
        return TREASURY_KEY


class ListFunding(msgspec.Struct, frozen=True, tag="funding.list"):
    """The tenant's funding accounts by id, ``limit`` at a time, after ``cursor`` (the
    ``next_cursor`` of the page before). Answered with a :class:`FundingPage`."""

    limit: PageSize = 20
    cursor: Cursor = ""

    @property
    def actor_key(self) -> str:
        return TREASURY_KEY


FundingCommand = OpenFunding | Deposit | Allocate | GetFunding | ListFunding


class FundingView(msgspec.Struct, frozen=True, tag="funding.account"):
    account_id: str
    name: str
    balance: Money
    version: int


class FundingPage(msgspec.Struct, frozen=True, tag="funding.page"):
    accounts: tuple[FundingView, ...]
    #: The cursor of the next page ("" on the last).
    next_cursor: str = ""


class Allocated(msgspec.Struct, frozen=True, tag="funding.allocated"):
    allocation_id: str
    account_id: str
    budget_id: str
    amount: Money
    funding_balance_after: Money
    budget_balance_after: Money


class MoneyMoved(msgspec.Struct, frozen=True):
    """Data of the ``funding.deposited`` and ``budget.allocated`` events."""

    transaction_id: str
    source: str
    target: str
    amount: Money
    reference: str = ""
