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
