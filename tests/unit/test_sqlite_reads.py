"""Reads on the SQLite read thread: those asked for together share one hop, and each
still gets its own answer or its own error."""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Callable
from pathlib import Path

import pytest

from storage.errors import StoreUnavailable
from storage.sqlite_db import SqliteDatabase, transaction


async def test_reads_asked_together_each_get_their_own_answer(tmp_path: Path) -> None:
    db = SqliteDatabase(tmp_path / "t.sqlite3", "FULL", "test")
    try:
        await db.run(transaction(lambda c: c.execute("CREATE TABLE t (k INTEGER, v TEXT)")))
        rows = [(k, f"v{k}") for k in range(50)]
        await db.run(transaction(lambda c: c.executemany("INSERT INTO t VALUES (?, ?)", rows)))

        def value(k: int) -> Callable[[sqlite3.Connection], str]:
            return lambda c: str(c.execute("SELECT v FROM t WHERE k = ?", (k,)).fetchone()[0])

        def broken(c: sqlite3.Connection) -> str:
            return str(c.execute("SELECT nothing FROM nowhere").fetchall())

        asked = [db.read(value(k)) for k in range(50)]
        results = await asyncio.gather(*asked[:25], db.read(broken), *asked[25:],
                                       return_exceptions=True)  # fmt: skip
        assert results[:25] == [f"v{k}" for k in range(25)]
        assert isinstance(results[25], sqlite3.OperationalError)
        assert results[26:] == [f"v{k}" for k in range(25, 50)]
        # a reader that gives up does not disturb the others
        slow = asyncio.ensure_future(db.read(value(7)))
        slow.cancel()
        assert await db.read(value(8)) == "v8"
        with pytest.raises(asyncio.CancelledError):
            await slow
    finally:
        await db.close()
    with pytest.raises(StoreUnavailable):  # after close: refused, never left waiting
        await asyncio.wait_for(db.read(value(1)), 5)


def test_reads_left_by_a_stopped_event_loop_do_not_stall_the_next_one(tmp_path: Path) -> None:
    db = SqliteDatabase(tmp_path / "t.sqlite3", "FULL", "test")
    stale = asyncio.new_event_loop()
    # a loop that stopped after a read was asked for and before it was sent
    db._reads = [(lambda c: 0, stale.create_future())]
    db._reads_loop = stale
    stale.close()

    async def read_one() -> int:
        return await asyncio.wait_for(
            db.read(lambda c: int(c.execute("SELECT 1").fetchone()[0])), 5
        )

    try:
        assert asyncio.run(read_one()) == 1
    finally:
        asyncio.run(db.close())
