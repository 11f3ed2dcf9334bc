"""Choose the adapters from settings: a server's URL, or the embedded default."""

from __future__ import annotations

from storage.config import CatalogueConfig, MysqlConfig, SearchConfig, SqliteConfig
from storage.ports import CatalogueStore, Ledger
from storage.search_ports import SearchIndex


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
    from storage.sqlite_catalogue import SqliteCatalogue

    return SqliteCatalogue(config.path)


def open_search(config: SearchConfig) -> SearchIndex:
    """Elasticsearch (or an OpenSearch-API server) at ``config.url``, else SQLite FTS5."""
    if config.url:
        from storage.elastic_search import ElasticSearch

        return ElasticSearch(config.url)
    from storage.sqlite_search import SqliteSearch

    return SqliteSearch(config.path)
