"""SQLite catalogue documents: the embedded default (products and curations as JSON).

The tenant's view of the catalogue is merged in SQL over the JSON documents (``json_each``
over the curation), like MongoDB's aggregation does it. SQLite has no change feed, so
:meth:`SqliteCatalogue.watch` reads the one-row revision table every ``watch_interval_s``:
a primary-key read, cheap enough to do several times a second.
"""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import AsyncGenerator, Sequence
from pathlib import Path

import msgspec

from bus.messages.catalogue import Curation, Product
from storage.errors import StaleWrite
from storage.migrations import Migration
from storage.ports import CuratedProduct
from storage.sql import now_ms
from storage.sqlite_db import SqliteDatabase, SqliteStore, transaction

MIGRATIONS = (
    Migration(
        1,
        "products, curations",
        sqlite=(
            """CREATE TABLE products (
                tenant_id TEXT NOT NULL, product_id TEXT NOT NULL, doc BLOB NOT NULL,
                updated_ms INTEGER NOT NULL, PRIMARY KEY (tenant_id, product_id))""",
            """CREATE TABLE curations (
                tenant_id TEXT PRIMARY KEY, doc BLOB NOT NULL, version INTEGER NOT NULL)""",
            "CREATE TABLE revision (id INTEGER PRIMARY KEY CHECK (id = 1), n INTEGER NOT NULL)",
            "INSERT INTO revision VALUES (1, 0)",
        ),
        mysql=(),
    ),
)

_product = msgspec.json.Decoder(Product)
_curation = msgspec.json.Decoder(Curation)
_json = msgspec.json.Encoder()


class SqliteCatalogue(SqliteStore):
    migrations = MIGRATIONS
    name = "catalogue:sqlite"

    def __init__(self, path: str | Path, watch_interval_s: float = 0.1) -> None:
        self.db = SqliteDatabase(path, "NORMAL", "sqlite-catalogue")
        self.watch_interval_s = watch_interval_s

    async def put_products(self, products: Sequence[Product]) -> None:
        rows = [(p.tenant, p.id, _json.encode(p), now_ms()) for p in products]
        platform = any(not p.tenant for p in products)

        def _put(con: sqlite3.Connection) -> None:
            con.executemany("INSERT OR REPLACE INTO products VALUES (?, ?, ?, ?)", rows)
            if platform:
                con.execute("UPDATE revision SET n = n + 1")

        await self.db.run(transaction(_put))

    async def products(self, tenant: str) -> list[Product]:
        rows = await self.db.run(
            lambda con: con.execute(
                "SELECT doc FROM products WHERE tenant_id = ? ORDER BY product_id", (tenant,)
            ).fetchall()
        )
        return [_product.decode(r[0]) for r in rows]

    async def revision(self) -> int:
        row = await self.db.run(lambda con: con.execute("SELECT n FROM revision").fetchone())
        return int(row[0])

    async def curation(self, tenant: str) -> Curation:
        row = await self.db.run(
            lambda con: con.execute(
                "SELECT doc FROM curations WHERE tenant_id = ?", (tenant,)
            ).fetchone()
        )
        return Curation() if row is None else _curation.decode(row[0])

    async def save_curation(self, tenant: str, curation: Curation) -> None:
        doc = _json.encode(curation)

        def _save(con: sqlite3.Connection) -> None:
            if curation.version == 1:
                cursor = con.execute(
                    "INSERT OR IGNORE INTO curations VALUES (?, ?, 1)", (tenant, doc)
                )
            else:
                cursor = con.execute(
                    "UPDATE curations SET doc = ?, version = ? WHERE tenant_id = ? AND version = ?",
                    (doc, curation.version, tenant, curation.version - 1),
                )
            if cursor.rowcount != 1:
                raise StaleWrite(f"curation of {tenant}", curation.version - 1)

        await self.db.run(transaction(_save))

    async def effective_catalogue(
        self, tenant: str, after: str = "", limit: int = 1000
    ) -> list[CuratedProduct]:
        params = (tenant, after, limit)
        rows = await self.db.run(lambda con: con.execute(_EFFECTIVE, params).fetchall())
        return [CuratedProduct(_product.decode(doc), bool(on), int(bps)) for doc, on, bps in rows]

    async def watch(self) -> AsyncGenerator[int, None]:
        seen = await self.revision()
        yield seen
        while True:
            await asyncio.sleep(self.watch_interval_s)
            now = await self.revision()
            if now != seen:
                seen = now
                yield now


#: The platform's products and the tenant's own (its own hides a platform one of the same
#: id), with the tenant's curation applied: disabled ids and per-product markups are read
#: out of the curation's JSON (cast to text: SQLite reads a BLOB as its binary JSONB).
_EFFECTIVE = """
SELECT p.doc,
       NOT EXISTS (SELECT 1 FROM json_each(CAST(c.doc AS TEXT), '$.disabled') d
                   WHERE d.value = p.product_id),
       COALESCE((SELECT m.value FROM json_each(CAST(c.doc AS TEXT), '$.markup_bps') m
                 WHERE m.key = p.product_id),
                json_extract(CAST(c.doc AS TEXT), '$.default_markup_bps'), 0)
FROM products p LEFT JOIN curations c ON c.tenant_id = ?1
WHERE p.product_id > ?2
  AND (p.tenant_id = ?1
       OR (p.tenant_id = '' AND NOT EXISTS (
            SELECT 1 FROM products o WHERE o.tenant_id = ?1 AND o.product_id = p.product_id)))
ORDER BY p.product_id
LIMIT ?3
"""
