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
