"""The connection to NATS and the request helper every caller uses.

:class:`Bus` owns one NATS connection. :meth:`Bus.request` sends an
:class:`~bus.messages.common.Envelope` to ``pb.rpc.<tenant>.<kind>`` and waits for the
reply until the envelope's deadline; a missing responder or an expired deadline become
:class:`~bus.errors.BusUnavailable` / :class:`~bus.errors.BusTimeout`, both retryable.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import ssl
import time
import uuid
from pathlib import Path

import msgspec
import nats
from nats.aio.client import Client as NatsClient
from nats.aio.msg import Msg
from nats.aio.subscription import Subscription
from nats.errors import Error as NatsError
from nats.errors import NoRespondersError
from nats.errors import TimeoutError as NatsTimeout
from nats.js import JetStreamContext

from bus import subjects
from bus.errors import BusTimeout, BusUnavailable, ErrorCode
from bus.messages import Command, Envelope, Err, Principal, Reply, encoder, reply_decoder
from bus.messages.reports import ReportCommand, ReportReply, report_reply_decoder
from bus.messages.system import HealthCheck, HostHealth
from bus.messages.webhooks import DeliveriesCommand, DeliveriesReply, deliveries_reply_decoder
from bus.metrics import Collector, MetricsSnapshot
from bus.time import now_ms

_health_decoder = msgspec.msgpack.Decoder(HostHealth)
_metrics_encoder = msgspec.msgpack.Encoder()
_metrics_decoder = msgspec.msgpack.Decoder(MetricsSnapshot)
_json_decoder = msgspec.json.Decoder()


log = logging.getLogger(__name__)

#: Seconds a process waits for its first connection to NATS.
FIRST_CONNECT_S = 20.0


class QuietErrors:
    """nats-py's error callback: one line per kind of error every ``interval_s``, where
    its default logs a traceback at each reconnect attempt (four a second while a server
    is away)."""

    def __init__(self, interval_s: float = 10.0) -> None:
        self.interval_s = interval_s
        self._last: dict[str, float] = {}

    async def note(self, e: Exception) -> None:
        kind, now = type(e).__name__, time.monotonic()
        if now - self._last.get(kind, -self.interval_s) >= self.interval_s:
            self._last[kind] = now
            log.warning("NATS: %s: %s (again within %gs: not logged)", kind, e, self.interval_s)


def without_password(url: str) -> str:
    """A URL (or comma-separated URLs) fit for a log: user and password left out."""
    return ",".join(
        u.strip().split("://", 1)[0] + "://" + u.strip().split("://", 1)[-1].rpartition("@")[2]
        if "://" in u
        else u.strip().rpartition("@")[2]
        for u in url.split(",")
        if u.strip()
    )


class RequestIds:
    """Unique request ids without a system call each (``uuid4`` reads the kernel's random
    source every time): a random prefix per process, then a counter."""

    def __init__(self) -> None:
        self._prefix = uuid.uuid4().hex[:16]
        self._counter = itertools.count()

    def next(self) -> str:
        return f"{self._prefix}{next(self._counter):x}"


#: The status header of the message NATS sends to a request's inbox when nothing
#: subscribes to its subject.
_NO_RESPONDERS = "503"


class Replies:
    """Every request's reply on one inbox subscription of the connection, matched by a
    counter in the reply subject.

    What ``nats.aio.client.Client.request`` does, without its per-request costs — random
    bytes from the kernel for each inbox, ``asyncio.wait_for``, a callback closure; the
    edge makes one request per HTTP request (measured: about 5% of its CPU). A timed-out
    request's late reply finds nobody waiting and is dropped."""

    def __init__(self, nc: NatsClient) -> None:
        self._nc = nc
        self._prefix = ""
        self._counter = itertools.count()
        self._waiting: dict[str, asyncio.Future[Msg]] = {}
        self._subscribing: asyncio.Lock | None = None

    async def request(self, subject: str, payload: bytes, timeout_s: float) -> Msg:
        """The reply to ``payload`` on ``subject``; raises as ``Client.request`` does
        (``NoRespondersError``, ``nats.errors.TimeoutError``, other ``nats.errors.Error``)."""
        if not self._prefix:
            await self._subscribe()
        token = f"{next(self._counter):x}"
        loop = asyncio.get_running_loop()
        future: asyncio.Future[Msg] = loop.create_future()
        self._waiting[token] = future
        expiry = loop.call_later(timeout_s, _expire, future)
        try:
            await self._nc.publish(subject, payload, reply=self._prefix + token)
            msg = await future
        finally:
            expiry.cancel()
            self._waiting.pop(token, None)
        if msg.headers and msg.headers.get("Status") == _NO_RESPONDERS:
            raise NoRespondersError
        return msg

    async def _subscribe(self) -> None:
        if self._subscribing is None:
            self._subscribing = asyncio.Lock()
        async with self._subscribing:
            if self._prefix:
                return
            prefix = f"{self._nc.new_inbox()}."
            await self._nc.subscribe(f"{prefix}*", cb=self._on_reply)
            self._prefix = prefix

    async def _on_reply(self, msg: Msg) -> None:
        future = self._waiting.pop(msg.subject[len(self._prefix) :], None)
        if future is not None and not future.done():
            future.set_result(msg)


def _expire(future: asyncio.Future[Msg]) -> None:
    if not future.done():
        future.set_exception(NatsTimeout())


class Bus:
    def __init__(self, nc: NatsClient) -> None:
        self._request_ids = RequestIds()
        self.nc = nc
        self.js: JetStreamContext = nc.jetstream()
        self._replies = Replies(nc)

    @classmethod
    async def connect(
        cls,
        url: str,
        name: str,
        credentials: str | Path | None = None,
        tls: ssl.SSLContext | None = None,
        first_connect_s: float = FIRST_CONNECT_S,
    ) -> Bus:
        """``url`` may list several servers, comma-separated; the client learns the rest.
        ``credentials`` is a ``.creds`` file (a user JWT and its seed, ADR 17); ``tls``
        the context of a server that requires TLS (``bus/tls.py``)."""
        connecting = nats.connect(
            servers=[u.strip() for u in url.split(",") if u.strip()],
            name=name,
            max_reconnect_attempts=-1,
            reconnect_time_wait=0.25,
            connect_timeout=2,
            pending_size=64 * 1024 * 1024,
            user_credentials=str(credentials) if credentials else None,
            tls=tls,
            error_cb=QuietErrors().note,  # nats-py takes coroutine functions only
        )
        # Once connected, the client reconnects for ever; the first connection does not
        # wait for ever: a process that cannot reach NATS says so and exits (its
        # scheduler restarts it), rather than hang deaf to signals.
        try:
            nc = await asyncio.wait_for(connecting, first_connect_s)
        except TimeoutError:
            raise BusUnavailable(
                f"no NATS server answered at {without_password(url)} within {first_connect_s:g} s"
            ) from None
        return cls(nc)

    @property
    def connected(self) -> bool:
        return bool(self.nc.is_connected)

    async def close(self, timeout_s: float = 5.0) -> None:
        """Drain (finish in-flight work), or close outright if NATS does not answer."""
        if self.nc.is_closed:
            return
        try:
            await asyncio.wait_for(self.nc.drain(), timeout_s)
        except Exception:
            await self.nc.close()

    async def request(
        self,
        tenant: str,
        kind: str,
        body: Command,
        principal: Principal,
        timeout_s: float,
        idempotency_key: str | None = None,
        request_id: str | None = None,
    ) -> Reply:
        # Envelope, not the alias Request = Envelope[Command]: calling a parametrised
        # generic goes through typing's machinery (measured: 4% of the edge's CPU).
        envelope = Envelope(
            tenant=tenant,
            principal=principal,
            request_id=request_id or self._request_ids.next(),
            deadline_ms=now_ms() + int(timeout_s * 1000),
            body=body,
            idempotency_key=idempotency_key,
        )
        try:
            subject = subjects.rpc(tenant, kind)
        except subjects.InvalidToken:  # no tenant has such an id: none to ask
            return Err.of(ErrorCode.NOT_FOUND, "no tenant has that id")
        try:
            msg = await self._replies.request(subject, encoder.encode(envelope), timeout_s)
        except NoRespondersError as e:
            raise BusUnavailable(f"no actor host serves {kind} requests") from e
        except NatsTimeout as e:
            raise BusTimeout(f"no reply within {timeout_s:.3f}s") from e
        except NatsError as e:  # closed, reconnecting with a full buffer, …
            raise BusUnavailable(f"the bus is unavailable: {type(e).__name__}") from e
        return reply_decoder.decode(msg.data)

    async def report(
        self, tenant: str, body: ReportCommand, principal: Principal, timeout_s: float
    ) -> ReportReply:
        """Ask the warehouse (``perkbus warehouse``) a report about ``tenant`` (ADR 26)."""
        subject = subjects.reports(tenant)
        data = await self._ask_service(subject, tenant, body, principal, timeout_s, "warehouse")
        return report_reply_decoder.decode(data)

    async def webhook_deliveries(
        self, tenant: str, body: DeliveriesCommand, principal: Principal, timeout_s: float
    ) -> DeliveriesReply:
        """Ask the webhook relay (``perkbus webhooks``) about ``tenant``'s deliveries."""
        subject = subjects.webhooks(tenant)
        data = await self._ask_service(subject, tenant, body, principal, timeout_s, "webhook relay")
        return deliveries_reply_decoder.decode(data)

    async def _ask_service(
        self,
        subject: str,
        tenant: str,
        body: ReportCommand | DeliveriesCommand,
        principal: Principal,
        timeout_s: float,
        service: str,
    ) -> bytes:
        """A request to a process that is not an actor host (its reply, encoded)."""
        envelope = Envelope(
            tenant=tenant,
            principal=principal,
            request_id=self._request_ids.next(),
            deadline_ms=now_ms() + int(timeout_s * 1000),
            body=body,
        )
        try:
            msg = await self._replies.request(subject, encoder.encode(envelope), timeout_s)
        except NoRespondersError as e:
            raise BusUnavailable(f"no {service} answers") from e
        except NatsTimeout as e:
            raise BusTimeout(f"the {service} did not answer within {timeout_s:.3f}s") from e
        except NatsError as e:
            raise BusUnavailable(f"the bus is unavailable: {type(e).__name__}") from e
        return msg.data

    async def warehouse_health(self, timeout_s: float) -> HostHealth:
        """Ask the warehouse process about itself and its store."""
        return await self._process_health(subjects.WAREHOUSE_HEALTH, "warehouse", timeout_s)

    async def webhooks_health(self, timeout_s: float) -> HostHealth:
        """Ask the webhook relay about itself and its store."""
        return await self._process_health(subjects.WEBHOOKS_HEALTH, "webhook relay", timeout_s)

    async def _process_health(self, subject: str, process: str, timeout_s: float) -> HostHealth:
        try:
            msg = await self._replies.request(subject, encoder.encode(HealthCheck()), timeout_s)
        except NoRespondersError as e:
            raise BusUnavailable(f"no {process} process is running") from e
        except NatsTimeout as e:
            raise BusTimeout(f"the {process} process did not answer") from e
        except NatsError as e:
            raise BusUnavailable(f"the bus is unavailable: {type(e).__name__}") from e
        return _health_decoder.decode(msg.data)

    async def answer_metrics(self, role: str, process: str, collect: Collector) -> Subscription:
        """Answer every ``pb.sys.metrics`` with this process's metrics (ADR 40), until the
        subscription returned is ended."""

        async def answer(msg: Msg) -> None:
            if msg.reply:
                snapshot = MetricsSnapshot(process, role, tuple(collect()))
                await self.nc.publish(msg.reply, _metrics_encoder.encode(snapshot))

        return await self.nc.subscribe(subjects.METRICS, cb=answer)

    async def gather_metrics(self, window_s: float) -> list[MetricsSnapshot]:
        """Every process's metrics that arrive within ``window_s``: each process answers
        once; how many there are is not known, so the window closes the gathering."""
        inbox = self.nc.new_inbox()
        found: list[MetricsSnapshot] = []

        async def heard(msg: Msg) -> None:
            try:
                found.append(_metrics_decoder.decode(msg.data))
            except msgspec.DecodeError as e:  # another version's process: left out
                log.warning("metrics from another version left out: %s", e)

        sub = await self.nc.subscribe(inbox, cb=heard)
        try:
            await self.nc.publish(subjects.METRICS, b"", reply=inbox)
            await asyncio.sleep(window_s)
        finally:
            await sub.unsubscribe()
        return found

    async def host_health(self, timeout_s: float) -> HostHealth:
        """Ask any actor host about itself and its stores."""
        data = await self._ask_a_host(subjects.HEALTH, encoder.encode(HealthCheck()), timeout_s)
        return _health_decoder.decode(data)

    async def published_keys(self, kid: str, timeout_s: float) -> dict[str, object]:
        """The JWKS of the keys that sign access tokens; naming ``kid``, a key the asking
        edge has not seen, makes the answering host read its ring again first."""
        data = await self._ask_a_host(subjects.JWKS, kid.encode(), timeout_s)
        document = _json_decoder.decode(data)
        return document if isinstance(document, dict) else {}

    async def _ask_a_host(self, subject: str, payload: bytes, timeout_s: float) -> bytes:
        try:
            msg = await self._replies.request(subject, payload, timeout_s)
        except NoRespondersError as e:
            raise BusUnavailable("no actor host is running") from e
        except NatsTimeout as e:
            raise BusTimeout(f"no actor host answered on {subject}") from e
        except NatsError as e:
            raise BusUnavailable(f"the bus is unavailable: {type(e).__name__}") from e
        return bytes(msg.data)
