"""Reports over HTTP: money moved through the real API reaches the warehouse through
``PB_EVENTS`` and comes back, per tenant, from ``GET /api/v1/reports/…``."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from actors.reports import ReportService
from storage.duckdb_warehouse import DuckdbWarehouse
from storage.postgres_warehouse import PostgresWarehouse
from tests.conftest import Cluster
from tests.support import postgres_database, warehouse_process

#: Above the ledger (reports come from the warehouse, which loads the event stream, not the
#: ledger): SQLite only (ADR 30).
pytestmark = pytest.mark.ledgers("sqlite")


def today() -> date:
    return datetime.now(UTC).date()


def around(day: date) -> str:
    """A range of the days either side of ``day``: a run across midnight stays inside it."""
    return f"from={day - timedelta(days=1)}&to={day + timedelta(days=1)}"


RANGE = around(today())


@pytest.fixture
async def warehouse(cluster: Cluster, tmp_path: Path) -> AsyncIterator[DuckdbWarehouse]:
    """The warehouse process's two parts, on the cluster's NATS."""
    store = DuckdbWarehouse(tmp_path / "warehouse.duckdb")
    async with warehouse_process(cluster.bus, store):
        yield store
    await store.close()


async def get(cluster: Cluster, path: str, headers: dict[str, str]) -> tuple[int, Any, str]:
    async with cluster.client.get(path, headers=headers) as r:
        return r.status, await r.json(content_type=None), r.content_type


async def loaded_past(cluster: Cluster, headers: dict[str, str], sequence: int) -> Any:
    """The daily report, once the warehouse has loaded past ``sequence``."""
    for _ in range(600):
        status, body, _ = await get(cluster, f"/api/v1/reports/daily?{RANGE}", headers)
        assert status == 200, body
        if body["loaded_sequence"] >= sequence:
            return body
        await asyncio.sleep(0.05)
    raise AssertionError("the warehouse never loaded the events")


async def last_sequence(cluster: Cluster) -> int:
    info = await cluster.bus.js.stream_info("PB_EVENTS")
    return int(info.state.last_seq)


async def test_debits_reach_the_daily_report_of_their_tenant_only(
    cluster: Cluster, warehouse: DuckdbWarehouse
) -> None:
    acme = cluster.keys.headers("acme")
    started = today()
    await cluster.open_budget("acme", "b1", 10_000)
    await cluster.open_budget("globex", "g1", 777_777, "USD")
    for n, amount in enumerate((250, 1_000, 4)):
        async with cluster.client.post(
            "/api/v1/budgets/b1/debits",
            json={"amount": {"amount_minor": amount, "currency": "EUR"}},
            headers={**acme, "Idempotency-Key": f"debit-{n}"},
        ) as r:
            assert r.status == 201
    report = await loaded_past(cluster, acme, await last_sequence(cluster))
    [day] = report["days"]
    # the day of the events: the one the test started on, or the next if it ran past midnight
    on = day["day"]
    assert on in {started.isoformat(), today().isoformat()}
    assert day["movements"] == [
        {
            "account_kind": "budget",
            "account_id": "b1",
            "currency": "EUR",
            "debit_minor": 1_254,
            "credit_minor": 10_000,
            "entries": 4,
        }
    ]
    assert "777777" not in str(report)
    assert "g1" not in str(report)

    globex = cluster.keys.headers("globex")
    status, theirs, _ = await get(cluster, f"/api/v1/reports/daily?{RANGE}", globex)
    assert status == 200
    assert [m["account_id"] for d in theirs["days"] for m in d["movements"]] == ["g1"]
    status, top, _ = await get(cluster, f"/api/v1/reports/top-products?{RANGE}", acme)
    assert (status, top["products"]) == (200, [])

    # GraphQL answers the same, from the same warehouse
    first, last = (part.split("=")[1] for part in RANGE.split("&"))
    document = (
        f'{{ dailyReport(from: "{first}", to: "{last}") {{ ... on DailyReport {{ days {{ day '
        "movements { accountId debitMinor creditMinor entries } } } ... on Error { code } } }"
    )
    async with cluster.client.post("/graphql", json={"query": document}, headers=acme) as r:
        answered = (await r.json())["data"]["dailyReport"]
    assert answered["days"] == [
        {
            "day": on,
            "movements": [
                {"accountId": "b1", "debitMinor": 1_254, "creditMinor": 10_000, "entries": 4}
            ],
        }
    ]


@pytest.mark.parametrize(
    "query",
    [
        "",
        "from=2026-01-01",
        "from=2026-02-30&to=2026-03-01",
        "from=2026-03-02&to=2026-03-01",
        "from=2025-01-01&to=2026-03-01",
        "from=yesterday&to=2026-03-01",
        "from=2026-03-01&to=2026-03-02&tenant=globex",
    ],
)
async def test_a_bad_range_is_a_problem(
    cluster: Cluster, warehouse: DuckdbWarehouse, query: str
) -> None:
    status, body, content_type = await get(
        cluster, f"/api/v1/reports/daily?{query}", cluster.keys.headers("acme")
    )
    assert (status, body["code"], content_type) == (
        422,
        "invalid_request",
        "application/problem+json",
    ), body


async def test_reports_need_their_permission_and_the_whole_tenant(
    cluster: Cluster, warehouse: DuckdbWarehouse
) -> None:
    path = f"/api/v1/reports/daily?{RANGE}"
    for headers in (
        cluster.keys.headers("acme", scopes=["budgets:read"]),
        cluster.keys.headers("acme", roles=["integrator"]),
        cluster.keys.headers("acme", roles=["finance"], grants=["budget:b1"]),
    ):
        status, body, _ = await get(cluster, path, headers)
        assert (status, body["code"]) == (403, "forbidden"), body
    finance = cluster.keys.headers("acme", roles=["finance"], scopes=["reports:read"])
    status, _, _ = await get(cluster, path, finance)
    assert status == 200


async def test_without_a_warehouse_reports_are_unavailable(cluster: Cluster) -> None:
    status, body, _ = await get(
        cluster, f"/api/v1/reports/daily?{RANGE}", cluster.keys.headers("acme")
    )
    assert (status, body["code"], body["retryable"]) == (503, "unavailable", True)
    async with cluster.client.get("/readyz") as r:
        ready = await r.json()
    assert r.status == 200
    assert ready["warehouse"].startswith("unavailable")


async def test_readyz_shows_the_warehouse_store(
    cluster: Cluster, warehouse: DuckdbWarehouse
) -> None:
    async with cluster.client.get("/readyz") as r:
        ready = await r.json()
    assert r.status == 200
    assert ready["warehouse"] == [
        {"name": "warehouse:duckdb", "ok": True, "detail": "", "essential": False}
    ]


@pytest.mark.postgres
async def test_a_warehouse_that_is_down_shows_in_readyz_and_reports_say_unavailable(
    cluster: Cluster,
) -> None:
    async with postgres_database() as url:
        store = PostgresWarehouse(f"{url}_missing")  # a database nobody made: down
        service = ReportService(cluster.bus.nc, store)
        await service.start()
        try:
            async with cluster.client.get("/readyz") as r:
                ready = await r.json()
            assert r.status == 200  # the edge serves all else without the warehouse
            [health] = ready["warehouse"]
            assert (health["name"], health["ok"]) == ("warehouse:postgres", False)
            status, body, _ = await get(
                cluster, f"/api/v1/reports/daily?{RANGE}", cluster.keys.headers("acme")
            )
            assert (status, body["code"], body["retryable"]) == (503, "unavailable", True)
        finally:
            await service.stop()
            await store.close()
