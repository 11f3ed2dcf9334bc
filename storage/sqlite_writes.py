"""What a group commit writes to the SQLite ledger, on whichever connection writes it:
the ledger's own thread (:mod:`storage.sqlite`) or its writer process
(:mod:`storage.sqlite_writer`)."""

from __future__ import annotations

import sqlite3
from collections import deque

from storage import sql
from storage.errors import StaleWrite
from storage.ports import ChangeSet

STATEMENTS = sql.Statements("?")


def apply_change_sets(con: sqlite3.Connection, batch: list[ChangeSet]) -> None:
    """Write every change set of ``batch`` inside the transaction ``con`` holds; a fenced
    write that finds its row at another version raises :class:`StaleWrite`."""
    st = STATEMENTS
    now = sql.now_ms()
    # Writes of one statement go in one executemany (a bulk chunk's thousand new wallets,
    # a code and two accounts of each of a spread group's tenants); a fenced run must
    # change exactly one row each.
    for same in _runs(st, batch, now):
        first = same[0]
        try:
            if len(same) == 1:
                cursor = con.execute(first.sql, first.params)
            else:
                cursor = con.executemany(first.sql, [w.params for w in same])
        except sqlite3.IntegrityError as e:
            raise StaleWrite(first.what if len(same) == 1 else _some(same), 0) from e
        if first.fenced and cursor.rowcount != len(same):
            what = first.what if len(same) == 1 else _some(same)
            raise StaleWrite(what, first.expected_version)
    try:
        con.executemany(st.insert_order, sql.order_rows(batch))
    except sqlite3.IntegrityError as e:
        raise StaleWrite("an order that exists", 0) from e
    con.executemany(st.insert_entry, sql.entry_rows(batch))
    con.executemany(st.insert_event, sql.event_rows(batch))
    for chunk in sql.published_chunks(sql.published_ids(batch)):
        con.execute(st.delete_events(len(chunk)), chunk)
    try:
        con.executemany(st.insert_reply, sql.reply_rows(batch))
    except sqlite3.IntegrityError as e:
        raise StaleWrite("an idempotency key's reply", 0) from e
    try:
        con.executemany(st.insert_code, sql.code_rows(batch))
        con.executemany(st.insert_bulk_row, sql.bulk_row_rows(batch))
    except sqlite3.IntegrityError as e:
        raise StaleWrite("a voucher code or bulk row that exists", 0) from e
    ok_runs, results = sql.bulk_result_rows(batch)
    con.executemany(st.update_bulk_rows_ok, ok_runs)
    con.executemany(st.update_bulk_row, results)
    con.executemany(st.upsert_fx_rate, sql.fx_rows(batch))
    tenants = sql.audit_tenants(batch)
    if tenants:
        found = con.execute(st.audit_heads_of(len(tenants)), tenants).fetchall()
        rows, heads = sql.chain_audit(batch, {r[0]: (int(r[1]), r[2]) for r in found})
        con.executemany(st.insert_audit, rows)
        con.executemany(st.upsert_audit_head, heads)


def _runs(st: sql.Statements, batch: list[ChangeSet], now_ms: int) -> list[list[sql.Write]]:
    """The group's writes in runs of one statement: each tenant's in the order its change
    sets made them, the tenants side by side. Rows of two tenants are never the same
    row, so a run may take a statement from the head of every tenant's writes at once —
    over a thousand tenants a group of 60 change sets alternated a code's allocation and
    two accounts' updates, 120 runs where two do."""
    queues: dict[str, deque[sql.Write]] = {}
    for cs in batch:
        queues.setdefault(cs.tenant, deque()).extend(sql.writes(st, cs, now_ms))
    queues = {tenant: q for tenant, q in queues.items() if q}
    runs = []
    while queues:
        head = next(iter(queues.values()))[0]
        key = (head.sql, head.fenced)
        run: list[sql.Write] = []
        for tenant, q in list(queues.items()):
            while q and (q[0].sql, q[0].fenced) == key:
                run.append(q.popleft())
            if not q:
                del queues[tenant]
        runs.append(run)
    return runs


def _some(writes: list[sql.Write]) -> str:
    return f"one of {len(writes)} writes ({writes[0].what} …)"
