"""The ceiling's one table, on SQLite (one connection in its own thread, WAL,
``synchronous=FULL`` like perkbus's default) or MariaDB: one row per order, written by
the group committer, many rows per transaction."""

from __future__ import annotations

import asyncio
import sqlite3
from concurrent.futures import ThreadPoolExecutor

import asyncmy

from bench.ceiling.messages import PlaceOrder

#: (order id, the request) — what one committed order is.
Row = tuple[str, PlaceOrder]

_SQLITE_TABLE = """CREATE TABLE IF NOT EXISTS ceiling_orders (
    order_id TEXT PRIMARY KEY, tenant_id TEXT NOT NULL, budget_id TEXT NOT NULL,
    product_id TEXT NOT NULL, face_value_minor INTEGER NOT NULL, recipient TEXT NOT NULL
) WITHOUT ROWID"""
_MYSQL_TABLE = """CREATE TABLE IF NOT EXISTS ceiling_orders (
    order_id VARCHAR(64) NOT NULL PRIMARY KEY, tenant_id VARCHAR(64) NOT NULL,
    budget_id VARCHAR(64) NOT NULL, product_id VARCHAR(64) NOT NULL,
    face_value_minor BIGINT NOT NULL, recipient VARCHAR(100) NOT NULL
) ENGINE=InnoDB"""
_INSERT = "INSERT INTO ceiling_orders VALUES ({0}, {0}, {0}, {0}, {0}, {0})"


def _values(rows: list[Row]) -> list[tuple[str, str, str, str, int, str]]:
    return [
        (oid, o.tenant, o.budget_id, o.product_id, o.face_value_minor, o.recipient)
        for oid, o in rows
    ]


class SqliteStore:
    def __init__(self, path: str, synchronous: str = "FULL") -> None:
        # one thread owns the connection: the event loop keeps serving while it commits
        self._thread = ThreadPoolExecutor(1, thread_name_prefix="ceiling-sqlite")
        self._path, self._synchronous = path, synchronous
        self._con: sqlite3.Connection | None = None

    def _open(self) -> None:
        con = sqlite3.connect(self._path, isolation_level=None, check_same_thread=False)
        con.execute("PRAGMA journal_mode=WAL")
        con.execute(f"PRAGMA synchronous={self._synchronous}")
        con.execute(_SQLITE_TABLE)
        self._con = con

    async def open(self) -> None:
        await asyncio.get_running_loop().run_in_executor(self._thread, self._open)

    def _write(self, rows: list[Row]) -> None:
        assert self._con is not None
        self._con.execute("BEGIN IMMEDIATE")
        try:
            self._con.executemany(_INSERT.format("?"), _values(rows))
        except BaseException:
            self._con.execute("ROLLBACK")
            raise
        self._con.execute("COMMIT")

    async def write(self, rows: list[Row]) -> None:
        await asyncio.get_running_loop().run_in_executor(self._thread, self._write, rows)

    def _count(self) -> tuple[int, int]:
        assert self._con is not None
        row = self._con.execute(
            "SELECT COUNT(*), COUNT(DISTINCT order_id) FROM ceiling_orders"
        ).fetchone()
        return int(row[0]), int(row[1])

    async def count(self) -> tuple[int, int]:
        return await asyncio.get_running_loop().run_in_executor(self._thread, self._count)

    async def close(self) -> None:
        if self._con is not None:
            await asyncio.get_running_loop().run_in_executor(self._thread, self._con.close)
        self._thread.shutdown()


class MysqlStore:
    def __init__(self, url: str) -> None:
        from storage.mysql_pool import connect_args

        self._args = connect_args(url)
        self._con: asyncmy.Connection | None = None

    async def open(self, create: bool = True) -> None:
        self._con = await asyncmy.connect(**self._args, autocommit=False)
        if create:  # only once: IF NOT EXISTS on an existing table is a server warning
            async with self._con.cursor() as cur:
                await cur.execute(_MYSQL_TABLE)
            await self._con.commit()

    async def write(self, rows: list[Row]) -> None:
        assert self._con is not None
        async with self._con.cursor() as cur:
            await cur.executemany(_INSERT.format("%s"), _values(rows))
        await self._con.commit()

    async def count(self) -> tuple[int, int]:
        assert self._con is not None
        async with self._con.cursor() as cur:
            await cur.execute("SELECT COUNT(*), COUNT(DISTINCT order_id) FROM ceiling_orders")
            row = await cur.fetchone()
        await self._con.commit()
        return int(row[0]), int(row[1])

    async def close(self) -> None:
        if self._con is not None:
            self._con.close()


async def open_store(db: str, create: bool = True) -> SqliteStore | MysqlStore:
    """``sqlite:PATH`` or ``mysql://user@host:port/database`` (which must exist); with
    ``create`` the table is made if missing (the actor does; a checker does not)."""
    store: SqliteStore | MysqlStore
    if db.startswith("sqlite:"):
        store = SqliteStore(db.removeprefix("sqlite:"))
        await store.open()
    elif db.startswith("mysql://"):
        store = MysqlStore(db)
        await store.open(create)
    else:
        raise ValueError(f"unknown store {db!r}: sqlite:PATH or mysql://…")
    return store
