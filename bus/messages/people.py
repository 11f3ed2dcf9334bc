"""People: the admins and end users of a tenant, how they sign in, and their sessions.

One people actor per tenant (key ``all``) owns its people and their sessions (ADR 20).
A person signs in with an email and a password (kept as an argon2id hash) or through the
tenant's OpenID Connect provider, and gets a session: a short-lived access token (a JWT
like a client's) and a refresh token that works once — each use returns a new one, and
using a spent one again ends the whole session (theft detection, RFC 9700 §4.14.2). A
refresh token names its tenant (``pbr_<tenant>.<random>``) so that a refresh, which
carries no access token, can be routed; it is kept only as a hash.
"""

from __future__ import annotations

import re
from typing import Annotated, ClassVar

import msgspec

from bus.messages.common import ONE_LINE, TENANT_WIDE, Cursor, PageSize, whole
from bus.messages.grants import Grant
from bus.messages.identity import RoleName
from bus.messages.wallet import PersonId

KIND = "people"
REFRESH_PREFIX = "pbr_"
#: A tenant id (``bus.subjects``: a single subject token).
_TENANT_ID = re.compile(r"[a-z0-9][a-z0-9_-]{0,62}")

Email = Annotated[
    str,
    msgspec.Meta(
        pattern=whole("[^@\\s]{1,64}@[^@\\s]{1,190}\\.[^@\\s.]{2,63}"),
        max_length=254,
        description="An email address (compared case-insensitively)",
    ),
]
#: Long enough to resist guessing; bounded so that hashing cannot be made expensive.
Password = Annotated[
    str,
    msgspec.Meta(min_length=12, max_length=256, description="12 to 256 characters"),
]
PersonName = Annotated[str, msgspec.Meta(min_length=1, max_length=200, pattern=ONE_LINE)]
#: ``active`` people sign in; ``disabled`` ones cannot, and their sessions end.
PersonStatus = Annotated[str, msgspec.Meta(pattern=whole("active|disabled"))]
RefreshToken = Annotated[str, msgspec.Meta(min_length=1, max_length=200)]


def tenant_of_refresh(token: str) -> str:
    """The tenant a refresh token names; "" if it is not one of ours (or names no tenant
    an id could be)."""
    if not token.startswith(REFRESH_PREFIX):
        return ""
    tenant = token[len(REFRESH_PREFIX) :].partition(".")[0]
    return tenant if _TENANT_ID.fullmatch(tenant) else ""


class _TenantWide(msgspec.Struct, frozen=True):
    @property
    def actor_key(self) -> str:
        return TENANT_WIDE


class CreatePerson(_TenantWide, frozen=True, tag="people.create"):
    """Add a person (owners and admins). Without a password, the person signs in only
    through the tenant's identity provider until one is set."""

    secret_fields: ClassVar[tuple[str, ...]] = ("password",)

    person_id: PersonId
    email: Email
    name: PersonName
    roles: tuple[RoleName, ...] = ("end_user",)
    grants: tuple[Grant, ...] = ()
    password: Password | None = None


class UpdatePerson(_TenantWide, frozen=True, tag="people.update"):
    """Change what a person may do (owners and admins); fields left out stay."""

    person_id: PersonId
    name: PersonName | None = None
    roles: tuple[RoleName, ...] | None = None
    grants: tuple[Grant, ...] | None = None
    status: PersonStatus | None = None


class GetPerson(_TenantWide, frozen=True, tag="people.get"):
    person_id: PersonId


#: Words to look for in people's emails and names (case-insensitive, anywhere in them).
PeopleSearch = Annotated[str, msgspec.Meta(min_length=1, max_length=100, pattern=ONE_LINE)]


class ListPeople(_TenantWide, frozen=True, tag="people.list"):
    """The tenant's people by email, ``limit`` at a time, after ``cursor`` (the
    ``next_cursor`` of the page before); with ``q``, those whose email or name holds it.
    Answered with a :class:`PeopleList`."""

    limit: PageSize = 20
    cursor: Cursor = ""
    q: PeopleSearch | None = None


class SetPassword(_TenantWide, frozen=True, tag="people.password"):
    """A new password: the person's own (with the current one), or set by an owner or
    admin. Every session of the person ends."""

    secret_fields: ClassVar[tuple[str, ...]] = ("new_password", "current_password")

    person_id: PersonId
    new_password: Password
    current_password: str = ""


class SignIn(_TenantWide, frozen=True, tag="people.sign_in"):
    """Email and password; the issuer and audience are the edge's, for the tokens."""

    secret_fields: ClassVar[tuple[str, ...]] = ("password",)

    email: Email
    password: Annotated[str, msgspec.Meta(max_length=256)]
    issuer: str = ""
    audience: str = ""


class SignInExternal(_TenantWide, frozen=True, tag="people.sign_in_external"):
    """A person the tenant's identity provider vouched for (the edge verified its ID
    token): sent by the edge as the system only."""

    email: Email
    issuer: str = ""
    audience: str = ""
    #: The identity provider that vouched (for the audit trail).
    provider: str = ""


class Refresh(_TenantWide, frozen=True, tag="people.refresh"):
    secret_fields: ClassVar[tuple[str, ...]] = ("refresh_token",)

    refresh_token: RefreshToken
    issuer: str = ""
    audience: str = ""


class SignOut(_TenantWide, frozen=True, tag="people.sign_out"):
    """End the session the refresh token belongs to."""

    secret_fields: ClassVar[tuple[str, ...]] = ("refresh_token",)

    refresh_token: RefreshToken


HttpsUrl = Annotated[
    str,
    msgspec.Meta(
        pattern=(
            "^(https://[^\\s/?#@]{1,253}|http://(localhost|127(\\.[0-9]{1,3}){3}|\\[::1\\])"
            "(:[0-9]{1,5})?)([/?#][^\\s]{0,480})?$"
        ),
        max_length=500,
        description="The provider's issuer URL (https; http only for loopback tests)",
    ),
]
Domain = Annotated[str, msgspec.Meta(pattern=whole("[a-z0-9.-]{1,253}"))]


class SetSsoProvider(_TenantWide, frozen=True, tag="people.sso.set"):
    """Sign the tenant's people in with this OpenID Connect provider (owners, admins)."""

    secret_fields: ClassVar[tuple[str, ...]] = ("client_secret",)

    issuer: HttpsUrl
    client_id: Annotated[str, msgspec.Meta(min_length=1, max_length=500)]
    client_secret: Annotated[str, msgspec.Meta(min_length=1, max_length=1000)]
    scopes: Annotated[str, msgspec.Meta(max_length=500)] = "openid email profile"
    allowed_domains: tuple[Domain, ...] = ()


class GetSsoProvider(_TenantWide, frozen=True, tag="people.sso.get"):
    pass


class RemoveSsoProvider(_TenantWide, frozen=True, tag="people.sso.remove"):
    pass


class AskPasswordLink(_TenantWide, frozen=True, tag="people.password_link.ask"):
    """Someone forgot their password (ADR 42): if ``email`` is an active person's, the
    actor records the request and emits ``people.password_reset_asked`` (the mailer then
    emails the link). Answered alike whether or not anyone has the address."""

    email: Email


class SendPasswordLink(_TenantWide, frozen=True, tag="people.password_link.send"):
    """An owner or admin emails a person a link to set their password: an invitation to
    one who has none, a reset to one who has. Answered with a :class:`PasswordLinkSent`."""

    person_id: PersonId


#: A request for a link (``people.password_reset_asked``'s ``request_id``).
RequestId = Annotated[str, msgspec.Meta(pattern=whole("[0-9a-f]{32}"))]


class IssuePasswordLink(_TenantWide, frozen=True, tag="people.password_link.issue"):
    """The mailer, sending the email of a request, asks for its one-time token (the
    system only): the actor keeps the token's SHA-256 and answers the token itself, once,
    in a :class:`PasswordLink`. A newer token replaces the person's unused ones."""

    person_id: PersonId
    request_id: RequestId


#: A token of a password link (``secrets.token_urlsafe(32)``: 43 characters).
LinkToken = Annotated[str, msgspec.Meta(min_length=1, max_length=200)]


class ResetPassword(_TenantWide, frozen=True, tag="people.password_link.use"):
    """A new password with the token of an emailed link: the token works once, every
    session of the person ends, the lockout is lifted, and the person is signed in."""

    secret_fields: ClassVar[tuple[str, ...]] = ("token", "new_password")

    token: LinkToken
    new_password: Password
    issuer: str = ""
    audience: str = ""


PeopleCommand = (
    CreatePerson
    | UpdatePerson
    | GetPerson
    | ListPeople
    | SetPassword
    | SignIn
    | SignInExternal
    | Refresh
    | SignOut
    | SetSsoProvider
    | GetSsoProvider
    | RemoveSsoProvider
    | AskPasswordLink
    | SendPasswordLink
    | IssuePasswordLink
    | ResetPassword
)


class PersonView(msgspec.Struct, frozen=True, tag="people.person"):
    person_id: str
    email: str
    name: str
    roles: tuple[str, ...]
    grants: tuple[str, ...]
    status: str
    has_password: bool
    created_ms: int
    updated_ms: int


class PeopleList(msgspec.Struct, frozen=True, tag="people.list_reply"):
    people: tuple[PersonView, ...]
    #: The cursor of the next page ("" on the last).
    next_cursor: str = ""


class Session(msgspec.Struct, frozen=True, tag="people.session"):
    """A signed-in person's tokens. Never stored as a reply (it carries them)."""

    access_token: str
    refresh_token: str
    expires_in: int
    refresh_expires_in: int
    person: PersonView

    @property
    def final(self) -> bool:
        return False


class SsoProviderView(msgspec.Struct, frozen=True, tag="people.sso"):
    """A tenant's provider; the client secret only to the edge (the system)."""

    issuer: str
    client_id: str
    scopes: str
    allowed_domains: tuple[str, ...]
    enabled: bool
    updated_ms: int
    client_secret: str = ""

    @property
    def final(self) -> bool:
        return not self.client_secret


class SignedOut(msgspec.Struct, frozen=True, tag="people.signed_out"):
    sessions_ended: int


class PasswordLinkAsked(msgspec.Struct, frozen=True, tag="people.password_link.asked"):
    """The answer to :class:`AskPasswordLink`, the same whoever has the address."""


class PasswordLinkSent(msgspec.Struct, frozen=True, tag="people.password_link.sent"):
    """A link is on its way to ``person_id``: an invitation (``invitation``: the person
    has no password yet) or a reset."""

    person_id: str
    email: str
    invitation: bool


class PasswordLink(msgspec.Struct, frozen=True, tag="people.password_link"):
    """A link's one-time token, for the mailer only. Never stored as a reply."""

    token: str
    expires_ms: int
    invitation: bool

    @property
    def final(self) -> bool:
        return False


class PasswordResetAsked(msgspec.Struct, frozen=True):
    """Data of ``people.password_reset_asked``: a link to set a password is to be emailed
    to the person (an invitation when they have none yet). Never the token: the mailer
    asks for it when it sends the email (ADR 42)."""

    person_id: str
    request_id: str
    invitation: bool


class SessionEnded(msgspec.Struct, frozen=True):
    """Data of ``people.session_ended``: signed out, or ended because a spent refresh
    token was shown again (``reused``). The edges refuse the session's access tokens."""

    person_id: str
    session_id: str
    reason: str


class PersonChanged(msgspec.Struct, frozen=True):
    """Data of the ``people.person_created``/``person_updated``/``password_changed``
    events (never a password or its hash)."""

    person_id: str
    email: str
    roles: tuple[str, ...]
    grants: tuple[str, ...]
    status: str
