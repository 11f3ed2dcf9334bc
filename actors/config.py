"""Settings of an actor host (a section of the settings tree)."""

from __future__ import annotations

from typing import Annotated

import msgspec


class ActorsConfig(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    #: Most messages one actor decides before its batch is committed (at most 900: a batch's
    #: idempotency keys are looked up in one statement, and old SQLite allows 999 values).
    batch_max: Annotated[int, msgspec.Meta(ge=1, le=900)] = 256
    #: Most actor batches one group commit writes in one transaction.
    commit_max: int = 1024
    #: An actor with nothing to do for this long is passivated.
    idle_timeout_s: float = 300.0
    #: How long the reply to a request with an idempotency key is kept (30 days).
    idempotency_ttl_s: float = 30 * 24 * 3600
    #: The points currency of tenants that set no points rate (one point = one minor unit).
    points_currency: str = "EUR"
    #: How long after delivery staff may cancel an order.
    order_cancel_window_s: float = 1800.0
    #: Available codes expiring within this many days raise ``voucher.codes_expiring``.
    voucher_expiry_warning_days: Annotated[int, msgspec.Meta(ge=1, le=3650)] = 30
    #: A pool whose available codes fall below this raises ``voucher.pool_low``.
    voucher_low_stock: Annotated[int, msgspec.Meta(ge=1)] = 10
    #: How often a host wakes the work that waits on time: sweeps for expiring codes, and
    #: orders that could not finish (besides once when it starts).
    wake_interval_s: Annotated[float, msgspec.Meta(gt=0)] = 3600.0
    #: How often a host looks for scheduled work whose time has come (a bulk job set to
    #: start at a time starts at most this much later).
    schedule_poll_s: Annotated[float, msgspec.Meta(gt=0)] = 5.0
    #: How long a token signing key signs before a new one takes over (30 days).
    signing_key_rotation_s: Annotated[float, msgspec.Meta(gt=0)] = 30 * 24 * 3600.0
    #: Lifetime of the access tokens the token endpoint issues (15 minutes).
    access_token_ttl_s: Annotated[int, msgspec.Meta(ge=60, le=86_400)] = 900
    #: Lifetime of a person's refresh token; a session idle this long ends (14 days).
    refresh_token_ttl_s: Annotated[int, msgspec.Meta(ge=300, le=90 * 86_400)] = 14 * 86_400
    #: Partitions this host serves; empty means all of them.
    partitions: tuple[int, ...] = ()
    #: Name of this host in logs and health reports; empty means hostname-pid.
    host_id: str = ""


class MailConfig(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """The emails perkbus sends to people (ADR 41), from the webhook relay's process."""

    #: Send emails at all (points issued, orders fulfilled, failed or held, welcomes).
    enabled: bool = True
    #: ``smtp://[user:password@]host[:port]`` (STARTTLS when the server offers it; 587 by
    #: default) or ``smtps://…`` (TLS from the start; 465). Empty: the embedded default,
    #: which keeps every email in the Maildir ``maildir`` and sends nothing out.
    smtp_url: str = ""
    #: Where emails are kept when ``smtp_url`` is empty (one file per email, ``new/``).
    maildir: str = "var/mail"
    #: The ``From`` of every email.
    sender: str = "perkbus <rewards@perkbus.localhost>"
    #: The site people open from an email (sign-in and order links); empty: the edge's
    #: ``public_url``, else its own address.
    app_url: str = ""
    #: One SMTP exchange's limit (connecting, sending, the server's answer).
    timeout_s: Annotated[float, msgspec.Meta(gt=0, le=120)] = 30.0
    #: Emails being sent at once.
    concurrency: Annotated[int, msgspec.Meta(ge=1, le=64)] = 4
    #: While events arrive faster than this (a redemption burst), emails wait …
    burst_events_per_s: Annotated[int, msgspec.Meta(ge=0)] = 1000
    #: … for at most this long after the mailer last caught up (0: never waits).
    burst_lag_s: Annotated[float, msgspec.Meta(ge=0)] = 30.0
