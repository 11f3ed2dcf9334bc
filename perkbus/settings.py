"""Settings: one frozen msgspec Struct tree, loaded once and passed down.

Sources, later ones winning: the defaults below, an optional TOML file (``--config`` or
``PERKBUS_CONFIG``), then ``PERKBUS_<SECTION>_<FIELD>`` environment variables, e.g.
``PERKBUS_NATS_URL``, ``PERKBUS_MYSQL_URL``, ``PERKBUS_EDGE_PORT``,
``PERKBUS_ACTORS_PARTITIONS=0,1,2``. A store whose URL is unset runs embedded.
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import msgspec

from actors.config import ActorsConfig, MailConfig
from bus.config import NatsConfig
from edge.config import EdgeConfig
from storage.config import (
    CatalogueConfig,
    MysqlConfig,
    RedisConfig,
    SearchConfig,
    SqliteConfig,
    TenantDocsConfig,
    WarehouseConfig,
    WebhooksConfig,
)


class AuthConfig(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    #: Ed25519 private key (PEM) that signs access tokens; created on first start.
    signing_key_file: str = "var/keys/jwt-signing.pem"
    token_ttl_s: int = 30 * 24 * 3600


class SecurityConfig(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    #: The master key (32 bytes, base64) that wraps tenants' data keys. Prefer the file.
    master_key: str = ""
    #: Where the master key is kept when ``master_key`` is empty; created on first start.
    master_key_file: str = "var/keys/master.key"


class Settings(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    var_dir: str = "var"
    nats: NatsConfig = NatsConfig()
    edge: EdgeConfig = EdgeConfig()
    actors: ActorsConfig = ActorsConfig()
    sqlite: SqliteConfig = SqliteConfig()
    mysql: MysqlConfig = MysqlConfig()
    catalogue: CatalogueConfig = CatalogueConfig()
    redis: RedisConfig = RedisConfig()
    search: SearchConfig = SearchConfig()
    tenantdocs: TenantDocsConfig = TenantDocsConfig()
    warehouse: WarehouseConfig = WarehouseConfig()
    webhooks: WebhooksConfig = WebhooksConfig()
    mail: MailConfig = MailConfig()
    auth: AuthConfig = AuthConfig()
    security: SecurityConfig = SecurityConfig()


class SettingsError(ValueError):
    pass


_SECTIONS: dict[str, type[msgspec.Struct]] = {
    f.name: f.type for f in msgspec.structs.fields(Settings) if isinstance(f.type, type)
}
#: PERKBUS_* variables that are not settings (test and CI switches).
_NOT_SETTINGS = frozenset({"config", "require_real"})


def load(path: str | Path | None = None, env: Mapping[str, str] | None = None) -> Settings:
    env = os.environ if env is None else env
    path = path or env.get("PERKBUS_CONFIG")
    tree: dict[str, Any] = {}
    if path:
        try:
            tree = tomllib.loads(Path(path).read_text())
        except (OSError, tomllib.TOMLDecodeError) as e:
            raise SettingsError(f"cannot read settings file {path}: {e}") from e
    for name, raw in env.items():
        if name.startswith("PERKBUS_"):
            _apply_env(tree, name, name.removeprefix("PERKBUS_").lower(), raw)
    try:
        settings = msgspec.convert(tree, Settings, strict=False)
    except msgspec.ValidationError as e:
        raise SettingsError(f"invalid settings: {e}") from e
    count = settings.nats.partitions
    if outside := [p for p in settings.actors.partitions if not 0 <= p < count]:
        raise SettingsError(
            f"invalid settings: actors.partitions {outside} outside 0..{count - 1}"
            f" (nats.partitions is {count})"
        )
    return _under_var_dir(settings)


#: Paths whose defaults live in ``var/``; they move with ``var_dir`` unless set explicitly.
_VAR_PATHS = (
    ("nats", "data_dir"),
    ("nats", "auth_dir"),
    ("sqlite", "path"),
    ("catalogue", "path"),
    ("search", "path"),
    ("tenantdocs", "path"),
    ("warehouse", "path"),
    ("webhooks", "path"),
    ("mail", "maildir"),
    ("auth", "signing_key_file"),
    ("edge", "jwt_public_key_file"),
    ("security", "master_key_file"),
)


def _under_var_dir(settings: Settings) -> Settings:
    if not settings.edge.sso_state_key_file:  # shared by the edges of one var_dir
        key_file = str(Path(settings.var_dir) / "keys" / "sso-state.key")
        edge = msgspec.structs.replace(settings.edge, sso_state_key_file=key_file)
        settings = msgspec.structs.replace(settings, edge=edge)
    if settings.var_dir == "var":
        return settings
    changes: dict[str, msgspec.Struct] = {}
    for section_name, field in _VAR_PATHS:
        section = changes.get(section_name, getattr(settings, section_name))
        value: str = getattr(section, field)
        if value.startswith("var/"):
            moved = str(Path(settings.var_dir) / value.removeprefix("var/"))
            changes[section_name] = msgspec.structs.replace(section, **{field: moved})
    return msgspec.structs.replace(settings, **changes)


def _apply_env(tree: dict[str, Any], name: str, key: str, raw: str) -> None:
    if key in _NOT_SETTINGS or key.startswith("test_"):
        return
    if key == "var_dir":
        tree["var_dir"] = raw
        return
    section, _, field = key.partition("_")
    section_type = _SECTIONS.get(section)
    if section_type is None or not field:
        raise SettingsError(f"{name} is not a setting")
    fields = {f.name: f for f in msgspec.structs.fields(section_type)}
    if field not in fields:
        raise SettingsError(f"{name} is not a setting (known: {', '.join(sorted(fields))})")
    value: Any = raw
    if isinstance(fields[field].default, tuple):
        value = [part.strip() for part in raw.split(",") if part.strip()]
    elif raw == "" and fields[field].default is None:
        value = None
    tree.setdefault(section, {})[field] = value


def edge_url(settings: Settings) -> str:
    """The edge's own address (``http(s)://host:port``)."""
    edge = settings.edge
    scheme = "https" if edge.tls_cert_file and edge.tls_key_file else "http"
    return f"{scheme}://{edge.host}:{edge.port}"


def app_url(settings: Settings) -> str:
    """Where people open the app from an email: ``mail.app_url``, else the edge's
    ``public_url``, else its own address."""
    return (settings.mail.app_url or settings.edge.public_url or edge_url(settings)).rstrip("/")
