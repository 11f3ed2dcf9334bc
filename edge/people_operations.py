"""What the API can do with people and their sessions, once for REST and GraphQL both
(see :mod:`edge.operations` for the shape every operation has)."""

from __future__ import annotations

import msgspec

from bus.client import Bus
from bus.errors import BusError, ErrorCode
from bus.messages import Command, Err, Ok
from bus.messages.common import Principal
from bus.messages.people import (
    KIND,
    AskPasswordLink,
    CreatePerson,
    GetPerson,
    GetSsoProvider,
    ListPeople,
    PasswordLinkAsked,
    PasswordLinkSent,
    PeopleList,
    PersonView,
    Refresh,
    RemoveSsoProvider,
    ResetPassword,
    SendPasswordLink,
    Session,
    SetPassword,
    SetSsoProvider,
    SignedOut,
    SignIn,
    SignInExternal,
    SignOut,
    SsoProviderView,
    UpdatePerson,
    tenant_of_refresh,
)
from bus.messages.wallet import PersonId
from bus.scopes import SCOPE_PEOPLE
from bus.time import rfc3339
from edge.operations import Caller, call, missing_scope
from edge.schemas import (
    CreatePersonIn,
    PasswordIn,
    PasswordLinkOut,
    PeopleOut,
    PeopleQuery,
    PersonOut,
    SsoIn,
    SsoOut,
    UpdatePersonIn,
)

#: Who asks when nobody is signed in yet (a sign-in, a refresh).
ANONYMOUS = Principal("anonymous")
#: The edge vouching for a person its tenant's identity provider signed in.
EDGE_SSO = Principal("perkbus:edge-sso", roles=("system",))


def person_out(v: PersonView) -> PersonOut:
    return PersonOut(
        v.person_id,
        v.email,
        v.name,
        list(v.roles),
        list(v.grants),
        v.status,
        v.has_password,
        rfc3339(v.created_ms),
        rfc3339(v.updated_ms),
    )


def _not_a_person(person_id: str) -> Err | None:
    try:
        msgspec.convert(person_id, PersonId)
    except msgspec.ValidationError:
        return Err.of(ErrorCode.NOT_FOUND, "no person has that id")
    return None


async def _person_call(caller: Caller, command: Command, keyed: bool) -> PersonOut | Err:
    value = await call(caller, KIND, command, keyed=keyed)
    if isinstance(value, Err):
        return value
    if not isinstance(value, PersonView):
        return Err.of(ErrorCode.INTERNAL, f"unexpected reply {type(value).__name__}")
    return person_out(value)


async def create_person(caller: Caller, data: CreatePersonIn) -> PersonOut | Err:
    if denied := missing_scope(caller, SCOPE_PEOPLE):
        return denied
    command = CreatePerson(
        data.id, data.email, data.name, tuple(data.roles), tuple(data.grants), data.password
    )
    return await _person_call(caller, command, keyed=True)


async def update_person(caller: Caller, person_id: str, data: UpdatePersonIn) -> PersonOut | Err:
    if denied := missing_scope(caller, SCOPE_PEOPLE) or _not_a_person(person_id):
        return denied
    command = UpdatePerson(
        person_id,
        data.name,
        tuple(data.roles) if data.roles is not None else None,
        tuple(data.grants) if data.grants is not None else None,
        data.status,
    )
    return await _person_call(caller, command, keyed=True)


async def get_person(caller: Caller, person_id: str) -> PersonOut | Err:
    """A person's own record, or anyone's with ``people:admin`` (owners and admins: the
    actor decides again)."""
    if denied := _not_a_person(person_id):
        return denied
    own = caller.identity.principal.subject == person_id
    if not own and (denied := missing_scope(caller, SCOPE_PEOPLE)):
        return denied
    return await _person_call(caller, GetPerson(person_id), keyed=False)


async def set_password(caller: Caller, person_id: str, data: PasswordIn) -> PersonOut | Err:
    """One's own password (with the current one), or anyone's for owners and admins."""
    if denied := _not_a_person(person_id):
        return denied
    command = SetPassword(person_id, data.new_password, data.current_password)
    return await _person_call(caller, command, keyed=True)


async def send_password_link(caller: Caller, person_id: str) -> PasswordLinkOut | Err:
    """Email a person a link to set their password (an invitation when they have none):
    ``people:admin``, and the actor allows it where it allows changing the person."""
    if denied := missing_scope(caller, SCOPE_PEOPLE) or _not_a_person(person_id):
        return denied
    value = await call(caller, KIND, SendPasswordLink(person_id), keyed=True)
    if isinstance(value, Err):
        return value
    if not isinstance(value, PasswordLinkSent):
        return Err.of(ErrorCode.INTERNAL, f"unexpected reply {type(value).__name__}")
    kind = "invitation" if value.invitation else "reset"
    return PasswordLinkOut(value.person_id, value.email, kind)


async def list_people(caller: Caller, query: PeopleQuery) -> PeopleOut | Err:
    if denied := missing_scope(caller, SCOPE_PEOPLE):
        return denied
    command = ListPeople(query.limit, query.cursor or "", query.q)
    value = await call(caller, KIND, command, keyed=False)
    if isinstance(value, Err):
        return value
    if not isinstance(value, PeopleList):
        return Err.of(ErrorCode.INTERNAL, f"unexpected reply {type(value).__name__}")
    return PeopleOut([person_out(p) for p in value.people], value.next_cursor or None)


def sso_out(v: SsoProviderView) -> SsoOut:
    return SsoOut(
        v.issuer, v.client_id, v.scopes, list(v.allowed_domains), v.enabled, rfc3339(v.updated_ms)
    )


async def _sso_call(caller: Caller, command: Command, keyed: bool) -> SsoOut | Err:
    if denied := missing_scope(caller, SCOPE_PEOPLE):
        return denied
    value = await call(caller, KIND, command, keyed=keyed)
    if isinstance(value, Err):
        return value
    if not isinstance(value, SsoProviderView):
        return Err.of(ErrorCode.INTERNAL, f"unexpected reply {type(value).__name__}")
    return sso_out(value)


async def set_sso(caller: Caller, data: SsoIn) -> SsoOut | Err:
    command = SetSsoProvider(
        data.issuer, data.client_id, data.client_secret, data.scopes, tuple(data.allowed_domains)
    )
    return await _sso_call(caller, command, keyed=True)


async def get_sso(caller: Caller) -> SsoOut | Err:
    return await _sso_call(caller, GetSsoProvider(), keyed=False)


async def remove_sso(caller: Caller) -> SsoOut | Err:
    return await _sso_call(caller, RemoveSsoProvider(), keyed=True)


class Anonymous:
    """A request from nobody signed in, to a tenant's people actor."""

    def __init__(self, bus: Bus, timeout_s: float, issuer: str, audience: str) -> None:
        self.bus = bus
        self.timeout_s = timeout_s
        self.issuer = issuer
        self.audience = audience

    async def _ask(self, tenant: str, body: Command, as_: Principal = ANONYMOUS) -> object:
        try:
            reply = await self.bus.request(tenant, KIND, body, as_, self.timeout_s)
        except BusError as e:
            return Err(code=e.code, message=str(e), retryable=True)
        return reply.value if isinstance(reply, Ok) else reply

    async def sign_in(self, tenant: str, email: str, password: str) -> Session | Err:
        value = await self._ask(tenant, SignIn(email, password, self.issuer, self.audience))
        return _session(value)

    async def sign_in_external(self, tenant: str, email: str, provider: str) -> Session | Err:
        body = SignInExternal(email, self.issuer, self.audience, provider)
        return _session(await self._ask(tenant, body, EDGE_SSO))

    async def ask_password_link(self, tenant: str, email: str) -> PasswordLinkAsked | Err:
        value = await self._ask(tenant, AskPasswordLink(email))
        if isinstance(value, Err | PasswordLinkAsked):
            return value
        return Err.of(ErrorCode.INTERNAL, f"unexpected reply {type(value).__name__}")

    async def reset_password(self, tenant: str, token: str, password: str) -> Session | Err:
        body = ResetPassword(token, password, self.issuer, self.audience)
        return _session(await self._ask(tenant, body))

    async def refresh(self, refresh_token: str) -> Session | Err:
        tenant = tenant_of_refresh(refresh_token)
        if not tenant:
            return Err.of(ErrorCode.UNAUTHENTICATED, "the refresh token is not valid")
        body = Refresh(refresh_token, self.issuer, self.audience)
        return _session(await self._ask(tenant, body))

    async def sign_out(self, refresh_token: str) -> SignedOut | Err:
        tenant = tenant_of_refresh(refresh_token)
        if not tenant:
            return SignedOut(0)
        value = await self._ask(tenant, SignOut(refresh_token))
        if isinstance(value, Err | SignedOut):
            return value
        return Err.of(ErrorCode.INTERNAL, f"unexpected reply {type(value).__name__}")


def _session(value: object) -> Session | Err:
    if isinstance(value, Err | Session):
        return value
    return Err.of(ErrorCode.INTERNAL, f"unexpected reply {type(value).__name__}")
