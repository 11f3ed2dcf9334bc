"""Settings of the stores (sections of the settings tree). Unset URLs mean embedded."""

from __future__ import annotations

import msgspec


class SqliteConfig(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    path: str = "var/perkbus.sqlite3"
    #: FULL fsyncs every commit (group commit amortises it); NORMAL survives process
    #: crashes but not power loss.
    synchronous: str = "FULL"


class MysqlConfig(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    #: ``mysql://user:password@host:port/database``; set it to use MySQL/MariaDB.
    url: str | None = None
    pool_size: int = 8
    connect_timeout_s: int = 5
    #: A query (a whole group commit included) that takes longer fails the connection.
    read_timeout_s: int = 30


class CatalogueConfig(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    #: Embedded catalogue documents (SQLite); a MongoDB URL setting comes with its adapter.
    path: str = "var/catalogue.sqlite3"


class RedisConfig(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    #: ``redis://host:port/db``; set it to share rate limits across edge processes.
    url: str | None = None
