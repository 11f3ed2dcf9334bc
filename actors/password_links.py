"""Links to set a password, emailed (ADR 42): the rows the people actor keeps for them.

They live in the sessions table beside refresh tokens (a token's SHA-256, a person, a
status, an expiry: the same shape), told apart by their status, which no refresh ever
accepts (a refresh wants ``active``):

* a **request** (``reset_asked`` or ``invite_asked``), made when someone asks for a link
  or an admin sends one. It holds no token: its key is ``ask:<request id>``, which no
  SHA-256 in hex can equal, and its ``family_id`` is the request id. The mailer may ask
  for its token until :data:`ASK_TTL_MS` has passed (as long as it tries an email);
* a **link** (``reset_link``), made when the mailer sends the email: the SHA-256 of a
  token of 256 random bits, living :data:`RESET_TTL_MS` (a reset) or
  :data:`INVITE_TTL_MS` (an invitation) from then. A newer link voids the person's older
  ones (``reset_void``); using one spends it (``reset_used``) and closes the person's
  requests (``reset_closed``), so that an email sent again for an old request gets no
  token.
"""

from __future__ import annotations

from collections.abc import Iterable

from msgspec.structs import replace

from storage.ports import PersonRecord, SessionRecord

RESET_ASKED = "reset_asked"
INVITE_ASKED = "invite_asked"
ASKED = frozenset({RESET_ASKED, INVITE_ASKED})
LINK = "reset_link"
USED = "reset_used"
VOID = "reset_void"
CLOSED = "reset_closed"
#: A reset link works for an hour; an invitation, for a week (it may wait in an inbox).
RESET_TTL_MS = 3_600_000
INVITE_TTL_MS = 7 * 86_400_000
#: How long after a request its email may still get a token: as long as the mailer
#: tries an email (``actors.mailer.MAX_AGE_S``).
ASK_TTL_MS = 2 * 86_400_000
#: Why a link does nothing, whatever the reason (expired, used, replaced, unknown).
INVALID_LINK = "the link is not valid (it may have expired or been used): ask for a new one"


def ask_key(request_id: str) -> str:
    return f"ask:{request_id}"


def request_row(
    person: PersonRecord, request_id: str, invitation: bool, now_ms: int
) -> SessionRecord:
    status = INVITE_ASKED if invitation else RESET_ASKED
    return SessionRecord(
        person.tenant,
        ask_key(request_id),
        request_id,
        person.person_id,
        status,
        now_ms,
        now_ms + ASK_TTL_MS,
        1,
    )


def link_row(asked: SessionRecord, token_hash: str, now_ms: int) -> SessionRecord:
    ttl = INVITE_TTL_MS if asked.status == INVITE_ASKED else RESET_TTL_MS
    return SessionRecord(
        asked.tenant,
        token_hash,
        asked.family_id,
        asked.person_id,
        LINK,
        now_ms,
        now_ms + ttl,
        1,
    )


def open_request(row: SessionRecord | None, person_id: str, now_ms: int) -> bool:
    """Whether ``row`` is a request of ``person_id`` whose email may still get a token."""
    return (
        row is not None
        and row.status in ASKED
        and row.person_id == person_id
        and row.expires_ms > now_ms
    )


def live_link(row: SessionRecord | None, now_ms: int) -> bool:
    return row is not None and row.status == LINK and row.expires_ms > now_ms


def voided(
    rows: Iterable[SessionRecord], person_id: str, close_requests: bool
) -> list[SessionRecord]:
    """The person's live links voided (and their open requests closed), each a version
    on: what replacing or spending a link, or a new password, does to the others."""
    out = []
    for row in rows:
        if row.person_id != person_id:
            continue
        if row.status == LINK:
            out.append(replace(row, status=VOID, version=row.version + 1))
        elif close_requests and row.status in ASKED:
            out.append(replace(row, status=CLOSED, version=row.version + 1))
    return out
