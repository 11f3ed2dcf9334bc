"""On MariaDB, the same filtered page as ``tests/unit/test_sqlite_filter_indexes.py``
finds its index (webhook migration 3): EXPLAIN over a few thousand rows, so that the
optimizer's choice is the one a large tenant gets."""

from __future__ import annotations

from typing import Any

import asyncmy
import pytest

from storage.mysql_pool import connect_args
from storage.mysql_webhooks import MysqlWebhookStore
from storage.sql import Statements
from storage.webhook_rows import COLUMNS, page_filters
from tests.support import mysql_database

pytestmark = pytest.mark.mysql
ST = Statements("%s")


async def explain(cur: Any, statement: str, params: tuple[Any, ...]) -> set[str]:
    await cur.execute(f"EXPLAIN {statement}", params)
    names = [d[0] for d in cur.description]
    return {str(dict(zip(names, row, strict=True))["key"]) for row in await cur.fetchall()}


async def test_deliveries_of_one_status_use_their_index_on_mariadb() -> None:
    async with mysql_database() as url:
        webhooks = MysqlWebhookStore(url, pool_size=1)
        await webhooks.migrate()
        await webhooks.close()
        conn = await asyncmy.connect(**connect_args(url), autocommit=True)
        try:
            await check_plans(conn)
        finally:
            conn.close()


async def check_plans(conn: Any) -> None:
    async with conn.cursor() as cur:
        await cur.executemany(
            "INSERT INTO webhook_deliveries (tenant_id, endpoint_id, event_id, event_type,"
            " payload, status, retries_left, created_ms, next_attempt_ms)"
            " VALUES (%s, %s, %s, 'e', '', %s, 0, 0, 0)",
            [
                # acme's endpoint, and another tenant's endpoint that fails often
                ("acme", "ep1", f"ev{n}", "failed" if n % 200 == 1 else "delivered")
                if n % 2
                else ("globex", "ep9", f"ev{n}", "failed" if n % 4 else "pending")
                for n in range(8000)
            ],
        )
        await cur.execute("ANALYZE TABLE webhook_deliveries")
        await cur.fetchall()
        # MariaDB picks by cost: for a rare status it may also take the older index
        # that begins (tenant, endpoint, status) and sort the few rows; for a common one,
        # the primary key backwards. The page never sorts the endpoint's history.
        await cur.execute(
            "SHOW INDEX FROM webhook_deliveries WHERE Key_name = %s", ("webhook_deliveries_status",)
        )
        assert [r[4] for r in await cur.fetchall()] == ["tenant_id", "endpoint_id", "status", "id"]
        where, params = page_filters("%s", "acme", "ep1", "failed", None)
        statement = (
            f"SELECT {COLUMNS} FROM webhook_deliveries WHERE {where} ORDER BY id DESC LIMIT %s"
        )
        assert await explain(cur, statement, (*params, 50)) <= {
            "webhook_deliveries_status",
            "webhook_deliveries_delivered",
        }
