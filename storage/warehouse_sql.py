"""The warehouse's SQL, shared by the DuckDB and the PostgreSQL/Redshift adapters.

Kept to what DuckDB, PostgreSQL and Redshift all run: ``CREATE TABLE IF NOT EXISTS``,
``VARCHAR(n)``/``BIGINT``/``INTEGER``/``DATE``, ``$n`` parameters, standard ``CAST``, and
upserts written as ``INSERT … SELECT … WHERE NOT EXISTS`` followed by ``UPDATE`` (no
``ON CONFLICT``, which Redshift lacks). Primary keys are declared for the reader; Redshift
does not enforce them, and nothing here relies on it: the loaded sequence alone keeps
an event from counting twice (``storage/warehouse_ports.py``).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date
from typing import Any

from bus.messages.reports import DaySummary, MovementTotal, OrderTotal, ProductSales, RewardTotal
from storage.warehouse_rows import Rows

SCHEMA = (
    """CREATE TABLE IF NOT EXISTS wh_loaded (
        stream VARCHAR(64) NOT NULL PRIMARY KEY,
        last_sequence BIGINT NOT NULL)""",
    """CREATE TABLE IF NOT EXISTS dim_tenant (
        tenant VARCHAR(64) NOT NULL PRIMARY KEY,
        first_day DATE NOT NULL)""",
    """CREATE TABLE IF NOT EXISTS dim_day (
        day DATE NOT NULL PRIMARY KEY,
        year INTEGER NOT NULL,
        month INTEGER NOT NULL,
        day_of_month INTEGER NOT NULL,
        iso_weekday INTEGER NOT NULL)""",
    """CREATE TABLE IF NOT EXISTS dim_budget (
        tenant VARCHAR(64) NOT NULL,
        budget_id VARCHAR(64) NOT NULL,
        name VARCHAR(1024) NOT NULL,
        currency VARCHAR(8) NOT NULL,
        PRIMARY KEY (tenant, budget_id))""",
    """CREATE TABLE IF NOT EXISTS dim_product (
        tenant VARCHAR(64) NOT NULL,
        product_id VARCHAR(128) NOT NULL,
        currency VARCHAR(8) NOT NULL,
        PRIMARY KEY (tenant, product_id))""",
    """CREATE TABLE IF NOT EXISTS fact_order (
        tenant VARCHAR(64) NOT NULL,
        order_id VARCHAR(256) NOT NULL,
        placed_day DATE NOT NULL,
        updated_day DATE NOT NULL,
        status VARCHAR(16) NOT NULL,
        product_id VARCHAR(128) NOT NULL,
        budget_id VARCHAR(64) NOT NULL,
        payer VARCHAR(1024) NOT NULL,
        face_minor BIGINT NOT NULL,
        currency VARCHAR(8) NOT NULL,
        price_minor BIGINT NOT NULL,
        price_unit VARCHAR(8) NOT NULL,
        reason VARCHAR(1024) NOT NULL,
        PRIMARY KEY (tenant, order_id))""",
    """CREATE TABLE IF NOT EXISTS fact_reward (
        tenant VARCHAR(64) NOT NULL,
        reward_id VARCHAR(256) NOT NULL,
        day DATE NOT NULL,
        budget_id VARCHAR(64) NOT NULL,
        person_id VARCHAR(128) NOT NULL,
        points BIGINT NOT NULL,
        cost_minor BIGINT NOT NULL,
        currency VARCHAR(8) NOT NULL,
        PRIMARY KEY (tenant, reward_id))""",
    """CREATE TABLE IF NOT EXISTS fact_ledger_day (
        day DATE NOT NULL,
        tenant VARCHAR(64) NOT NULL,
        account_kind VARCHAR(16) NOT NULL,
        account_id VARCHAR(128) NOT NULL,
        currency VARCHAR(8) NOT NULL,
        debit_minor BIGINT NOT NULL,
        credit_minor BIGINT NOT NULL,
        entries BIGINT NOT NULL,
        PRIMARY KEY (day, tenant, account_kind, account_id, currency))""",
)

START_SEQUENCE = """INSERT INTO wh_loaded (stream, last_sequence)
    SELECT CAST($1 AS VARCHAR(64)), CAST(0 AS BIGINT)
    WHERE NOT EXISTS (SELECT 1 FROM wh_loaded WHERE stream = $1)"""
LAST_SEQUENCE = "SELECT last_sequence FROM wh_loaded WHERE stream = $1"
#: Fenced by the sequence read at the start of the transaction: 0 rows changed means
#: another loader got there first.
ADVANCE = "UPDATE wh_loaded SET last_sequence = $1 WHERE stream = $2 AND last_sequence = $3"

_TENANT = """INSERT INTO dim_tenant (tenant, first_day)
    SELECT CAST($1 AS VARCHAR(64)), CAST($2 AS DATE)
    WHERE NOT EXISTS (SELECT 1 FROM dim_tenant WHERE tenant = $1)"""
_DAY = """INSERT INTO dim_day (day, year, month, day_of_month, iso_weekday)
    SELECT CAST($1 AS DATE), CAST($2 AS INTEGER), CAST($3 AS INTEGER), CAST($4 AS INTEGER),
        CAST($5 AS INTEGER)
    WHERE NOT EXISTS (SELECT 1 FROM dim_day WHERE day = $1)"""
_BUDGET = """INSERT INTO dim_budget (tenant, budget_id, name, currency)
    SELECT CAST($1 AS VARCHAR(64)), CAST($2 AS VARCHAR(64)), CAST($3 AS VARCHAR(1024)),
        CAST($4 AS VARCHAR(8))
    WHERE NOT EXISTS (SELECT 1 FROM dim_budget WHERE tenant = $1 AND budget_id = $2)"""
_BUDGET_NAME = "UPDATE dim_budget SET name = $3 WHERE tenant = $1 AND budget_id = $2"
_BUDGET_CURRENCY = """UPDATE dim_budget SET currency = $3
    WHERE tenant = $1 AND budget_id = $2 AND currency = ''"""
_PRODUCT = """INSERT INTO dim_product (tenant, product_id, currency)
    SELECT CAST($1 AS VARCHAR(64)), CAST($2 AS VARCHAR(128)), CAST($3 AS VARCHAR(8))
    WHERE NOT EXISTS (SELECT 1 FROM dim_product WHERE tenant = $1 AND product_id = $2)"""
_ORDER = """INSERT INTO fact_order (tenant, order_id, placed_day, updated_day, status,
        product_id, budget_id, payer, face_minor, currency, price_minor, price_unit, reason)
    SELECT CAST($1 AS VARCHAR(64)), CAST($2 AS VARCHAR(256)), CAST($3 AS DATE),
        CAST($3 AS DATE), CAST($4 AS VARCHAR(16)), CAST($5 AS VARCHAR(128)),
        CAST($6 AS VARCHAR(64)), CAST($7 AS VARCHAR(1024)), CAST($8 AS BIGINT),
        CAST($9 AS VARCHAR(8)), CAST($10 AS BIGINT), CAST($11 AS VARCHAR(8)),
        CAST($12 AS VARCHAR(1024))
    WHERE NOT EXISTS (SELECT 1 FROM fact_order WHERE tenant = $1 AND order_id = $2)"""
_ORDER_STATUS = """UPDATE fact_order SET status = $3, updated_day = $4, price_minor = $5,
        price_unit = $6, reason = $7
    WHERE tenant = $1 AND order_id = $2"""
_REWARD = """INSERT INTO fact_reward (tenant, reward_id, day, budget_id, person_id, points,
        cost_minor, currency)
    SELECT CAST($1 AS VARCHAR(64)), CAST($2 AS VARCHAR(256)), CAST($3 AS DATE),
        CAST($4 AS VARCHAR(64)), CAST($5 AS VARCHAR(128)), CAST($6 AS BIGINT),
        CAST($7 AS BIGINT), CAST($8 AS VARCHAR(8))
    WHERE NOT EXISTS (SELECT 1 FROM fact_reward WHERE tenant = $1 AND reward_id = $2)"""
_MOVEMENT_ROW = """INSERT INTO fact_ledger_day (day, tenant, account_kind, account_id, currency,
        debit_minor, credit_minor, entries)
    SELECT CAST($1 AS DATE), CAST($2 AS VARCHAR(64)), CAST($3 AS VARCHAR(16)),
        CAST($4 AS VARCHAR(128)), CAST($5 AS VARCHAR(8)), CAST(0 AS BIGINT), CAST(0 AS BIGINT),
        CAST(0 AS BIGINT)
    WHERE NOT EXISTS (SELECT 1 FROM fact_ledger_day WHERE day = $1 AND tenant = $2
        AND account_kind = $3 AND account_id = $4 AND currency = $5)"""
_MOVEMENT_ADD = """UPDATE fact_ledger_day SET debit_minor = debit_minor + $6,
        credit_minor = credit_minor + $7, entries = entries + $8
    WHERE day = $1 AND tenant = $2 AND account_kind = $3 AND account_id = $4
        AND currency = $5"""

#: A statement and the argument tuples it runs with, in order.
Step = tuple[str, list[tuple[Any, ...]]]


def steps(rows: Rows) -> list[Step]:
    """The statements that write ``rows``, dimensions first; each ``executemany``-able."""
    orders = list(rows.orders.values())
    movements = sorted(rows.movements.items())
    budgets = sorted(rows.budgets.items())
    plan: list[Step] = [
        (_TENANT, [(t, d) for t, d in sorted(rows.tenants.items())]),
        (_DAY, [(d, d.year, d.month, d.day, d.isoweekday()) for d in sorted(rows.days)]),
        (_BUDGET, [(t, b, name, cur) for (t, b), (name, cur) in budgets]),
        (_BUDGET_NAME, [(t, b, name) for (t, b), (name, _) in budgets if name]),
        (_BUDGET_CURRENCY, [(t, b, cur) for (t, b), (_, cur) in budgets if cur]),
        (_PRODUCT, [(t, p, cur) for (t, p), cur in sorted(rows.products.items())]),
        (
            _ORDER,
            [
                (
                    o.tenant,
                    o.order_id,
                    o.day,
                    o.status,
                    o.product_id,
                    o.budget_id,
                    o.payer,
                    o.face_minor,
                    o.currency,
                    o.price_minor,
                    o.price_unit,
                    o.reason,
                )
                for o in orders
            ],
        ),
        (
            _ORDER_STATUS,
            [
                (o.tenant, o.order_id, o.status, o.day, o.price_minor, o.price_unit, o.reason)
                for o in orders
            ],
        ),
        (
            _REWARD,
            [
                (
                    r.tenant,
                    r.reward_id,
                    r.day,
                    r.budget_id,
                    r.person_id,
                    r.points,
                    r.cost_minor,
                    r.currency,
                )
                for r in rows.rewards.values()
            ],
        ),
        (_MOVEMENT_ROW, [key for key, _ in movements]),
        (
            _MOVEMENT_ADD,
            [(*key, m.debit_minor, m.credit_minor, m.entries) for key, m in movements],
        ),
    ]
    return [(sql, args) for sql, args in plan if args]


ORDERS_BY_DAY = """SELECT placed_day, status, currency, COUNT(*), SUM(face_minor)
    FROM fact_order WHERE tenant = $1 AND placed_day BETWEEN $2 AND $3
    GROUP BY placed_day, status, currency ORDER BY placed_day, status, currency"""
REWARDS_BY_DAY = """SELECT day, currency, COUNT(*), SUM(points), SUM(cost_minor)
    FROM fact_reward WHERE tenant = $1 AND day BETWEEN $2 AND $3
    GROUP BY day, currency ORDER BY day, currency"""
MOVEMENTS_BY_DAY = """SELECT day, account_kind, account_id, currency, debit_minor,
        credit_minor, entries
    FROM fact_ledger_day WHERE tenant = $1 AND day BETWEEN $2 AND $3
    ORDER BY day, account_kind, account_id, currency"""


def top_products_sql(limit: int) -> str:
    """``limit`` is a checked int, written in (a parameter in LIMIT is not portable)."""
    return f"""SELECT product_id, currency, COUNT(*), SUM(face_minor)
    FROM fact_order WHERE tenant = $1 AND status = 'fulfilled'
        AND placed_day BETWEEN $2 AND $3
    GROUP BY product_id, currency
    ORDER BY COUNT(*) DESC, SUM(face_minor) DESC, product_id, currency
    LIMIT {int(limit)}"""


Row = Sequence[Any]


def summaries(
    orders: Sequence[Row], rewards: Sequence[Row], movements: Sequence[Row]
) -> list[DaySummary]:
    """The three per-day queries' rows gathered by day."""
    by_day: dict[date, tuple[list[OrderTotal], list[RewardTotal], list[MovementTotal]]] = {}

    def of(day: date) -> tuple[list[OrderTotal], list[RewardTotal], list[MovementTotal]]:
        return by_day.setdefault(day, ([], [], []))

    for day, status, currency, count, face in orders:
        of(day)[0].append(OrderTotal(status, currency, int(count), int(face)))
    for day, currency, count, points, cost in rewards:
        of(day)[1].append(RewardTotal(currency, int(count), int(points), int(cost)))
    for day, kind, account, currency, debit, credit, entries in movements:
        total = MovementTotal(kind, account, currency, int(debit), int(credit), int(entries))
        of(day)[2].append(total)
    return [
        DaySummary(day.isoformat(), tuple(o), tuple(r), tuple(m))
        for day, (o, r, m) in sorted(by_day.items())
    ]


def product_sales(rows: Sequence[Row]) -> list[ProductSales]:
    return [ProductSales(p, c, int(n), int(face)) for p, c, n, face in rows]
