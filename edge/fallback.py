"""When to use a shared store (Redis) and when to fall back on this process's own.

The edge's cache, counters and rate-limit buckets are shared by every edge process when
Redis is configured, and kept in the process otherwise. A Redis outage must make the
edge slower or looser, never wrong and never down: an operation that fails on Redis is
answered by the in-process store instead, and Redis is left alone for ``retry_s`` (so an
outage does not cost a failed round trip per request) before one operation tries it
again. The first success after that ends the outage.
"""

from __future__ import annotations

import logging
import time

log = logging.getLogger(__name__)


class Fallback:
    """The health of one shared store, as the operations on it find it."""

    def __init__(self, what: str, retry_s: float = 1.0) -> None:
        self.what = what
        self.retry_s = retry_s
        #: Why the shared store is not used ("" while it is).
        self.reason = ""
        self._retry_at = 0.0

    @property
    def degraded(self) -> bool:
        return bool(self.reason)

    def use_shared(self) -> bool:
        """Whether this operation should go to the shared store."""
        return not self.reason or time.monotonic() >= self._retry_at

    def failed(self, error: BaseException) -> None:
        if not self.reason:
            log.warning("%s unavailable (%r); using this process's own", self.what, error)
        self.reason = f"{type(error).__name__}: {error}" if str(error) else type(error).__name__
        self._retry_at = time.monotonic() + self.retry_s

    def succeeded(self) -> None:
        if self.reason:
            log.info("%s is back", self.what)
            self.reason = ""
