"""How an email leaves (ADR 41): by SMTP to the installation's mail server, or, as the
embedded default, into a Maildir folder that nothing sends on (each email one file, as a
mail client or ``mutt -f`` reads it).

A transport either takes the email, or says why not:

* :class:`MailRefused`: the server refused this email for good (a 5xx to its recipient
  or its content): sending it again would not help;
* :class:`MailDeferred`: this email not now (a 4xx to its recipient: greylisting, a full
  mailbox): it is tried again later, on its own;
* :class:`MailUnavailable`: no email now (the server away, busy or throttling, a 4xx or
  5xx to our own sender or login, which the operator mends): the mailer stops sending
  for a while, and this email waits with the others.
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
    """This email was not taken now; it may be later."""


class MailUnavailable(Exception):
    """No email can be sent now."""


class MailTransport(Protocol):
    #: Where emails go, for logs and the banner (never a password).
    name: str
    #: Whether emails are kept here rather than sent on (the Maildir).
    keeps: bool

    async def send(self, message: EmailMessage, sender: str, recipient: str) -> None: ...


class MaildirTransport:
    keeps = True

    def __init__(self, path: str) -> None:
        self.name = f"Maildir {path}"
        for part in ("tmp", "new", "cur"):  # Maildir(create=True) skips them in a folder
            (Path(path) / part).mkdir(parents=True, exist_ok=True)
        self._box = mailbox.Maildir(Path(path), create=False)

    async def send(self, message: EmailMessage, sender: str, recipient: str) -> None:
        try:
            await asyncio.to_thread(self._box.add, message)
        except OSError as e:
            raise MailUnavailable(f"{self.name}: {e}") from e


class SmtpTransport:
    """One connection per email. ``smtp://`` upgrades with STARTTLS when the server
    offers it, and insists on it when it logs in (a login never crosses in clear text);
    ``smtps://`` speaks TLS from the start."""

    keeps = False

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

    @property
    def start_tls(self) -> bool | None:
        """None: when offered; True: required (a login is sent)."""
        if self._implicit_tls:
            return False
        return True if self._user else None

    async def send(self, message: EmailMessage, sender: str, recipient: str) -> None:
        try:
            await aiosmtplib.send(
                message,
                sender=sender,
                recipients=[recipient],  # never read again from the headers
                hostname=self._host,
                port=self._port,
                username=self._user,
                password=self._password,
                use_tls=self._implicit_tls,
                start_tls=self.start_tls,
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
            raise MailUnavailable(f"{self.name}: {type(e).__name__}: {e}") from e


def transport_for(smtp_url: str, maildir: str, timeout_s: float) -> MailTransport:
    if smtp_url:
        return SmtpTransport(smtp_url, timeout_s)
    return MaildirTransport(maildir)
