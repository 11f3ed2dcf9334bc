"""SQLite tenant documents: the embedded default of the tenant documents port.

Every revision of a document is a row keyed by ``(tenant, name, n)``; the current one is
the row with the highest ``n``. A write runs in one ``BEGIN IMMEDIATE`` transaction that
reads the current revision, compares it with the one the writer names, and inserts
``n + 1``: SQLite runs one such transaction at a time, and the primary key would refuse
a second ``n + 1`` even if it did not, so of concurrent writers exactly one wins.

Revisions have CouchDB's form ``<n>-<hash>`` (the hash of the previous revision and the
body), so clients see the same kind of ETag whichever adapter runs.
"""

from __future__ import annotations

import asyncio
import hashlib
import sqlite3
from pathlib import Path

import msgspec

from storage.errors import StaleWrite
from storage.migrations import Migration
from storage.sql import now_ms
from storage.sqlite_db import SqliteDatabase, transaction
from storage.tenant_docs_ports import DocumentRevision, StoredDocument

MIGRATIONS = (
    Migration(
        1,
        "tenant document revisions",
        sqlite=(
            """CREATE TABLE tenant_doc_revisions (
                tenant_id TEXT NOT NULL, name TEXT NOT NULL, n INTEGER NOT NULL,
                revision TEXT NOT NULL, body BLOB NOT NULL, saved_ms INTEGER NOT NULL,
                PRIMARY KEY (tenant_id, name, n))""",
        ),
        mysql=(),
    ),
)


def next_revision(previous: str | None, n: int, body: bytes) -> str:
    digest = hashlib.sha256((previous or "").encode() + b"\0" + body).hexdigest()
    return f"{n}-{digest[:32]}"


def _canonical(body: bytes) -> bytes:
    """The body as compact JSON; it must be a JSON object (``ValueError`` otherwise)."""
    try:
        value = msgspec.json.decode(body)
    except msgspec.DecodeError as e:
        raise ValueError(f"a tenant document is JSON: {e}") from e
    if not isinstance(value, dict):
        raise ValueError("a tenant document is a JSON object")
    return msgspec.json.encode(value)


class SqliteTenantDocuments:
    name = "tenantdocs:sqlite"

    def __init__(self, path: str | Path) -> None:
        self.db = SqliteDatabase(path, "NORMAL", "sqlite-tenantdocs")
        self._migrated = False
        self._migrating = asyncio.Lock()

    async def _ready(self) -> SqliteDatabase:
        """The database, its schema brought up to date on first use."""
        if not self._migrated:
            async with self._migrating:
                if not self._migrated:
                    await self.db.migrate(MIGRATIONS)
                    self._migrated = True
        return self.db

    async def ping(self) -> None:
        await self.db.ping()

    async def close(self) -> None:
        await self.db.close()

    async def get(self, tenant: str, name: str) -> StoredDocument | None:
        db = await self._ready()
        row = await db.read(
            lambda con: con.execute(
                "SELECT body, revision, saved_ms FROM tenant_doc_revisions"
                " WHERE tenant_id = ? AND name = ? ORDER BY n DESC LIMIT 1",
                (tenant, name),
            ).fetchone()
        )
        return None if row is None else StoredDocument(bytes(row[0]), row[1], row[2])

    async def get_revision(self, tenant: str, name: str, revision: str) -> StoredDocument | None:
        db = await self._ready()
        row = await db.read(
            lambda con: con.execute(
                "SELECT body, revision, saved_ms FROM tenant_doc_revisions"
                " WHERE tenant_id = ? AND name = ? AND revision = ?",
                (tenant, name, revision),
            ).fetchone()
        )
        return None if row is None else StoredDocument(bytes(row[0]), row[1], row[2])

    async def put(
        self, tenant: str, name: str, body: bytes, expected_revision: str | None
    ) -> DocumentRevision:
        body = _canonical(body)
        what = f"tenant document {tenant}/{name}"

        def _put(con: sqlite3.Connection) -> DocumentRevision:
            current = con.execute(
                "SELECT n, revision FROM tenant_doc_revisions"
                " WHERE tenant_id = ? AND name = ? ORDER BY n DESC LIMIT 1",
                (tenant, name),
            ).fetchone()
            n, revision = (0, None) if current is None else (int(current[0]), str(current[1]))
            if revision != expected_revision:
                raise StaleWrite(what, expected_revision or 0)
            new = DocumentRevision(next_revision(revision, n + 1, body), now_ms())
            con.execute(
                "INSERT INTO tenant_doc_revisions VALUES (?, ?, ?, ?, ?, ?)",
                (tenant, name, n + 1, new.revision, body, new.saved_ms),
            )
            return new

        db = await self._ready()
        try:
            return await db.run(transaction(_put))
        except sqlite3.IntegrityError as e:  # another connection to the file wrote n + 1
            raise StaleWrite(what, expected_revision or 0) from e

    async def revisions(self, tenant: str, name: str) -> list[DocumentRevision]:
        db = await self._ready()
        rows = await db.read(
            lambda con: con.execute(
                "SELECT revision, saved_ms FROM tenant_doc_revisions"
                " WHERE tenant_id = ? AND name = ? ORDER BY n DESC",
                (tenant, name),
            ).fetchall()
        )
        return [DocumentRevision(r[0], r[1]) for r in rows]
