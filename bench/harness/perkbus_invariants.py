"""After a burst: did perkbus keep its books? Read straight from its ledger (the SQLite
file in its var directory, or its MariaDB database), past the adapters.

- no budget or wallet is negative;
- the ledger sums to zero per currency, and so does every transaction;
- voucher codes are distinct, each fulfilled order holds its own code, allocated to it;
- fulfilled orders match the successes counted (:data:`bench.harness.system.COUNT_RULE`).

A bulk job adds: its succeeded rows are the points issued (``points:issued`` entries).
"""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Awaitable, Callable
from typing import Any

import asyncmy

from bench.harness.system import Invariants, count_rule

#: Runs one query (``?`` placeholders) and returns its rows.
Query = Callable[[str, tuple[Any, ...]], Awaitable[list[tuple[Any, ...]]]]


def sqlite_query(path: str) -> Query:
    async def query(sql: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
        def run() -> list[tuple[Any, ...]]:
            con = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
            try:
                return con.execute(sql, params).fetchall()
            finally:
                con.close()

        return await asyncio.to_thread(run)

    return query


def mysql_query(url: str) -> Query:
    from storage.mysql_pool import connect_args

    async def query(sql: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
        conn = await asyncmy.connect(**connect_args(url))
        try:
            async with conn.cursor() as cur:
                await cur.execute(sql.replace("?", "%s"), params)
                return [tuple(r) for r in await cur.fetchall()]
        finally:
            conn.close()

    return query


def open_query(ledger: str) -> Query:
    """``sqlite:PATH`` or a MySQL URL."""
    if ledger.startswith("sqlite:"):
        return sqlite_query(ledger.removeprefix("sqlite:"))
    return mysql_query(ledger)


async def _one(q: Query, sql: str, params: tuple[Any, ...] = ()) -> int:
    rows = await q(sql, params)
    return int(rows[0][0] or 0) if rows else 0


async def books(q: Query) -> tuple[dict[str, int], list[str]]:
    """The invariants every run keeps, whatever it did."""
    negative = await _one(
        q,
        "SELECT COUNT(*) FROM accounts WHERE kind IN ('budget', 'wallet')"
        " AND (balance_minor < 0 OR held_minor < 0)",
    )
    by_currency = await q(
        "SELECT currency, SUM(amount_minor) FROM ledger_entries GROUP BY currency", ()
    )
    off = {str(c): int(s) for c, s in by_currency if int(s) != 0}
    unbalanced = await _one(
        q,
        "SELECT COUNT(*) FROM (SELECT tenant_id, txn_id, currency FROM ledger_entries"
        " GROUP BY tenant_id, txn_id, currency HAVING SUM(amount_minor) <> 0) AS u",
    )
    facts = {
        "ledger_entries": await _one(q, "SELECT COUNT(*) FROM ledger_entries"),
        "negative_balances": negative,
        "currencies_not_summing_to_zero": len(off),
        "unbalanced_transactions": unbalanced,
    }
    violations = [
        message
        for broken, message in (
            (negative, f"{negative} budgets or wallets have a negative balance"),
            (off, f"the ledger does not sum to zero: {off}"),
            (unbalanced, f"{unbalanced} ledger transactions do not sum to zero"),
        )
        if broken
    ]
    return facts, violations


async def check_orders(q: Query, successes: int, allowance: int) -> Invariants:
    facts, violations = await books(q)
    fulfilled = await _one(q, "SELECT COUNT(*) FROM orders WHERE status = 'fulfilled'")
    duplicate_codes = await _one(
        q,
        "SELECT COUNT(*) FROM (SELECT tenant_id, code_hash FROM voucher_codes"
        " GROUP BY tenant_id, code_hash HAVING COUNT(*) > 1) AS d",
    )
    given_twice = await _one(
        q,
        "SELECT COUNT(*) FROM (SELECT tenant_id, code_id FROM orders WHERE status = 'fulfilled'"
        " GROUP BY tenant_id, code_id HAVING COUNT(*) > 1) AS g",
    )
    without_code = await _one(
        q,
        "SELECT COUNT(*) FROM orders o LEFT JOIN voucher_codes c"
        " ON c.tenant_id = o.tenant_id AND c.code_id = o.code_id WHERE o.status = 'fulfilled'"
        " AND (c.code_id IS NULL OR c.status <> 'allocated' OR c.order_id <> o.order_id)",
    )
    allocated = await _one(q, "SELECT COUNT(*) FROM voucher_codes WHERE status = 'allocated'")
    facts |= {
        "orders_fulfilled": fulfilled,
        "orders_failed": await _one(q, "SELECT COUNT(*) FROM orders WHERE status = 'failed'"),
        "codes_allocated": allocated,
        "duplicate_codes": duplicate_codes,
        "codes_given_twice": given_twice,
        "orders_without_their_code": without_code,
    }
    violations += [
        message
        for broken, message in (
            (duplicate_codes, f"{duplicate_codes} voucher codes are stored twice"),
            (given_twice, f"{given_twice} voucher codes were given to several orders"),
            (without_code, f"{without_code} fulfilled orders do not hold their own code"),
            (
                allocated != fulfilled,
                f"{allocated} codes allocated for {fulfilled} fulfilled orders",
            ),
        )
        if broken
    ]
    violations += count_rule(fulfilled, successes, allowance)
    return Invariants(facts, violations)


async def check_bulk(q: Query, tenant: str, job_id: str, rows: int) -> Invariants:
    facts, violations = await books(q)
    job = await q(
        "SELECT status, total, succeeded, failed FROM bulk_jobs WHERE tenant_id = ? AND job_id = ?",
        (tenant, job_id),
    )
    if not job:
        return Invariants(facts, [*violations, f"bulk job {job_id} is not stored"])
    status, total, succeeded, failed = job[0]
    issued = -await _one(
        q,
        "SELECT SUM(amount_minor) FROM ledger_entries WHERE tenant_id = ?"
        " AND account = 'points:issued'",
        (tenant,),
    )
    row_points = await _one(
        q,
        "SELECT SUM(points) FROM bulk_rows WHERE tenant_id = ? AND job_id = ? AND status = 'ok'",
        (tenant, job_id),
    )
    facts |= {
        "rows": int(total),
        "succeeded": int(succeeded),
        "failed": int(failed),
        "points_issued": issued,
        "points_of_succeeded_rows": row_points,
    }
    if status != "done" or int(total) != rows:
        violations.append(f"the job is {status} with {total} of {rows} rows")
    if int(succeeded) + int(failed) != rows:
        violations.append(f"{succeeded} + {failed} rows carried out of {rows}")
    if issued != row_points:
        violations.append(f"{issued} points issued but the succeeded rows hold {row_points}")
    return Invariants(facts, violations)
