"""Settings of the stores (sections of the settings tree). Unset URLs mean embedded."""

from __future__ import annotations

from typing import Annotated, Literal

import msgspec


class SqliteConfig(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    path: str = "var/perkbus.sqlite3"
    #: FULL fsyncs every commit (group commit amortises it); NORMAL survives process
    #: crashes but not power loss.
    synchronous: Literal["OFF", "NORMAL", "FULL", "EXTRA"] = "FULL"
    #: Where group commits are written: ``process`` (a child process of the actor host,
    #: outside its GIL: ADR 29) or ``thread`` (a thread of the host).
    writer: Literal["process", "thread"] = "process"


class MysqlConfig(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    #: ``mysql://user:password@host:port/database``; set it to use MySQL/MariaDB.
    url: str | None = None
    pool_size: int = 8
    connect_timeout_s: int = 5
    #: A query (a whole group commit included) that takes longer fails the connection.
    read_timeout_s: int = 30


class CatalogueConfig(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    #: ``mongodb://host:port/database``; set it to keep catalogue documents in MongoDB.
    url: str | None = None
    #: The embedded catalogue documents (SQLite JSON) when ``url`` is unset.
    path: str = "var/catalogue.sqlite3"


class RedisConfig(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    #: ``redis://host:port/db``; set it to share the cache, counters and rate limits of
    #: every process (unset: each process keeps its own, in memory).
    url: str | None = None
    #: Put before every key: installations (or a benchmark) sharing one Redis keep apart.
    prefix: str = "pb:"


class SearchConfig(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    #: ``http://host:9200`` of Elasticsearch (or an OpenSearch-API server); set it to
    #: search the catalogue and the audit log there.
    url: str | None = None
    #: The embedded search index (SQLite FTS5) when ``url`` is unset.
    path: str = "var/search.sqlite3"
    #: While events arrive faster than this (a redemption burst), the audit log's new
    #: entries wait to be indexed …
    burst_events_per_s: Annotated[int, msgspec.Meta(ge=0)] = 1000
    #: … for at most this long after the index last caught up (0: never wait); audit
    #: searches miss up to this much of a burst's entries meanwhile.
    burst_lag_s: Annotated[float, msgspec.Meta(ge=0)] = 30.0


class TenantDocsConfig(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    #: ``http://user:password@host:5984`` of CouchDB; set it to keep tenants'
    #: configuration documents (branding, locales, programme settings) there.
    url: str | None = None
    #: The embedded tenant documents (SQLite) when ``url`` is unset.
    path: str = "var/tenant-docs.sqlite3"


class WarehouseConfig(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    #: ``postgresql://user@host:5432/database`` (PostgreSQL or Redshift wire); set it to
    #: load the reporting star schema there.
    url: str | None = None
    #: The embedded warehouse (DuckDB) when ``url`` is unset.
    path: str = "var/warehouse.duckdb"
    #: A batch smaller than a full one waits this long before the next is read: fewer,
    #: larger batches (each costs a transaction) while events trickle in or burst; the
    #: reports lag by about this much.
    batch_interval_s: float = 1.0
    #: The most events applied in one transaction. Each batch costs about 25 ms whatever
    #: its size (staging, set-based merges, commit): measured on DuckDB, 34 µs of CPU
    #: per event in batches of 1,000 and 12 µs in batches of 5,000.
    batch_max: Annotated[int, msgspec.Meta(ge=1, le=20_000)] = 5000
    #: While events arrive faster than this (a redemption burst), the loader waits …
    burst_events_per_s: Annotated[int, msgspec.Meta(ge=0)] = 1000
    #: … for at most this long after it last caught up (0: never waits); reports lag by
    #: up to this much during a burst. On its own node, set it to 0.
    burst_lag_s: Annotated[float, msgspec.Meta(ge=0)] = 30.0
    #: The loader's CPU niceness: reporting yields the processor to redemptions on a
    #: shared machine and catches up when they quiet down (0: no change).
    nice: int = 10


class WebhooksConfig(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """The webhook relay (``perkbus webhooks``, ADR 37). Its deliveries are kept in the
    ledger's MySQL database when ``PERKBUS_MYSQL_URL`` is set, else in ``path``."""

    path: str = "var/webhooks.sqlite3"
    #: Waits before each retry of a failed attempt, in seconds (the Standard Webhooks
    #: schedule: 5 s, 5 min, 30 min, 2 h, 5 h, 10 h, 10 h — about 27 hours in all);
    #: each is stretched or shrunk by up to a tenth at random.
    retry_schedule_s: tuple[Annotated[float, msgspec.Meta(ge=0)], ...] = (
        5.0,
        300.0,
        1800.0,
        7200.0,
        18000.0,
        36000.0,
        36000.0,
    )
    #: One attempt's limit: connecting, sending and the start of the answer.
    timeout_s: Annotated[float, msgspec.Meta(gt=0, le=60)] = 10.0
    #: Attempts in flight at once, over every endpoint (at most 8 per endpoint).
    concurrency: Annotated[int, msgspec.Meta(ge=1, le=1000)] = 32
    #: Allow http URLs and private, loopback and link-local addresses (development, tests,
    #: receivers inside the installation's own network). Off: https to public addresses.
    private_targets: bool = False
    #: Delivered, failed and cancelled deliveries are deleted after this many days.
    retention_days: Annotated[int, msgspec.Meta(ge=1)] = 30
    #: While events arrive faster than this (a redemption burst), the relay waits …
    burst_events_per_s: Annotated[int, msgspec.Meta(ge=0)] = 1000
    #: … for at most this long after it last caught up (0: never waits); deliveries lag
    #: by up to this much during a burst. Following the stream costs every event (the
    #: NATS server's delivery too), whether its tenant has endpoints or not.
    burst_lag_s: Annotated[float, msgspec.Meta(ge=0)] = 30.0
    #: The relay's CPU niceness: deliveries yield the processor to redemptions.
    nice: int = 5
    #: Disable an endpoint when a delivery fails for the whole retry schedule and nothing
    #: was delivered to it meanwhile (its owner enables it again once it is fixed).
    disable_failing: bool = True
