"""SQLite webhook deliveries: the embedded default of the webhook deliveries port.

One file of its own (``var/webhooks.sqlite3``), written from one thread in ``BEGIN
IMMEDIATE`` transactions (:mod:`storage.sqlite_db`): a claim's read and its move of the
lease are one transaction, so two claims never hand out the same delivery, and the relay's
sequence moves in the transaction that adds the deliveries of the events it covers.

Ids come from ``AUTOINCREMENT``: a pruned delivery's id is never given to a new one, so
an id a client holds (a link, a page's ``before``) never names another delivery later.
The index of due deliveries holds pending ones only (a partial index): delivered and
failed deliveries, most of the table, leave it.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from pathlib import Path

import msgspec

from storage.migrations import Migration
from storage.sqlite_db import SqliteDatabase, SqliteStore, transaction
from storage.webhook_ports import Attempt, Delivery, DeliveryStatus, KeyReused, NewDelivery
from storage.webhook_rows import (
    COLUMNS,
    DELIVERED_SINCE,
    INSERTED,
    PRUNE_BATCH,
    from_row,
    new_row,
    page_filters,
)

MIGRATIONS: tuple[Migration, ...] = (
    Migration(
        1,
        "webhook deliveries, their attempts, the relay's sequence",
        sqlite=(
            """CREATE TABLE webhook_deliveries (
                id INTEGER PRIMARY KEY AUTOINCREMENT,
                tenant_id TEXT NOT NULL, endpoint_id TEXT NOT NULL, event_id TEXT NOT NULL,
                event_type TEXT NOT NULL, payload BLOB NOT NULL,
                status TEXT NOT NULL
                    CHECK (status IN ('pending', 'delivered', 'failed', 'cancelled')),
                attempts INTEGER NOT NULL DEFAULT 0, retries_left INTEGER NOT NULL,
                created_ms INTEGER NOT NULL, next_attempt_ms INTEGER NOT NULL,
                last_attempt_ms INTEGER NOT NULL DEFAULT 0,
                last_status_code INTEGER NOT NULL DEFAULT 0,
                last_error TEXT NOT NULL DEFAULT '')""",
            """CREATE UNIQUE INDEX webhook_deliveries_event
                ON webhook_deliveries (tenant_id, endpoint_id, event_id)""",
            """CREATE INDEX webhook_deliveries_due ON webhook_deliveries (next_attempt_ms)
                WHERE status = 'pending'""",
            "CREATE INDEX webhook_deliveries_tenant ON webhook_deliveries (tenant_id, id)",
            """CREATE INDEX webhook_deliveries_endpoint
                ON webhook_deliveries (tenant_id, endpoint_id, id)""",
            "CREATE INDEX webhook_deliveries_created ON webhook_deliveries (created_ms)",
            """CREATE TABLE webhook_attempts (
                attempt_id INTEGER PRIMARY KEY, delivery_id INTEGER NOT NULL,
                n INTEGER NOT NULL, at_ms INTEGER NOT NULL, duration_ms INTEGER NOT NULL,
                status_code INTEGER NOT NULL, error TEXT NOT NULL, response TEXT NOT NULL)""",
            "CREATE INDEX webhook_attempts_delivery ON webhook_attempts (delivery_id, n)",
            """CREATE TABLE webhook_relay (
                id INTEGER PRIMARY KEY CHECK (id = 1), last_sequence INTEGER NOT NULL)""",
            "INSERT INTO webhook_relay VALUES (1, 0)",
            """CREATE TABLE webhook_redeliveries (
                tenant_id TEXT NOT NULL, idempotency_key TEXT NOT NULL,
                delivery_id INTEGER NOT NULL, created_ms INTEGER NOT NULL,
                PRIMARY KEY (tenant_id, idempotency_key))""",
        ),
        mysql=(),
    ),
)

MIGRATIONS += (
    Migration(
        2,
        "an endpoint's deliveries by status and last attempt (what it delivered lately)",
        sqlite=(
            """CREATE INDEX webhook_deliveries_delivered
                ON webhook_deliveries (tenant_id, endpoint_id, status, last_attempt_ms)""",
        ),
        mysql=(),
    ),
    Migration(
        3,
        "an endpoint's deliveries of one status, newest first",
        # A page filtered by status walked the endpoint's whole history newest first and
        # kept the few of that status (ADR 37, 2026-11-28).
        sqlite=(
            """CREATE INDEX webhook_deliveries_status
                ON webhook_deliveries (tenant_id, endpoint_id, status, id)""",
        ),
        mysql=(),
    ),
)

_INSERT = (
    f"INSERT INTO webhook_deliveries ({INSERTED})"
    " VALUES (?, ?, ?, ?, ?, 'pending', ?, ?, ?)"
    " ON CONFLICT (tenant_id, endpoint_id, event_id) DO NOTHING"
)


class SqliteWebhookStore(SqliteStore):
    migrations = MIGRATIONS
    name = "webhooks:sqlite"

    def __init__(self, path: str | Path) -> None:
        self.db = SqliteDatabase(path, "NORMAL", "sqlite-webhooks")

    async def last_sequence(self) -> int:
        row = await self.db.read(
            lambda con: con.execute("SELECT last_sequence FROM webhook_relay").fetchone()
        )
        return int(row[0])

    async def enqueue(self, deliveries: Sequence[NewDelivery], sequence: int) -> int:
        rows = [new_row(d) for d in deliveries]

        def _enqueue(con: sqlite3.Connection) -> int:
            added = con.executemany(_INSERT, rows).rowcount if rows else 0
            con.execute(
                "UPDATE webhook_relay SET last_sequence = MAX(last_sequence, ?)", (sequence,)
            )
            return added

        return await self.db.run(transaction(_enqueue))

    async def add(self, delivery: NewDelivery) -> Delivery:
        def _add(con: sqlite3.Connection) -> Delivery:
            con.execute(_INSERT, new_row(delivery))
            row = con.execute(
                f"SELECT {COLUMNS} FROM webhook_deliveries"
                " WHERE tenant_id = ? AND endpoint_id = ? AND event_id = ?",
                (delivery.tenant, delivery.endpoint_id, delivery.event_id),
            ).fetchone()
            return from_row(row)

        return await self.db.run(transaction(_add))

    async def claim(
        self, now_ms: int, limit: int, lease_ms: int, exclude_endpoints: Sequence[str] = ()
    ) -> list[Delivery]:
        if limit <= 0:  # (SQLite reads LIMIT -1 as no limit)
            return []
        until = now_ms + lease_ms
        skip = tuple(exclude_endpoints)
        others = f" AND endpoint_id NOT IN ({', '.join('?' * len(skip))})" if skip else ""

        def _claim(con: sqlite3.Connection) -> list[Delivery]:
            # ``status = 'pending'`` spelled out: the partial index serves only that.
            rows = con.execute(
                f"SELECT {COLUMNS} FROM webhook_deliveries"
                f" WHERE status = 'pending' AND next_attempt_ms <= ?{others}"
                " ORDER BY next_attempt_ms, id LIMIT ?",
                (now_ms, *skip, limit),
            ).fetchall()
            claimed = [from_row(r) for r in rows]
            con.executemany(
                "UPDATE webhook_deliveries SET next_attempt_ms = ? WHERE id = ?",
                [(until, d.id) for d in claimed],
            )
            return [msgspec.structs.replace(d, next_attempt_ms=until) for d in claimed]

        return await self.db.run(transaction(_claim))

    async def record(
        self,
        attempt: Attempt,
        status: DeliveryStatus,
        next_attempt_ms: int,
        retries_left: int,
    ) -> None:
        a = attempt

        def _record(con: sqlite3.Connection) -> None:
            # Selected from the delivery: an attempt of a delivery pruned meanwhile is
            # not kept without it.
            con.execute(
                "INSERT INTO webhook_attempts (delivery_id, n, at_ms, duration_ms,"
                " status_code, error, response) SELECT id, ?, ?, ?, ?, ?, ?"
                " FROM webhook_deliveries WHERE id = ?",
                (a.n, a.at_ms, a.duration_ms, a.status_code, a.error, a.response, a.delivery_id),
            )
            con.execute(
                "UPDATE webhook_deliveries SET"
                " status = CASE status WHEN 'cancelled' THEN status ELSE ? END,"
                " attempts = ?, next_attempt_ms = ?, retries_left = ?, last_attempt_ms = ?,"
                " last_status_code = ?, last_error = ? WHERE id = ?",
                (
                    status,
                    a.n,
                    next_attempt_ms,
                    retries_left,
                    a.at_ms,
                    a.status_code,
                    a.error,
                    a.delivery_id,
                ),
            )

        await self.db.run(transaction(_record))

    async def cancel_endpoint(self, tenant: str, endpoint_id: str) -> int:
        def _cancel(con: sqlite3.Connection) -> int:
            return con.execute(
                "UPDATE webhook_deliveries SET status = 'cancelled'"
                " WHERE tenant_id = ? AND endpoint_id = ? AND status = 'pending'",
                (tenant, endpoint_id),
            ).rowcount

        return await self.db.run(transaction(_cancel))

    async def delivered_since(self, tenant: str, endpoint_id: str, since_ms: int) -> bool:
        row = await self.db.read(
            lambda con: con.execute(
                f"SELECT 1 FROM webhook_deliveries WHERE {DELIVERED_SINCE.format(p='?')}",
                (tenant, endpoint_id, since_ms),
            ).fetchone()
        )
        return row is not None

    async def deliveries(
        self,
        tenant: str,
        endpoint_id: str | None,
        status: DeliveryStatus | None,
        limit: int,
        before: int | None,
    ) -> list[Delivery]:
        if limit <= 0:
            return []
        where, params = page_filters("?", tenant, endpoint_id, status, before)
        statement = (
            f"SELECT {COLUMNS} FROM webhook_deliveries WHERE {where} ORDER BY id DESC LIMIT ?"
        )
        rows = await self.db.read(lambda con: con.execute(statement, (*params, limit)).fetchall())
        return [from_row(r) for r in rows]

    async def delivery(self, tenant: str, delivery_id: int) -> Delivery | None:
        row = await self.db.read(
            lambda con: con.execute(
                f"SELECT {COLUMNS} FROM webhook_deliveries WHERE id = ? AND tenant_id = ?",
                (delivery_id, tenant),
            ).fetchone()
        )
        return None if row is None else from_row(row)

    async def attempts(self, tenant: str, delivery_id: int) -> list[Attempt]:
        rows = await self.db.read(
            lambda con: con.execute(
                "SELECT a.delivery_id, a.n, a.at_ms, a.duration_ms, a.status_code, a.error,"
                " a.response FROM webhook_attempts a"
                " JOIN webhook_deliveries d ON d.id = a.delivery_id"
                " WHERE d.id = ? AND d.tenant_id = ? ORDER BY a.n, a.attempt_id",
                (delivery_id, tenant),
            ).fetchall()
        )
        return [Attempt(*r) for r in rows]

    async def redeliver(
        self, tenant: str, delivery_id: int, now_ms: int, key: str | None = None
    ) -> Delivery | None:
        def _redeliver(con: sqlite3.Connection) -> Delivery | None:
            select = f"SELECT {COLUMNS} FROM webhook_deliveries WHERE id = ? AND tenant_id = ?"
            row = con.execute(select, (delivery_id, tenant)).fetchone()
            if row is None:
                return None
            if key is not None:
                given = con.execute(
                    "SELECT delivery_id FROM webhook_redeliveries"
                    " WHERE tenant_id = ? AND idempotency_key = ?",
                    (tenant, key),
                ).fetchone()
                if given is not None and given[0] != delivery_id:
                    raise KeyReused(key)
                if given is not None:
                    return from_row(row)  # done once already
                con.execute(
                    "INSERT INTO webhook_redeliveries VALUES (?, ?, ?, ?)",
                    (tenant, key, delivery_id, now_ms),
                )
            con.execute(
                # retries first: MySQL reads a column assigned before it in the SET as assigned
                "UPDATE webhook_deliveries SET"
                " retries_left = CASE WHEN status = 'pending' THEN retries_left ELSE 0 END,"
                " status = 'pending', next_attempt_ms = ? WHERE id = ? AND tenant_id = ?",
                (now_ms, delivery_id, tenant),
            )
            return from_row(con.execute(select, (delivery_id, tenant)).fetchone())

        return await self.db.run(transaction(_redeliver))

    async def prune(self, before_ms: int) -> int:
        def _prune(con: sqlite3.Connection) -> int:
            ids = [
                (r[0],)
                for r in con.execute(
                    "SELECT id FROM webhook_deliveries WHERE created_ms < ?"
                    " AND status <> 'pending' LIMIT ?",
                    (before_ms, PRUNE_BATCH),
                )
            ]
            con.executemany("DELETE FROM webhook_attempts WHERE delivery_id = ?", ids)
            con.executemany("DELETE FROM webhook_deliveries WHERE id = ?", ids)
            con.execute("DELETE FROM webhook_redeliveries WHERE created_ms < ?", (before_ms,))
            return len(ids)

        pruned = 0
        while True:
            n = await self.db.run(transaction(_prune))
            pruned += n
            if n < PRUNE_BATCH:
                return pruned
