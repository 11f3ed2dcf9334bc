"""The index that an endpoint's webhook deliveries of one status are read by, in order
(ADR 37, 2026-11-28; webhook migration 3). Without it a page walked the endpoint's
whole history and kept the few that matched."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

from storage.sql import Statements
from storage.sqlite_webhooks import SqliteWebhookStore
from storage.webhook_rows import COLUMNS, page_filters

ST = Statements("?")


def plan(con: sqlite3.Connection, statement: str, params: tuple[Any, ...]) -> str:
    return " | ".join(row[3] for row in con.execute(f"EXPLAIN QUERY PLAN {statement}", params))


async def test_an_endpoints_deliveries_of_one_status_read_their_index_newest_first(
    tmp_path: Path,
) -> None:
    store = SqliteWebhookStore(tmp_path / "webhooks.sqlite3")
    await store.migrate()
    await store.close()
    con = sqlite3.connect(tmp_path / "webhooks.sqlite3")
    for before in (None, 500):
        where, params = page_filters("?", "acme", "ep1", "failed", before)
        statement = (
            f"SELECT {COLUMNS} FROM webhook_deliveries WHERE {where} ORDER BY id DESC LIMIT ?"
        )
        steps = plan(con, statement, (*params, 50))
        assert steps.startswith(
            "SEARCH webhook_deliveries USING INDEX webhook_deliveries_status"
            " (tenant_id=? AND endpoint_id=? AND status=?"
        ), steps
        assert "TEMP B-TREE" not in steps
    con.close()
