"""The relay's view of each tenant's webhook endpoints, asked of its webhooks actor.

Kept for ``ttl_s`` and forgotten at once when the actor says a tenant's endpoints
changed (``pb.whkc.<tenant>``, core NATS): a hint that may be lost, so the time limit
stays. An answer that was on its way while such a hint arrived may be older than the
change: it is not kept, and the endpoints are asked for again. So an endpoint gets the
events that happen once the relay has heard of it — within milliseconds of the change,
or ``ttl_s`` if the hint was lost. A tenant whose actor cannot be asked keeps what was
known of it, if anything; else the error goes up, and whoever asked tries again later.
"""

from __future__ import annotations

import logging
import time
from collections import Counter
from collections.abc import Awaitable, Callable

from nats.aio.msg import Msg
from nats.aio.subscription import Subscription

from bus import subjects
from bus.client import Bus
from bus.errors import BusError
from bus.messages import Err, Ok
from bus.messages.common import Principal
from bus.messages.webhooks import (
    KIND,
    DeliveryTarget,
    DeliveryTargets,
    DisableFailing,
    GetDeliveryTargets,
)

log = logging.getLogger(__name__)

RELAY = Principal("perkbus:webhook-relay", roles=("system",))


class TargetsUnavailable(Exception):
    """A tenant's endpoints could not be read."""


class TargetDirectory:
    def __init__(
        self,
        bus: Bus,
        ttl_s: float = 5.0,
        timeout_s: float = 5.0,
        on_stopped: Callable[[str, list[str]], Awaitable[None]] | None = None,
    ) -> None:
        self._bus = bus
        #: Told the tenant and its endpoints deleted or disabled since last read (when a
        #: change is announced): the relay cancels their pending deliveries at once.
        self._on_stopped = on_stopped
        self._ttl_s = ttl_s
        self._timeout_s = timeout_s
        #: tenant → (monotonic time read, its endpoints)
        self._known: dict[str, tuple[float, tuple[DeliveryTarget, ...]]] = {}
        #: tenant → how many changes were announced (an answer asked for before the last
        #: one may not show it)
        self._changes: Counter[str] = Counter()
        self._sub: Subscription | None = None
        #: Reads of the actors (for tests and logs).
        self.reads = 0

    async def start(self) -> None:
        self._sub = await self._bus.nc.subscribe(
            subjects.all_webhook_targets_changed(), cb=self._on_changed
        )

    async def stop(self) -> None:
        if self._sub is not None:
            await self._sub.unsubscribe()
            self._sub = None

    async def _on_changed(self, msg: Msg) -> None:
        tenant = msg.subject.rpartition(".")[2]
        self._changes[tenant] += 1
        before = self._known.pop(tenant, None)
        if before is None or self._on_stopped is None:
            return
        try:
            now = {t.endpoint_id for t in await self.of(tenant) if t.enabled}
            stopped = [t.endpoint_id for t in before[1] if t.enabled and t.endpoint_id not in now]
            if stopped:
                await self._on_stopped(tenant, stopped)
        except Exception as e:  # each delivery finds its endpoint gone when it is due
            log.warning("webhook relay: %s's endpoints changed: %s", tenant, e)

    def forget(self, tenant: str) -> None:
        self._known.pop(tenant, None)

    async def of(self, tenant: str, fresh: bool = False) -> tuple[DeliveryTarget, ...]:
        known = self._known.get(tenant)
        if known is not None and not fresh and time.monotonic() - known[0] < self._ttl_s:
            return known[1]
        for _ in range(3):
            changes = self._changes[tenant]
            read_at = time.monotonic()
            try:
                reply = await self._bus.request(
                    tenant, KIND, GetDeliveryTargets(), RELAY, self._timeout_s
                )
            except BusError as e:
                if known is not None:
                    return known[1]
                raise TargetsUnavailable(f"{tenant}: {e}") from e
            if isinstance(reply, Ok) and isinstance(reply.value, DeliveryTargets):
                targets = reply.value.targets
            elif isinstance(reply, Err) and not reply.retryable:
                # no store, or refused: no endpoints, until asked again
                log.warning("webhook relay: %s's endpoints: %s", tenant, reply.message)
                targets = ()
            elif known is not None:
                return known[1]
            else:
                raise TargetsUnavailable(f"{tenant}: {reply}")
            self.reads += 1
            if self._changes[tenant] == changes:
                self._known[tenant] = (read_at, targets)
                return targets
            # a change was announced while the answer was on its way: ask again
        return targets

    async def disable_failing(self, tenant: str, endpoint_id: str, since_ms: int) -> None:
        """Ask the tenant's webhooks actor to disable an endpoint that has delivered
        nothing since ``since_ms``; its change is announced, and its pending deliveries
        cancelled, as any change's."""
        body = DisableFailing(endpoint_id, since_ms)
        reply = await self._bus.request(tenant, KIND, body, RELAY, self._timeout_s)
        if isinstance(reply, Err):
            log.info("webhook relay: %s of %s: %s", endpoint_id, tenant, reply.message)
            return
        self.forget(tenant)

    async def find(self, tenant: str, endpoint_id: str) -> DeliveryTarget | None:
        targets = await self.of(tenant)
        return next((t for t in targets if t.endpoint_id == endpoint_id), None)
