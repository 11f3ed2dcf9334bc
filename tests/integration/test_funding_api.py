"""Funding accounts, deposits and allocations within caps, over REST and GraphQL."""

from __future__ import annotations

import pytest

from tests.conftest import Cluster
from tests.integration.api import BudgetApi, GraphQL, Rest


@pytest.fixture(params=["rest", "graphql"])
def api(request: pytest.FixtureRequest, cluster: Cluster) -> BudgetApi:
    return Rest(cluster.client) if request.param == "rest" else GraphQL(cluster.client)


async def test_fund_then_allocate_within_a_cap(api: BudgetApi, cluster: Cluster) -> None:
    acme = cluster.keys.headers("acme")
    opened = (await api.open_funding(acme, "main")).value
    assert opened == {
        "id": "main",
        "name": "Main",
        "version": 1,
        "balance": {"amount_minor": 0, "currency": "EUR"},
    }
    funded = (await api.deposit(acme, "main", 50_000)).value
    assert funded is not None
    assert funded["balance"] == {"amount_minor": 50_000, "currency": "EUR"}
    capped = (await api.create_capped(acme, "q1", 20_000)).value
    assert capped is not None
    assert capped["cap_minor"] == 20_000
    moved = (await api.allocate(acme, "q1", "main", 15_000)).value
    assert moved is not None
    assert moved["funding_balance_after"] == {"amount_minor": 35_000, "currency": "EUR"}
    assert moved["budget_balance_after"] == {"amount_minor": 15_000, "currency": "EUR"}
    assert (await api.allocate(acme, "q1", "main", 5_001)).code == "invalid_request"  # cap
    assert (await api.allocate(acme, "q1", "nope", 1)).code == "not_found"
    assert (await api.deposit(acme, "main", 0)).code == "invalid_request"
    assert (await api.open_funding(acme, "main")).code == "already_exists"
    reader = cluster.keys.headers("acme", ["budgets:read"])
    assert (await api.deposit(reader, "main", 1)).code == "forbidden"
    assert await cluster.ledger.account_balance("acme", "budget:q1") == 15_000
    assert await cluster.ledger.entries_total("acme") == 0


async def test_no_account_grows_past_the_largest_amount(cluster: Cluster) -> None:
    """Each amount is at most 2**62 minor units, and so is each balance: two deposits of
    2**62 would overflow the ledger's 64-bit integers, and the commit would fail on every
    retry. The one past the bound is refused, and nothing changes."""
    api, acme = Rest(cluster.client), cluster.keys.headers("acme")
    await api.open_funding(acme, "main")
    assert (await api.deposit(acme, "main", 2**62)).value is not None
    refused = await api.deposit(acme, "main", 1)
    assert (refused.code, refused.retryable) == ("invalid_request", False)
    assert (await api.create(acme, "full", 2**62)).value is not None
    assert (await api.allocate(acme, "full", "main", 1)).code == "invalid_request"
    assert await cluster.ledger.account_balance("acme", "funding:main") == 2**62
    assert await cluster.ledger.account_balance("acme", "budget:full") == 2**62
    assert (await api.allocate(acme, "other", "main", 1)).code == "not_found"  # still serving


async def test_no_wallet_holds_more_points_than_the_largest_amount(cluster: Cluster) -> None:
    """512 rewards of 2**53 points (the most one may give) fill a wallet to 2**62; the
    next is refused, and the budget pays nothing for it."""
    api, acme = Rest(cluster.client), cluster.keys.headers("acme")
    await cluster.open_budget("acme", "b1", 10**12)
    assert (await api.set_points_rate(acme, "EUR", "999999999")).value is not None
    for _ in range(512):
        assert (await api.issue(acme, "b1", "ann", 2**53)).value is not None
    balance = await cluster.ledger.account_balance("acme", "budget:b1")
    assert (await api.issue(acme, "b1", "ann", 2**53)).code == "invalid_request"
    assert await cluster.ledger.account_balance("acme", "wallet:ann") == 2**62
    assert await cluster.ledger.account_balance("acme", "budget:b1") == balance
