"""Choose each store's adapter from settings: a server URL, or the embedded file."""

from __future__ import annotations

from storage.config import (
    CatalogueConfig,
    MysqlConfig,
    SearchConfig,
    SqliteConfig,
    TenantDocsConfig,
    WarehouseConfig,
    WebhooksConfig,
)
from storage.ports import CatalogueStore, Ledger
from storage.search_ports import SearchIndex
from storage.tenant_docs_ports import TenantDocuments
from storage.warehouse_ports import Warehouse
from storage.webhook_ports import WebhookStore


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

    return SqliteLedger(sqlite.path, synchronous=sqlite.synchronous, writer=sqlite.writer)


def open_catalogue(config: CatalogueConfig) -> CatalogueStore:
    if config.url:
        from storage.mongo_catalogue import MongoCatalogue

        return MongoCatalogue(config.url)
    from storage.sqlite_catalogue import SqliteCatalogue

    return SqliteCatalogue(config.path)


def open_search(config: SearchConfig) -> SearchIndex:
    """Elasticsearch (or an OpenSearch-API server) at ``config.url``, else SQLite FTS5."""
    if config.url:
        from storage.elastic_search import ElasticSearch

        return ElasticSearch(config.url)
    from storage.sqlite_search import SqliteSearch

    return SqliteSearch(config.path)


def open_tenant_docs(config: TenantDocsConfig) -> TenantDocuments:
    if config.url:
        from storage.couch_tenant_docs import CouchTenantDocuments

        return CouchTenantDocuments(config.url)
    from storage.sqlite_tenant_docs import SqliteTenantDocuments

    return SqliteTenantDocuments(config.path)


def open_warehouse(config: WarehouseConfig) -> Warehouse:
    """PostgreSQL/Redshift wire when ``url`` is set, else DuckDB at ``path`` (ADR 26)."""
    if config.url:
        from storage.postgres_warehouse import PostgresWarehouse

        return PostgresWarehouse(config.url)
    from storage.duckdb_warehouse import DuckdbWarehouse

    return DuckdbWarehouse(config.path)


def open_webhook_store(config: WebhooksConfig, mysql: MysqlConfig) -> WebhookStore:
    """The webhook relay's deliveries: in the ledger's MySQL database when there is one,
    else SQLite at ``config.path`` (ADR 37)."""
    if mysql.url:
        from storage.mysql_webhooks import MysqlWebhookStore

        return MysqlWebhookStore(mysql.url, connect_timeout_s=mysql.connect_timeout_s)
    from storage.sqlite_webhooks import SqliteWebhookStore

    return SqliteWebhookStore(config.path)
