"""Wall-clock time in milliseconds, the unit of every deadline and timestamp on the bus,
and its RFC 3339 form, as JSON (REST, CloudEvents) carries it."""

from __future__ import annotations

import functools
import time
from datetime import UTC, datetime


def now_ms() -> int:
    return time.time_ns() // 1_000_000


def rfc3339(ms: int) -> str:
    """``2026-11-26T15:04:05.123+00:00``: the second's text is kept (a burst's orders and
    events span few seconds but many milliseconds), the milliseconds are written in, in
    integers (``ms / 1000`` as a float is a millisecond off far from 1970)."""
    second, milli = divmod(ms, 1000)
    return f"{_second(second)}.{milli:03d}+00:00"


@functools.lru_cache(maxsize=64)
def _second(second: int) -> str:
    """``2026-11-26T15:04:05``."""
    return datetime.fromtimestamp(second, UTC).isoformat(timespec="seconds")[:-6]
