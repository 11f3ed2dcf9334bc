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

#: Each batch is written in two moves: its rows into temporary staging tables (multi-row
#: inserts, a few statements per batch), then set-based statements from the staging
#: tables into the star. Row-by-row upserts ran at ~1,100 events/s on DuckDB, behind a
#: burst's event rate; Redshift is slower still at single rows.
_STAGES = {
    "stage_tenant": ("tenant VARCHAR(64)", "first_day DATE"),
    "stage_day": (
        "day DATE",
        "year INTEGER",
        "month INTEGER",
        "day_of_month INTEGER",
        "iso_weekday INTEGER",
    ),
    "stage_budget": (
        "tenant VARCHAR(64)",
        "budget_id VARCHAR(64)",
        "name VARCHAR(1024)",
        "currency VARCHAR(8)",
    ),
    "stage_product": ("tenant VARCHAR(64)", "product_id VARCHAR(128)", "currency VARCHAR(8)"),
    "stage_order": (
        "tenant VARCHAR(64)",
        "order_id VARCHAR(256)",
        "placed_day DATE",
        "updated_day DATE",
        "status VARCHAR(16)",
        "product_id VARCHAR(128)",
        "budget_id VARCHAR(64)",
        "payer VARCHAR(1024)",
        "face_minor BIGINT",
        "currency VARCHAR(8)",
        "price_minor BIGINT",
        "price_unit VARCHAR(8)",
        "reason VARCHAR(1024)",
    ),
    "stage_reward": (
        "tenant VARCHAR(64)",
        "reward_id VARCHAR(256)",
        "day DATE",
        "budget_id VARCHAR(64)",
        "person_id VARCHAR(128)",
        "points BIGINT",
        "cost_minor BIGINT",
        "currency VARCHAR(8)",
    ),
    "stage_movement": (
        "day DATE",
        "tenant VARCHAR(64)",
        "account_kind VARCHAR(16)",
        "account_id VARCHAR(128)",
        "currency VARCHAR(8)",
        "debit_minor BIGINT",
        "credit_minor BIGINT",
        "entries BIGINT",
    ),
}
#: Run at the start of every batch: the staging tables exist (per connection) and are empty.
STAGING = tuple(
    f"CREATE TEMPORARY TABLE IF NOT EXISTS {name} ({', '.join(columns)})"
    for name, columns in _STAGES.items()
) + tuple(f"DELETE FROM {name}" for name in _STAGES)

#: From the staging tables into the star, dimensions first.
MERGE = (
    """INSERT INTO dim_tenant (tenant, first_day)
    SELECT s.tenant, s.first_day FROM stage_tenant s
    WHERE NOT EXISTS (SELECT 1 FROM dim_tenant d WHERE d.tenant = s.tenant)""",
    """INSERT INTO dim_day (day, year, month, day_of_month, iso_weekday)
    SELECT s.day, s.year, s.month, s.day_of_month, s.iso_weekday FROM stage_day s
    WHERE NOT EXISTS (SELECT 1 FROM dim_day d WHERE d.day = s.day)""",
    """INSERT INTO dim_budget (tenant, budget_id, name, currency)
    SELECT s.tenant, s.budget_id, s.name, s.currency FROM stage_budget s
    WHERE NOT EXISTS (SELECT 1 FROM dim_budget d
        WHERE d.tenant = s.tenant AND d.budget_id = s.budget_id)""",
    """UPDATE dim_budget SET name = s.name FROM stage_budget s
    WHERE dim_budget.tenant = s.tenant AND dim_budget.budget_id = s.budget_id
        AND s.name <> ''""",
    """UPDATE dim_budget SET currency = s.currency FROM stage_budget s
    WHERE dim_budget.tenant = s.tenant AND dim_budget.budget_id = s.budget_id
        AND dim_budget.currency = '' AND s.currency <> ''""",
    """INSERT INTO dim_product (tenant, product_id, currency)
    SELECT s.tenant, s.product_id, s.currency FROM stage_product s
    WHERE NOT EXISTS (SELECT 1 FROM dim_product d
        WHERE d.tenant = s.tenant AND d.product_id = s.product_id)""",
    """INSERT INTO fact_order (tenant, order_id, placed_day, updated_day, status, product_id,
        budget_id, payer, face_minor, currency, price_minor, price_unit, reason)
    SELECT s.tenant, s.order_id, s.placed_day, s.updated_day, s.status, s.product_id,
        s.budget_id, s.payer, s.face_minor, s.currency, s.price_minor, s.price_unit, s.reason
    FROM stage_order s
    WHERE NOT EXISTS (SELECT 1 FROM fact_order f
        WHERE f.tenant = s.tenant AND f.order_id = s.order_id)""",
    """UPDATE fact_order SET status = s.status, updated_day = s.updated_day,
        price_minor = s.price_minor, price_unit = s.price_unit, reason = s.reason
    FROM stage_order s
    WHERE fact_order.tenant = s.tenant AND fact_order.order_id = s.order_id""",
    """INSERT INTO fact_reward (tenant, reward_id, day, budget_id, person_id, points,
        cost_minor, currency)
    SELECT s.tenant, s.reward_id, s.day, s.budget_id, s.person_id, s.points, s.cost_minor,
        s.currency
    FROM stage_reward s
    WHERE NOT EXISTS (SELECT 1 FROM fact_reward f
        WHERE f.tenant = s.tenant AND f.reward_id = s.reward_id)""",
    """INSERT INTO fact_ledger_day (day, tenant, account_kind, account_id, currency,
        debit_minor, credit_minor, entries)
    SELECT s.day, s.tenant, s.account_kind, s.account_id, s.currency, 0, 0, 0
    FROM stage_movement s
    WHERE NOT EXISTS (SELECT 1 FROM fact_ledger_day f
        WHERE f.day = s.day AND f.tenant = s.tenant AND f.account_kind = s.account_kind
            AND f.account_id = s.account_id AND f.currency = s.currency)""",
    """UPDATE fact_ledger_day SET debit_minor = fact_ledger_day.debit_minor + s.debit_minor,
        credit_minor = fact_ledger_day.credit_minor + s.credit_minor,
        entries = fact_ledger_day.entries + s.entries
    FROM stage_movement s
    WHERE fact_ledger_day.day = s.day AND fact_ledger_day.tenant = s.tenant
        AND fact_ledger_day.account_kind = s.account_kind
        AND fact_ledger_day.account_id = s.account_id
        AND fact_ledger_day.currency = s.currency""",
)

#: Parameters per multi-row insert stay well under PostgreSQL's 32,767.
_MAX_PARAMETERS = 8000

#: An ``INSERT`` and its arguments, flat.
Statement = tuple[str, list[Any]]


#: A staging table and its rows.
Staged = tuple[str, list[tuple[Any, ...]]]


def staged_rows(rows: Rows) -> list[Staged]:
    """The rows of each staging table (tables without rows left out)."""
    budgets = sorted(rows.budgets.items())
    tables: list[Staged] = [
        ("stage_tenant", sorted(rows.tenants.items())),
        ("stage_day", [(d, d.year, d.month, d.day, d.isoweekday()) for d in sorted(rows.days)]),
        ("stage_budget", [(t, b, name, cur) for (t, b), (name, cur) in budgets]),
        ("stage_product", [(t, p, cur) for (t, p), cur in sorted(rows.products.items())]),
        (
            "stage_order",
            [
                (
                    o.tenant,
                    o.order_id,
                    o.day,
                    o.updated,
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
                for o in rows.orders.values()
            ],
        ),
        (
            "stage_reward",
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
        (
            "stage_movement",
            [
                (*key, m.debit_minor, m.credit_minor, m.entries)
                for key, m in sorted(rows.movements.items())
            ],
        ),
    ]
    return [(table, values) for table, values in tables if values]


def staged(rows: Rows) -> list[Statement]:
    """The multi-row inserts that put ``rows`` into the staging tables."""
    statements: list[Statement] = []
    for table, values in staged_rows(rows):
        width = len(_STAGES[table])
        per_insert = _MAX_PARAMETERS // width
        for start in range(0, len(values), per_insert):
            chunk = values[start : start + per_insert]
            groups = (
                "(" + ", ".join(f"${i * width + c + 1}" for c in range(width)) + ")"
                for i in range(len(chunk))
            )
            sql = f"INSERT INTO {table} VALUES {', '.join(groups)}"
            statements.append((sql, [v for row in chunk for v in row]))
    return statements


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
