"""The mailer (ADR 41): emails to the people events are about, from ``PB_EVENTS``.

It reads the events that send an email (:data:`~actors.mail_templates.EVENT_TEMPLATES`)
through a durable JetStream consumer of its own, so the NATS server keeps its place and
each event's attempts. For each event it asks the tenant's actors what the email needs —
the person (their address, their name, whether they are active), the product's name in
the tenant's default locale, the wallet's balance, the tenant's branding, locales,
programme and email templates — fills in the template and hands the email to its
transport. Then:

* taken: the event is acknowledged;
* refused for good (a 5xx to the recipient or the content), or nothing to send (no
  address, a disabled person, an email the tenant turned ``off``): acknowledged, counted;
* anything else (the mail server or an actor away): asked again later, after 10 s, 1 min,
  5 min, 30 min, then hourly, for two days from the event; then dropped with a warning.

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
from datetime import datetime
from email.message import EmailMessage
from email.utils import format_datetime, formataddr
from urllib.parse import quote

import msgspec
from nats.aio.msg import Msg
from nats.js import JetStreamContext
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy

from actors.mail_templates import EVENT_TEMPLATES, choose, one_line, render
from actors.mail_transport import MailDeferred, MailRefused, MailTransport
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
from bus.messages.people import GetPerson, PersonChanged, PersonView
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
from bus.messages.treasury import KIND as TREASURY
from bus.messages.wallet import GetWallet, RewardIssued, WalletView
from bus.metrics import Family, Sample
from bus.scopes import SCOPE_CATALOGUE, SCOPE_CONFIG, SCOPE_PEOPLE, SCOPE_WALLETS

log = logging.getLogger(__name__)

#: Reads only: a person's address and name, the tenant's settings, a product, a wallet.
MAILER = Principal(
    "perkbus:mailer",
    roles=("system", "admin"),
    scopes=(SCOPE_PEOPLE, SCOPE_CONFIG, SCOPE_CATALOGUE, SCOPE_WALLETS),
)
DURABLE = "perkbus-mail"
#: Waits before each new attempt of an email not sent; the last repeats.
RETRY_S = (10.0, 60.0, 300.0, 1800.0, 3600.0)
#: An email still not sent this long after its event is dropped.
GIVE_UP_S = 2 * 86_400.0
#: The address form the people directory accepts (``bus.messages.people.Email``).
_ADDRESS = re.compile(r"[^@\s]{1,64}@[^@\s]{1,190}\.[^@\s.]{2,63}")


class _Person(msgspec.Struct, frozen=True):
    address: str
    name: str


class _Tenant(msgspec.Struct, frozen=True):
    """What every email of a tenant needs from its settings."""

    programme_name: str
    points_name: str
    locale: str
    templates: EmailTemplates | None


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
        settings_ttl_s: float = 30.0,
        retry_s: tuple[float, ...] = RETRY_S,
    ) -> None:
        super().__init__()
        self._bus = bus
        self._js: JetStreamContext = bus.js
        self.transport = transport
        self._sender = sender
        self._domain = sender.rpartition("@")[2].rstrip(">").strip() or "perkbus.localhost"
        self._app_url = app_url.rstrip("/")
        self._concurrency = concurrency
        self._bursts = BurstWatch(bus.js, burst_events_per_s, burst_lag_s)
        self._caught_up_at = 0.0
        self._timeout_s = timeout_s
        self._settings_ttl_s = settings_ttl_s
        self._retry_s = retry_s
        #: tenant → (monotonic time read, its settings)
        self._tenants: dict[str, tuple[float, _Tenant]] = {}
        #: Emails by outcome: sent, refused, skipped (nothing to send), deferred, dropped.
        self.outcomes: Counter[str] = Counter()

    # -- following the stream ------------------------------------------------------

    def consumer_config(self) -> ConsumerConfig:
        filters = []
        for event_type in EVENT_TEMPLATES:
            aggregate, _, event = event_type.removeprefix("perkbus.").partition(".")
            filters.append(subjects.event_of_every_tenant(aggregate, event))
        return ConsumerConfig(
            durable_name=DURABLE,
            description="perkbus: emails to the people events are about (ADR 41)",
            deliver_policy=DeliverPolicy.NEW,  # no emails about what happened before
            ack_policy=AckPolicy.EXPLICIT,
            ack_wait=max(60.0, 4 * self._timeout_s),
            max_ack_pending=1000,
            filter_subjects=filters,
        )

    async def _run(self) -> None:
        backoff = 0.1
        while not self._stopping:
            try:
                await self._follow()
                backoff = 0.1
            except Exception as e:
                if self._stopping:
                    return
                log.warning("mailer: %s; starting over in %.1fs", e, backoff)
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wakeup.wait(), backoff)
                backoff = min(backoff * 2, 10.0)

    async def _follow(self) -> None:
        await self._js.add_consumer(subjects.EVENTS_STREAM, self.consumer_config())
        sub = await self._js.pull_subscribe_bind(durable=DURABLE, stream=subjects.EVENTS_STREAM)
        loop = asyncio.get_running_loop()
        self._caught_up_at = loop.time()
        try:
            while not self._stopping:
                while not self._stopping and await self._bursts.under_way(
                    self._caught_up_at, self._pause
                ):
                    await self._pause(self._bursts.probe_s)
                try:
                    messages = await sub.fetch(self._concurrency * 8, timeout=0.5)
                except TimeoutError:
                    self._caught_up_at = loop.time()
                    continue
                if len(messages) < self._concurrency * 8:
                    self._caught_up_at = loop.time()
                await self._handle_all(messages)
        finally:
            with contextlib.suppress(Exception):
                await sub.unsubscribe()

    async def _pause(self, seconds: float) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._wakeup.wait(), seconds)

    async def _handle_all(self, messages: list[Msg]) -> None:
        slots = asyncio.Semaphore(self._concurrency)

        async def one(msg: Msg) -> None:
            async with slots:
                await self._handle(msg)

        await asyncio.gather(*(one(m) for m in messages))

    async def _handle(self, msg: Msg) -> None:
        try:
            event = msgspec.json.decode(msg.data, type=CloudEvent)
        except msgspec.DecodeError:
            log.error("mailer: a message of PB_EVENTS is not a CloudEvent")
            await msg.term()
            return
        try:
            message = await self.compose(event)
            if message is None:
                self.outcomes["skipped"] += 1
            else:
                await self.transport.send(message)
                self.outcomes["sent"] += 1
        except MailRefused as e:
            self.outcomes["refused"] += 1
            log.warning("mailer: %s of %s refused for good: %s", event.id, event.tenant, e)
        except (MailDeferred, BusError, _NotNow) as e:
            await self._later(msg, event, e)
            return
        await msg.ack()

    async def _later(self, msg: Msg, event: CloudEvent, why: Exception) -> None:
        age_s = time.time() - _seconds(event.time)
        if age_s > GIVE_UP_S:
            self.outcomes["dropped"] += 1
            log.warning(
                "mailer: %s of %s dropped after %.0f h: %s",
                event.id,
                event.tenant,
                age_s / 3600,
                why,
            )
            await msg.term()
            return
        self.outcomes["deferred"] += 1
        attempts = msg.metadata.num_delivered or 1
        delay = self._retry_s[min(attempts, len(self._retry_s)) - 1]
        log.info("mailer: %s of %s again in %.0fs: %s", event.id, event.tenant, delay, why)
        await msg.nak(delay=delay)

    # -- what an email says --------------------------------------------------------

    async def compose(self, event: CloudEvent) -> EmailMessage | None:
        """The email an event sends, or None when it sends none."""
        template_id = EVENT_TEMPLATES.get(event.type)
        if template_id is None:
            return None
        tenant = await self._tenant(event.tenant)
        if tenant.templates is not None and template_id in tenant.templates.off:
            return None
        values = {"programme_name": tenant.programme_name, "points_name": tenant.points_name}
        person_id, known_address = await self._values(event, tenant, values)
        person = await self._person(event.tenant, person_id, known_address)
        if person is None:
            return None
        values["person_name"] = person.name
        values["sign_in_url"] = self._link(event.tenant)
        template = choose(tenant.templates, template_id, tenant.locale)
        message = EmailMessage()
        message["From"] = self._sender
        message["To"] = formataddr((one_line(person.name), person.address))
        message["Subject"] = one_line(render(template.subject, values))
        message["Date"] = format_datetime(datetime.fromisoformat(event.time))
        message["Message-ID"] = f"<{event.id}.{template_id}@{self._domain}>"
        message["Auto-Submitted"] = "auto-generated"
        message["X-Perkbus-Tenant"] = event.tenant
        message["X-Perkbus-Event"] = event.id
        message.set_content(render(template.body, values))
        message["Content-Language"] = tenant.locale  # set_content drops Content-* headers
        return message

    async def _values(
        self, event: CloudEvent, tenant: _Tenant, values: dict[str, str]
    ) -> tuple[str, str]:
        """Fill in the event's own values; (the person it is about, an address it names)."""
        if event.type == "perkbus.people.person_created":
            person = msgspec.json.decode(event.data, type=PersonChanged)
            return person.person_id, person.email
        if event.type == "perkbus.reward.issued":
            reward = msgspec.json.decode(event.data, type=RewardIssued)
            values["points"] = str(reward.points)
            values["reason"] = reward.memo
            wallet = await self._ask(event.tenant, TREASURY, GetWallet(reward.person_id))
            values["balance"] = str(wallet.points) if isinstance(wallet, WalletView) else ""
            return reward.person_id, ""
        order = msgspec.json.decode(event.data, type=OrderEvent)
        values["order_id"] = order.order_id
        values["reason"] = order.reason
        values["code_url"] = self._link(event.tenant, f"#/rewards/{quote(order.order_id)}")
        locale = catalogue_locale(tenant.locale)
        product = await self._ask(event.tenant, CATALOGUE, GetProduct(order.product_id, locale))
        values["product_name"] = (
            product.name if isinstance(product, ProductView) else order.product_id
        )
        return order.recipient, ""

    def _link(self, tenant: str, fragment: str = "") -> str:
        return f"{self._app_url}/?tenant={quote(tenant)}{fragment}"

    async def _person(self, tenant: str, person_id: str, known_address: str) -> _Person | None:
        """Where and to whom: the directory's person, unless disabled; else the id
        itself when it is an email address (rewards may go to people not in it)."""
        found = await self._ask(tenant, PEOPLE, GetPerson(person_id))
        if isinstance(found, PersonView):
            if found.status != "active":
                return None
            return _Person(found.email, found.name)
        address = known_address or person_id
        if _ADDRESS.fullmatch(address):
            return _Person(address, address.partition("@")[0])
        return None

    async def _tenant(self, tenant: str) -> _Tenant:
        known = self._tenants.get(tenant)
        if known is not None and time.monotonic() - known[0] < self._settings_ttl_s:
            return known[1]
        read_at = time.monotonic()
        branding, locales, programme, templates = await asyncio.gather(
            self._document(tenant, "branding"),
            self._document(tenant, "locales"),
            self._document(tenant, "programme"),
            self._document(tenant, "email-templates"),
        )
        settings = _Tenant(
            programme_name=branding.display_name if isinstance(branding, Branding) else tenant,
            points_name=(
                programme if isinstance(programme, Programme) else Programme()
            ).points_name,
            locale=(locales if isinstance(locales, Locales) else Locales()).default,
            templates=templates if isinstance(templates, EmailTemplates) else None,
        )
        self._tenants[tenant] = (read_at, settings)
        return settings

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
        """Emails by outcome since the mailer started (ADR 40)."""
        name = "perkbus_emails"
        samples = tuple(
            Sample(name + "_total", (("outcome", outcome),), self.outcomes[outcome])
            for outcome in ("sent", "refused", "skipped", "deferred", "dropped")
        )
        return [Family(name, "counter", "Emails by what became of them.", samples)]


class _NotNow(Exception):
    """An actor could not answer now (busy, failing): the email waits."""


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
