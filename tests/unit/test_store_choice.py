"""Settings choose the catalogue's adapter: a MongoDB URL, or the embedded SQLite file."""

from __future__ import annotations

from pathlib import Path

from perkbus import settings
from storage.factory import open_catalogue
from storage.mongo_catalogue import MongoCatalogue
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
