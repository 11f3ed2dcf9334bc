"""The audit trail: recorded with each effect, chained, readable by auditors, and any edit
or removal of a stored entry is found by ``perkbus audit verify``."""

from __future__ import annotations

import asyncio
import base64
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

from storage.audit_chain import verify
from tests.conftest import Cluster
from tests.support import raw_execute

CLIENTS = "/api/v1/clients"


async def acme_activity(cluster: Cluster) -> None:
    """A little of everything that is audited: a budget, a debit, a client and its
    token, a refused attempt."""
    acme = cluster.keys.headers("acme")
    body = {"id": "q4", "name": "Q4", "initial": {"amount_minor": 1000, "currency": "EUR"}}
    async with cluster.client.post("/api/v1/budgets", json=body, headers=acme) as r:
        assert r.status == 201
    debit = {"amount": {"amount_minor": 250, "currency": "EUR"}, "memo": "gift"}
    async with cluster.client.post("/api/v1/budgets/q4/debits", json=debit, headers=acme) as r:
        assert r.status == 201
    client = {"name": "HR sync", "scopes": ["budgets:read"]}
    async with cluster.client.post(CLIENTS, json=client, headers=acme) as r:
        made = await r.json()
    basic = base64.b64encode(f"{made['id']}:{made['client_secret']}".encode()).decode()
    async with cluster.client.post(
        "/oauth/token",
        data={"grant_type": "client_credentials"},
        headers={"Authorization": f"Basic {basic}"},
    ) as r:
        integrator = {"Authorization": f"Bearer {(await r.json())['access_token']}"}
    async with cluster.client.get("/api/v1/budgets/q4", headers=integrator) as r:
        assert r.status == 200
    # a person may spend only their own points: refused by the orders actor, and recorded
    eve = cluster.keys.headers("acme", roles=["end_user"], subject="eve@acme")
    order = {"product_id": "card-1", "face_value_minor": 500, "recipient": "bob@acme"}
    async with cluster.client.post("/api/v1/orders", json=order, headers=eve) as r:
        assert r.status == 403


async def test_audited_actions_form_a_chain_auditors_can_page(cluster: Cluster) -> None:
    await acme_activity(cluster)
    acme = cluster.keys.headers("acme")
    async with cluster.client.get("/api/v1/audit?limit=100", headers=acme) as r:
        page = await r.json()
        assert r.status == 200, page
    entries = page["entries"]
    actions = [(e["action"], e["outcome"]) for e in entries]
    assert actions == [
        ("budget.create", "ok"),
        ("budget.debit", "ok"),
        ("identity.client.create", "ok"),
        ("identity.token", "ok"),
        ("orders.place", "forbidden"),
    ]
    assert [e["seq"] for e in entries] == [1, 2, 3, 4, 5]
    assert entries[0]["actor"] == "user@acme"
    assert entries[3]["actor"].startswith("acme.")  # the client that signed in
    assert entries[4]["actor"] == "eve@acme"
    assert '"amount_minor":250' in entries[1]["detail"]
    assert "pbs_" not in str(entries)  # no secret, in any entry
    assert page["next_after"] == 5

    async with cluster.client.get("/api/v1/audit?action=budget.debit", headers=acme) as r:
        only = (await r.json())["entries"]
    assert [e["seq"] for e in only] == [2]
    async with cluster.client.get("/api/v1/audit?after=3&limit=1", headers=acme) as r:
        assert [e["seq"] for e in (await r.json())["entries"]] == [4]
    async with cluster.client.get("/api/v1/audit?limit=0", headers=acme) as r:
        assert r.status == 422
    reader = cluster.keys.headers("acme", ["budgets:read"])
    async with cluster.client.get("/api/v1/audit", headers=reader) as r:
        assert r.status == 403  # no audit:read scope
    async with cluster.client.get("/api/v1/audit", headers=cluster.keys.headers("globex")) as r:
        assert (await r.json())["entries"] == []  # another tenant's log is its own

    query = (
        "{ auditLog(after: 1, limit: 2) { ... on AuditPage { nextAfter entries { seq action } } } }"
    )
    async with cluster.client.post("/graphql", json={"query": query}, headers=acme) as r:
        graph = (await r.json())["data"]["auditLog"]
    assert graph == {
        "nextAfter": 3,
        "entries": [
            {"seq": 2, "action": "budget.debit"},
            {"seq": 3, "action": "identity.client.create"},
        ],
    }
    assert await verify(cluster.ledger, "acme") is None


async def test_an_edited_or_removed_entry_breaks_the_chain(cluster: Cluster) -> None:
    await acme_activity(cluster)
    assert await verify(cluster.ledger, "acme") is None
    await raw_execute(
        cluster.ledger,
        "UPDATE audit_log SET detail = ? WHERE tenant_id = ? AND seq = ?",
        ('{"amount":{"amount_minor":25,"currency":"EUR"}}', "acme", 2),
    )
    problem = await verify(cluster.ledger, "acme")
    assert problem == "acme: entry 2 (budget.debit by user@acme) was altered"


async def test_removed_entries_are_named(cluster: Cluster) -> None:
    await acme_activity(cluster)
    await raw_execute(
        cluster.ledger, "DELETE FROM audit_log WHERE tenant_id = ? AND seq = ?", ("acme", 3)
    )
    assert await verify(cluster.ledger, "acme") == "acme: entries 3..3 are missing"


async def test_the_last_entry_removed_is_found_by_the_head(cluster: Cluster) -> None:
    await acme_activity(cluster)
    await raw_execute(
        cluster.ledger, "DELETE FROM audit_log WHERE tenant_id = ? AND seq = ?", ("acme", 5)
    )
    assert await verify(cluster.ledger, "acme") == "acme: the log ends at entry 4, its head says 5"


def test_perkbus_audit_verify_names_the_tampered_entry(tmp_path: Path) -> None:
    """The command an operator runs, on a ledger an older session wrote."""
    import asyncio

    from storage.ports import AuditEntry, ChangeSet
    from storage.sqlite import SqliteLedger

    path = tmp_path / "perkbus.sqlite3"

    async def write() -> None:
        ledger = SqliteLedger(path)
        await ledger.migrate()
        entries = tuple(
            AuditEntry(i, "owner@acme", "budget.debit", "q4", "ok", f'{{"n":{i}}}')
            for i in range(3)
        )
        await ledger.apply([ChangeSet("acme", audit=entries), ChangeSet("globex", audit=entries)])
        await ledger.close()

    asyncio.run(write())
    env = {**os.environ, "PERKBUS_SQLITE_PATH": str(path), "PERKBUS_VAR_DIR": str(tmp_path)}
    command = [sys.executable, "-m", "perkbus", "audit", "verify"]
    intact = subprocess.run(command, env=env, capture_output=True, text=True, timeout=60)
    assert intact.returncode == 0, intact.stderr
    assert "acme: 3 entries, chain intact" in intact.stdout
    import sqlite3

    with sqlite3.connect(path) as con:
        con.execute(
            "UPDATE audit_log SET actor = 'someone@else' WHERE tenant_id = 'acme' AND seq = 2"
        )
    tampered = subprocess.run(command, env=env, capture_output=True, text=True, timeout=60)
    assert tampered.returncode == 1
    assert "TAMPERED acme: entry 2 (budget.debit by someone@else) was altered" in tampered.stdout
    assert "globex: 3 entries, chain intact" in tampered.stdout

    # a tenant named that has no audit log is not "0 entries, chain intact"
    named = subprocess.run(
        [*command, "--tenant", "globex", "--tenant", "nosuch"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert named.returncode == 1
    assert "globex: 3 entries, chain intact" in named.stdout
    assert "nosuch: no audit log in" in named.stdout
    # it only reads: a ledger without the schema is said to be so, not migrated
    empty = {**env, "PERKBUS_SQLITE_PATH": str(tmp_path / "empty.sqlite3")}
    nothing = subprocess.run(command, env=empty, capture_output=True, text=True, timeout=60)
    assert (nothing.returncode, "cannot read the audit log" in nothing.stdout) == (1, True)
    with sqlite3.connect(tmp_path / "empty.sqlite3") as con:
        assert con.execute("SELECT count(*) FROM sqlite_master").fetchone() == (0,)


async def test_refusals_at_the_edge_are_recorded_too(cluster: Cluster) -> None:
    """A missing permission, grants that do not cover a budget: refused before any actor,
    and still in the tenant's audit log (never in another tenant's)."""
    await cluster.open_budget("acme", "eng", 1000)
    await cluster.open_budget("acme", "sales", 1000)
    finance = cluster.keys.headers("acme", roles=["finance"], subject="fin@acme")
    async with cluster.client.get("/api/v1/clients", headers=finance) as r:
        assert r.status == 403
    narrowed = cluster.keys.headers(
        "acme", roles=["programme_manager"], subject="pm@acme", grants=["budget:eng"]
    )
    debit = {"amount": {"amount_minor": 5, "currency": "EUR"}}
    async with cluster.client.post(
        "/api/v1/budgets/sales/debits", json=debit, headers=narrowed
    ) as r:
        assert r.status == 403
    query = "{ apiClients { __typename } }"
    async with cluster.client.post("/graphql", json={"query": query}, headers=finance) as r:
        assert (await r.json())["data"]["apiClients"]["__typename"] == "Forbidden"

    def refusals(page: dict[str, Any]) -> list[tuple[str, str, str]]:
        return [
            (e["actor"], e["target"], e["outcome"])
            for e in page["entries"]
            if e["action"] == "edge.refused"
        ]

    acme = cluster.keys.headers("acme", roles=["auditor"])
    for _ in range(50):  # recorded in the background: the answers did not wait
        async with cluster.client.get("/api/v1/audit", headers=acme) as r:
            found = refusals(await r.json())
        if len(found) == 3:
            break
        await asyncio.sleep(0.05)
    assert sorted(found) == [
        ("fin@acme", "GET /api/v1/clients", "forbidden"),
        ("fin@acme", "graphql apiClients", "forbidden"),
        ("pm@acme", "POST /api/v1/budgets/sales/debits", "forbidden"),
    ]
    async with cluster.client.get(
        "/api/v1/audit", headers=cluster.keys.headers("globex", roles=["auditor"])
    ) as r:
        assert refusals(await r.json()) == []
