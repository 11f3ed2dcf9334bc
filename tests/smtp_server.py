"""A mail server for tests: a real SMTP server (aiosmtpd) on 127.0.0.1 that keeps every
email it takes, and answers a recipient with the replies it is told for that address,
in order (then takes it)."""

from __future__ import annotations

import asyncio
import email
import email.policy
from collections import defaultdict, deque
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from email.message import EmailMessage
from typing import Any

from aiosmtpd.smtp import SMTP, Envelope, Session

from actors.mail_transport import MailTransport
from actors.mailer import Mailer
from bus.client import Bus


@dataclass
class MailServer:
    url: str = ""
    taken: list[EmailMessage] = field(default_factory=list)
    #: Recipient address → replies to give its next RCPTs ("451 …", "550 …").
    replies: defaultdict[str, deque[str]] = field(default_factory=lambda: defaultdict(deque))
    #: Every RCPT asked, by address (taken or not).
    asked: list[str] = field(default_factory=list)
    #: Replies to give the next MAILs (a server refusing our sender, or busy), in order.
    senders_refused: deque[str] = field(default_factory=deque)
    #: Every MAIL FROM asked.
    mail_from: list[str] = field(default_factory=list)
    arrived: asyncio.Condition = field(default_factory=asyncio.Condition)

    async def wait_for(self, count: int, timeout_s: float = 15.0) -> list[EmailMessage]:
        """Once ``count`` emails have been taken, all that have."""
        async with self.arrived:
            await asyncio.wait_for(
                self.arrived.wait_for(lambda: len(self.taken) >= count), timeout_s
            )
        return list(self.taken)

    def to(self, address: str) -> list[EmailMessage]:
        return [m for m in self.taken if address in str(m["To"])]

    async def handle_MAIL(  # noqa: N802 (aiosmtpd's hook names)
        self, server: SMTP, session: Session, envelope: Envelope, address: str, options: Any
    ) -> str:
        self.mail_from.append(address)
        if self.senders_refused:
            return self.senders_refused.popleft()
        envelope.mail_from = address
        envelope.mail_options.extend(options)
        return "250 OK"

    async def handle_RCPT(  # noqa: N802
        self, server: SMTP, session: Session, envelope: Envelope, address: str, options: Any
    ) -> str:
        self.asked.append(address)
        if self.replies[address]:
            return self.replies[address].popleft()
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(  # noqa: N802
        self, server: SMTP, session: Session, envelope: Envelope
    ) -> str:
        raw = envelope.original_content or b""
        message = email.message_from_bytes(raw, policy=email.policy.default)
        assert isinstance(message, EmailMessage)
        async with self.arrived:
            self.taken.append(message)
            self.arrived.notify_all()
        return "250 Message accepted"


@asynccontextmanager
async def mail_server() -> AsyncIterator[MailServer]:
    box = MailServer()
    loop = asyncio.get_running_loop()
    server = await loop.create_server(
        lambda: SMTP(box, hostname="mail.test", loop=loop), "127.0.0.1", 0
    )
    port = server.sockets[0].getsockname()[1]
    box.url = f"smtp://127.0.0.1:{port}"
    try:
        yield box
    finally:
        server.close()
        await server.wait_closed()


#: Where the test mailers' links open.
APP = "https://rewards.acme.example"


def quick_mailer(bus: Bus, transport: MailTransport) -> Mailer:
    """A mailer as ``perkbus webhooks`` runs one, quick for tests: no wait for bursts, no
    kept settings, retries and pauses of a fraction of a second."""
    return Mailer(
        bus,
        transport,
        "Acme Rewards <rewards@acme.example>",
        APP,
        burst_events_per_s=0,
        settings_ttl_s=0,
        retry_s=(0.2,),
        pause_s=(0.3, 1.0),
    )
