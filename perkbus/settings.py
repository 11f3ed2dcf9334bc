"""Settings: one frozen msgspec Struct tree, loaded once and passed down.

Sources, later ones winning: the defaults below, an optional TOML file (``--config`` or
``PERKBUS_CONFIG``), then ``PERKBUS_<SECTION>_<FIELD>`` environment variables, e.g.
``PERKBUS_NATS_URL``, ``PERKBUS_MYSQL_URL``, ``PERKBUS_EDGE_PORT``,
``PERKBUS_ACTORS_PARTITIONS=0,1,2``. A store whose URL is unset runs embedded.
"""

from __future__ import annotations

import base64
import binascii
import os
import re
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
    if problem := _inconsistent(settings):
        raise SettingsError(f"invalid settings: {problem}")
    count = settings.nats.partitions
    if outside := [p for p in settings.actors.partitions if not 0 <= p < count]:
        raise SettingsError(
            f"invalid settings: actors.partitions {outside} outside 0..{count - 1}"
            f" (nats.partitions is {count})"
        )
    return _under_var_dir(settings)


#: An http(s) origin (``public_url``), or an http(s) URL (``app_url``).
_ORIGIN = re.compile(r"https?://[^/\s?#@]+/?")
_URL = re.compile(r"https?://[^/\s?#@]+(/[^\s?#]*)?")
_CURRENCY = re.compile(r"[A-Z]{3}")


def _inconsistent(settings: Settings) -> str | None:
    """What the settings' types cannot say: values that only fail once used, and pairs
    that make sense only together."""
    edge, mail = settings.edge, settings.mail
    if edge.public_url and not _ORIGIN.fullmatch(edge.public_url):
        return f"edge.public_url {edge.public_url!r} is not an origin (https://host[:port])"
    if mail.app_url and not _URL.fullmatch(mail.app_url):
        return f"mail.app_url {mail.app_url!r} is not an http(s) URL"
    if not _CURRENCY.fullmatch(settings.actors.points_currency):
        return f"actors.points_currency {settings.actors.points_currency!r} is not an ISO 4217 code"
    for section, config in (("edge", edge), ("nats", settings.nats)):
        if bool(config.tls_cert_file) != bool(config.tls_key_file):
            return (
                f"{section}.tls_cert_file and {section}.tls_key_file are set together or not at all"
            )
    if settings.mysql.url:
        from storage.mysql_pool import connect_args

        try:
            connect_args(settings.mysql.url)
        except ValueError as e:
            return f"mysql.url: {e}"
    from edge.client_address import trusted_networks

    try:
        trusted_networks(edge.trusted_proxies)
    except ValueError as e:
        return str(e)
    if key := settings.security.master_key:
        try:
            raw = base64.b64decode(key, validate=True)
        except binascii.Error:
            raw = b""
        if len(raw) != 32:
            return "security.master_key must be 32 bytes, base64-encoded (openssl rand -base64 32)"
    return None


#: Paths whose defaults live in ``var/``; any of them that starts with ``var/`` (the default,
#: or one set so) moves with ``var_dir``; an absolute path stays where it is.
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
