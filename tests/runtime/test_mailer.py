"""Emails (ADR 41): the tenant's actors' events become emails to the people they are
about, in the tenant's words and locale, sent to a real SMTP server; refused ones are
not sent again, deferred ones are, and nothing is sent where there is no one to send to."""

from __future__ import annotations

import asyncio
import dataclasses
import hashlib
import json
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AsyncExitStack
from email.message import EmailMessage

import msgspec
import pytest
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy

from actors.mail_transport import MailTransport, SmtpTransport
from actors.mailer import Mailer
from actors.runtime.host import ActorHost
from bus.client import Bus
from bus.events import CloudEvent
from bus.messages import Command, Err, Ok, Principal, ReplyValue
from bus.messages.budget import CreateBudget
from bus.messages.common import Money
from bus.messages.orders import CancelOrder, OrderView, PlaceOrder, ResendOrder
from bus.messages.people import (
    AskPasswordLink,
    CreatePerson,
    PasswordLinkSent,
    ResetPassword,
    SendPasswordLink,
    Session,
    UpdatePerson,
)
from bus.messages.tenant_config import DocumentView, GetDocument, PutDocument
from bus.messages.vouchers import CodeRow, ImportCodes
from bus.messages.wallet import IssuePoints
from bus.scopes import ALL_SCOPES
from storage.ports import CatalogueStore, Ledger
from tests.conftest import start_host
from tests.smtp_server import APP, MailServer, mail_server, quick_mailer
from tests.support import gift_card, raw_fetchall, stream_messages, until

pytestmark = pytest.mark.ledgers("sqlite")

ADMIN = Principal("admin@acme", roles=("admin",), scopes=ALL_SCOPES)
PASSWORD = "a long enough password"
Ask = Callable[..., Awaitable[ReplyValue]]


@pytest.fixture
async def host(bus: Bus, ledger: Ledger, catalogue: CatalogueStore) -> AsyncIterator[ActorHost]:
    await catalogue.put_products([gift_card()])
    h = await start_host(bus, ledger, catalogue)
    yield h
    await h.stop()


@pytest.fixture
async def mail(bus: Bus, host: ActorHost) -> AsyncIterator[tuple[MailServer, Mailer]]:
    async with AsyncExitStack() as stack:
        server = await stack.enter_async_context(mail_server())
        transport = SmtpTransport(server.url, timeout_s=5)
        mailer = quick_mailer(bus, transport)
        mailer.start()
        stack.push_async_callback(mailer.stop)
        await until(lambda: _consuming(bus), "the mailer's consumer")
        yield server, mailer


async def _consuming(bus: Bus) -> bool:
    try:
        await bus.js.consumer_info("PB_EVENTS", "perkbus-mail")
    except Exception:
        return False
    return True


@pytest.fixture
def ask(bus: Bus) -> Ask:
    async def ask(kind: str, body: Command, who: Principal = ADMIN) -> ReplyValue:
        reply = await bus.request("acme", kind, body, who, timeout_s=30)
        assert isinstance(reply, Ok), reply
        return reply.value

    return ask


async def setting(ask: Ask, name: str, body: str) -> None:
    await ask("tenant_config", PutDocument(name, body.encode(), None))  # type: ignore[arg-type]


async def test_rewards_and_orders_are_told_in_the_tenants_words_and_locale(
    ask: Ask, mail: tuple[MailServer, Mailer]
) -> None:
    server, _ = mail
    await setting(ask, "branding", '{"display_name": "Acme Kudos"}')
    await setting(ask, "locales", '{"default": "fr-CA", "enabled": ["en", "fr-CA"]}')
    await setting(
        ask,
        "programme",
        '{"points_name": "Kudos", "review_threshold": {"amount_minor": 2500, "currency": "EUR"}}',
    )
    # French for the points only (found for fr-CA by its language); the rest built in
    await setting(
        ask,
        "email-templates",
        '{"templates": {"points.issued": {"fr": {'
        '"subject": "Vous avez re\\u00e7u {{points}} {{points_name}}",'
        '"body": "Bonjour {{person_name}}, {{reason}} Solde : {{balance}} {{points_name}}."'
        "}}}}",
    )
    await ask("treasury", CreateBudget("b1", "Programme", Money(100_000, "EUR")))
    await ask(
        "vouchers",
        ImportCodes("card-de", 2500, "EUR", (CodeRow("CODE-0001"), CodeRow("CODE-0002"))),
    )
    ann = "ann@acme.example"
    await ask("treasury", IssuePoints("b1", ann, 3000, "rwd-1", memo="Merci !"))
    [points] = await server.wait_for(1)
    assert points["To"] == "ann <ann@acme.example>"
    assert points["From"] == "Acme Kudos via Acme Rewards <rewards@acme.example>"
    assert points["Subject"] == "Vous avez reçu 3000 Kudos"
    assert points.get_content().strip() == "Bonjour ann, Merci ! Solde : 3000 Kudos."
    assert points["Content-Language"] == "fr"  # the language it is written in
    assert points["Message-ID"].endswith(".points.issued@acme.example>")

    fulfilled = await ask("orders", PlaceOrder("ord-1", "card-de", 2500, ann, "b1"))
    assert isinstance(fulfilled, OrderView)
    assert fulfilled.status == "fulfilled", fulfilled.reason
    [_, ready] = await server.wait_for(2)
    assert ready["Subject"] == "Your Card is ready"
    assert ready["Content-Language"] == "en"  # the built-in text
    body = ready.get_content()
    assert f"your order {fulfilled.order_id} of Card in Acme Kudos is ready" in body
    assert f"{APP}/?tenant=acme#/rewards/{fulfilled.order_id}" in body

    # paid with points and at the review threshold: held, and told so
    held = await ask(
        "treasury", PlaceOrder("ord-2", "card-de", 2500, ann), Principal(ann, ("end_user",))
    )
    assert isinstance(held, OrderView)
    assert held.status == "held"
    [*_, waiting] = await server.wait_for(3)
    assert waiting["Subject"] == "Your order of Card is being reviewed"
    assert held.order_id in waiting.get_content()

    # staff send the code's email again, then cancel the order: told in plain words
    await ask("orders", ResendOrder(fulfilled.order_id))
    await ask("orders", CancelOrder(fulfilled.order_id, "ticket 4411: duplicate"))
    *_, again, cancelled = await server.wait_for(5)
    assert again["Subject"] == "Your Card is ready"
    assert cancelled["Subject"] == "Your order of Card was cancelled"
    assert "(the programme cancelled it)" in cancelled.get_content()
    assert "ticket 4411" not in cancelled.get_content()  # staff's words stay with staff
    assert len(server.to(ann)) == 5


async def test_people_in_the_directory_are_written_to_at_their_address_while_active(
    ask: Ask, mail: tuple[MailServer, Mailer]
) -> None:
    server, mailer = mail
    await setting(ask, "branding", '{"display_name": "Acme"}')
    await ask("treasury", CreateBudget("b1", "Programme", Money(100_000, "EUR")))
    await ask(
        "people", CreatePerson("emp-7", "seven@acme.example", "Seven Smith", password=PASSWORD)
    )
    [welcome] = await server.wait_for(1)
    assert welcome["To"] == "Seven Smith <seven@acme.example>"
    assert welcome["Subject"] == "Welcome to Acme"
    assert f"{APP}/?tenant=acme" in welcome.get_content().splitlines()

    await ask("treasury", IssuePoints("b1", "emp-7", 10, "rwd-1"))
    [_, points] = await server.wait_for(2)
    assert points["To"] == "Seven Smith <seven@acme.example>"
    assert "you received 10 points in Acme" in points.get_content()
    assert f"{APP}/?tenant=acme" in points.get_content().splitlines()  # where to redeem

    await ask("treasury", IssuePoints("b1", "p1", 10, "rwd-2"))  # no address to write to
    await ask("people", UpdatePerson("emp-7", status="disabled"))
    await ask("treasury", IssuePoints("b1", "emp-7", 10, "rwd-3"))
    await until(lambda: _at_least(mailer, "skipped", 2), "two events that send nothing")
    assert len(server.taken) == 2
    assert server.asked == ["seven@acme.example", "seven@acme.example"]


async def test_refused_emails_are_dropped_deferred_ones_sent_later_and_off_ones_never(
    ask: Ask, mail: tuple[MailServer, Mailer]
) -> None:
    server, mailer = mail
    await setting(ask, "email-templates", '{"off": ["welcome"]}')
    await ask("treasury", CreateBudget("b1", "Programme", Money(100_000, "EUR")))
    server.replies["bad@acme.example"].append("550 5.1.1 no such mailbox")
    server.replies["slow@acme.example"].extend(["451 4.3.0 try later", "421 4.3.0 busy"])
    await ask("people", CreatePerson("new@acme.example", "new@acme.example", "New Person"))
    await ask("treasury", IssuePoints("b1", "bad@acme.example", 10, "rwd-1"))
    await ask("treasury", IssuePoints("b1", "slow@acme.example", 10, "rwd-2"))
    [sent] = await server.wait_for(1)
    assert sent["To"] == "slow <slow@acme.example>"
    assert server.asked.count("slow@acme.example") == 3  # two deferrals, then taken
    await until(lambda: _at_least(mailer, "refused", 1), "the refusal")
    assert server.asked.count("bad@acme.example") == 1  # never asked again
    assert mailer.outcomes["deferred"] == 2
    assert mailer.outcomes["skipped"] == 1  # the welcome the tenant turned off
    assert "new@acme.example" not in server.asked


class _Failing:
    """A transport that fails, as no transport should, for one address."""

    def __init__(self, inner: MailTransport, address: str) -> None:
        self.name, self.keeps, self._inner, self._address = inner.name, False, inner, address

    async def send(self, message: EmailMessage, sender: str, recipient: str) -> None:
        if recipient == self._address:
            raise RuntimeError("unforeseen")
        await self._inner.send(message, sender, recipient)


async def _at_least(mailer: Mailer, outcome: str, count: int) -> bool:
    return mailer.outcomes[outcome] >= count


async def test_addresses_it_cannot_write_to_are_skipped_and_the_rest_flow(
    ask: Ask, mail: tuple[MailServer, Mailer]
) -> None:
    """A person whose address is not plain ASCII, or would read as several, gets nothing
    (and stops nothing: the mailer carries on); the email goes to the address alone,
    whatever its header says."""
    server, mailer = mail
    await ask("treasury", CreateBudget("b1", "Programme", Money(100_000, "EUR")))
    for n, (person, address) in enumerate(
        (("jorg", "jörg@acme.example"), ("semi", "root;x@acme.example"), ("ok", "ok@acme.example"))
    ):
        await ask("people", CreatePerson(person, address, "N", password=PASSWORD))
        await ask("treasury", IssuePoints("b1", person, 10, f"rwd-{n}"))
    await until(lambda: _at_least(mailer, "skipped", 4), "the four that send nothing")
    sent = await server.wait_for(2)
    assert [m["To"] for m in sent] == ["N <ok@acme.example>"] * 2
    assert server.asked == ["ok@acme.example"] * 2

    # an email that cannot be sent for a reason no one foresaw is given up, alone
    mailer.transport = _Failing(mailer.transport, "boom@acme.example")
    await ask("treasury", IssuePoints("b1", "boom@acme.example", 10, "rwd-boom"))
    await ask("treasury", IssuePoints("b1", "ok", 10, "rwd-after"))
    await server.wait_for(3)
    await until(lambda: _at_least(mailer, "failed", 1), "the one that failed")
    assert mailer.consumer_failures == 0


async def test_while_the_mail_server_refuses_us_the_mailer_pauses_then_sends_everything(
    ask: Ask, mail: tuple[MailServer, Mailer]
) -> None:
    server, mailer = mail
    server.senders_refused.extend(["451 4.7.1 try later", "421 4.3.2 going down"])
    await ask("treasury", CreateBudget("b1", "Programme", Money(100_000, "EUR")))
    for n in range(3):
        await ask("treasury", IssuePoints("b1", f"p{n}@acme.example", 10, f"rwd-{n}"))
    sent = await server.wait_for(3)
    assert sorted(m["To"].addresses[0].addr_spec for m in sent) == [
        f"p{n}@acme.example" for n in range(3)
    ]
    # each refusal paused the mailer; none was counted against an email
    assert len(server.mail_from) == 5
    await until(lambda: _at_least(mailer, "sent", 3), "three sent")
    assert mailer.outcomes["deferred"] == 0


async def test_an_event_from_before_the_first_start_is_mailed_and_a_consumer_kept(
    bus: Bus, ask: Ask, host: ActorHost
) -> None:
    """A new mailer looks back a quarter of an hour (the demo's people come before it);
    one started again keeps its consumer and its place, whatever config it had."""
    await ask("treasury", CreateBudget("b1", "Programme", Money(100_000, "EUR")))
    await ask("treasury", IssuePoints("b1", "early@acme.example", 10, "rwd-early"))
    async with mail_server() as server:
        transport = SmtpTransport(server.url, timeout_s=5)
        first = Mailer(bus, transport, "r@acme.example", APP, burst_events_per_s=0)
        first.start()
        [early] = await server.wait_for(1)
        assert early["To"].addresses[0].addr_spec == "early@acme.example"
        await first.stop()
        info = await bus.js.consumer_info("PB_EVENTS", "perkbus-mail")
        made = info.created
        # an older mailer's narrower config: the new one widens it in place
        old = dataclasses.replace(info.config, filter_subjects=["pb.evt.*.reward.issued"])
        await bus.js.add_consumer("PB_EVENTS", old)
        await ask("treasury", IssuePoints("b1", "later@acme.example", 10, "rwd-later"))
        again = Mailer(bus, transport, "r@acme.example", APP, burst_events_per_s=0)
        again.start()
        try:
            [_, later] = await server.wait_for(2)
            assert later["To"].addresses[0].addr_spec == "later@acme.example"
            info = await bus.js.consumer_info("PB_EVENTS", "perkbus-mail")
            assert "pb.evt.*.order.fulfilled" in (info.config.filter_subjects or [])
            assert info.created == made  # changed in place, not made again
            assert again.consumer_failures == 0
        finally:
            await again.stop()
        assert len(server.taken) == 2  # nothing sent twice


async def test_a_consumer_jetstream_cannot_change_is_made_again_after_what_it_gave(
    bus: Bus, ask: Ask, host: ActorHost
) -> None:
    """One made by hand without acknowledgements (which cannot become explicit in place)
    and read up to the first event: made again after it, so that event is not mailed
    twice, and the next one is."""
    await ask("treasury", CreateBudget("b1", "Programme", Money(100_000, "EUR")))
    await ask("treasury", IssuePoints("b1", "first@acme.example", 10, "rwd-1"))
    by_hand = ConsumerConfig(
        durable_name="perkbus-mail",
        ack_policy=AckPolicy.NONE,
        deliver_policy=DeliverPolicy.ALL,
        filter_subject="pb.evt.*.reward.issued",
    )
    await bus.js.add_consumer("PB_EVENTS", by_hand)
    pulled = await bus.js.pull_subscribe_bind(durable="perkbus-mail", stream="PB_EVENTS")
    [given] = await pulled.fetch(1, timeout=5)
    assert b"first@acme.example" in given.data
    await pulled.unsubscribe()
    await ask("treasury", IssuePoints("b1", "second@acme.example", 10, "rwd-2"))
    async with mail_server() as server:
        mailer = Mailer(
            bus, SmtpTransport(server.url, 5), "r@acme.example", APP, burst_events_per_s=0
        )
        mailer.start()
        try:
            [sent] = await server.wait_for(1)
            assert sent["To"].addresses[0].addr_spec == "second@acme.example"
            info = await bus.js.consumer_info("PB_EVENTS", "perkbus-mail")
            assert info.config.ack_policy == AckPolicy.EXPLICIT
            await asyncio.sleep(0.5)
            assert len(server.taken) == 1  # the first was not mailed
        finally:
            await mailer.stop()


async def test_password_links_carry_a_token_made_when_sent_that_works_once(
    ask: Ask, bus: Bus, ledger: Ledger, mail: tuple[MailServer, Mailer]
) -> None:
    """ADR 42: the event names a request, never a token; the mailer gets the token when it
    sends the email (a deferred email gets a fresh one, the first no longer works), in the
    tenant's words; an email sent again after the link was used gets none."""
    server, mailer = mail
    await setting(ask, "locales", '{"default": "fr", "enabled": ["en", "fr"]}')
    await setting(
        ask,
        "email-templates",
        '{"templates": {"password.invite": {"fr": {'
        '"subject": "Bienvenue dans {{programme_name}}",'
        '"body": "Bonjour {{person_name}}, choisissez un mot de passe : {{password_url}}"'
        '}}}, "off": ["welcome"]}',
    )
    await ask("people", CreatePerson("zoe", "zoe@acme.example", "Zoé"))  # no password
    sent = await ask("people", SendPasswordLink("zoe"))
    assert sent == PasswordLinkSent("zoe", "zoe@acme.example", True)
    [invitation] = await server.wait_for(1)
    assert invitation["Subject"] == "Bienvenue dans acme"
    assert invitation["Content-Language"] == "fr"
    body = invitation.get_content().strip()
    assert body.startswith(f"Bonjour Zoé, choisissez un mot de passe : {APP}/?tenant=acme#reset=")
    token = body.rpartition("#reset=")[2]

    await ask("people", CreatePerson("max", "max@acme.example", "Max", password=PASSWORD))
    server.replies["max@acme.example"].append("451 4.3.0 try later")
    await ask("people", AskPasswordLink("MAX@acme.example"), Principal("anonymous"))
    [_, reset] = await server.wait_for(2)
    assert reset["Subject"] == "Choose a new password for acme"  # built in: no French text
    assert server.asked.count("max@acme.example") == 2  # deferred once, then taken
    links = await raw_fetchall(
        ledger,
        "SELECT token_hash, status FROM person_sessions WHERE person_id = 'max'"
        " AND status IN ('reset_link', 'reset_void')",
    )
    sent_token = reset.get_content().split("#reset=")[1].split()[0]
    digest = hashlib.sha256(sent_token.encode()).hexdigest()
    assert sorted(status for _, status in links) == ["reset_link", "reset_void"]
    assert (digest, "reset_link") in links  # the token sent is the one that works

    anonymous = Principal("anonymous")
    used = await bus.request("acme", "people", ResetPassword(token, PASSWORD), anonymous, 10)
    assert isinstance(used, Ok)
    assert isinstance(used.value, Session)
    again = await bus.request("acme", "people", ResetPassword(token, PASSWORD), anonymous, 10)
    assert isinstance(again, Err)

    # the invitation's event, delivered again (a mailer stopped before its ack): no token
    asked = await stream_messages(bus, "pb.evt.acme.people.password_reset_asked")
    [event] = [
        e
        for e in (msgspec.json.decode(json.dumps(a).encode(), type=CloudEvent) for a in asked)
        if b'"zoe"' in bytes(e.data)
    ]
    assert await mailer.compose(event) is None

    current = await ask("tenant_config", GetDocument("email-templates"))
    assert isinstance(current, DocumentView)
    off = PutDocument("email-templates", b'{"off": ["password.reset"]}', current.revision)
    await ask("tenant_config", off)
    await ask("people", AskPasswordLink("max@acme.example"), anonymous)
    await until(lambda: _at_least(mailer, "skipped", 2), "the reset the tenant turned off")
    assert len(server.taken) == 2
