"""The mailer (ADR 41): emails to the people events are about, from ``PB_EVENTS``.

It reads the events that send an email (:data:`~actors.mail_templates.EVENT_TEMPLATES`)
through a durable JetStream consumer of its own, so the NATS server keeps its place and
each event's attempts. For each event it asks the tenant's actors what the email needs —
the person (their address, their name, whether they are active), the product's name in
the tenant's default locale, the tenant's branding, locales, programme and email
templates — fills in the template and hands the email to its transport. Then:

* taken (or kept, by the embedded Maildir): the event is acknowledged;
* refused for good (a 5xx to the recipient or the content), nothing to send (no address,
  one that is not a plain ASCII address, a disabled person, an email the tenant turned
  ``off``), too old (:data:`MAX_AGE_S`), or an email that cannot be made: acknowledged
  (or terminated), counted by outcome;
* not taken now (a 4xx to the recipient): asked again later, after 10 s, 1 min, 5 min,
  30 min, then hourly, until it is too old;
* the mail server (or an actor) away: the email is put back, and the mailer fetches
  nothing more until a pause has passed (doubling up to 5 minutes), so a long outage holds
  no slots and floods nothing once it ends.

Emails are at least once: a mailer stopped after the server took an email and before its
acknowledgement sends it again. Its ``Message-ID`` is made from the event's id, so a mail
client shows the two as one. While events pour in faster than a burst rate, the mailer
waits (for at most a lag bound), as the webhook relay does: an email may wait half a
minute, an order may not.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
import time
from collections import Counter
from datetime import UTC, datetime, timedelta
from email.headerregistry import Address
from email.message import EmailMessage
from email.utils import format_datetime
from urllib.parse import quote

import msgspec
from nats.aio.msg import Msg
from nats.js import JetStreamContext
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy
from nats.js.errors import APIError, NotFoundError

from actors.mail_templates import EVENT_TEMPLATES, choose, one_line, reason_text, render
from actors.mail_transport import MailDeferred, MailRefused, MailTransport, MailUnavailable
from actors.recent_reads import RecentReads
from actors.runtime.background import Background
from actors.runtime.bursts import BurstWatch
from bus import subjects
from bus.client import Bus
from bus.errors import BusError
from bus.events import CloudEvent
from bus.messages import Command, Err, Ok
from bus.messages.catalogue import KIND as CATALOGUE
from bus.messages.catalogue import GetProduct, ProductView
from bus.messages.common import Principal
from bus.messages.orders import OrderEvent
from bus.messages.people import KIND as PEOPLE
from bus.messages.people import (
    GetPerson,
    IssuePasswordLink,
    PasswordLink,
    PasswordResetAsked,
    PersonChanged,
    PersonView,
)
from bus.messages.tenant_config import KIND as TENANT_CONFIG
from bus.messages.tenant_config import (
    Branding,
    DocumentName,
    DocumentView,
    EmailTemplates,
    GetDocument,
    Locales,
    Programme,
    decode_document,
)
from bus.messages.wallet import RewardIssued
from bus.metrics import Family, Sample, gauge

log = logging.getLogger(__name__)

#: perkbus's own process: it reads a person, a product and the tenant's settings.
MAILER = Principal("perkbus:mailer", roles=("system",))
DURABLE = "perkbus-mail"
#: Waits before each new attempt of an email its recipient's server did not take now.
RETRY_S = (10.0, 60.0, 300.0, 1800.0, 3600.0)
#: An email not sent this long after its event is dropped: no welcome weeks late.
MAX_AGE_S = 2 * 86_400.0
#: A new consumer starts this far back: the events of a system's first minutes (its
#: demo's people, say) are not missed for having come before the mailer.
FIRST_LOOK_BACK_S = 900.0
#: Pauses while the mail server is away: the first, and the longest.
PAUSE_S = (1.0, 300.0)
#: Tenants whose settings are kept, and people and product names (the least recently
#: used are forgotten).
TENANTS_KEPT = 1000
PEOPLE_KEPT = 10_000
#: An address the mailer writes to: ASCII, with no quoting, comments or lists.
_ADDRESS = re.compile(r"[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]{1,64}@[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)+")
OUTCOMES = ("sent", "kept", "refused", "skipped", "deferred", "dropped", "failed")
#: The event of a link to set a password: its email carries a token made when it is sent.
PASSWORD_LINK_EVENT = "perkbus.people.password_reset_asked"


class _Person(msgspec.Struct, frozen=True):
    address: str
    name: str
    may_sign_in: bool


class _Tenant(msgspec.Struct, frozen=True):
    """What every email of a tenant needs from its settings."""

    programme_name: str
    points_name: str
    locale: str
    templates: EmailTemplates | None


class _NotNow(Exception):
    """An actor could not answer now (busy, failing): the email waits."""


class Mailer(Background):
    name = "mailer"

    def __init__(
        self,
        bus: Bus,
        transport: MailTransport,
        sender: str,
        app_url: str,
        concurrency: int = 4,
        burst_events_per_s: int = 1000,
        burst_lag_s: float = 30.0,
        timeout_s: float = 5.0,
        smtp_timeout_s: float = 30.0,
        settings_ttl_s: float = 30.0,
        retry_s: tuple[float, ...] = RETRY_S,
        pause_s: tuple[float, float] = PAUSE_S,
    ) -> None:
        super().__init__()
        self._bus = bus
        self._js: JetStreamContext = bus.js
        self.transport = transport
        self._sender = Address(addr_spec=_sender_address(sender))
        self._sender_name = _sender_name(sender)
        self._domain = self._sender.domain or "perkbus.localhost"
        self._app_url = app_url.rstrip("/")
        self._concurrency = concurrency
        self._bursts = BurstWatch(bus.js, burst_events_per_s, burst_lag_s)
        self._caught_up_at = 0.0
        self._timeout_s = timeout_s
        self._smtp_timeout_s = smtp_timeout_s
        self._retry_s = retry_s
        self._pause_s = pause_s
        self._pause = pause_s[0]
        #: The loop time until which nothing is fetched (the mail server is away).
        self._paused_until = 0.0
        #: What emails need, read from the actors and kept for ``settings_ttl_s``.
        self._tenants: RecentReads[str, _Tenant] = RecentReads(settings_ttl_s, TENANTS_KEPT)
        self._people: RecentReads[tuple[str, str], _Person | None] = RecentReads(
            settings_ttl_s, PEOPLE_KEPT
        )
        self._product_names: RecentReads[tuple[str, str, str], str] = RecentReads(
            settings_ttl_s, PEOPLE_KEPT
        )
        #: Emails by outcome (:data:`OUTCOMES`).
        self.outcomes: Counter[str] = Counter()
        #: Events waiting for the mailer (the consumer's pending and unacknowledged), as
        #: last seen, and how often the consumer could not be set up.
        self.waiting = 0
        self.consumer_failures = 0

    # -- following the stream ------------------------------------------------------

    def consumer_config(self, start_seq: int = 0) -> ConsumerConfig:
        filters = []
        for event_type in EVENT_TEMPLATES:
            aggregate, _, event = event_type.removeprefix("perkbus.").partition(".")
            filters.append(subjects.event_of_every_tenant(aggregate, event))
        config = ConsumerConfig(
            durable_name=DURABLE,
            description="perkbus: emails to the people events are about (ADR 41)",
            ack_policy=AckPolicy.EXPLICIT,
            # asks of four actors and one SMTP exchange (connect, STARTTLS, login, send)
            ack_wait=max(60.0, 4 * self._timeout_s + 6 * self._smtp_timeout_s),
            max_ack_pending=20_000,
            filter_subjects=sorted(set(filters)),
        )
        if start_seq:
            config.deliver_policy = DeliverPolicy.BY_START_SEQUENCE
            config.opt_start_seq = start_seq
        else:
            config.deliver_policy = DeliverPolicy.BY_START_TIME
            config.opt_start_time = datetime.now(UTC) - timedelta(seconds=FIRST_LOOK_BACK_S)
        return config

    async def _consumer(self) -> None:
        """The durable consumer, made on first start. One of an earlier config that cannot
        be changed in place is made again from where it had got to."""
        stream = subjects.EVENTS_STREAM
        try:
            info = await self._js.consumer_info(stream, DURABLE)
        except NotFoundError:
            await self._js.add_consumer(stream, self.consumer_config())
            return
        config = self.consumer_config()  # where it starts stays as it was made
        config.deliver_policy = info.config.deliver_policy
        config.opt_start_seq = info.config.opt_start_seq
        config.opt_start_time = info.config.opt_start_time
        try:
            await self._js.add_consumer(stream, config)
        except APIError as e:
            if not _only_anew(e):
                raise
            # a change JetStream makes only to a new consumer:
            # from after the last event it was given: none is mailed twice; those it was
            # still retrying (a 4xx to their recipient) are given up, and said so
            delivered = info.delivered.stream_seq if info.delivered else 0
            log.warning(
                "mailer: its consumer is made again after %d (%s); %d emails being retried"
                " are given up",
                delivered,
                e.description,
                info.num_ack_pending or 0,
            )
            await self._js.delete_consumer(stream, DURABLE)
            await self._js.add_consumer(
                stream, self.consumer_config(delivered + 1 if delivered else 0)
            )

    async def _run(self) -> None:
        self._wakeup.clear()  # set by an earlier stop(): only a new stop() may cut waits
        backoff = 0.1
        while not self._stopping:
            try:
                await self._follow()
                backoff = 0.1
            except Exception as e:
                self.consumer_failures += 1
                if self._stopping:
                    return
                log.warning("mailer: %s; starting over in %.1fs", e, backoff)
                await self._sleep(backoff)
                backoff = min(backoff * 2, 10.0)

    async def _follow(self) -> None:
        await self._consumer()
        sub = await self._js.pull_subscribe_bind(durable=DURABLE, stream=subjects.EVENTS_STREAM)
        loop = asyncio.get_running_loop()
        self._caught_up_at = loop.time()
        # two rounds a fetch: the last of them is sent well within ack_wait, however slow
        batch = self._concurrency * 2
        looked_at = 0.0
        try:
            while not self._stopping:
                if loop.time() < self._paused_until:
                    await self._sleep(self._paused_until - loop.time())
                    continue
                while not self._stopping and await self._bursts.under_way(
                    self._caught_up_at, self._sleep
                ):
                    await self._sleep(self._bursts.probe_s)
                if loop.time() - looked_at > 10.0:
                    looked_at = loop.time()
                    info = await self._js.consumer_info(subjects.EVENTS_STREAM, DURABLE)
                    self.waiting = int(info.num_pending or 0) + int(info.num_ack_pending or 0)
                try:
                    messages = await sub.fetch(batch, timeout=0.5)
                except TimeoutError:
                    self._caught_up_at = loop.time()
                    continue
                if len(messages) < batch:
                    self._caught_up_at = loop.time()
                await self._handle_all(messages)
        finally:
            with contextlib.suppress(Exception):
                await sub.unsubscribe()

    async def _sleep(self, seconds: float) -> None:
        with contextlib.suppress(TimeoutError):  # stop() cuts it short
            await asyncio.wait_for(self._wakeup.wait(), seconds)

    async def _handle_all(self, messages: list[Msg]) -> None:
        slots = asyncio.Semaphore(self._concurrency)

        async def one(msg: Msg) -> None:
            async with slots:
                await self._handle(msg)

        # every email is answered for (_handle raises nothing): none is left running
        await asyncio.gather(*(one(m) for m in messages))

    async def _handle(self, msg: Msg) -> None:
        loop = asyncio.get_running_loop()
        if self._stopping or loop.time() < self._paused_until:
            await _quietly(msg.nak())  # not started: at once to the next mailer
            return
        try:
            event = msgspec.json.decode(msg.data, type=CloudEvent)
        except msgspec.DecodeError:
            log.error("mailer: a message of PB_EVENTS is not a CloudEvent")
            await _quietly(msg.term())
            return
        try:
            outcome = await self._mail(event)
        except (MailUnavailable, BusError) as e:  # the server, or the actor hosts, away
            self._pause_for(str(e))
            await _quietly(msg.nak(delay=self._pause))
            return
        except (MailDeferred, _NotNow) as e:
            await self._later(msg, event, e)
            return
        except MailRefused as e:
            outcome = "refused"
            log.warning("mailer: %s of %s refused for good: %s", event.id, event.tenant, e)
        except Exception:  # an email that cannot be made is not tried for ever
            log.exception("mailer: %s (%s) of %s failed", event.id, event.type, event.tenant)
            self.outcomes["failed"] += 1
            await _quietly(msg.term())
            return
        self.outcomes[outcome] += 1
        await _quietly(msg.ack())

    async def _mail(self, event: CloudEvent) -> str:
        if time.time() - _seconds(event.time) > MAX_AGE_S:
            return "dropped"
        composed = await self.compose(event)
        if composed is None:
            return "skipped"
        message, recipient = composed
        await self.transport.send(message, self._sender.addr_spec, recipient)
        self._pause = self._pause_s[0]  # the server is back
        return "kept" if self.transport.keeps else "sent"

    def _pause_for(self, why: str) -> None:
        loop = asyncio.get_running_loop()
        if loop.time() >= self._paused_until:  # once per pause, whichever email saw it
            log.warning("mailer: no emails for %.0fs: %s", self._pause, why)
            self._paused_until = loop.time() + self._pause
            self._pause = min(self._pause * 2, self._pause_s[1])

    async def _later(self, msg: Msg, event: CloudEvent, why: Exception) -> None:
        self.outcomes["deferred"] += 1
        attempts = msg.metadata.num_delivered or 1
        delay = self._retry_s[min(attempts, len(self._retry_s)) - 1]
        log.info("mailer: %s of %s again in %.0fs: %s", event.id, event.tenant, delay, why)
        await _quietly(msg.nak(delay=delay))

    # -- what an email says --------------------------------------------------------

    async def compose(self, event: CloudEvent) -> tuple[EmailMessage, str] | None:
        """The email an event sends and its recipient's address, or None when it sends
        none."""
        template_id = EVENT_TEMPLATES.get(event.type)
        if template_id is None:
            return None
        asked = None
        if event.type == PASSWORD_LINK_EVENT:
            asked = msgspec.json.decode(event.data, type=PasswordResetAsked)
            template_id = "password.invite" if asked.invitation else "password.reset"
        tenant = await self._tenant(event.tenant)
        if tenant.templates is not None and template_id in tenant.templates.off:
            return None
        values = {"programme_name": tenant.programme_name, "points_name": tenant.points_name}
        person_id, known_address = await self._values(event, tenant, values)
        person = await self._person(event.tenant, person_id, known_address)
        if person is None or (template_id == "welcome" and not person.may_sign_in):
            return None
        values["person_name"] = person.name
        values["sign_in_url"] = self._link(event.tenant)
        if asked is not None:
            # the token is made now, for this email, and travels nowhere else (ADR 42)
            link = await self._ask(
                event.tenant, PEOPLE, IssuePasswordLink(asked.person_id, asked.request_id)
            )
            if not isinstance(link, PasswordLink):
                return None  # used, replaced or too old; or the person is disabled
            values["password_url"] = self._link(event.tenant, f"#reset={link.token}")
        template, language = choose(tenant.templates, template_id, tenant.locale)
        message = EmailMessage()
        # the tenant's name before ours: people see whose programme writes
        sender_name = one_line(f"{tenant.programme_name} via {self._sender_name}")
        message["From"] = Address(sender_name, addr_spec=self._sender.addr_spec)
        message["To"] = Address(one_line(person.name), addr_spec=person.address)
        message["Subject"] = one_line(render(template.subject, values))
        message["Date"] = format_datetime(datetime.fromisoformat(event.time))
        message["Message-ID"] = f"<{event.id}.{template_id}@{self._domain}>"
        message["Auto-Submitted"] = "auto-generated"
        message["X-Perkbus-Tenant"] = event.tenant
        message["X-Perkbus-Event"] = event.id
        message.set_content(render(template.body, values))
        message["Content-Language"] = language  # set_content drops Content-* headers
        return message, person.address

    async def _values(
        self, event: CloudEvent, tenant: _Tenant, values: dict[str, str]
    ) -> tuple[str, str]:
        """Fill in the event's own values; (the person it is about, an address it names)."""
        if event.type == "perkbus.people.person_created":
            person = msgspec.json.decode(event.data, type=PersonChanged)
            return person.person_id, person.email
        if event.type == PASSWORD_LINK_EVENT:
            asked = msgspec.json.decode(event.data, type=PasswordResetAsked)
            return asked.person_id, ""
        if event.type == "perkbus.reward.issued":
            reward = msgspec.json.decode(event.data, type=RewardIssued)
            values["points"] = str(reward.points)
            values["reason"] = reward.memo
            values["balance"] = str(reward.wallet_points_after)
            return reward.person_id, ""
        order = msgspec.json.decode(event.data, type=OrderEvent)
        values["order_id"] = order.order_id
        values["reason"] = reason_text(event.type, order.reason)
        values["code_url"] = self._link(event.tenant, f"#/rewards/{quote(order.order_id)}")
        key = (event.tenant, order.product_id, catalogue_locale(tenant.locale))
        values["product_name"] = await self._product_names.get(key, lambda: self._name(*key))
        return order.recipient, ""

    async def _name(self, tenant: str, product_id: str, locale: str) -> str:
        product = await self._ask(tenant, CATALOGUE, GetProduct(product_id, locale))
        return product.name if isinstance(product, ProductView) else product_id

    def _link(self, tenant: str, fragment: str = "") -> str:
        return f"{self._app_url}/?tenant={quote(tenant)}{fragment}"

    async def _person(self, tenant: str, person_id: str, known_address: str) -> _Person | None:
        """Where and to whom: the directory's person, unless disabled; else the id
        itself when it is an email address (rewards may go to people not in it). Only
        plain ASCII addresses are written to."""
        return await self._people.get(
            (tenant, person_id), lambda: self._read_person(tenant, person_id, known_address)
        )

    async def _read_person(self, tenant: str, person_id: str, known_address: str) -> _Person | None:
        found = await self._ask(tenant, PEOPLE, GetPerson(person_id))
        if isinstance(found, PersonView):
            if found.status != "active" or not _ADDRESS.fullmatch(found.email):
                return None
            return _Person(found.email, found.name, found.has_password)
        address = known_address or person_id
        if not _ADDRESS.fullmatch(address):
            return None
        return _Person(address, address.partition("@")[0], False)

    async def _tenant(self, tenant: str) -> _Tenant:
        return await self._tenants.get(tenant, lambda: self._read_settings(tenant))

    async def _read_settings(self, tenant: str) -> _Tenant:
        branding, locales, programme, templates = await asyncio.gather(
            self._document(tenant, "branding"),
            self._document(tenant, "locales"),
            self._document(tenant, "programme"),
            self._document(tenant, "email-templates"),
        )
        return _Tenant(
            programme_name=branding.display_name if isinstance(branding, Branding) else tenant,
            points_name=(
                programme if isinstance(programme, Programme) else Programme()
            ).points_name,
            locale=(locales if isinstance(locales, Locales) else Locales()).default,
            templates=templates if isinstance(templates, EmailTemplates) else None,
        )

    async def _document(
        self, tenant: str, name: DocumentName
    ) -> Branding | Locales | Programme | EmailTemplates | None:
        view = await self._ask(tenant, TENANT_CONFIG, GetDocument(name))
        if not isinstance(view, DocumentView):
            return None
        return decode_document(name, view.body)

    async def _ask(self, tenant: str, kind: str, body: Command) -> object:
        """The value an actor answers with; None when it has none (not found, say);
        raises :class:`_NotNow` when it cannot answer now (a retryable error)."""
        reply = await self._bus.request(tenant, kind, body, MAILER, self._timeout_s)
        if isinstance(reply, Ok):
            return reply.value
        if isinstance(reply, Err) and reply.retryable:
            raise _NotNow(f"{kind}: {reply.code}: {reply.message}")
        return None

    def metrics(self) -> list[Family]:
        """Emails by outcome since the mailer started, and events waiting (ADR 40)."""
        name = "perkbus_emails"
        samples = tuple(
            Sample(name + "_total", (("outcome", outcome),), self.outcomes[outcome])
            for outcome in OUTCOMES
        )
        return [
            Family(name, "counter", "Emails by what became of them.", samples),
            gauge(
                "perkbus_emails_waiting", "Events the mailer has yet to answer for.", self.waiting
            ),
        ]


def _only_anew(error: APIError) -> bool:
    """Whether JetStream refused to change the consumer in place ("ack policy can not be
    updated"): not an outage, after which the consumer must be kept."""
    return error.err_code == 10012 and "can not be updated" in (error.description or "")


async def _quietly(answer: object) -> None:
    """Acknowledge (or put back) a message; a connection lost meanwhile only means
    JetStream delivers it again."""
    try:
        await answer  # type: ignore[misc]
    except Exception as e:
        log.info("mailer: an acknowledgement was lost: %s", e)


def _sender_address(sender: str) -> str:
    """``perkbus <rewards@example.com>`` → ``rewards@example.com``."""
    address = sender.rpartition("<")[2].rstrip(">").strip() if "<" in sender else sender.strip()
    if not _ADDRESS.fullmatch(address):
        raise ValueError(f"mail.sender: {sender!r} has no plain email address")
    return address


def _sender_name(sender: str) -> str:
    """``perkbus <rewards@example.com>`` → ``perkbus`` (``perkbus`` when it has none)."""
    name = sender.partition("<")[0].strip().strip('"') if "<" in sender else ""
    return name or "perkbus"


def catalogue_locale(tag: str) -> str:
    """The catalogue's form of a BCP 47 tag: language and region (``pt-BR``), or the
    language alone (``zh`` for ``zh-Hant-TW``, ``es`` for ``es-419``)."""
    if _CATALOGUE_LOCALE.fullmatch(tag):
        return tag
    language = tag.partition("-")[0]
    return language if _CATALOGUE_LOCALE.fullmatch(language) else "en"


_CATALOGUE_LOCALE = re.compile(r"[a-z]{2}(-[A-Z]{2})?")


def _seconds(rfc3339: str) -> float:
    try:
        return datetime.fromisoformat(rfc3339).timestamp()
    except ValueError:
        return 0.0
