"""One SQLite database driven from one dedicated thread (shared by the SQLite adapters).

WAL mode; every call is a single hop to the database's thread, and :func:`transaction`
wraps a function in ``BEGIN IMMEDIATE`` … ``COMMIT``. Reads that need no transaction
(:meth:`SqliteDatabase.read`) go to a second thread with its own read-only connection, so
that they never queue behind a commit and its fsync: under WAL a reader sees every
transaction committed before its statement began (ADR 21). Reads asked for in the same
turn of the event loop — many actors' lookups when a burst wakes them together — make one
hop to that thread, not one each.
"""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, ClassVar, TypeVar

from storage import sql
from storage.errors import QueryTimedOut, StoreUnavailable
from storage.migrations import CREATE_MIGRATIONS_TABLE, Migration

T = TypeVar("T")
#: A read waiting for the reader thread: what to run, and the future its caller awaits.
_Read = tuple[Callable[[sqlite3.Connection], Any], asyncio.Future[Any]]

CACHE_KIB = 64 * 1024
MMAP_BYTES = 1024 * 1024 * 1024
#: Pages the write-ahead log may hold before a commit copies them into the database file
#: (SQLite's default is 1,000). A page changed by many commits in a row — an account, a
#: tenant's newest orders, an index's upper levels — is copied once per checkpoint, not
#: once per few commits: the writer's CPU per order fell by 8 to 15% (ADR 21). The log
#: grows to about 40 MiB between checkpoints.
WAL_AUTOCHECKPOINT_PAGES = 10_000


class SqliteDatabase:
    def __init__(self, path: str | Path, synchronous: str, thread_name: str) -> None:
        self.path = Path(path)
        self.synchronous = synchronous
        self._thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix=thread_name)
        self._con: sqlite3.Connection | None = None
        # An in-memory database is private to its connection: it has no second reader.
        self._shared = str(self.path) != ":memory:"
        self._reader = ThreadPoolExecutor(max_workers=1, thread_name_prefix=f"{thread_name}-read")
        self._read_con: sqlite3.Connection | None = None
        #: Reads asked for in this turn of the event loop, sent together at its end.
        self._reads: list[_Read] = []
        self._reads_loop: asyncio.AbstractEventLoop | None = None

    async def run(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._thread, self._call, fn)

    async def read(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        """Run ``fn``, which only reads, on the reader connection."""
        if not self._shared:
            return await self.run(fn)
        loop = asyncio.get_running_loop()
        done: asyncio.Future[T] = loop.create_future()
        if not self._reads or self._reads_loop is not loop:
            # (reads left by a loop that stopped before sending them had no one waiting)
            self._reads, self._reads_loop = [], loop
            loop.call_soon(self._send_reads, loop)
        self._reads.append((fn, done))
        return await done

    def _send_reads(self, loop: asyncio.AbstractEventLoop) -> None:
        reads, self._reads = self._reads, []
        try:
            self._reader.submit(self._read_hop, reads, loop)
        except RuntimeError as e:  # closed: its thread takes no more work
            _settle(reads, [(False, StoreUnavailable(f"{self.path} is closed: {e}"))] * len(reads))

    def _read_hop(self, reads: list[_Read], loop: asyncio.AbstractEventLoop) -> None:
        """On the reader thread: run ``reads``, then hand the loop their outcomes in one
        callback. (``asyncio.wrap_future`` took three turns of the loop to wake a reader —
        its future's state, its done callback, then the reader's own future — where this
        takes two; under spread every order waits for two hops.)"""
        try:
            outcomes = self._run_reads(reads)
        except BaseException as e:
            outcomes = [(False, StoreUnavailable(f"the read thread failed: {e!r}"))] * len(reads)
        with contextlib.suppress(RuntimeError):  # a closed loop: nobody waits for them
            loop.call_soon_threadsafe(_settle, reads, outcomes)

    def _run_reads(self, reads: list[_Read]) -> list[tuple[bool, Any]]:
        """Each read's result, or the exception it raised (``False`` first)."""
        outcomes: list[tuple[bool, Any]] = []
        for fn, _ in reads:
            try:
                outcomes.append((True, self._call_reader(fn)))
            except Exception as e:
                outcomes.append((False, e))
        return outcomes

    def _call(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        if self._con is None:
            self._con = self._open()
        return fn(self._con)

    def _call_reader(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        if self._read_con is None:
            self._read_con = self._open()
            self._read_con.execute("PRAGMA query_only=ON")
        return fn(self._read_con)

    def _open(self) -> sqlite3.Connection:
        return connect(self.path, self.synchronous)

    async def close(self) -> None:
        def _close(con: sqlite3.Connection) -> None:
            con.close()
            self._con = None

        def _close_reader(con: sqlite3.Connection) -> None:
            con.close()
            self._read_con = None

        if self._read_con is not None:
            await self.read(_close_reader)
        self._reader.shutdown(wait=True)
        if self._con is not None:
            await self.run(_close)
        self._thread.shutdown(wait=True)

    async def migrate(self, migrations: tuple[Migration, ...]) -> None:
        def _migrate(con: sqlite3.Connection) -> None:
            con.execute(CREATE_MIGRATIONS_TABLE["sqlite"])
            done = {row[0] for row in con.execute("SELECT version FROM schema_migrations")}
            for m in migrations:
                if m.version in done:
                    continue
                for statement in m.statements("sqlite"):
                    con.execute(statement)
                con.execute(
                    "INSERT INTO schema_migrations (version, name, applied_ms) VALUES (?, ?, ?)",
                    (m.version, m.name, sql.now_ms()),
                )

        await self.run(transaction(_migrate))

    async def ping(self) -> None:
        await self.run(lambda con: con.execute("SELECT 1").fetchone())


def connect(path: Path, synchronous: str) -> sqlite3.Connection:
    """A connection to the database at ``path`` (made if need be), in WAL mode, with the
    page cache and memory map the ledger's bursts want."""
    try:
        if str(path) != ":memory:":
            path.parent.mkdir(parents=True, exist_ok=True)
        con = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    except (OSError, sqlite3.Error) as e:
        raise StoreUnavailable(f"cannot open {path}: {e}") from e
    con.execute("PRAGMA journal_mode=WAL")
    con.execute(f"PRAGMA synchronous={synchronous}")
    con.execute("PRAGMA busy_timeout=5000")
    # SQLite's default page cache is 2 MiB: past that, every insert under a random key
    # (idempotency hashes, order ids) reads its leaf page back through a system call,
    # and throughput falls as the file grows (measured: 1,390 → 790 orders/s within
    # 20 s of a burst). 64 MiB per connection, and reads through a memory map.
    con.execute(f"PRAGMA cache_size=-{CACHE_KIB}")
    con.execute(f"PRAGMA mmap_size={MMAP_BYTES}")
    con.execute(f"PRAGMA wal_autocheckpoint={WAL_AUTOCHECKPOINT_PAGES}")
    return con


def _settle(reads: list[_Read], outcomes: list[tuple[bool, Any]]) -> None:
    """Hand each read its outcome (a reader that gave up waiting is skipped)."""
    for (_, done), (ok, value) in zip(reads, outcomes, strict=True):
        if done.done():
            continue
        if ok:
            done.set_result(value)
        else:
            done.set_exception(value)


def transaction(fn: Callable[[sqlite3.Connection], T]) -> Callable[[sqlite3.Connection], T]:
    """Run ``fn`` inside ``BEGIN IMMEDIATE`` … ``COMMIT``, rolling back on any error."""

    def run(con: sqlite3.Connection) -> T:
        con.execute("BEGIN IMMEDIATE")
        try:
            result = fn(con)
            con.execute("COMMIT")
        except BaseException:
            con.execute("ROLLBACK")
            raise
        return result

    return run


#: SQLite virtual-machine steps between two looks at the clock by a read with a deadline
#: (a look costs well under a microsecond; a thousand steps, a few microseconds).
DEADLINE_STEPS = 1000


def within_deadline(
    fn: Callable[[sqlite3.Connection], T], deadline: float, what: str
) -> Callable[[sqlite3.Connection], T]:
    """Run ``fn``, which only reads, in one read transaction (one snapshot for all its
    statements) and interrupt it at ``deadline`` (``time.monotonic()``): a progress
    handler stops the statement under way, and :class:`QueryTimedOut` is raised. A read
    that waited past its deadline for the thread is not begun."""

    def expired() -> int:
        return int(time.monotonic() >= deadline)

    def run(con: sqlite3.Connection) -> T:
        if expired():
            raise QueryTimedOut(f"{what} waited past its deadline and was not begun")
        con.set_progress_handler(expired, DEADLINE_STEPS)
        con.execute("BEGIN")
        try:
            return fn(con)
        except sqlite3.OperationalError as e:
            if expired():
                raise QueryTimedOut(f"{what} ran past its deadline and was interrupted") from e
            raise
        finally:
            con.set_progress_handler(None, 0)
            con.execute("ROLLBACK")  # nothing was written: this only ends the snapshot

    return run


class SqliteStore:
    """What a store kept in one SQLite file of its own does alike: migrate its schema,
    answer a ping, close."""

    migrations: ClassVar[tuple[Migration, ...]]
    db: SqliteDatabase

    async def migrate(self) -> None:
        await self.db.migrate(self.migrations)

    async def ping(self) -> None:
        await self.db.ping()

    async def close(self) -> None:
        await self.db.close()
