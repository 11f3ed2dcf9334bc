"""How an email leaves (ADR 41): by SMTP to the installation's mail server, or, as the
embedded default, into a Maildir folder that nothing sends on (each email one file, as a
mail client or ``mutt -f`` reads it).

A transport either takes the email, or says why not: :class:`MailRefused` when the
server refused it for good (a 5xx to its recipient or its content: sending it again
would not help), :class:`MailDeferred` for anything else (the server away or busy, a
4xx, a refusal of our own sender or login, which the operator can mend).
"""

from __future__ import annotations

import asyncio
import mailbox
from email.message import EmailMessage
from pathlib import Path
from typing import Protocol
from urllib.parse import unquote, urlsplit

import aiosmtplib


class MailRefused(Exception):
    """The server refused this email for good."""


class MailDeferred(Exception):
    """The email was not sent now; it may be later."""


class MailTransport(Protocol):
    #: Where emails go, for logs and the banner (never a password).
    name: str

    async def send(self, message: EmailMessage) -> None: ...


class MaildirTransport:
    def __init__(self, path: str) -> None:
        self.name = f"Maildir {path}"
        self._box = mailbox.Maildir(Path(path), create=True)

    async def send(self, message: EmailMessage) -> None:
        try:
            await asyncio.to_thread(self._box.add, message)
        except OSError as e:
            raise MailDeferred(f"{self.name}: {e}") from e


class SmtpTransport:
    """One connection per email: ``smtp://`` upgrades with STARTTLS when the server
    offers it, ``smtps://`` speaks TLS from the start."""

    def __init__(self, url: str, timeout_s: float) -> None:
        parts = urlsplit(url)
        if parts.scheme not in ("smtp", "smtps") or not parts.hostname:
            raise ValueError("mail.smtp_url is smtp://[user:password@]host[:port] or smtps://…")
        self._implicit_tls = parts.scheme == "smtps"
        self._host = parts.hostname
        self._port = parts.port or (465 if self._implicit_tls else 587)
        self._user = unquote(parts.username) if parts.username else None
        self._password = unquote(parts.password) if parts.password else None
        self._timeout_s = timeout_s
        self.name = f"{parts.scheme}://{self._host}:{self._port}"

    async def send(self, message: EmailMessage) -> None:
        try:
            await aiosmtplib.send(
                message,
                hostname=self._host,
                port=self._port,
                username=self._user,
                password=self._password,
                use_tls=self._implicit_tls,
                start_tls=None,  # when offered
                timeout=self._timeout_s,
            )
        except aiosmtplib.SMTPRecipientsRefused as e:
            codes = [r.code for r in e.recipients]
            if codes and all(500 <= code < 600 for code in codes):
                raise MailRefused(f"{self.name}: {e.recipients[0].message}") from e
            raise MailDeferred(f"{self.name}: recipient not taken now ({codes})") from e
        except aiosmtplib.SMTPDataError as e:
            if 500 <= e.code < 600:
                raise MailRefused(f"{self.name}: content refused: {e.code} {e.message}") from e
            raise MailDeferred(f"{self.name}: {e.code} {e.message}") from e
        except (aiosmtplib.SMTPException, OSError) as e:
            raise MailDeferred(f"{self.name}: {type(e).__name__}: {e}") from e


def transport_for(smtp_url: str, maildir: str, timeout_s: float) -> MailTransport:
    if smtp_url:
        return SmtpTransport(smtp_url, timeout_s)
    return MaildirTransport(maildir)
