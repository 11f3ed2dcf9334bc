"""Holds: funds reserved on a budget or a wallet, then committed or released."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from actors.runtime.host import ActorHost
from bus.client import Bus
from bus.errors import ErrorCode
from bus.messages import Command, Err, Ok, Principal, Reply
from bus.messages.budget import BudgetView, CreateBudget, GetBudget
from bus.messages.common import Money
from bus.messages.funding import Allocate, Deposit, OpenFunding
from bus.messages.treasury import CommitHold, HoldFunds, HoldView, ReleaseHold
from bus.messages.wallet import GetWallet, IssuePoints, WalletView
from storage.ports import CatalogueStore, Ledger
from tests.conftest import start_host

SYSTEM = Principal("orders", roles=("system",))
FINANCE = Principal("cfo@acme", roles=("finance",))


@pytest.fixture
async def host(bus: Bus, ledger: Ledger, catalogue: CatalogueStore) -> AsyncIterator[ActorHost]:
    h = await start_host(bus, ledger, catalogue)
    yield h
    await h.stop()


async def ask(bus: Bus, body: Command, who: Principal = SYSTEM) -> Reply:
    return await bus.request("acme", "treasury", body, who, timeout_s=10)


async def hold_view(bus: Bus, body: Command) -> HoldView:
    reply = await ask(bus, body)
    assert isinstance(reply, Ok), reply
    assert isinstance(reply.value, HoldView)
    return reply.value


async def budget_balance(bus: Bus) -> int:
    reply = await ask(bus, GetBudget("b1"), FINANCE)
    assert isinstance(reply, Ok)
    assert isinstance(reply.value, BudgetView)
    return reply.value.balance.amount_minor


async def test_a_committed_budget_hold_is_spent_once(
    bus: Bus, ledger: Ledger, host: ActorHost
) -> None:
    assert isinstance(await ask(bus, CreateBudget("b1", "B1", Money(10_000, "EUR"))), Ok)
    held = await hold_view(bus, HoldFunds("h1", "budget:b1", 3000))
    assert (held.status, held.amount_minor, held.unit, held.payer_balance_minor) == (
        "held",
        3000,
        "EUR",
        7000,
    )
    assert await budget_balance(bus) == 7000
    assert await ledger.account_balance("acme", "hold:h1") == 3000
    again = await hold_view(bus, HoldFunds("h1", "budget:b1", 3000))
    assert again.status == "held"
    assert await budget_balance(bus) == 7000  # placed once
    other = await ask(bus, HoldFunds("h1", "budget:b1", 2000))
    assert isinstance(other, Err)
    assert other.code == ErrorCode.ALREADY_EXISTS

    committed = await hold_view(bus, CommitHold("h1"))
    assert (committed.status, committed.payer_balance_minor) == ("committed", 7000)
    assert (await hold_view(bus, CommitHold("h1"))).status == "committed"
    late_release = await ask(bus, ReleaseHold("h1"))
    assert isinstance(late_release, Err)
    assert late_release.code == ErrorCode.INVALID_REQUEST
    assert await budget_balance(bus) == 7000
    assert await ledger.account_balance("acme", "hold:h1") == 0
    assert await ledger.account_balance("acme", "spent:b1") == 3000
    assert await ledger.entries_total("acme") == 0


async def test_a_released_hold_gives_the_funds_back(
    bus: Bus, ledger: Ledger, host: ActorHost
) -> None:
    assert isinstance(await ask(bus, CreateBudget("b1", "B1", Money(5000, "EUR"))), Ok)
    too_much = await ask(bus, HoldFunds("h1", "budget:b1", 5001))
    assert isinstance(too_much, Err)
    assert too_much.code == ErrorCode.INSUFFICIENT_FUNDS
    await hold_view(bus, HoldFunds("h2", "budget:b1", 5000))
    assert await budget_balance(bus) == 0
    second = await ask(bus, HoldFunds("h3", "budget:b1", 1))
    assert isinstance(second, Err)
    assert second.code == ErrorCode.INSUFFICIENT_FUNDS  # held funds are not available
    released = await hold_view(bus, ReleaseHold("h2"))
    assert (released.status, released.payer_balance_minor) == ("released", 5000)
    assert await budget_balance(bus) == 5000
    late_commit = await ask(bus, CommitHold("h2"))
    assert isinstance(late_commit, Err)
    assert await ledger.account_balance("acme", "spent:b1") == 0
    missing = await ask(bus, ReleaseHold("nope"))
    assert isinstance(missing, Err)
    assert missing.code == ErrorCode.NOT_FOUND
    assert await ledger.entries_total("acme") == 0


async def test_a_wallet_hold_survives_a_restart_and_commits_as_points_spent(
    bus: Bus, ledger: Ledger, catalogue: CatalogueStore, host: ActorHost
) -> None:
    assert isinstance(await ask(bus, CreateBudget("b1", "B1", Money(10_000, "EUR"))), Ok)
    assert isinstance(await ask(bus, IssuePoints("b1", "ann", 500, "r1"), FINANCE), Ok)
    short = await ask(bus, HoldFunds("h1", "wallet:ann", 600))
    assert isinstance(short, Err)
    assert short.code == ErrorCode.INSUFFICIENT_FUNDS
    held = await hold_view(bus, HoldFunds("h1", "wallet:ann", 400))
    assert (held.unit, held.payer_balance_minor) == ("PTS", 100)
    await host.stop()
    fresh = await start_host(bus, ledger, catalogue)  # hold and wallet come from storage
    try:
        committed = await hold_view(bus, CommitHold("h1"))
        assert (committed.payer, committed.payer_balance_minor) == ("wallet:ann", 100)
        wallet = await ask(bus, GetWallet("ann"), FINANCE)
        assert isinstance(wallet, Ok)
        assert isinstance(wallet.value, WalletView)
        assert wallet.value.points == 100
    finally:
        await fresh.stop()
    assert await ledger.account_balance("acme", "points:redeemed") == 400
    assert await ledger.account_balance("acme", "redeemed:EUR") == 400
    assert await ledger.entries_total("acme") == 0


async def test_only_the_system_places_or_settles_holds(
    bus: Bus, ledger: Ledger, host: ActorHost
) -> None:
    assert isinstance(await ask(bus, CreateBudget("b1", "B1", Money(1000, "EUR"))), Ok)
    for body in (HoldFunds("h1", "budget:b1", 100), CommitHold("h1"), ReleaseHold("h1")):
        refused = await ask(bus, body, FINANCE)
        assert isinstance(refused, Err)
        assert refused.code == ErrorCode.FORBIDDEN
    assert await budget_balance(bus) == 1000
    assert await ledger.account_balance("acme", "hold:h1") == 0


async def budget_view(bus: Bus, budget_id: str) -> BudgetView:
    reply = await ask(bus, GetBudget(budget_id), FINANCE)
    assert isinstance(reply, Ok)
    assert isinstance(reply.value, BudgetView)
    return reply.value


def eur(amount: int) -> Money:
    return Money(amount, "EUR")


async def test_a_budgets_cap_counts_what_holds_set_aside(
    bus: Bus, ledger: Ledger, host: ActorHost
) -> None:
    assert isinstance(await ask(bus, OpenFunding("main", "Main", "EUR"), FINANCE), Ok)
    assert isinstance(await ask(bus, Deposit("main", eur(10_000), "dep-1", "wire"), FINANCE), Ok)
    capped = CreateBudget("q4", "Q4", eur(0), cap_minor=1000)
    assert isinstance(await ask(bus, capped, FINANCE), Ok)
    assert isinstance(await ask(bus, Allocate("main", "q4", eur(1000), "a-1"), FINANCE), Ok)

    await hold_view(bus, HoldFunds("h-cap", "budget:q4", 400))
    view = await budget_view(bus, "q4")
    assert (view.balance.amount_minor, view.held_minor) == (600, 400)
    refill = await ask(bus, Allocate("main", "q4", eur(300), "a-2"), FINANCE)
    assert isinstance(refill, Err)  # 600 available + 400 held + 300 > 1000
    assert refill.code == ErrorCode.INVALID_REQUEST
    assert "400 held" in refill.message

    await hold_view(bus, ReleaseHold("h-cap"))  # back to the budget: exactly the cap
    view = await budget_view(bus, "q4")
    assert (view.balance.amount_minor, view.held_minor) == (1000, 0)

    await hold_view(bus, HoldFunds("h-spent", "budget:q4", 400))
    await hold_view(bus, CommitHold("h-spent"))  # spent: room under the cap again
    view = await budget_view(bus, "q4")
    assert (view.balance.amount_minor, view.held_minor) == (600, 0)
    assert isinstance(await ask(bus, Allocate("main", "q4", eur(400), "a-3"), FINANCE), Ok)
    assert (await budget_view(bus, "q4")).balance.amount_minor == 1000
    assert await ledger.entries_total("acme") == 0
