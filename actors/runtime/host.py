"""An actor host: subscribes to its tenant partitions and runs the actors they address.

A request arrives on ``pb.rpcp.<partition>.<tenant>.<kind>`` (the server's subject
mapping put it there). The host checks that the subject's tenant is the envelope's, finds
or activates the actor (tenant, kind, key) and posts the message to its mailbox. The NATS
callback never waits on an actor, so one slow actor cannot hold up a partition.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import socket
import uuid
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import replace

import msgspec
from nats.aio.msg import Msg
from nats.aio.subscription import Subscription
from nats.errors import TimeoutError as NatsTimeout

from actors.config import ActorsConfig
from actors.keyring import KeyRing
from actors.runtime.activation import Activation, Mail, Runtime
from actors.runtime.actor import ActorContext, ActorKey, ActorKind
from actors.runtime.committer import GroupCommitter
from actors.runtime.outbox import OutboxRelay
from bus import subjects, tasks
from bus.barrier import barrier
from bus.client import Bus, RequestIds
from bus.errors import BusError, ErrorCode
from bus.events import EventPublisher, ensure_streams
from bus.messages import (
    Command,
    Envelope,
    Err,
    Principal,
    Reply,
    encoder,
    request_decoder,
)
from bus.messages.catalogue import CatalogueChanged
from bus.messages.system import HostHealth, StoreHealth
from bus.metrics import Family, counter, gauge
from bus.time import now_ms
from storage.ports import Store

log = logging.getLogger(__name__)

_catalogue_changes = msgspec.msgpack.Decoder(CatalogueChanged)

#: How long an actor waits for another's reply (a saga's step is retried after it).
ASK_TIMEOUT_S = 10.0
#: Who actors are when they ask other actors (the edge never sends this role).
SYSTEM = Principal("perkbus:system", roles=("system",))


class PartitionMappingError(RuntimeError):
    """The NATS server does not partition requests the way this host expects."""


class ActorHost:
    def __init__(
        self,
        bus: Bus,
        context: ActorContext,
        kinds: Iterable[ActorKind],
        config: ActorsConfig,
        partitions: int,
        duplicate_window_s: int = 600,
        stream_replicas: int = 1,
    ) -> None:
        self.bus = bus
        self.context = context
        self.ledger = ledger = context.ledger
        self.kinds = {k.name: k for k in kinds}
        self.config = config
        self.partition_count = partitions
        self.partitions = config.partitions or tuple(range(partitions))
        self.host_id = config.host_id or f"{socket.gethostname()}-{os.getpid()}"
        self.relay = OutboxRelay(ledger, EventPublisher(bus.nc))
        self.committer = GroupCommitter(
            ledger,
            config.commit_max,
            self.relay.committed,
            in_flight=ledger.groups_in_flight,
        )
        self.relay.clear = self.committer.clear_published
        self.keys = KeyRing(
            ledger,
            context.master_key,
            config.signing_key_rotation_s,
            config.access_token_ttl_s,
            reload_every_s=config.wake_interval_s,
        )
        self.context = replace(
            context,
            commit=self.committer.commit,
            ask=self.ask,
            tell=self.tell,
            tell_later=self.tell_later,
            notify=self.notify,
            sign=self.keys.sign,
            access_token_ttl_s=config.access_token_ttl_s,
            refresh_token_ttl_s=config.refresh_token_ttl_s,
        )
        self._timers: set[asyncio.Task[None]] = set()
        self._waker: asyncio.Task[None] | None = None
        self._scheduler: asyncio.Task[None] | None = None
        self.activations: dict[ActorKey, Activation] = {}
        self.runtime = Runtime(
            ledger=ledger,
            committer=self.committer,
            send=self.send,
            forget=self._forget,
            batch_max=config.batch_max,
            idle_timeout_s=config.idle_timeout_s,
            reply_ttl_s=config.idempotency_ttl_s,
        )
        self._duplicate_window_s = duplicate_window_s
        self._stream_replicas = stream_replicas
        self._subscriptions: list[Subscription] = []
        self._own = frozenset(self.partitions)
        self._own_tenants: dict[str, bool] = {}
        self._serving = False  # requests between actors go straight to mailboxes
        self._request_ids = RequestIds()

    async def start(self) -> None:
        await self.check_partition_mapping()
        await self.ledger.migrate()
        await self.keys.load()
        await self.context.catalogue.migrate()
        # platform catalogue changes reach actors, and the edges' cached pages, promptly
        self.context.platform.start(self._platform_news)
        await ensure_streams(self.bus.js, self._duplicate_window_s, self._stream_replicas)
        self.committer.start()
        self.relay.start()
        nc = self.bus.nc
        for p in self.partitions:
            if not 0 <= p < self.partition_count:
                raise ValueError(f"partition {p} is outside 0..{self.partition_count - 1}")
            self._subscriptions.append(
                await nc.subscribe(
                    subjects.partition_subscription(p),
                    queue="actors",
                    cb=self._on_request,
                    pending_msgs_limit=1_000_000,
                    pending_bytes_limit=512 * 1024 * 1024,
                )
            )
        self._subscriptions.append(
            await nc.subscribe(subjects.HEALTH, queue="health", cb=self._on_health)
        )
        self._subscriptions.append(
            await nc.subscribe(subjects.JWKS, queue="jwks", cb=self._on_jwks)
        )
        # every host: a catalogue changed anywhere drops the products kept of its tenant
        self._subscriptions.append(
            await nc.subscribe(subjects.CATALOGUE_CHANGED, cb=self._on_catalogue_changed)
        )
        self._subscriptions.append(
            await self.bus.answer_metrics("actor-host", self.host_id, self.metrics)
        )
        await barrier(nc)
        self._serving = True
        log.info("actor host %s serving %d partitions", self.host_id, len(self.partitions))
        await self.wake()  # work a host that died left behind, or that time has brought
        self._waker = asyncio.create_task(
            self._every(self.config.wake_interval_s, self._rotate_and_wake, "wake waiting work")
        )
        self._scheduler = asyncio.create_task(
            self._every(self.config.schedule_poll_s, self.send_due, "start scheduled work")
        )

    async def wake(self) -> int:
        """Send every kind's wake-up messages; how many were sent."""
        sent = 0
        for kind in self.kinds.values():
            if kind.resume is not None:
                for tenant, body in await kind.resume(self.context):
                    await self.tell(tenant, kind.name, body)
                    sent += 1
        return sent

    async def send_due(self) -> int:
        """Tell the work whose time has come to go on; how many messages were sent. Every
        host does, so each may be told more than once: those messages are harmless."""
        sent = 0
        for kind in self.kinds.values():
            if kind.due is not None:
                for tenant, body in await kind.due(self.context):
                    await self.tell(tenant, kind.name, body)
                    sent += 1
        return sent

    async def _rotate_and_wake(self) -> None:
        await self.keys.load()  # rotates the signing key when it is due
        await self.wake()

    async def _every(
        self, interval_s: float, work: Callable[[], Awaitable[object]], what: str
    ) -> None:
        while True:
            await asyncio.sleep(interval_s)
            try:
                await work()
            except Exception:
                log.exception("could not %s; trying again in %.0f s", what, interval_s)

    async def check_partition_mapping(self, timeout_s: float = 2.0) -> None:
        """Fail fast, and say why, if the server lacks the mapping or counts differently.

        Sixteen fixed probe tenants make a wrong partition count all but certain to show.
        """
        nc = self.bus.nc
        probes = {f"perkbus-probe-{i}" for i in range(16)}
        seen: dict[str, int] = {}
        sub = await nc.subscribe(subjects.probe_partitioned("*"))
        try:
            for tenant in sorted(probes):
                await nc.publish(subjects.probe(tenant), b"")
            deadline = asyncio.get_running_loop().time() + timeout_s
            while seen.keys() != probes:
                remaining = deadline - asyncio.get_running_loop().time()
                try:
                    msg = await sub.next_msg(timeout=max(remaining, 0.001))
                except NatsTimeout:
                    where = nc.connected_url.netloc if nc.connected_url else "?"
                    raise PartitionMappingError(
                        f"the NATS server at {where} does not map pb.rpc.*.* onto tenant "
                        "partitions; add the mapping of deploy/nomad/nats-server.conf "
                        "(perkbus up does this for its embedded server)"
                    ) from None
                partition, tenant, _ = subjects.parse_partitioned(msg.subject)
                seen[tenant] = partition
        finally:
            with contextlib.suppress(Exception):
                await sub.unsubscribe()
        for tenant, partition in seen.items():
            expected = subjects.partition_of(tenant, self.partition_count)
            if partition != expected:
                raise PartitionMappingError(
                    f"the NATS mapping and PERKBUS_NATS_PARTITIONS={self.partition_count} "
                    f"disagree ({tenant} went to partition {partition}, expected {expected})"
                )

    async def stop(self) -> None:
        """Stop taking requests, finish every queued one, commit, publish, then return."""
        self._serving = False
        for timer in list(self._timers):  # delayed tells: a restarted host resumes the work
            timer.cancel()
        waker, self._waker = self._waker, None
        await tasks.stop(waker)  # for sure, see bus.tasks
        scheduler, self._scheduler = self._scheduler, None
        await tasks.stop(scheduler)
        for sub in self._subscriptions:
            try:
                # Bounded: with NATS gone, a drain would wait for a reconnect forever.
                await asyncio.wait_for(sub.drain(), 5.0)  # type: ignore[no-untyped-call]
            except Exception as e:
                log.warning("could not drain a subscription: %r", e)
        self._subscriptions.clear()
        results = await asyncio.gather(
            *(a.close() for a in list(self.activations.values())), return_exceptions=True
        )
        for error in results:
            if isinstance(error, BaseException):
                log.error("an actor failed while stopping: %r", error)
        await self.committer.stop()
        await self.relay.stop()
        await self.context.platform.stop()
        stats = self.committer.stats
        if stats.groups:
            log.info(
                "group commit: %d change sets in %d transactions (%.1f per commit), "
                "%d split retries, %d events published",
                stats.change_sets,
                stats.groups,
                stats.change_sets / stats.groups,
                stats.split_retries,
                self.relay.published,
            )

    async def _on_request(self, msg: Msg) -> None:
        reply_to = msg.reply  # empty for told messages: handled, never answered
        try:
            _, tenant, kind = subjects.parse_partitioned(msg.subject)
            request = request_decoder.decode(msg.data)
        except (ValueError, msgspec.DecodeError) as e:
            await self.send(reply_to, Err.of(ErrorCode.INVALID_REQUEST, f"bad request: {e}"))
            return
        if request.tenant != tenant:
            await self.send(reply_to, Err.of(ErrorCode.FORBIDDEN, "tenant does not match"))
            return
        refused = self._post(kind, Mail(request, reply_to))
        if refused is not None:
            await self.send(reply_to, refused)

    def _post(self, kind: str, mail: Mail) -> Err | None:
        """Put ``mail`` in the mailbox of the actor it addresses, activating it if need be;
        the error to answer instead if no actor of ``kind`` takes such a request."""
        actor_kind = self.kinds.get(kind)
        body = mail.request.body
        if actor_kind is None or not isinstance(body, actor_kind.accepts):
            return Err.of(ErrorCode.INVALID_REQUEST, f"{kind} does not take this request")
        route = actor_kind.route
        key = ActorKey(
            mail.request.tenant, kind, body.actor_key if route is None else route(mail.request)
        )
        activation = self.activations.get(key)
        if activation is None:
            actor = actor_kind.factory(self.context, key)
            activation = Activation(key, actor, self.runtime, actor_kind.pipelined)
            self.activations[key] = activation
            activation.start()
        activation.post(mail)
        return None

    def _forget(self, activation: Activation) -> None:
        if self.activations.get(activation.key) is activation:
            del self.activations[activation.key]

    async def ask(
        self, tenant: str, kind: str, body: Command, idempotency_key: str | None
    ) -> Reply:
        """A request from one actor to another, as the system (sagas' steps).

        When this host serves the tenant's partition the request goes straight to the
        actor's mailbox — the same mailbox, batching, idempotency and commit as a request
        from NATS, without encoding it, the round trip through the server, or decoding it
        (ADR 21). Otherwise, and while the host stops, it goes over NATS."""
        if self._serving and self._is_own(tenant):
            return await self._ask_here(tenant, kind, body, idempotency_key)
        try:
            return await self.bus.request(
                tenant,
                kind,
                body,
                SYSTEM,
                timeout_s=ASK_TIMEOUT_S,
                idempotency_key=idempotency_key,
            )
        except BusError as e:
            return Err(code=e.code, message=str(e), retryable=True)

    def _is_own(self, tenant: str) -> bool:
        own = self._own_tenants.get(tenant)
        if own is None:
            if len(self._own_tenants) > 100_000:
                self._own_tenants.clear()
            own = subjects.partition_of(tenant, self.partition_count) in self._own
            self._own_tenants[tenant] = own
        return own

    async def _ask_here(
        self, tenant: str, kind: str, body: Command, idempotency_key: str | None
    ) -> Reply:
        deadline = now_ms() + int(ASK_TIMEOUT_S * 1000)
        rid = self._request_ids.next()
        request = Envelope(tenant, SYSTEM, rid, deadline, body, idempotency_key)
        answer: asyncio.Future[Reply] = asyncio.get_running_loop().create_future()
        refused = self._post(kind, Mail(request, "", answer))
        if refused is not None:
            return refused
        # A timer, not ``wait_for`` (which wraps every ask in a task of its own).
        timer = asyncio.get_running_loop().call_later(ASK_TIMEOUT_S, _too_late, answer)
        try:
            return await answer
        finally:
            timer.cancel()

    async def tell(self, tenant: str, kind: str, body: Command) -> None:
        """A message to another actor (or to oneself), as the system; nobody waits."""
        envelope = Envelope(tenant, SYSTEM, uuid.uuid4().hex, now_ms() + 600_000, body)
        await self.bus.nc.publish(subjects.rpc(tenant, kind), encoder.encode(envelope))

    async def notify(self, subject: str, payload: bytes) -> None:
        """A hint to whoever listens (the edges), on core NATS: at most once. A hint
        that cannot be sent is logged, never the actor's failure (what it hints at is
        done already)."""
        try:
            await self.bus.nc.publish(subject, payload)
        except Exception as e:
            log.warning("hint on %s not sent: %r", subject, e)

    async def _platform_news(self, revision: int) -> None:
        self.context.product_views.changed("")
        await self.catalogue_changed("", revision)

    async def catalogue_changed(self, tenant: str, revision: int = 0) -> None:
        """Tell the edges their cached catalogue pages of ``tenant`` (``""``: of every
        tenant) are stale — the platform's products moved, or the search index caught up
        with a change (a page of search hits cached before it would miss the change)."""
        change = CatalogueChanged(tenant, revision)
        await self.notify(subjects.CATALOGUE_CHANGED, encoder.encode(change))

    def tell_later(self, delay_s: float, tenant: str, kind: str, body: Command) -> None:
        async def later() -> None:
            await asyncio.sleep(delay_s)
            await self.tell(tenant, kind, body)

        task = asyncio.create_task(later())
        self._timers.add(task)
        task.add_done_callback(self._timers.discard)

    async def send(self, reply_to: str, reply: Reply) -> None:
        """Send a reply; never raises (a lost reply is a client timeout, not a dead actor)."""
        if not reply_to:  # a told message: nobody waits
            return
        try:
            await self.bus.nc.publish(reply_to, encoder.encode(reply))
        except Exception as e:
            log.warning("could not send a reply: %r", e)

    def metrics(self) -> list[Family]:
        """This host's metrics (ADR 40): its actors, and what its committer wrote."""
        stats = self.committer.stats
        return [
            gauge("perkbus_actors_active", "Actors active on this host.", len(self.activations)),
            gauge(
                "perkbus_partitions", "Tenant partitions this host serves.", len(self.partitions)
            ),
            counter("perkbus_group_commits", "Groups of change sets written.", stats.groups),
            counter(
                "perkbus_change_sets", "Change sets of actor batches written.", stats.change_sets
            ),
            counter(
                "perkbus_change_sets_failed",
                "Change sets that could not be written (their requests answered retryable).",
                stats.failed_change_sets,
            ),
            counter(
                "perkbus_change_sets_expired",
                "Change sets not written: every request had given up waiting.",
                stats.expired_change_sets,
            ),
            self.committer.commit_seconds.family(),
        ]

    async def health(self) -> HostHealth:
        stores = []
        every: tuple[Store, ...] = (self.ledger, self.context.catalogue, *self.context.stores)
        # The search index is a copy the actors can do without (they list in memory); the
        # tenant documents (branding, templates) are not on the path of an order.
        optional = {id(self.context.search), id(self.context.tenant_docs)} - {id(None)}
        for store in every:
            essential = id(store) not in optional
            try:
                await asyncio.wait_for(store.ping(), 2.0)
                stores.append(StoreHealth(store.name, True, essential=essential))
            except Exception as e:
                detail = f"{type(e).__name__}: {e}"
                stores.append(StoreHealth(store.name, False, detail, essential=essential))
        return HostHealth(
            host_id=self.host_id,
            stores=tuple(stores),
            active_actors=len(self.activations),
            partitions=len(self.partitions),
        )

    async def _on_jwks(self, msg: Msg) -> None:
        """The published keys; asked for a key it does not know (another host made it),
        the host reads the ring again first."""
        wanted = msg.data.decode(errors="replace")
        try:
            if wanted and wanted not in self.keys.kids:
                await self.keys.load()
            body = json.dumps(self.keys.jwks()).encode()
        except Exception:
            log.exception("could not answer a JWKS request")
            return
        if msg.reply:
            await self.bus.nc.publish(msg.reply, body)

    async def _on_catalogue_changed(self, msg: Msg) -> None:
        """A catalogue actor's hint (of this host or another): the products kept for its
        tenant's treasury (``""``: for every tenant) are asked for again. This host's own
        actors drop them before they reply; the hint reaches the rest within
        milliseconds, and a hint lost on the way is covered by the kept answers' time to
        live (:mod:`actors.kept_answers`)."""
        try:
            change = _catalogue_changes.decode(msg.data)
        except msgspec.DecodeError as e:
            log.warning("unreadable catalogue hint: %s", e)
            return
        self.context.product_views.changed(change.tenant)

    async def _on_health(self, msg: Msg) -> None:
        if msg.reply:
            await self.bus.nc.publish(msg.reply, encoder.encode(await self.health()))


def _too_late(answer: asyncio.Future[Reply]) -> None:
    if not answer.done():
        late = f"no reply within {ASK_TIMEOUT_S:.0f} s"
        answer.set_result(Err(code=ErrorCode.DEADLINE_EXCEEDED, message=late, retryable=True))
