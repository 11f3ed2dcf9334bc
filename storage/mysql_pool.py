"""A MySQL/MariaDB connection pool, opened on first use, with cursors and transactions
whose connection failures are :class:`~storage.errors.StoreUnavailable` — the base of
the MySQL adapters (the ledger, the webhook deliveries)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any
from urllib.parse import unquote, urlsplit

import asyncmy
from asyncmy.errors import OperationalError

from storage import mysql_writes
from storage.errors import StoreUnavailable


def connect_args(url: str) -> dict[str, Any]:
    """``mysql://user:password@host:port/database`` → asyncmy keyword arguments."""
    parts = urlsplit(url)
    if parts.scheme not in ("mysql", "mariadb", "mysql+asyncmy"):
        raise ValueError(f"not a MySQL URL: {parts.scheme}://…")
    database = parts.path.lstrip("/")
    if not database:
        raise ValueError("the MySQL URL must name a database")
    return {
        "host": parts.hostname or "127.0.0.1",
        "port": parts.port or 3306,
        "user": unquote(parts.username or "root"),
        "password": unquote(parts.password or ""),
        "db": database,
    }


class MysqlPool:
    #: asyncmy client flags beyond the defaults (the ledger sends statements in packets).
    client_flag = 0

    def __init__(
        self, url: str, pool_size: int, connect_timeout_s: int, read_timeout_s: int
    ) -> None:
        self._args = connect_args(url) | {
            "connect_timeout": connect_timeout_s,
            "read_timeout": read_timeout_s,
        }
        self._pool_size = pool_size
        self._pool: Any = None
        self._opening = asyncio.Lock()

    async def _get_pool(self) -> Any:
        if self._pool is not None:
            return self._pool
        async with self._opening:  # callers at once make one pool, not one each
            if self._pool is None:
                self._pool = await self._open_pool()
        return self._pool

    async def _open_pool(self) -> Any:
        try:
            return await asyncmy.create_pool(
                minsize=1,
                maxsize=self._pool_size,
                # A read is a statement of its own (no snapshot left open, no COMMIT
                # round trip after it); writes run in explicit transactions (BEGIN).
                autocommit=True,
                # No gap locks: two transactions in flight insert side by side.
                init_command="SET SESSION TRANSACTION ISOLATION LEVEL READ COMMITTED",
                charset="utf8mb4",
                client_flag=self.client_flag,
                conv=mysql_writes.CONVERSIONS,  # bytes as hex literals
                pool_recycle=3600,
                **self._args,
            )
        except (OperationalError, OSError) as e:
            raise StoreUnavailable(f"cannot reach MySQL: {e}") from e

    async def _close_pool(self) -> None:
        if self._pool is not None:
            self._pool.close()
            await self._pool.wait_closed()
            self._pool = None

    @asynccontextmanager
    async def _cursor(self) -> AsyncIterator[Any]:
        pool = await self._get_pool()
        try:
            async with pool.acquire() as conn, conn.cursor() as cur:
                yield cur
        except (OperationalError, OSError, TimeoutError) as e:
            raise StoreUnavailable(f"MySQL: {e!r}") from e

    @asynccontextmanager
    async def _transaction(self) -> AsyncIterator[Any]:
        async with self._cursor() as cur:
            conn = cur.connection
            await conn.begin()
            try:
                yield cur
                await conn.commit()
            except BaseException:
                await conn.rollback()
                raise
