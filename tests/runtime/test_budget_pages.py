"""A page of budgets decided in one batch with changes: the treasury reads the page from
storage, and shows the budgets it holds as it holds them."""

from __future__ import annotations

from actors.runtime.actor import ActorKey
from actors.treasury import TreasuryActor
from bus.messages import Ok, Request
from bus.messages.budget import (
    BudgetPage,
    BudgetView,
    CreateBudget,
    DebitBudget,
    GetBudget,
    ListBudgets,
)
from bus.messages.common import Money, Principal
from bus.time import now_ms
from storage.ports import Ledger
from tests.conftest import context

KEY = ActorKey("acme", "treasury", "all")
OWNER = Principal("owner@acme", roles=("owner",))


def request(body: CreateBudget | DebitBudget | GetBudget | ListBudgets) -> Request:
    return Request("acme", OWNER, "r", now_ms() + 5000, body)


async def test_a_page_shows_what_its_batch_did_before_it(ledger: Ledger) -> None:
    """The debit before the listing in its batch is not stored yet (the batch commits
    whole, then replies): the page shows it, as ``GetBudget`` in that batch does."""
    opener = TreasuryActor(context(ledger), KEY)
    await opener.on_activate()
    opened = await opener.handle(
        [
            request(CreateBudget("b1", "One", Money(100, "EUR"))),
            request(CreateBudget("b2", "Two", Money(200, "EUR"))),
        ]
    )
    assert opened.changes is not None
    await ledger.apply([opened.changes])

    treasury = TreasuryActor(context(ledger), KEY)
    await treasury.on_activate()
    decision = await treasury.handle(
        [
            request(DebitBudget("b1", "d1", Money(30, "EUR"))),
            request(ListBudgets()),
            request(GetBudget("b1")),
        ]
    )
    _, page, one = decision.replies
    assert isinstance(page, Ok)
    assert isinstance(page.value, BudgetPage)
    assert isinstance(one, Ok)
    two = BudgetView("b2", "Two", Money(200, "EUR"), 1)
    assert page.value == BudgetPage((BudgetView("b1", "One", Money(70, "EUR"), 2), two))
    assert page.value.budgets[0] == one.value
