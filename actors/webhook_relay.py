"""The webhook relay: ``PB_EVENTS`` → each tenant's endpoints, signed, retried (ADR 37).

Two loops share one store (:class:`~storage.webhook_ports.WebhookStore`):

* the **fan-out** follows the stream (:class:`StreamFollower`: from the store's
  sequence on, waiting out bursts) and, for each event, adds a delivery for every
  enabled endpoint of its tenant that wants it and existed when the event happened, in
  the transaction that moves the store's sequence past the batch: no event is fanned
  out twice, or skipped, whenever the relay stops;
* the **dispatcher** claims the deliveries that are due (each claim a lease: a relay
  that dies mid-attempt tries again once it passes), sends each (at most
  ``concurrency`` at once, 8 per endpoint), and records the attempt: delivered on a
  2xx, else due again after the next wait of the retry schedule, or failed when none is
  left. A delivery whose endpoint was deleted or disabled is cancelled, with the rest
  of that endpoint's pending ones. When a delivery fails after the whole schedule and
  the endpoint has delivered nothing since that delivery was made, the relay asks the
  tenant's webhooks actor to disable the endpoint (``disabled_reason: failing``): a
  receiver gone for good stops costing attempts, and its owner sees why it stopped.

Deliveries are at least once (a relay killed after the endpoint answered, before the
attempt was recorded, sends it again) and in no set order; receivers drop repeats by
``webhook-id``, which is the event's id.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import random
import socket
from collections import Counter, deque
from collections.abc import Sequence
from datetime import datetime

import msgspec
from nats.aio.msg import Msg
from nats.aio.subscription import Subscription
from nats.js import JetStreamContext

from actors.runtime.background import Background
from actors.runtime.stream_follower import StreamFollower
from actors.webhook_deliveries import TEST_EVENT, DeliveriesService
from actors.webhook_sender import WebhookSender
from actors.webhook_targets import TargetDirectory
from bus.client import Bus
from bus.messages.webhooks import DeliveryTarget
from bus.metrics import Family, counter
from bus.time import now_ms
from bus.webhook_filters import wants
from storage.webhook_ports import Attempt, Delivery, NewDelivery, WebhookStore

log = logging.getLogger(__name__)

PER_ENDPOINT = 8
#: The most deliveries of one endpoint in hand at once: running, or waiting for a slot.
SHARE = PER_ENDPOINT


class _Head(msgspec.Struct):
    """The parts of a CloudEvent the fan-out reads."""

    id: str = ""
    type: str = ""
    tenant: str = ""
    time: str = ""


_head = msgspec.json.Decoder(_Head)


def _ms(rfc3339: str) -> int:
    try:
        return int(datetime.fromisoformat(rfc3339).timestamp() * 1000)
    except ValueError:
        return 0


class WebhookFanout(StreamFollower):
    name = "webhook-fanout"

    def __init__(
        self,
        js: JetStreamContext,
        store: WebhookStore,
        targets: TargetDirectory,
        retries: int,
        on_added: asyncio.Event,
        batch_max: int = 500,
        fetch_wait_s: float = 0.2,
        burst_events_per_s: int = 0,
        burst_lag_s: float = 0.0,
        probe_s: float = 0.5,
    ) -> None:
        super().__init__(
            js, batch_max, fetch_wait_s, 0.0, 5.0, burst_events_per_s, burst_lag_s, probe_s
        )
        self._store = store
        self._targets = targets
        self._retries = retries
        self._on_added = on_added
        self._migrated = False
        #: Deliveries made (for tests and logs).
        self.added = 0

    async def _start_after(self) -> int:
        if not self._migrated:
            await self._store.migrate()
            self._migrated = True
        return await self._store.last_sequence()

    async def _handle(self, messages: list[Msg]) -> None:
        now = now_ms()
        deliveries: list[NewDelivery] = []
        for m in messages:
            try:
                head = _head.decode(m.data)
            except msgspec.DecodeError:
                log.error("webhook relay: a message of PB_EVENTS is not a CloudEvent")
                continue
            if not head.tenant or not head.id:
                continue
            happened = _ms(head.time)
            for target in await self._targets.of(head.tenant):
                if (
                    target.enabled
                    and happened >= target.created_ms
                    and wants(target.event_types, target.private_aggregates, head.type)
                ):
                    deliveries.append(
                        NewDelivery(
                            head.tenant,
                            target.endpoint_id,
                            head.id,
                            head.type,
                            m.data,
                            now,
                            now,
                            self._retries,
                        )
                    )
        added = await self._store.enqueue(deliveries, messages[-1].metadata.sequence.stream)
        if added:
            self.added += added
            self._on_added.set()


class WebhookDispatcher(Background):
    name = "webhook-dispatcher"

    def __init__(
        self,
        store: WebhookStore,
        targets: TargetDirectory,
        sender: WebhookSender,
        schedule_s: Sequence[float],
        wake: asyncio.Event,
        concurrency: int = 32,
        poll_s: float = 1.0,
        lease_s: float = 300.0,
        disable_failing: bool = True,
    ) -> None:
        super().__init__()
        self._disable_failing = disable_failing
        self._store = store
        self._targets = targets
        self._sender = sender
        self._schedule = tuple(schedule_s)
        #: Set when there is something new to send (the fan-out, a redelivery).
        self._wake = wake
        self._concurrency = concurrency
        self._poll_s = poll_s
        self._lease_ms = int(lease_s * 1000)
        #: Deliveries claimed and not yet attempted to the end (running or queued).
        self._held: set[int] = set()
        #: Claimed deliveries waiting for a slot, by endpoint.
        self._queued: dict[str, deque[Delivery]] = {}
        #: Attempts running, by endpoint.
        self._per_endpoint: Counter[str] = Counter()
        self._tasks: set[asyncio.Task[None]] = set()
        self._random = random.Random()
        #: Attempts made, and how many succeeded (for tests and logs).
        self.attempts = 0
        self.delivered = 0

    async def _run(self) -> None:
        backoff = 0.05
        while not self._stopping:
            self._wake.clear()  # before claiming: what arrives meanwhile wakes the next wait
            try:
                claimed = await self._claim()
                backoff = 0.05
            except Exception as e:
                log.warning("webhook dispatcher: %s; again in %.2f s", e, backoff)
                await self._sleep(backoff)
                backoff = min(backoff * 2, 5.0)
                continue
            if not claimed:
                await self._sleep(self._poll_s)
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)

    async def _sleep(self, seconds: float) -> None:
        """Until something new is to be sent, a slot frees, ``seconds`` pass, or stop."""
        waits = [
            asyncio.ensure_future(self._wake.wait()),
            asyncio.ensure_future(self._wakeup.wait()),
        ]
        try:
            await asyncio.wait(waits, timeout=seconds, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for w in waits:
                w.cancel()

    async def _claim(self) -> int:
        """Claim what is due, as far as there is room (twice the slots: the rest wait
        here, under their lease, for their endpoint's turn), a share at a time and none
        for an endpoint that has its share in hand already — so that one slow endpoint
        with a backlog holds at most its share, not every slot; how many were new."""
        claimed = 0
        while (room := 2 * self._concurrency - len(self._held)) > 0:
            full = [e for e in {*self._per_endpoint, *self._queued} if self._in_hand(e) >= SHARE]
            limit = min(room, SHARE)
            batch = await self._store.claim(now_ms(), limit, self._lease_ms, full)
            new = 0
            for delivery in batch:
                if delivery.id in self._held:
                    continue  # its lease passed while it waited here: it is ours still
                self._held.add(delivery.id)
                self._queued.setdefault(delivery.endpoint_id, deque()).append(delivery)
                new += 1
            claimed += new
            self._start_ready()
            if len(batch) < limit or new == 0:
                break
        return claimed

    def _in_hand(self, endpoint_id: str) -> int:
        return self._per_endpoint[endpoint_id] + len(self._queued.get(endpoint_id, ()))

    def _start_ready(self) -> None:
        """Start attempts while there are free slots, each endpoint up to its share."""
        for endpoint_id in list(self._queued):
            queue = self._queued[endpoint_id]
            while (
                queue
                and len(self._tasks) < self._concurrency
                and self._per_endpoint[endpoint_id] < PER_ENDPOINT
            ):
                delivery = queue.popleft()
                self._per_endpoint[endpoint_id] += 1
                task = asyncio.create_task(self._attempt(delivery))
                self._tasks.add(task)
                task.add_done_callback(self._done)
            if not queue:
                del self._queued[endpoint_id]

    def _done(self, task: asyncio.Task[None]) -> None:
        self._tasks.discard(task)
        if not self._stopping:
            self._start_ready()
        self._wake.set()  # room to claim more

    async def _attempt(self, delivery: Delivery) -> None:
        try:
            target = await self._targets.find(delivery.tenant, delivery.endpoint_id)
            if target is None or not target.enabled:
                cancelled = await self._store.cancel_endpoint(delivery.tenant, delivery.endpoint_id)
                log.info(
                    "webhook relay: endpoint %s of %s is %s: %d deliveries cancelled",
                    delivery.endpoint_id,
                    delivery.tenant,
                    "gone" if target is None else "disabled",
                    cancelled,
                )
                return
            if delivery.event_type != TEST_EVENT and not wants(
                target.event_types, target.private_aggregates, delivery.event_type
            ):  # its types changed since: it is not sent (not even when sent again)
                why = f"not sent: the endpoint no longer takes {delivery.event_type} events"
                skipped = Attempt(delivery.id, delivery.attempts + 1, now_ms(), 0, 0, why, "")
                await self._store.record(skipped, "cancelled", 0, 0)
                return
            await self._send(delivery, target)
        except Exception as e:  # the store or the bus: the lease brings it back
            log.warning("webhook relay: delivery %d: %s", delivery.id, e)
        finally:
            self._held.discard(delivery.id)
            self._per_endpoint[delivery.endpoint_id] -= 1
            if self._per_endpoint[delivery.endpoint_id] <= 0:
                del self._per_endpoint[delivery.endpoint_id]

    async def _send(self, delivery: Delivery, target: DeliveryTarget) -> None:
        at = now_ms()
        outcome = await self._sender.send(
            target.url, target.secrets, delivery.event_id, delivery.payload
        )
        self.attempts += 1
        attempt = Attempt(
            delivery.id,
            delivery.attempts + 1,
            at,
            outcome.duration_ms,
            outcome.status_code,
            outcome.error,
            outcome.response,
        )
        if outcome.delivered:
            self.delivered += 1
            await self._store.record(attempt, "delivered", 0, delivery.retries_left)
        elif delivery.retries_left > 0:
            wait_s = self._schedule[max(0, len(self._schedule) - delivery.retries_left)]
            wait_ms = int(wait_s * 1000 * self._random.uniform(0.9, 1.1))
            await self._store.record(
                attempt, "pending", now_ms() + wait_ms, delivery.retries_left - 1
            )
        else:
            await self._store.record(attempt, "failed", 0, 0)
            await self._failed_for_good(delivery, attempt)

    async def _failed_for_good(self, delivery: Delivery, attempt: Attempt) -> None:
        """Disable the endpoint if this delivery has failed for as long as the retry
        schedule lasts (a redelivery soon after, out of its turn, has not) and nothing
        reached the endpoint since the delivery was made. Never for a test event: someone
        is setting the endpoint up."""
        failing_ms = attempt.at_ms - delivery.created_ms
        whole_schedule = failing_ms >= 900 * sum(self._schedule)  # its waits less a tenth
        if not self._disable_failing or not whole_schedule or delivery.event_type == TEST_EVENT:
            return
        tenant, endpoint_id = delivery.tenant, delivery.endpoint_id
        target = await self._targets.find(tenant, endpoint_id)
        if target is None or not target.enabled:
            return  # gone or off already: nothing to ask (its other failures end here too)
        if await self._store.delivered_since(tenant, endpoint_id, delivery.created_ms):
            return
        await self._targets.disable_failing(tenant, endpoint_id, delivery.created_ms)


class Pruner(Background):
    """Deletes deliveries older than the retention, once an hour."""

    name = "webhook-pruner"

    def __init__(self, store: WebhookStore, retention_days: int, every_s: float = 3600.0) -> None:
        super().__init__()
        self._store = store
        self._retention_ms = retention_days * 86_400_000
        self._every_s = every_s

    async def _run(self) -> None:
        while not self._stopping:
            try:
                pruned = await self._store.prune(now_ms() - self._retention_ms)
                if pruned:
                    log.info("webhook relay: %d old deliveries deleted", pruned)
            except Exception as e:
                log.warning("webhook relay: pruning: %s", e)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wakeup.wait(), self._every_s)


class WebhookRelay:
    """What ``perkbus webhooks`` runs: the fan-out, the dispatcher, the pruner and the
    answers about deliveries, on one bus and one store (the store's owner closes it)."""

    def __init__(
        self,
        bus: Bus,
        store: WebhookStore,
        schedule_s: Sequence[float],
        allow_private: bool,
        timeout_s: float = 10.0,
        concurrency: int = 32,
        retention_days: int = 30,
        burst_events_per_s: int = 0,
        burst_lag_s: float = 0.0,
        targets_ttl_s: float = 5.0,
        poll_s: float = 1.0,
        disable_failing: bool = True,
    ) -> None:
        self.bus = bus
        self._metrics_sub: Subscription | None = None
        self.store = store
        self.targets = TargetDirectory(bus, ttl_s=targets_ttl_s, on_stopped=self._cancel)
        self.sender = WebhookSender(allow_private, timeout_s=timeout_s)
        wake = asyncio.Event()
        self.fanout = WebhookFanout(
            bus.js,
            store,
            self.targets,
            retries=len(schedule_s),
            on_added=wake,
            burst_events_per_s=burst_events_per_s,
            burst_lag_s=burst_lag_s,
        )
        self.dispatcher = WebhookDispatcher(
            store,
            self.targets,
            self.sender,
            schedule_s,
            wake,
            concurrency,
            poll_s=poll_s,
            disable_failing=disable_failing,
        )
        self.pruner = Pruner(store, retention_days)
        self.service = DeliveriesService(bus.nc, store, self.targets, wake)

    async def _cancel(self, tenant: str, endpoint_ids: list[str]) -> None:
        for endpoint_id in endpoint_ids:
            cancelled = await self.store.cancel_endpoint(tenant, endpoint_id)
            log.info(
                "webhook relay: %s of %s stopped: %d cancelled", endpoint_id, tenant, cancelled
            )

    async def start(self) -> None:
        try:
            await self.store.migrate()
        except Exception as e:  # the fan-out migrates it when it can; deliveries wait
            log.warning("webhook relay: the store is not ready yet: %s", e)
        await self.targets.start()
        await self.sender.start()
        await self.service.start()
        self.fanout.start()
        self.dispatcher.start()
        self.pruner.start()
        process = f"webhooks-{socket.gethostname()}-{os.getpid()}"
        self._metrics_sub = await self.bus.answer_metrics("webhooks", process, self.metrics)

    def metrics(self) -> list[Family]:
        """The relay's attempts since it started (ADR 40)."""
        sent = self.dispatcher
        return [
            counter("perkbus_webhook_attempts", "Delivery attempts made.", sent.attempts),
            counter(
                "perkbus_webhook_delivered", "Attempts the endpoint took (2xx).", sent.delivered
            ),
        ]

    async def stop(self) -> None:
        if self._metrics_sub is not None:
            with contextlib.suppress(Exception):
                await self._metrics_sub.unsubscribe()
            self._metrics_sub = None
        await self.service.stop()
        await self.fanout.stop()
        await self.pruner.stop()
        await self.dispatcher.stop()
        await self.targets.stop()
        await self.sender.close()
