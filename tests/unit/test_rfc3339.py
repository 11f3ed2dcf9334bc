"""Timestamps as JSON carries them (``bus.time.rfc3339``): exact to the millisecond."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

from bus.time import rfc3339

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def exact(ms: int) -> str:
    return (EPOCH + timedelta(milliseconds=ms)).isoformat(timespec="milliseconds")


def test_every_millisecond_is_written_as_it_is() -> None:
    rng = random.Random(3339)
    samples = [rng.randrange(-(10**12), 4 * 10**12) for _ in range(20_000)]
    edges = [0, -1, 1, 999, 1000, 1001, -999, -1000, -1001, 1_764_300_000_999]
    # far from 1970 a float of seconds is a millisecond off; integers are not
    far = [253_402_300_799_999, 253_402_300_799_001, -62_135_596_800_000]
    for ms in [*edges, *far, *samples]:
        assert rfc3339(ms) == exact(ms), ms


def test_milliseconds_of_one_second_share_its_text() -> None:
    start = 1_764_300_000_000
    assert [rfc3339(start + i)[-12:] for i in (0, 7, 999)] == [
        "00.000+00:00",
        "00.007+00:00",
        "00.999+00:00",
    ]
    assert rfc3339(start + 1000) == exact(start + 1000)
