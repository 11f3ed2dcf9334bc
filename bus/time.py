"""Wall-clock time in milliseconds, the unit of every deadline and timestamp on the bus,
and its RFC 3339 form, as JSON (REST, CloudEvents) carries it."""

from __future__ import annotations

import functools
import time
from datetime import UTC, datetime


def now_ms() -> int:
    return time.time_ns() // 1_000_000


@functools.lru_cache(maxsize=256)
def rfc3339(ms: int) -> str:
    """``2026-11-26T15:04:05.123+00:00``; kept for the last times seen (the orders and
    events of one actor batch share their millisecond)."""
    return datetime.fromtimestamp(ms / 1000, UTC).isoformat(timespec="milliseconds")
