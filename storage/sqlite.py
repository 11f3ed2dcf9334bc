"""SQLite ledger: the embedded default.

One connection in WAL mode, driven from one dedicated thread: every call is a single hop
to that thread, and a group commit of many change sets is one hop and one transaction.
"""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TypeVar

from bus.events import OutboxEvent
from storage import sql
from storage.errors import StaleWrite, StoreUnavailable
from storage.ports import AccountRecord, ChangeSet, LedgerStats, StoredReply

T = TypeVar("T")
_st = sql.Statements("?")


class SqliteLedger:
    name = "ledger:sqlite"

    def __init__(self, path: str | Path, synchronous: str = "FULL") -> None:
        self.path = Path(path)
        self.synchronous = synchronous
        self.stats = LedgerStats()
        self._thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="sqlite-ledger")
        self._con: sqlite3.Connection | None = None

    async def _run(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._thread, self._call, fn)

    def _call(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        if self._con is None:
            self._con = self._open()
        return fn(self._con)

    def _open(self) -> sqlite3.Connection:
        try:
            if str(self.path) != ":memory:":
                self.path.parent.mkdir(parents=True, exist_ok=True)
            con = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
        except (OSError, sqlite3.Error) as e:
            raise StoreUnavailable(f"cannot open {self.path}: {e}") from e
        con.execute("PRAGMA journal_mode=WAL")
        con.execute(f"PRAGMA synchronous={self.synchronous}")
        con.execute("PRAGMA busy_timeout=5000")
        return con

    async def close(self) -> None:
        def _close(con: sqlite3.Connection) -> None:
            con.close()
            self._con = None

        if self._con is not None:
            await self._run(_close)
        self._thread.shutdown(wait=True)

    async def migrate(self) -> None:
        def _migrate(con: sqlite3.Connection) -> None:
            con.execute(sql.CREATE_MIGRATIONS_TABLE["sqlite"])
            done = {row[0] for row in con.execute(_st.applied_versions)}
            for m in sql.MIGRATIONS:
                if m.version in done:
                    continue
                for statement in m.statements("sqlite"):
                    con.execute(statement)
                con.execute(_st.record_migration, (m.version, m.name, sql.now_ms()))

        await self._run(_transaction(_migrate))

    async def ping(self) -> None:
        await self._run(lambda con: con.execute("SELECT 1").fetchone())

    async def load_accounts(self, tenant: str, account_ids: Sequence[str]) -> list[AccountRecord]:
        if not account_ids:
            return []
        statement = _st.select_accounts(len(account_ids))
        params = (tenant, *account_ids)
        rows = await self._run(lambda con: con.execute(statement, params).fetchall())
        return [sql.account_from_row(r) for r in rows]

    async def apply(self, change_sets: Sequence[ChangeSet]) -> None:
        batch = list(change_sets)

        def _apply(con: sqlite3.Connection) -> None:
            now = sql.now_ms()
            for cs in batch:
                for w in sql.writes(_st, cs, now):
                    try:
                        cursor = con.execute(w.sql, w.params)
                    except sqlite3.IntegrityError as e:
                        raise StaleWrite(w.what, 0) from e
                    if w.fenced and cursor.rowcount != 1:
                        raise StaleWrite(w.what, w.expected_version)
            con.executemany(_st.insert_entry, sql.entry_rows(batch))
            con.executemany(_st.insert_event, sql.event_rows(batch))
            try:
                con.executemany(_st.insert_reply, sql.reply_rows(batch))
            except sqlite3.IntegrityError as e:
                raise StaleWrite("an idempotency key's reply", 0) from e

        try:
            await self._run(_transaction(_apply))
        except BaseException:
            self.stats.rollbacks += 1
            raise
        self.stats.transactions += 1
        self.stats.change_sets += len(batch)

    async def pending_events(self, limit: int, created_before_ms: int = 2**62) -> list[OutboxEvent]:
        rows = await self._run(
            lambda con: con.execute(_st.pending_events, (created_before_ms, limit)).fetchall()
        )
        return [sql.event_from_row(r) for r in rows]

    async def mark_published(self, event_ids: Sequence[str]) -> None:
        ids = [(i,) for i in event_ids]

        await self._run(_transaction(lambda con: con.executemany(_st.delete_event, ids)))

    async def account_balance(self, tenant: str, account: str) -> int:
        row = await self._run(
            lambda con: con.execute(_st.account_balance, (tenant, account)).fetchone()
        )
        return int(row[0])

    async def entries_total(self, tenant: str) -> int:
        row = await self._run(lambda con: con.execute(_st.entries_total, (tenant,)).fetchone())
        return int(row[0])

    async def load_replies(self, tenant: str, key_hashes: Sequence[str]) -> list[StoredReply]:
        if not key_hashes:
            return []
        statement = _st.select_replies(len(key_hashes))
        params = (tenant, *key_hashes)
        rows = await self._run(lambda con: con.execute(statement, params).fetchall())
        return [sql.reply_from_row(r) for r in rows]

    async def has_transaction(self, tenant: str, txn_id: str) -> bool:
        row = await self._run(
            lambda con: con.execute(_st.has_transaction, (tenant, txn_id)).fetchone()
        )
        return row is not None


def _transaction(
    fn: Callable[[sqlite3.Connection], object],
) -> Callable[[sqlite3.Connection], None]:
    """Run ``fn`` inside ``BEGIN IMMEDIATE`` … ``COMMIT``, rolling back on any error."""

    def run(con: sqlite3.Connection) -> None:
        con.execute("BEGIN IMMEDIATE")
        try:
            fn(con)
            con.execute("COMMIT")
        except BaseException:
            con.execute("ROLLBACK")
            raise

    return run
