"""Funding accounts, deposits and allocations within caps, over REST and GraphQL."""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta
from pathlib import Path

import pytest

from bus.errors import ErrorCode
from bus.messages import Err, Principal
from bus.messages.audit import ReadAudit
from storage.duckdb_warehouse import DuckdbWarehouse
from tests.conftest import Cluster
from tests.integration.api import BudgetApi, GraphQL, Rest
from tests.integration.test_reports_api import last_sequence, loaded_past
from tests.support import outbox_drained, warehouse_process

#: Above the ledger (funding listings and statements are held equal on both ledgers by the
#: contract suite): SQLite only (ADR 30).
pytestmark = pytest.mark.ledgers("sqlite")


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


async def fund_main(api: BudgetApi, cluster: Cluster) -> tuple[str, str]:
    """acme's funding: accounts ``b-spare``, ``main`` and ``a-spare``; ``main`` takes
    deposits of 500.00 and 200.00 and gives 150.00 then 50.00 to budget ``q1``. Returns
    the two allocations' ids."""
    acme = cluster.keys.headers("acme")
    for account in ("b-spare", "main", "a-spare"):
        assert (await api.open_funding(acme, account)).value is not None
    assert (await api.deposit(acme, "main", 50_000)).value is not None
    assert (await api.deposit(acme, "main", 20_000)).value is not None
    assert (await api.create_capped(acme, "q1", 100_000)).value is not None
    first = (await api.allocate(acme, "q1", "main", 15_000)).value
    second = (await api.allocate(acme, "q1", "main", 5_000)).value
    assert first is not None
    assert second is not None
    return first["id"], second["id"]


def eur(minor: int) -> dict[str, object]:
    return {"amount_minor": minor, "currency": "EUR"}


async def test_funding_accounts_are_listed_in_pages_each_with_its_history(
    api: BudgetApi, cluster: Cluster
) -> None:
    first_allocation, second_allocation = await fund_main(api, cluster)
    acme = cluster.keys.headers("acme")
    page = (await api.funding_accounts(acme, limit=2)).value
    assert page is not None
    assert [(a["id"], a["balance"]) for a in page["funding_accounts"]] == [
        ("a-spare", eur(0)),
        ("b-spare", eur(0)),
    ]
    rest = (await api.funding_accounts(acme, limit=2, cursor=page["next_cursor"])).value
    assert rest is not None
    assert [(a["id"], a["balance"]) for a in rest["funding_accounts"]] == [("main", eur(50_000))]
    assert rest["next_cursor"] is None

    newest = (await api.funding_history(acme, "main", limit=3)).value
    assert newest is not None
    assert [
        (e["kind"], e["amount"], e["balance_after"], e["budget_id"]) for e in newest["entries"]
    ] == [
        ("allocation", eur(-5_000), eur(50_000), "q1"),
        ("allocation", eur(-15_000), eur(55_000), "q1"),
        ("deposit", eur(20_000), eur(70_000), None),
    ]
    assert [e["id"] for e in newest["entries"][:2]] == [second_allocation, first_allocation]
    assert newest["entries"][2]["id"].startswith("dep_")
    times = [datetime.fromisoformat(e["at"]) for e in newest["entries"]]
    assert times == sorted(times, reverse=True)
    assert all(t.utcoffset() == timedelta(0) for t in times)
    oldest = (await api.funding_history(acme, "main", limit=3, cursor=newest["next_cursor"])).value
    assert oldest is not None
    assert [(e["kind"], e["amount"], e["balance_after"]) for e in oldest["entries"]] == [
        ("deposit", eur(50_000), eur(50_000))
    ]
    assert oldest["next_cursor"] is None
    empty = (await api.funding_history(acme, "a-spare")).value
    assert empty == {"entries": [], "next_cursor": None}

    assert (await api.funding_history(acme, "nope")).code == "not_found"
    assert (await api.funding_history(acme, "no such/id")).code == "not_found"
    assert (await api.funding_history(acme, "main", cursor="garbled")).code == "invalid_request"
    assert (await api.funding_accounts(acme, cursor="garbled")).code == "invalid_request"
    assert (await api.funding_accounts(acme, limit=0)).code == "invalid_request"


async def test_funding_is_read_by_its_readers_and_moved_for_the_whole_tenant_only(
    api: BudgetApi, cluster: Cluster
) -> None:
    await fund_main(api, cluster)
    keys = cluster.keys
    auditor = keys.headers("acme", roles=["auditor"])
    listed = (await api.funding_accounts(auditor)).value
    assert listed is not None
    assert [a["id"] for a in listed["funding_accounts"]] == ["a-spare", "b-spare", "main"]
    history = (await api.funding_history(auditor, "main")).value
    assert history is not None
    assert len(history["entries"]) == 4
    assert (await api.deposit(auditor, "main", 1)).code == "forbidden"
    for role in ("programme_manager", "integrator", "end_user"):
        other = keys.headers("acme", roles=[role])
        assert (await api.funding_accounts(other)).code == "forbidden", role
        assert (await api.funding_history(other, "main")).code == "forbidden", role
    narrowed = keys.headers("acme", roles=["finance"], grants=["budget:q1"])
    assert (await api.funding_accounts(narrowed)).code == "forbidden"
    assert (await api.funding_history(narrowed, "main")).code == "forbidden"
    assert (await api.deposit(narrowed, "main", 1)).code == "forbidden"
    assert (await api.allocate(narrowed, "q1", "main", 1)).code == "forbidden"
    assert (await api.open_funding(narrowed, "mine")).code == "forbidden"
    assert await cluster.ledger.account_balance("acme", "funding:main") == 50_000
    assert await cluster.ledger.account_balance("acme", "budget:q1") == 20_000
    assert not await cluster.ledger.load_accounts("acme", ["funding:mine"])

    globex = keys.headers("globex")
    assert (await api.funding_accounts(globex)).value == {
        "funding_accounts": [],
        "next_cursor": None,
    }
    assert (await api.funding_history(globex, "main")).code == "not_found"


async def replayed_types(cluster: Cluster, headers: dict[str, str]) -> set[str]:
    async with cluster.client.get("/api/v1/events?limit=1000", headers=headers) as r:
        assert r.status == 200
        return {e["type"] for e in (await r.json())["events"]}


async def test_funding_events_go_only_to_funding_readers(cluster: Cluster) -> None:
    await fund_main(Rest(cluster.client), cluster)
    await outbox_drained(cluster.ledger)
    finance = cluster.keys.headers("acme", roles=["finance"])
    for _ in range(100):  # the relay publishes the outbox
        if "perkbus.funding.deposited" in await replayed_types(cluster, finance):
            break
        await asyncio.sleep(0.05)
    assert "perkbus.funding.deposited" in await replayed_types(cluster, finance)
    for role in ("integrator", "programme_manager"):
        seen = await replayed_types(cluster, cluster.keys.headers("acme", roles=[role]))
        assert "perkbus.budget.allocated" in seen, role  # the events of budgets
        assert "perkbus.funding.deposited" not in seen, role


async def test_the_audit_log_is_not_read_by_principals_narrowed_to_budgets(
    cluster: Cluster,
) -> None:
    """Every deposit and allocation is in it, with its amount and reference."""
    await fund_main(Rest(cluster.client), cluster)
    narrowed = cluster.keys.headers("acme", roles=["finance"], grants=["budget:q1"])
    async with cluster.client.get("/api/v1/audit?limit=100", headers=narrowed) as r:
        body = await r.json()
        assert (r.status, r.content_type, body["code"]) == (
            403,
            "application/problem+json",
            "forbidden",
        )
    reply = await cluster.bus.request(
        "acme",
        "audit",
        ReadAudit(),
        Principal("n", roles=("finance",), grants=("budget:q1",)),
        timeout_s=10,
    )
    assert isinstance(reply, Err)
    assert reply.code == ErrorCode.FORBIDDEN
    whole = cluster.keys.headers("acme", roles=["finance"])
    async with cluster.client.get("/api/v1/audit?limit=100", headers=whole) as r:
        assert r.status == 200
        assert "funding.deposit" in {e["action"] for e in (await r.json())["entries"]}


async def test_reports_show_funding_movements_to_funding_readers_only(
    cluster: Cluster, tmp_path: Path
) -> None:
    store = DuckdbWarehouse(tmp_path / "warehouse.duckdb")
    async with warehouse_process(cluster.bus, store):
        await fund_main(Rest(cluster.client), cluster)
        await outbox_drained(cluster.ledger)
        loaded = await last_sequence(cluster)

        async def kinds(role: str) -> set[str]:
            headers = cluster.keys.headers("acme", roles=[role])
            report = await loaded_past(cluster, headers, loaded)
            return {m["account_kind"] for day in report["days"] for m in day["movements"]}

        assert await kinds("finance") == {"budget", "funding"}
        assert await kinds("programme_manager") == {"budget"}
    await store.close()
