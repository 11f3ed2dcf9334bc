"""What a group commit writes to the SQLite ledger, on whichever connection writes it:
the ledger's own thread (:mod:`storage.sqlite`) or its writer process
(:mod:`storage.sqlite_writer`)."""

from __future__ import annotations

import itertools
import sqlite3

from storage import sql
from storage.errors import StaleWrite
from storage.ports import ChangeSet

STATEMENTS = sql.Statements("?")


def apply_change_sets(con: sqlite3.Connection, batch: list[ChangeSet]) -> None:
    """Write every change set of ``batch`` inside the transaction ``con`` holds; a fenced
    write that finds its row at another version raises :class:`StaleWrite`."""
    st = STATEMENTS
    now = sql.now_ms()
    writes = [w for cs in batch for w in sql.writes(st, cs, now)]
    # Consecutive writes of one statement go in one executemany (a bulk chunk's
    # thousand new wallets); a fenced run must change exactly one row each.
    for _, run in itertools.groupby(writes, key=lambda w: (w.sql, w.fenced)):
        same = list(run)
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


def _some(writes: list[sql.Write]) -> str:
    return f"one of {len(writes)} writes ({writes[0].what} …)"
