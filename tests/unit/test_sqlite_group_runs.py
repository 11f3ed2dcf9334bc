"""A SQLite group commit writes each statement once for all the tenants of the group
(``storage.sqlite_writes``): a tenant's own writes keep their order, and a fenced run
still refuses a write that finds its row at another version."""

from __future__ import annotations

import sqlite3
from typing import Any

import pytest

from storage.errors import StaleWrite
from storage.ports import AccountRecord, ChangeSet, PutAccount
from storage.sqlite_writes import apply_change_sets

TENANTS = ("acme", "globex", "initech")


class Counting:
    """A real connection that counts the statements it is asked to run."""

    def __init__(self, con: sqlite3.Connection) -> None:
        self.con = con
        self.calls: list[str] = []

    def execute(self, statement: str, params: Any = ()) -> sqlite3.Cursor:
        self.calls.append(statement.split()[0])
        return self.con.execute(statement, params)

    def executemany(self, statement: str, rows: Any) -> sqlite3.Cursor:
        rows = list(rows)
        if rows:
            self.calls.append(statement.split()[0])
        return self.con.executemany(statement, rows)


def account(tenant: str, name: str, balance: int, version: int) -> AccountRecord:
    return AccountRecord(tenant, f"budget:{name}", "budget", name, "EUR", balance, version)


def put(tenant: str, name: str, balance: int, expected: int) -> PutAccount:
    return PutAccount(account(tenant, name, balance, expected + 1), expected_version=expected)


def apply(con: sqlite3.Connection, batch: list[ChangeSet]) -> list[str]:
    counting = Counting(con)
    con.execute("BEGIN IMMEDIATE")
    try:
        apply_change_sets(counting, batch)  # type: ignore[arg-type]
    except BaseException:
        con.execute("ROLLBACK")
        raise
    con.execute("COMMIT")
    return counting.calls


def balances(con: sqlite3.Connection) -> dict[tuple[str, str], tuple[int, int]]:
    rows = con.execute("SELECT tenant_id, account_id, balance_minor, version FROM accounts")
    return {(t, a): (b, v) for t, a, b, v in rows}


def opened(con: sqlite3.Connection) -> None:
    apply(con, [ChangeSet(t, puts=(put(t, "a", 100, 0), put(t, "b", 100, 0))) for t in TENANTS])


def test_each_statement_runs_once_for_every_tenant_of_the_group(con: sqlite3.Connection) -> None:
    opened(con)
    # each tenant: update a, open c, update b — three runs of its own, in that order
    group = [
        ChangeSet(t, puts=(put(t, "a", 90, 1), put(t, "c", 5, 0), put(t, "b", 80, 1)))
        for t in TENANTS
    ]
    calls = apply(con, group)
    assert calls == ["UPDATE", "INSERT", "UPDATE"]  # not nine, one per tenant and write
    for t in TENANTS:
        assert balances(con)[(t, "budget:a")] == (90, 2)
        assert balances(con)[(t, "budget:b")] == (80, 2)
        assert balances(con)[(t, "budget:c")] == (5, 1)


def test_a_tenants_own_writes_keep_their_order(con: sqlite3.Connection) -> None:
    opened(con)
    # two batches of one tenant in the group: the second's update expects the first's
    group = [
        ChangeSet("acme", puts=(put("acme", "a", 90, 1),)),
        ChangeSet("globex", puts=(put("globex", "c", 7, 0), put("globex", "a", 70, 1))),
        ChangeSet("acme", puts=(put("acme", "a", 80, 2),)),
    ]
    apply(con, group)
    assert balances(con)[("acme", "budget:a")] == (80, 3)
    assert balances(con)[("globex", "budget:a")] == (70, 2)
    assert balances(con)[("globex", "budget:c")] == (7, 1)


def test_a_stale_write_in_a_shared_run_refuses_the_group(con: sqlite3.Connection) -> None:
    opened(con)
    before = balances(con)
    group = [
        ChangeSet("acme", puts=(put("acme", "a", 90, 1),)),
        ChangeSet("globex", puts=(put("globex", "a", 90, 5),)),  # it is at version 1
        ChangeSet("initech", puts=(put("initech", "a", 90, 1),)),
    ]
    with pytest.raises(StaleWrite, match="one of 3 writes"):
        apply(con, group)
    assert balances(con) == before
