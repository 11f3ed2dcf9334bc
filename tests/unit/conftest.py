"""Fixtures shared by the unit tests."""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest

from storage.migrations import MIGRATIONS
from storage.sqlite_db import SqliteDatabase


@pytest.fixture
def con(tmp_path: Path) -> Iterator[sqlite3.Connection]:
    """A plain connection (autocommit) to a new SQLite ledger with every migration."""
    db = SqliteDatabase(tmp_path / "ledger.sqlite3", "FULL", "test")
    asyncio.run(db.migrate(MIGRATIONS))
    asyncio.run(db.close())
    connection = sqlite3.connect(tmp_path / "ledger.sqlite3", isolation_level=None)
    yield connection
    connection.close()
