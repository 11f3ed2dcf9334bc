"""Settings choose the adapters: the catalogue's (a MongoDB URL, or the embedded SQLite
file) and who writes the embedded ledger."""

from __future__ import annotations

from pathlib import Path

import pytest

from perkbus import settings
from storage.factory import open_catalogue, open_ledger
from storage.mongo_catalogue import MongoCatalogue
from storage.sqlite import SqliteLedger
from storage.sqlite_catalogue import SqliteCatalogue


async def test_a_catalogue_url_chooses_mongodb() -> None:
    chosen = settings.load(env={"PERKBUS_CATALOGUE_URL": "mongodb://127.0.0.1:1/shop"})
    store = open_catalogue(chosen.catalogue)
    try:
        assert isinstance(store, MongoCatalogue)
        assert store.name == "catalogue:mongodb"
        assert store.db.name == "shop"
    finally:
        await store.close()  # never connected: no server is needed


async def test_a_url_without_a_database_uses_perkbus() -> None:
    chosen = settings.load(env={"PERKBUS_CATALOGUE_URL": "mongodb://127.0.0.1:1"})
    store = open_catalogue(chosen.catalogue)
    try:
        assert isinstance(store, MongoCatalogue)
        assert store.db.name == "perkbus"
    finally:
        await store.close()


async def test_no_url_keeps_the_embedded_catalogue(tmp_path: Path) -> None:
    path = tmp_path / "catalogue.sqlite3"
    chosen = settings.load(env={"PERKBUS_CATALOGUE_PATH": str(path)})
    store = open_catalogue(chosen.catalogue)
    try:
        assert isinstance(store, SqliteCatalogue)
        await store.migrate()
        assert path.exists()
    finally:
        await store.close()


async def test_the_embedded_ledger_is_written_by_a_process_unless_told_a_thread(
    tmp_path: Path,
) -> None:
    env = {"PERKBUS_SQLITE_PATH": str(tmp_path / "a.sqlite3")}
    default = settings.load(env=env)
    by_process = open_ledger(default.mysql, default.sqlite)
    on_thread = settings.load(env={**env, "PERKBUS_SQLITE_WRITER": "thread"})
    by_thread = open_ledger(on_thread.mysql, on_thread.sqlite)
    try:
        assert isinstance(by_process, SqliteLedger)
        assert isinstance(by_thread, SqliteLedger)
        assert by_process._writer is not None
        assert by_thread._writer is None
    finally:
        await by_process.close()
        await by_thread.close()
    with pytest.raises(settings.SettingsError, match="writer"):
        settings.load(env={"PERKBUS_SQLITE_WRITER": "fork"})
