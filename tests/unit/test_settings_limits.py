"""Settings a typo or an out-of-range value would silently change are refused at start,
with the name of the setting."""

from __future__ import annotations

import re

import pytest

from perkbus import settings
from perkbus.settings import SettingsError


@pytest.mark.parametrize(
    ("name", "value", "where"),
    [
        # SQLite took an unknown value as NORMAL: no fsync per commit
        ("PERKBUS_SQLITE_SYNCHRONOUS", "FUL", "$.sqlite.synchronous"),
        # bound as 70000 - 65536, while the banner said 70000
        ("PERKBUS_EDGE_PORT", "70000", "$.edge.port"),
        ("PERKBUS_NATS_PORT", "-1", "$.nats.port"),
        # a traceback of a division by zero when the first subject was mapped
        ("PERKBUS_NATS_PARTITIONS", "0", "$.nats.partitions"),
    ],
)
def test_a_value_out_of_its_range_is_refused(name: str, value: str, where: str) -> None:
    with pytest.raises(SettingsError, match=re.escape(where)):
        settings.load(env={name: value})


def test_the_values_in_range_are_taken() -> None:
    loaded = settings.load(
        env={"PERKBUS_SQLITE_SYNCHRONOUS": "NORMAL", "PERKBUS_EDGE_PORT": "65535"}
    )
    assert (loaded.sqlite.synchronous, loaded.edge.port) == ("NORMAL", 65535)


def test_partitions_outside_the_mapping_are_refused() -> None:
    with pytest.raises(SettingsError, match=re.escape("actors.partitions [99] outside 0..63")):
        settings.load(env={"PERKBUS_ACTORS_PARTITIONS": "0,99"})
    loaded = settings.load(env={"PERKBUS_ACTORS_PARTITIONS": "0,63"})
    assert loaded.actors.partitions == (0, 63)


@pytest.mark.parametrize(
    ("env", "said"),
    [
        # each of these started, and failed only once used (or never said so)
        ({"PERKBUS_ACTORS_POINTS_CURRENCY": "euro"}, "actors.points_currency"),
        ({"PERKBUS_EDGE_PUBLIC_URL": "rewards.example.com"}, "edge.public_url"),
        ({"PERKBUS_MAIL_APP_URL": "ftp://rewards.example.com"}, "mail.app_url"),
        ({"PERKBUS_EDGE_TLS_CERT_FILE": "/etc/ssl/edge.pem"}, "edge.tls_key_file"),  # plain HTTP
        ({"PERKBUS_NATS_TLS_KEY_FILE": "/etc/ssl/nats.key"}, "nats.tls_cert_file"),
        ({"PERKBUS_SECURITY_MASTER_KEY": "short"}, "security.master_key"),
        ({"PERKBUS_SECURITY_MASTER_KEY": "c2hvcnQ="}, "security.master_key"),  # 5 bytes
        ({"PERKBUS_EDGE_TRUSTED_PROXIES": "10.0.0.0/8, notanip"}, "notanip"),
        ({"PERKBUS_MYSQL_URL": "postgres://db/perkbus"}, "mysql.url"),
        ({"PERKBUS_MYSQL_URL": "mysql://db:3306"}, "database"),
    ],
)
def test_values_that_fail_only_once_used_are_refused_at_start(
    env: dict[str, str], said: str
) -> None:
    with pytest.raises(SettingsError, match=re.escape(said)):
        settings.load(env=env)


def test_consistent_values_are_taken() -> None:
    loaded = settings.load(
        env={
            "PERKBUS_ACTORS_POINTS_CURRENCY": "USD",
            "PERKBUS_EDGE_PUBLIC_URL": "https://rewards.example.com:8443",
            "PERKBUS_MAIL_APP_URL": "https://rewards.example.com/app",
            "PERKBUS_EDGE_TLS_CERT_FILE": "/etc/ssl/edge.pem",
            "PERKBUS_EDGE_TLS_KEY_FILE": "/etc/ssl/edge.key",
            "PERKBUS_SECURITY_MASTER_KEY": "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=",
            "PERKBUS_EDGE_TRUSTED_PROXIES": "10.0.0.0/8, 2001:db8::/32",
            "PERKBUS_MYSQL_URL": "mariadb://u:p@db:3306/perkbus",
        }
    )
    assert loaded.edge.public_url == "https://rewards.example.com:8443"
    assert loaded.security.master_key.endswith("=")
