"""Refusals the edge makes, recorded in the tenant's audit log (ADR 16).

The edge refuses some requests before they reach an actor: a permission the token lacks,
grants that do not cover the budget, a cookie session without its CSRF token. Those are
attempts an auditor wants to see as much as the refusals actors make, so the edge tells
the tenant's audit actor, in the background: the answer to the caller never waits for it,
and a failure to record is logged, not turned into an error for the caller.
"""

from __future__ import annotations

import asyncio
import logging

from bus.client import Bus
from bus.errors import BusError
from bus.messages import Principal
from bus.messages.audit import EDGE_PREFIX, KIND, RecordRefusal

log = logging.getLogger(__name__)


class RefusalRecorder:
    def __init__(self, timeout_s: float = 5.0) -> None:
        self._timeout_s = timeout_s
        self._pending: set[asyncio.Task[None]] = set()

    def record(self, bus: Bus, tenant: str, subject: str, request: str, reason: str) -> None:
        task = asyncio.create_task(self._send(bus, tenant, subject, request, reason))
        self._pending.add(task)
        task.add_done_callback(self._pending.discard)

    async def _send(self, bus: Bus, tenant: str, subject: str, request: str, reason: str) -> None:
        principal = Principal(f"{EDGE_PREFIX}{subject}", roles=("system",))
        body = RecordRefusal(request[:300], reason[:500])
        try:
            await bus.request(tenant, KIND, body, principal, self._timeout_s)
        except BusError as e:
            log.warning("could not record a refusal of %s in %s: %s", subject, tenant, e)

    async def drain(self) -> None:
        """Wait for the records in flight (when the edge stops)."""
        if self._pending:
            await asyncio.gather(*self._pending, return_exceptions=True)
