"""SQLite's partial indexes of orders (migration 23) and of voucher codes (migration 27):
orders without an external id, fulfilled orders and codes given to orders have no entry
in them, and every query that needs them can still use them — SQLite uses a partial index
only when the query states its condition."""

from __future__ import annotations

import sqlite3
from typing import Any

import pytest

from storage.history_sql import order_page
from storage.sql import Statements, pool_counts_of

ST = Statements("?")
ORDER = (
    "INSERT INTO orders (tenant_id, order_id, status, recipient, payer, product_id,"
    " face_value_minor, currency, price_minor, price_unit, code_id, reason, external_id,"
    " created_ms, updated_ms, version) VALUES (?, ?, ?, 'ann', 'budget:b', 'card', 1000,"
    " 'EUR', 1000, 'EUR', '', '', ?, ?, ?, 1)"
)


def plan(con: sqlite3.Connection, statement: str, params: tuple[Any, ...]) -> str:
    return " | ".join(row[3] for row in con.execute(f"EXPLAIN QUERY PLAN {statement}", params))


def test_only_orders_with_an_external_id_or_not_fulfilled_are_indexed(
    con: sqlite3.Connection,
) -> None:
    rows = [
        ("acme", "o1", "fulfilled", None, 1, 1),
        ("acme", "o2", "fulfilled", None, 2, 2),  # many orders without an external id
        ("acme", "o3", "fulfilled", "crm-3", 3, 3),
        ("acme", "o4", "held", None, 4, 4),
        ("acme", "o5", "failed", None, 5, 5),
    ]
    con.executemany(ORDER, rows)
    con.execute("ANALYZE")  # sqlite_stat1: each index's number of entries first
    entries = {
        index: int(stat.split()[0])
        for index, stat in con.execute("SELECT idx, stat FROM sqlite_stat1 WHERE tbl = 'orders'")
    }
    assert entries["orders_external"] == 1
    assert entries["orders_status"] == 2  # held and failed
    assert entries["orders_created"] == 5
    with pytest.raises(sqlite3.IntegrityError):  # an external id is still given once
        con.execute(ORDER, ("acme", "o6", "fulfilled", "crm-3", 6, 6))
    con.execute(ORDER, ("globex", "o6", "fulfilled", "crm-3", 6, 6))  # per tenant


def test_the_queries_by_status_and_by_external_id_use_the_partial_indexes(
    con: sqlite3.Connection,
) -> None:
    assert "orders_external" in plan(con, ST.order_by_external_id, ("acme", "crm-3"))
    # a tenant's unfinished orders, never a walk through all its orders by time
    assert plan(con, ST.unfinished_orders, ("acme", 10)).startswith(
        "SEARCH orders USING INDEX orders_status"
    )
    assert "orders_status" in plan(con, ST.tenants_with_unfinished_orders, (10,))
    for status in ("held", "failed", "accepted"):
        statement, params = order_page("?", "acme", 10, None, None, status, None)
        assert "orders_status" in plan(con, statement, params), status
    # fulfilled orders, most of them, are paged newest first by time
    statement, params = order_page("?", "acme", 10, None, None, "fulfilled", None)
    assert "orders_status" not in plan(con, statement, params)


def test_a_tenants_leased_codes_are_read_pool_by_pool_through_the_pool_index(
    con: sqlite3.Connection,
) -> None:
    # Each a seek into the pool index: never a walk through the tenant's every code
    # (allocated ones pile up in it for as long as the tenant redeems).
    pool = "SEARCH voucher_codes USING COVERING INDEX voucher_codes_pool"
    assert plan(con, ST.first_pool, ("acme",)) == f"{pool} (tenant_id=?)"
    assert plan(con, ST.next_face, ("acme", "card", 1000)) == (
        f"{pool} (tenant_id=? AND product_id=? AND face_value_minor>?)"
    )
    assert plan(con, ST.next_product, ("acme", "card")) == f"{pool} (tenant_id=? AND product_id>?)"
    assert plan(con, ST.leased_codes_of_pool, ("acme", "card", 1000)).startswith(
        f"{pool} (tenant_id=? AND product_id=? AND face_value_minor=? AND status=?)"
    )
    # a pool's available codes counted (by the vouchers actor when it starts): a range
    # of the pool index, not the pool's every code
    assert plan(con, ST.pool_count, ("acme", "card", 1000, "available", 1)) == (
        f"{pool} (tenant_id=? AND product_id=? AND face_value_minor=? AND status=?)"
    )


CODE = (
    "INSERT INTO voucher_codes (tenant_id, code_id, product_id, face_value_minor, currency,"
    " code_hash, code_sealed, pin_sealed, url_sealed, expires_ms, source, status, order_id,"
    " created_ms) VALUES ('acme', ?, 'card', 1000, 'EUR', ?, x'', x'', x'', 0, 'imported', ?,"
    " '', 1)"
)


def test_codes_given_to_orders_leave_the_pool_index_and_are_counted_by_the_pools_size(
    con: sqlite3.Connection,
) -> None:
    statuses = ["allocated"] * 5 + ["available", "available", "leased", "void"]
    con.executemany(CODE, [(f"c{i}", f"h{i}", s) for i, s in enumerate(statuses)])
    con.execute(ST.allocate_code, ("o1", 2, "acme", "c5"))  # giving a code drops its entry
    con.execute("ANALYZE")
    entries = {
        index: int(stat.split()[0])
        for index, stat in con.execute(
            "SELECT idx, stat FROM sqlite_stat1 WHERE tbl = 'voucher_codes'"
        )
    }
    assert entries["voucher_codes_pool"] == 3  # available, leased, void
    assert entries["voucher_codes_pool_size"] == 9
    # the admin's figures: the codes not given by status, and the pool's size, from one
    # statement through the two indexes, never a walk through the tenant's every code
    counts_plan = plan(con, ST.pool_counts, (1, *(("acme", "card", 1000) * 2)))
    assert "COVERING INDEX voucher_codes_pool (" in counts_plan
    assert "COVERING INDEX voucher_codes_pool_size (" in counts_plan
    rows = con.execute(ST.pool_counts, (1, *(("acme", "card", 1000) * 2))).fetchall()
    assert pool_counts_of(rows) == {"allocated": 6, "available": 1, "leased": 1, "void": 1}
    # a pool's codes not given yet are a range of the pool index
    for statement, params in (
        (ST.available_expiring_codes, ("acme", "card", 1000, 0, 10)),
        (ST.available_lasting_codes, ("acme", "card", 1000, 10)),
    ):
        assert plan(con, statement, params).startswith(
            "SEARCH voucher_codes USING COVERING INDEX voucher_codes_pool (tenant_id=? AND"
            " product_id=? AND face_value_minor=? AND status=?"
        )
