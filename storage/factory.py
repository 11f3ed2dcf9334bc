"""Choose the store adapters from settings: a server's URL, or the embedded SQLite file."""

from __future__ import annotations

from storage.config import CatalogueConfig, MysqlConfig, SqliteConfig
from storage.ports import CatalogueStore, Ledger


def open_ledger(mysql: MysqlConfig, sqlite: SqliteConfig) -> Ledger:
    if mysql.url:
        from storage.mysql import MysqlLedger

        return MysqlLedger(
            mysql.url,
            pool_size=mysql.pool_size,
            connect_timeout_s=mysql.connect_timeout_s,
            read_timeout_s=mysql.read_timeout_s,
        )
    from storage.sqlite import SqliteLedger

    return SqliteLedger(sqlite.path, synchronous=sqlite.synchronous)


def open_catalogue(config: CatalogueConfig) -> CatalogueStore:
    if config.url:
        from storage.mongo_catalogue import MongoCatalogue

        return MongoCatalogue(config.url)
    from storage.sqlite_catalogue import SqliteCatalogue

    return SqliteCatalogue(config.path)
