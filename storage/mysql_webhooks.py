"""MySQL / MariaDB webhook deliveries via asyncmy: the production adapter of the port.

The tables live in the ledger's database, next to its own, and are prefixed ``webhook_``.
Their migrations are recorded in ``webhook_schema_migrations``, not in the ledger's
``schema_migrations``: the two schemas are numbered apart and migrate apart (under a
named lock of their own), so neither ever takes the other's version for its own.

A claim locks the due deliveries it reads (``FOR UPDATE SKIP LOCKED``) and moves their
lease in the same transaction: two relays claiming at once get different deliveries.
Text is ``utf8mb4``; payloads are ``MEDIUMBLOB`` (up to 16 MiB; the relay sends at most
1 MB) and travel as hexadecimal literals (:class:`storage.mysql_writes.Hex`).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import msgspec

from storage import mysql_writes
from storage.errors import StoreUnavailable
from storage.migrations import Migration
from storage.mysql_pool import MysqlPool
from storage.mysql_writes import Hex
from storage.sql import now_ms
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

_TABLE = " ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin"
_MIGRATION_LOCK = "perkbus_webhook_migrations"
#: How long a statement's answer may take before the connection is given up.
READ_TIMEOUT_S = 30

MIGRATIONS = (
    Migration(
        1,
        "webhook deliveries, their attempts, the relay's sequence",
        sqlite=(),
        mysql=(
            """CREATE TABLE webhook_deliveries (
                id BIGINT NOT NULL AUTO_INCREMENT PRIMARY KEY,
                tenant_id VARCHAR(64) NOT NULL, endpoint_id VARCHAR(64) NOT NULL,
                event_id VARCHAR(64) NOT NULL, event_type VARCHAR(100) NOT NULL,
                payload MEDIUMBLOB NOT NULL, status VARCHAR(16) NOT NULL,
                attempts INT NOT NULL DEFAULT 0, retries_left INT NOT NULL,
                created_ms BIGINT NOT NULL, next_attempt_ms BIGINT NOT NULL,
                last_attempt_ms BIGINT NOT NULL DEFAULT 0,
                last_status_code INT NOT NULL DEFAULT 0,
                last_error VARCHAR(500) NOT NULL DEFAULT '',
                UNIQUE KEY webhook_deliveries_event (tenant_id, endpoint_id, event_id),
                KEY webhook_deliveries_due (status, next_attempt_ms),
                KEY webhook_deliveries_tenant (tenant_id, id),
                KEY webhook_deliveries_endpoint (tenant_id, endpoint_id, id),
                KEY webhook_deliveries_created (created_ms))"""
            + _TABLE,
            """CREATE TABLE webhook_attempts (
                attempt_id BIGINT NOT NULL AUTO_INCREMENT PRIMARY KEY,
                delivery_id BIGINT NOT NULL, n INT NOT NULL, at_ms BIGINT NOT NULL,
                duration_ms BIGINT NOT NULL, status_code INT NOT NULL,
                error VARCHAR(500) NOT NULL, response VARCHAR(1000) NOT NULL,
                KEY webhook_attempts_delivery (delivery_id, n))"""
            + _TABLE,
            """CREATE TABLE webhook_relay (
                id TINYINT NOT NULL PRIMARY KEY, last_sequence BIGINT NOT NULL)"""
            + _TABLE,
            "INSERT INTO webhook_relay VALUES (1, 0)",
            """CREATE TABLE webhook_redeliveries (
                tenant_id VARCHAR(64) NOT NULL, idempotency_key VARCHAR(255) NOT NULL,
                delivery_id BIGINT NOT NULL, created_ms BIGINT NOT NULL,
                PRIMARY KEY (tenant_id, idempotency_key),
                KEY webhook_redeliveries_created (created_ms))"""
            + _TABLE,
        ),
    ),
    Migration(
        2,
        "an endpoint's deliveries by status and last attempt (what it delivered lately)",
        sqlite=(),
        mysql=(
            """ALTER TABLE webhook_deliveries ADD KEY webhook_deliveries_delivered
                (tenant_id, endpoint_id, status, last_attempt_ms)""",
        ),
    ),
    Migration(
        3,
        "an endpoint's deliveries of one status, newest first",
        sqlite=(),
        mysql=(
            """ALTER TABLE webhook_deliveries ADD KEY webhook_deliveries_status
                (tenant_id, endpoint_id, status, id)""",
        ),
    ),
)

_CREATE_MIGRATIONS_TABLE = (
    """CREATE TABLE IF NOT EXISTS webhook_schema_migrations (
        version INT NOT NULL PRIMARY KEY, name VARCHAR(200) NOT NULL,
        applied_ms BIGINT NOT NULL)"""
    + _TABLE
)

# ``id = id`` changes nothing: a delivery already there counts no affected row.
_INSERT = (
    f"INSERT INTO webhook_deliveries ({INSERTED})"
    " VALUES (%s, %s, %s, %s, %s, 'pending', %s, %s, %s) ON DUPLICATE KEY UPDATE id = id"
)


def _params(params: Sequence[Any]) -> tuple[Any, ...]:
    return tuple(Hex(p) if p.__class__ is bytes else p for p in params)


class MysqlWebhookStore(MysqlPool):
    name = "webhooks:mysql"

    def __init__(self, url: str, pool_size: int = 4, connect_timeout_s: int = 5) -> None:
        super().__init__(url, pool_size, connect_timeout_s, READ_TIMEOUT_S)

    async def _fetchall(self, statement: str, params: tuple[Any, ...]) -> list[Any]:
        async with self._cursor() as cur:
            await cur.execute(statement, params)
            return list(await cur.fetchall())

    async def migrate(self) -> None:
        async with self._transaction() as cur:
            # Several hosts may start at once; a named lock lets one migrate at a time.
            await cur.execute("SELECT GET_LOCK(%s, 60)", (_MIGRATION_LOCK,))
            (locked,) = await cur.fetchone()
            if locked != 1:
                raise StoreUnavailable("another process held the webhook migration lock for 60 s")
            try:
                await cur.execute(_CREATE_MIGRATIONS_TABLE)
                await cur.execute("SELECT version FROM webhook_schema_migrations")
                done = {row[0] for row in await cur.fetchall()}
                for m in MIGRATIONS:
                    if m.version in done:
                        continue
                    for statement in m.statements("mysql"):
                        await cur.execute(statement)
                    await cur.execute(
                        "INSERT INTO webhook_schema_migrations (version, name, applied_ms)"
                        " VALUES (%s, %s, %s)",
                        (m.version, m.name, now_ms()),
                    )
            finally:
                await cur.execute("SELECT RELEASE_LOCK(%s)", (_MIGRATION_LOCK,))

    async def ping(self) -> None:
        await self._fetchall("SELECT 1", ())

    async def close(self) -> None:
        await self._close_pool()

    async def last_sequence(self) -> int:
        rows = await self._fetchall("SELECT last_sequence FROM webhook_relay WHERE id = 1", ())
        return int(rows[0][0])

    async def enqueue(self, deliveries: Sequence[NewDelivery], sequence: int) -> int:
        writes = mysql_writes.many(_INSERT, [new_row(d) for d in deliveries], "a webhook delivery")
        added = 0
        async with self._transaction() as cur:
            for w in writes:
                await cur.execute(w.sql, _params(w.params))
                added += cur.rowcount
            await cur.execute(
                "UPDATE webhook_relay SET last_sequence = GREATEST(last_sequence, %s) WHERE id = 1",
                (sequence,),
            )
        return added

    async def add(self, delivery: NewDelivery) -> Delivery:
        async with self._transaction() as cur:
            await cur.execute(_INSERT, _params(new_row(delivery)))
            await cur.execute(
                f"SELECT {COLUMNS} FROM webhook_deliveries"
                " WHERE tenant_id = %s AND endpoint_id = %s AND event_id = %s",
                (delivery.tenant, delivery.endpoint_id, delivery.event_id),
            )
            row = await cur.fetchone()
        return from_row(row)

    async def claim(
        self, now_ms: int, limit: int, lease_ms: int, exclude_endpoints: Sequence[str] = ()
    ) -> list[Delivery]:
        if limit <= 0:
            return []
        until = now_ms + lease_ms
        skip = tuple(exclude_endpoints)
        others = f" AND endpoint_id NOT IN ({', '.join(['%s'] * len(skip))})" if skip else ""
        async with self._transaction() as cur:
            await cur.execute(
                f"SELECT {COLUMNS} FROM webhook_deliveries"
                f" WHERE status = 'pending' AND next_attempt_ms <= %s{others}"
                " ORDER BY next_attempt_ms, id LIMIT %s FOR UPDATE SKIP LOCKED",
                (now_ms, *skip, limit),
            )
            claimed = [from_row(r) for r in await cur.fetchall()]
            if claimed:
                ids = [d.id for d in claimed]
                await cur.execute(
                    "UPDATE webhook_deliveries SET next_attempt_ms = %s"
                    f" WHERE id IN ({', '.join(['%s'] * len(ids))})",
                    (until, *ids),
                )
        return [msgspec.structs.replace(d, next_attempt_ms=until) for d in claimed]

    async def record(
        self,
        attempt: Attempt,
        status: DeliveryStatus,
        next_attempt_ms: int,
        retries_left: int,
    ) -> None:
        a = attempt
        async with self._transaction() as cur:
            # Selected from the delivery: an attempt of a delivery pruned meanwhile is
            # not kept without it.
            await cur.execute(
                "INSERT INTO webhook_attempts (delivery_id, n, at_ms, duration_ms,"
                " status_code, error, response) SELECT id, %s, %s, %s, %s, %s, %s"
                " FROM webhook_deliveries WHERE id = %s",
                (a.n, a.at_ms, a.duration_ms, a.status_code, a.error, a.response, a.delivery_id),
            )
            await cur.execute(
                "UPDATE webhook_deliveries SET"
                " status = IF(status = 'cancelled', status, %s),"
                " attempts = %s, next_attempt_ms = %s, retries_left = %s,"
                " last_attempt_ms = %s, last_status_code = %s, last_error = %s WHERE id = %s",
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

    async def cancel_endpoint(self, tenant: str, endpoint_id: str) -> int:
        async with self._transaction() as cur:
            await cur.execute(
                "UPDATE webhook_deliveries SET status = 'cancelled'"
                " WHERE tenant_id = %s AND endpoint_id = %s AND status = 'pending'",
                (tenant, endpoint_id),
            )
            return int(cur.rowcount)

    async def delivered_since(self, tenant: str, endpoint_id: str, since_ms: int) -> bool:
        rows = await self._fetchall(
            f"SELECT 1 FROM webhook_deliveries WHERE {DELIVERED_SINCE.format(p='%s')}",
            (tenant, endpoint_id, since_ms),
        )
        return bool(rows)

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
        where, params = page_filters("%s", tenant, endpoint_id, status, before)
        statement = (
            f"SELECT {COLUMNS} FROM webhook_deliveries WHERE {where} ORDER BY id DESC LIMIT %s"
        )
        return [from_row(r) for r in await self._fetchall(statement, (*params, limit))]

    async def delivery(self, tenant: str, delivery_id: int) -> Delivery | None:
        rows = await self._fetchall(
            f"SELECT {COLUMNS} FROM webhook_deliveries WHERE id = %s AND tenant_id = %s",
            (delivery_id, tenant),
        )
        return from_row(rows[0]) if rows else None

    async def attempts(self, tenant: str, delivery_id: int) -> list[Attempt]:
        rows = await self._fetchall(
            "SELECT a.delivery_id, a.n, a.at_ms, a.duration_ms, a.status_code, a.error,"
            " a.response FROM webhook_attempts a"
            " JOIN webhook_deliveries d ON d.id = a.delivery_id"
            " WHERE d.id = %s AND d.tenant_id = %s ORDER BY a.n, a.attempt_id",
            (delivery_id, tenant),
        )
        return [Attempt(*r) for r in rows]

    async def redeliver(
        self, tenant: str, delivery_id: int, now_ms: int, key: str | None = None
    ) -> Delivery | None:
        select = f"SELECT {COLUMNS} FROM webhook_deliveries WHERE id = %s AND tenant_id = %s"
        async with self._transaction() as cur:
            await cur.execute(select + " FOR UPDATE", (delivery_id, tenant))
            row = await cur.fetchone()
            if row is None:
                return None
            if key is not None:
                # a second call with the key waits here for the first to commit
                await cur.execute(
                    "INSERT INTO webhook_redeliveries VALUES (%s, %s, %s, %s)"
                    " ON DUPLICATE KEY UPDATE created_ms = created_ms",
                    (tenant, key, delivery_id, now_ms),
                )
                if cur.rowcount == 0:  # given before
                    await cur.execute(
                        "SELECT delivery_id FROM webhook_redeliveries"
                        " WHERE tenant_id = %s AND idempotency_key = %s",
                        (tenant, key),
                    )
                    given = await cur.fetchone()
                    if given is None or given[0] != delivery_id:
                        raise KeyReused(key)
                    return from_row(row)  # done once already
            await cur.execute(
                # retries first: MySQL reads a column assigned before it in the SET as assigned
                "UPDATE webhook_deliveries SET"
                " retries_left = CASE WHEN status = 'pending' THEN retries_left ELSE 0 END,"
                " status = 'pending', next_attempt_ms = %s WHERE id = %s AND tenant_id = %s",
                (now_ms, delivery_id, tenant),
            )
            await cur.execute(select, (delivery_id, tenant))
            row = await cur.fetchone()
        return None if row is None else from_row(row)

    async def prune(self, before_ms: int) -> int:
        pruned = 0
        while True:
            async with self._transaction() as cur:
                # Locked as read: a delivery made pending again meanwhile (redeliver) is
                # not among them, and cannot become pending until they are gone.
                await cur.execute(
                    "SELECT id FROM webhook_deliveries WHERE created_ms < %s"
                    " AND status <> 'pending' ORDER BY created_ms LIMIT %s FOR UPDATE",
                    (before_ms, PRUNE_BATCH),
                )
                ids = [r[0] for r in await cur.fetchall()]
                if ids:
                    marks = ", ".join(["%s"] * len(ids))
                    await cur.execute(
                        f"DELETE FROM webhook_attempts WHERE delivery_id IN ({marks})", tuple(ids)
                    )
                    await cur.execute(
                        f"DELETE FROM webhook_deliveries WHERE id IN ({marks})", tuple(ids)
                    )
                await cur.execute(
                    "DELETE FROM webhook_redeliveries WHERE created_ms < %s", (before_ms,)
                )
            pruned += len(ids)
            if len(ids) < PRUNE_BATCH:
                return pruned
