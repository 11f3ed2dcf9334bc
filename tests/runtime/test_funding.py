"""Funding accounts, deposits, allocations to budgets within their hard caps."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from actors.runtime.host import ActorHost
from bus.client import Bus
from bus.errors import ErrorCode
from bus.messages import Command, Err, Ok, Principal, Reply
from bus.messages.budget import CreateBudget, GetBudget
from bus.messages.common import Money
from bus.messages.funding import (
    Allocate,
    Allocated,
    Deposit,
    FundingView,
    GetFunding,
    ListFunding,
    OpenFunding,
)
from bus.messages.history import FundingHistory
from storage.ports import CatalogueStore, Ledger
from tests.conftest import start_host

FINANCE = Principal("cfo@acme", roles=("finance",))


@pytest.fixture
async def host(bus: Bus, ledger: Ledger, catalogue: CatalogueStore) -> AsyncIterator[ActorHost]:
    h = await start_host(bus, ledger, catalogue)
    yield h
    await h.stop()


async def ask(bus: Bus, body: Command, who: Principal = FINANCE) -> Reply:
    return await bus.request("acme", "treasury", body, who, timeout_s=10)


def eur(amount: int) -> Money:
    return Money(amount, "EUR")


async def test_deposit_then_allocate_within_the_cap(
    bus: Bus, ledger: Ledger, host: ActorHost
) -> None:
    assert isinstance(await ask(bus, OpenFunding("main", "Main", "EUR")), Ok)
    deposited = await ask(bus, Deposit("main", eur(100_000), "dep-1", "wire 2026-11"))
    assert isinstance(deposited, Ok)
    assert isinstance(deposited.value, FundingView)
    assert deposited.value.balance == eur(100_000)
    capped = await ask(bus, CreateBudget("q4", "Q4", eur(0), cap_minor=30_000))
    assert isinstance(capped, Ok)
    moved = await ask(bus, Allocate("main", "q4", eur(25_000), "alloc-1"))
    assert isinstance(moved, Ok)
    assert isinstance(moved.value, Allocated)
    assert moved.value.funding_balance_after == eur(75_000)
    assert moved.value.budget_balance_after == eur(25_000)
    over_cap = await ask(bus, Allocate("main", "q4", eur(5_001), "alloc-2"))
    assert isinstance(over_cap, Err)
    assert over_cap.code == ErrorCode.INVALID_REQUEST
    assert "capped" in over_cap.message
    assert isinstance(await ask(bus, CreateBudget("big", "Big", eur(0))), Ok)
    too_much = await ask(bus, Allocate("main", "big", eur(75_001), "alloc-3"))
    assert isinstance(too_much, Err)
    assert too_much.code == ErrorCode.INSUFFICIENT_FUNDS
    usd = await ask(bus, Allocate("main", "big", Money(1, "USD"), "alloc-4"))
    assert isinstance(usd, Err)
    assert usd.code == ErrorCode.CURRENCY_MISMATCH
    clerk = Principal("clerk@acme", roles=("programme_manager",))
    refused = await ask(bus, Deposit("main", eur(1), "dep-2"), clerk)
    assert isinstance(refused, Err)
    assert refused.code == ErrorCode.FORBIDDEN
    funding = await ask(bus, GetFunding("main"))
    assert isinstance(funding, Ok)
    assert isinstance(funding.value, FundingView)
    assert funding.value.balance == eur(75_000)
    budget = await ask(bus, GetBudget("q4"))
    assert isinstance(budget, Ok)
    assert await ledger.account_balance("acme", "external:deposits") == -100_000
    assert await ledger.account_balance("acme", "budget:q4") == 25_000
    assert await ledger.entries_total("acme") == 0
    above = await ask(bus, CreateBudget("x", "X", eur(10), cap_minor=5))
    assert isinstance(above, Err)


async def test_funding_reads_sent_on_the_bus_are_refused_to_all_but_its_readers(
    bus: Bus, host: ActorHost
) -> None:
    """The treasury and the history actor check again what the edge checked (ADR 38)."""
    assert isinstance(await ask(bus, OpenFunding("main", "Main", "EUR")), Ok)
    assert isinstance(await ask(bus, Deposit("main", eur(100), "dep-1", "wire")), Ok)

    async def history(who: Principal) -> Reply:
        return await bus.request("acme", "history", FundingHistory("main"), who, timeout_s=10)

    refused = (
        Principal("pm@acme", roles=("programme_manager",)),
        Principal("int@acme", roles=("integrator",)),
        Principal("narrow@acme", roles=("finance",), grants=("budget:q1",)),
    )
    for who in refused:
        for reply in (
            await ask(bus, GetFunding("main"), who),
            await ask(bus, ListFunding(), who),
            await history(who),
        ):
            assert isinstance(reply, Err), (who, reply)
            assert reply.code == ErrorCode.FORBIDDEN, (who, reply)
    narrowed = refused[2]
    for move in (OpenFunding("mine", "Mine", "EUR"), Deposit("main", eur(1), "dep-2", "x")):
        reply = await ask(bus, move, narrowed)
        assert isinstance(reply, Err)
        assert reply.code == ErrorCode.FORBIDDEN
    for reader in (Principal("aud@acme", roles=("auditor",)), Principal("o", roles=("system",))):
        assert isinstance(await ask(bus, GetFunding("main"), reader), Ok)
        assert isinstance(await ask(bus, ListFunding(), reader), Ok)
        assert isinstance(await history(reader), Ok)
