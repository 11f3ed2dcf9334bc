"""The people actor: one per tenant, owner of its people and their sessions (ADR 20).

A batch runs in three steps: load what it names (people by id or email, session tokens
by hash), do the password work of the whole batch at once in worker threads (argon2id is
slow on purpose), then decide each request in order against the loaded state. Sessions
are families of refresh tokens: each refresh spends its token and issues the next; a
spent token shown again ends the family, since one of the two holders is a thief.
Links to set a password (ADR 42, :mod:`actors.password_links`) are kept beside them: a
request, then the SHA-256 of the token the mailer asks for when it sends the email.
"""

from __future__ import annotations

import asyncio
import hashlib
import secrets
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import msgspec
from msgspec.structs import replace

from actors import password_links, passwords
from actors.cursors import BAD_CURSOR, decode_cursor, encode_cursor
from actors.identity import client_shaped
from actors.runtime.actor import ActorContext, ActorKey, ActorKind, Decision
from bus import acl
from bus.errors import ErrorCode
from bus.events import OutboxEvent, make_event
from bus.messages import Err, Ok, Reply, Request
from bus.messages.common import Principal
from bus.messages.people import (
    KIND,
    REFRESH_PREFIX,
    AskPasswordLink,
    CreatePerson,
    GetPerson,
    GetSsoProvider,
    IssuePasswordLink,
    ListPeople,
    PasswordLink,
    PasswordLinkAsked,
    PasswordLinkSent,
    PasswordResetAsked,
    PeopleList,
    PersonChanged,
    PersonView,
    Refresh,
    RemoveSsoProvider,
    ResetPassword,
    SendPasswordLink,
    Session,
    SessionEnded,
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
from bus.scopes import ROLE_PERMISSIONS, ROLES
from bus.time import now_ms
from storage.ports import (
    ChangeSet,
    PersonRecord,
    PutPerson,
    PutSession,
    PutSso,
    SessionRecord,
    SsoRecord,
)

#: Roles that manage a tenant's people; only an owner makes or changes an owner.
PEOPLE_ADMINS = frozenset({"owner", "admin"})
PEOPLE_SEERS = PEOPLE_ADMINS | {"system"}
#: Failed sign-ins in a row before sign-in is refused for :data:`LOCKOUT_MS`.
MAX_FAILED_SIGNINS = 10
LOCKOUT_MS = 15 * 60 * 1000
WRONG_CREDENTIALS = "the email or the password is wrong"
INVALID_REFRESH = "the refresh token is not valid; sign in again"
#: A page of people resumes after an email (the unique index it is read by).
_email_cursor = msgspec.json.Decoder(str)


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def view(p: PersonRecord) -> PersonView:
    return PersonView(
        p.person_id,
        p.email,
        p.name,
        tuple(p.roles.split()),
        tuple(p.grants.split()),
        p.status,
        bool(p.password_hash),
        p.created_ms,
        p.updated_ms,
    )


def scopes_of(roles: Sequence[str]) -> str:
    """A person's tokens carry every scope their roles allow."""
    allowed: set[str] = set().union(*(ROLE_PERMISSIONS.get(r, ()) for r in roles))
    return " ".join(sorted(allowed))


@dataclass
class _Work:
    """What a batch changes, and the password work done for it in advance."""

    events: list[OutboxEvent] = field(default_factory=list)
    sessions: dict[str, tuple[SessionRecord, int]] = field(default_factory=dict)
    #: Batch index → the outcome of checking the password the request carries.
    checked: dict[int, passwords.Checked] = field(default_factory=dict)
    #: Batch index → the hash of the new password the request sets.
    hashed: dict[int, str] = field(default_factory=dict)
    #: The tenant's SSO settings as changed, and the version the batch read.
    sso: tuple[SsoRecord, int] | None = None

    def put_session(self, record: SessionRecord, expected: int) -> None:
        """Write ``record``, fenced on the version the batch first read (0: new)."""
        known = self.sessions.get(record.token_hash)
        self.sessions[record.token_hash] = (record, known[1] if known else expected)


class PeopleActor:
    def __init__(self, ctx: ActorContext, key: ActorKey) -> None:
        self.ctx = ctx
        self.tenant = key.tenant
        #: Person id → record as last committed (None: looked for and missing).
        self.people: dict[str, PersonRecord | None] = {}
        self.emails: dict[str, str] = {}
        self.sso: SsoRecord | None = None
        #: This batch's ``ListPeople`` (by the request object): the page read, one more
        #: than asked for, or why it could not be.
        self._listed: dict[int, list[PersonRecord] | Err] = {}
        #: Session tokens looked up in this batch, by hash.
        self._tokens: dict[str, SessionRecord] = {}

    async def on_activate(self) -> None:
        self.people, self.emails = {}, {}
        self.sso = await self.ctx.ledger.load_sso(self.tenant)

    async def on_deactivate(self, reason: str) -> None:
        self.people, self.emails = {}, {}

    # -- loading -------------------------------------------------------------------

    def _remember(self, record: PersonRecord) -> None:
        self.people[record.person_id] = record
        self.emails[record.email] = record.person_id

    async def _person(self, person_id: str) -> PersonRecord | None:
        if person_id not in self.people:
            found = await self.ctx.ledger.load_people(self.tenant, [person_id])
            self.people[person_id] = None
            for record in found:
                self._remember(record)
        return self.people.get(person_id)

    async def _by_email(self, email: str) -> PersonRecord | None:
        email = email.lower()
        if email not in self.emails:
            for record in await self.ctx.ledger.load_people(self.tenant, email=email):
                self._remember(record)
        person_id = self.emails.get(email)
        return self.people.get(person_id) if person_id else None

    async def _load(self, batch: Sequence[Request]) -> None:
        hashes: list[str] = []
        links: list[str] = []
        people_sessions: set[str] = set()
        self._listed = {}
        for r in batch:
            match r.body:
                case ListPeople(limit=limit, cursor=cursor, q=q):
                    after = decode_cursor(cursor, _email_cursor) if cursor else ""
                    self._listed[id(r)] = (
                        Err.of(ErrorCode.INVALID_REQUEST, BAD_CURSOR)
                        if after is None
                        else await self.ctx.ledger.list_people(self.tenant, limit + 1, after, q)
                    )
                case CreatePerson(person_id=person_id, email=email):
                    await self._person(person_id)
                    await self._by_email(email)
                case (
                    UpdatePerson(person_id=p, status="disabled")
                    | SetPassword(person_id=p)
                    | IssuePasswordLink(person_id=p)
                ):
                    await self._person(p)
                    people_sessions.add(p)
                case UpdatePerson(person_id=p) | GetPerson(person_id=p):
                    await self._person(p)
                case SendPasswordLink(person_id=p):
                    await self._person(p)
                case (
                    SignIn(email=email) | SignInExternal(email=email) | AskPasswordLink(email=email)
                ):
                    await self._by_email(email)
                case Refresh(refresh_token=token) | SignOut(refresh_token=token):
                    hashes.append(token_hash(token))
                case ResetPassword(token=token):
                    links.append(token_hash(token))
        await self._load_sessions(hashes + links, people_sessions, set(links))

    async def _load_sessions(self, hashes: list[str], people: set[str], links: set[str]) -> None:
        """The tokens named, every token of their sessions (to end one if need be), and
        the tokens of ``people`` and of those whose password ``links`` set."""
        ledger = self.ctx.ledger
        self._tokens = {}
        families: set[str] = set()
        for token in await ledger.load_sessions(self.tenant, hashes) if hashes else []:
            self._tokens[token.token_hash] = token
            families.add(token.family_id)
            await self._person(token.person_id)
            if token.token_hash in links:
                people.add(token.person_id)
        for family_id in families:
            for token in await ledger.load_sessions(self.tenant, family_id=family_id):
                self._tokens.setdefault(token.token_hash, token)
        for person_id in people:
            for token in await ledger.load_sessions(self.tenant, person_id=person_id):
                self._tokens.setdefault(token.token_hash, token)

    async def _password_work(self, batch: Sequence[Request], work: _Work) -> None:
        """Every hash and verification the batch needs, in worker threads at once."""
        checks: dict[int, asyncio.Future[passwords.Checked]] = {}
        hashes: dict[int, asyncio.Future[str]] = {}
        for i, r in enumerate(batch):
            match r.body:
                case SignIn(email=email, password=password):
                    person = self.people.get(self.emails.get(email.lower(), ""))
                    stored = person.password_hash if person is not None else ""
                    checks[i] = asyncio.ensure_future(passwords.verify(stored, password))
                case SetPassword(person_id=p, new_password=new, current_password=current):
                    person = self.people.get(p)
                    if person is not None and current:
                        checks[i] = asyncio.ensure_future(
                            passwords.verify(person.password_hash, current)
                        )
                    hashes[i] = asyncio.ensure_future(passwords.hash_password(new))
                case CreatePerson(password=str() as password):
                    hashes[i] = asyncio.ensure_future(passwords.hash_password(password))
                case ResetPassword(token=token, new_password=new) if password_links.live_link(
                    self._tokens.get(token_hash(token)), now_ms()
                ):
                    # only for a link that works: a guess costs no argon2 work
                    hashes[i] = asyncio.ensure_future(passwords.hash_password(new))
        if checks or hashes:
            await asyncio.gather(*checks.values(), *hashes.values())
        work.checked = {i: f.result() for i, f in checks.items()}
        work.hashed = {i: f.result() for i, f in hashes.items()}

    # -- deciding ------------------------------------------------------------------

    async def handle(self, batch: Sequence[Request]) -> Decision:
        await self._load(batch)
        work = _Work()
        await self._password_work(batch, work)
        before = dict(self.people)
        replies = [self._decide(i, request, work) for i, request in enumerate(batch)]
        puts = []
        for person_id, record in self.people.items():
            old = before.get(person_id)
            if record is not None and record != old:
                puts.append(PutPerson(record, old.version if old is not None else 0))
        sessions = tuple(PutSession(r, expected) for r, expected in work.sessions.values())
        sso = (PutSso(*work.sso),) if work.sso else ()
        if not puts and not sessions and not work.events and not sso:
            return Decision(replies)
        change = ChangeSet(
            self.tenant, events=tuple(work.events), people=tuple(puts), sessions=sessions, sso=sso
        )
        return Decision(replies, change)

    def _decide(self, i: int, request: Request, work: _Work) -> Reply:
        body = request.body
        principal = request.principal
        match body:
            case SignIn(email=email):
                return self._sign_in(email, work.checked[i], body.issuer, body.audience, work)
            case SignInExternal(email=email) if "system" in principal.roles:
                return self._external(email, body.issuer, body.audience, work)
            case Refresh(refresh_token=token):
                return self._refresh(token, body.issuer, body.audience, work)
            case SignOut(refresh_token=token):
                return self._sign_out(token, work)
            case GetPerson(person_id=person_id):
                person = self.people.get(person_id)
                if person is None or not self._may_see(principal, person):
                    return Err.of(ErrorCode.NOT_FOUND, f"no person {person_id}")
                return Ok(view(person))
            case SetPassword() as cmd:
                return self._set_password(i, principal, cmd, work)
            case GetSsoProvider() if "system" in principal.roles:
                return self._sso_view(with_secret=True)
            case AskPasswordLink(email=email):
                return self._ask_link(email, work)
            case IssuePasswordLink() as issue if "system" in principal.roles:
                return self._issue_link(issue, work)
            case ResetPassword() as reset:
                return self._reset(i, reset, work)
        if not PEOPLE_ADMINS & set(principal.roles):
            return Err.of(ErrorCode.FORBIDDEN, "only owners and admins manage people")
        match body:
            case GetSsoProvider():
                return self._sso_view(with_secret=False)
            case SetSsoProvider() | RemoveSsoProvider() if not _may_set_sso(principal):
                # whoever names the provider can sign in as anyone, owners included
                return Err.of(
                    ErrorCode.FORBIDDEN,
                    "only an owner acting for the whole tenant sets single sign-on",
                )
            case SetSsoProvider() as sso:
                return self._set_sso(sso, work)
            case RemoveSsoProvider():
                return self._remove_sso(work)
            case ListPeople(limit=limit):
                return self._page(self._listed[id(request)], limit)
            case CreatePerson() as create:
                return self._create(i, principal, create, work)
            case UpdatePerson() as update:
                return self._update(principal, update, work)
            case SendPasswordLink() as send:
                return self._send_link(principal, send, work)
        return Err.of(ErrorCode.INVALID_REQUEST, "not a people request")

    # -- single sign-on settings ---------------------------------------------------

    def _sso_view(self, with_secret: bool) -> Reply:
        sso = self.sso
        if sso is None or sso.status != "active":
            return Err.of(ErrorCode.NOT_FOUND, "the tenant has no single sign-on")
        secret = ""
        if with_secret:
            sealed, context = sso.client_secret_sealed, f"sso:{self.tenant}"
            secret = self.ctx.master_key.unseal(sealed, context).decode()
        return Ok(
            SsoProviderView(
                sso.issuer,
                sso.client_id,
                sso.scopes,
                tuple(sso.allowed_domains.split()),
                True,
                sso.updated_ms,
                secret,
            )
        )

    def _set_sso(self, cmd: SetSsoProvider, work: _Work) -> Reply:
        if "openid" not in cmd.scopes.split():
            return Err.of(ErrorCode.INVALID_REQUEST, "the scopes must include openid")
        sealed = self.ctx.master_key.seal(cmd.client_secret.encode(), f"sso:{self.tenant}")
        before = self.sso
        record = SsoRecord(
            self.tenant,
            cmd.issuer,  # exactly as the provider names itself
            cmd.client_id,
            sealed,
            cmd.scopes,
            " ".join(sorted(set(cmd.allowed_domains))),
            "active",
            now_ms(),
            (before.version if before else 0) + 1,
        )
        read = work.sso[1] if work.sso else (before.version if before else 0)
        work.sso = (record, read)
        self.sso = record
        return self._sso_view(with_secret=False)

    def _remove_sso(self, work: _Work) -> Reply:
        before = self.sso
        if before is None or before.status != "active":
            return Err.of(ErrorCode.NOT_FOUND, "the tenant has no single sign-on")
        after = replace(before, status="removed", updated_ms=now_ms(), version=before.version + 1)
        work.sso = (after, work.sso[1] if work.sso else before.version)
        self.sso = after
        view_ = SsoProviderView(
            after.issuer, after.client_id, after.scopes, (), False, after.updated_ms
        )
        return Ok(view_)

    def _page(self, stored: list[PersonRecord] | Err, limit: int) -> Reply:
        """A page of the people stored, each as this actor holds it (a change committed by
        an earlier batch is in storage too; one of this batch is not shown yet)."""
        if isinstance(stored, Err):
            return stored
        page = [self.people.get(p.person_id) or p for p in stored[:limit]]
        cursor = encode_cursor(page[-1].email) if len(stored) > limit else ""
        return Ok(PeopleList(tuple(view(p) for p in page), cursor))

    @staticmethod
    def _may_see(principal: Principal, person: PersonRecord) -> bool:
        """Themselves, owners and admins, and perkbus's own processes (the mailer)."""
        return principal.subject == person.person_id or bool(PEOPLE_SEERS & set(principal.roles))

    def _roles_refusal(self, principal: Principal, roles: Sequence[str]) -> Err | None:
        unknown = sorted(set(roles) - set(ROLES))
        if unknown or not roles:
            return Err.of(ErrorCode.INVALID_REQUEST, f"roles are among {', '.join(ROLES)}")
        if "owner" in roles and "owner" not in principal.roles:
            return Err.of(ErrorCode.FORBIDDEN, "only an owner makes an owner")
        return None

    def _create(self, i: int, principal: Principal, cmd: CreatePerson, work: _Work) -> Reply:
        if refused := self._roles_refusal(principal, cmd.roles):
            return refused
        if why := acl.beyond(principal, cmd.grants):
            return Err.of(ErrorCode.FORBIDDEN, why)
        if client_shaped(self.tenant, cmd.person_id):
            why = "a person's id cannot have the form of an API client's (tenant.random)"
            return Err.of(ErrorCode.INVALID_REQUEST, why)
        email = cmd.email.lower()
        if self.people.get(cmd.person_id) is not None:
            return Err.of(ErrorCode.ALREADY_EXISTS, f"person {cmd.person_id} exists")
        if self.emails.get(email) and self.people.get(self.emails[email]) is not None:
            return Err.of(ErrorCode.ALREADY_EXISTS, f"someone in the tenant has {email}")
        now = now_ms()
        record = PersonRecord(
            self.tenant,
            cmd.person_id,
            email,
            cmd.name,
            work.hashed.get(i, ""),
            " ".join(dict.fromkeys(cmd.roles)),
            " ".join(acl.normalise(cmd.grants)),
            "active",
            0,
            0,
            now,
            now,
            1,
        )
        self._remember(record)
        work.events.append(self._event(record, "person_created"))
        return Ok(view(record))

    def _update(self, principal: Principal, cmd: UpdatePerson, work: _Work) -> Reply:
        person = self.people.get(cmd.person_id)
        if person is None:
            return Err.of(ErrorCode.NOT_FOUND, f"no person {cmd.person_id}")
        if "owner" in person.roles.split() and "owner" not in principal.roles:
            return Err.of(ErrorCode.FORBIDDEN, "only an owner changes an owner")
        if cmd.roles is not None and (refused := self._roles_refusal(principal, cmd.roles)):
            return refused
        # narrowed to some budgets, one changes only people narrowed within them, and
        # keeps them so: else a role given would reach the whole tenant, or a wider
        # person (an admin of every budget) could be narrowed, then taken over
        if why := acl.beyond(principal, person.grants.split()):
            return Err.of(ErrorCode.FORBIDDEN, why)
        if cmd.grants is not None and (why := acl.beyond(principal, cmd.grants)):
            return Err.of(ErrorCode.FORBIDDEN, why)
        if person.person_id == principal.subject and cmd.status == "disabled":
            return Err.of(ErrorCode.INVALID_REQUEST, "one does not disable oneself")
        after = replace(
            person,
            name=cmd.name if cmd.name is not None else person.name,
            roles=" ".join(dict.fromkeys(cmd.roles)) if cmd.roles is not None else person.roles,
            grants=" ".join(acl.normalise(cmd.grants)) if cmd.grants is not None else person.grants,
            status=cmd.status or person.status,
        )
        if after == person:
            return Ok(view(person))
        after = replace(after, updated_ms=now_ms(), version=self._next_version(person))
        self._remember(after)
        if after.status == "disabled":
            self._end_sessions_of(person.person_id, work)
            self._void_links(person.person_id, work)
        work.events.append(self._event(after, "person_updated"))
        return Ok(view(after))

    def _set_password(self, i: int, principal: Principal, cmd: SetPassword, work: _Work) -> Reply:
        person = self.people.get(cmd.person_id)
        own = principal.subject == cmd.person_id
        admin = bool(PEOPLE_ADMINS & set(principal.roles))
        if person is None or not (own or admin):
            return Err.of(ErrorCode.NOT_FOUND, f"no person {cmd.person_id}")
        if not own and "owner" in person.roles.split() and "owner" not in principal.roles:
            return Err.of(ErrorCode.FORBIDDEN, "only an owner sets an owner's password")
        if not own and (why := acl.beyond(principal, person.grants.split())):
            return Err.of(ErrorCode.FORBIDDEN, why)  # a wider person's password opens more
        if own and person.password_hash:
            # guesses of the current password count toward the lockout as sign-ins do:
            # else a stolen session could try passwords without end
            now = now_ms()
            if person.locked_until_ms > now:
                return Err.of(ErrorCode.FORBIDDEN, "too many wrong passwords: try again later")
            checked = work.checked.get(i)
            if checked is None or not checked.matches:
                self._count_failure(person, now)
                return Err.of(ErrorCode.FORBIDDEN, "the current password is wrong")
        after = replace(
            person,
            password_hash=work.hashed[i],
            failed_signins=0,
            locked_until_ms=0,
            updated_ms=now_ms(),
            version=self._next_version(person),
        )
        self._remember(after)
        self._end_sessions_of(person.person_id, work)
        self._void_links(person.person_id, work)  # a link emailed before opens nothing now
        work.events.append(self._event(after, "password_changed"))
        return Ok(view(after))

    # -- links to set a password (ADR 42) --------------------------------------------

    def _ask_link(self, email: str, work: _Work) -> Reply:
        """A link for an active person; the same answer for anyone else. A person with no
        password in a tenant with single sign-on signs in there: one who asks gets no
        password (the tenant's provider would no longer be the only way in)."""
        person = self.people.get(self.emails.get(email.lower(), ""))
        if person is not None and person.status == "active":
            sso = self.sso is not None and self.sso.status == "active"
            if person.password_hash or not sso:
                self._request_link(person, work)
        return Ok(PasswordLinkAsked())

    def _send_link(self, principal: Principal, cmd: SendPasswordLink, work: _Work) -> Reply:
        """An admin's link: allowed exactly where changing the person is (``_update``)."""
        person = self.people.get(cmd.person_id)
        if person is None:
            return Err.of(ErrorCode.NOT_FOUND, f"no person {cmd.person_id}")
        if "owner" in person.roles.split() and "owner" not in principal.roles:
            return Err.of(ErrorCode.FORBIDDEN, "only an owner sends an owner a link")
        if why := acl.beyond(principal, person.grants.split()):
            return Err.of(ErrorCode.FORBIDDEN, why)  # a wider person's password opens more
        if person.status != "active":
            return Err.of(ErrorCode.INVALID_REQUEST, f"{cmd.person_id} is disabled")
        invitation = self._request_link(person, work)
        return Ok(PasswordLinkSent(person.person_id, person.email, invitation))

    def _request_link(self, person: PersonRecord, work: _Work) -> bool:
        """Record a request and tell the mailer (a private event, with no token); whether
        it is an invitation (the person has no password yet)."""
        invitation = not person.password_hash
        request_id = uuid.uuid4().hex
        row = password_links.request_row(person, request_id, invitation, now_ms())
        work.put_session(row, 0)
        self._tokens[row.token_hash] = row
        data = PasswordResetAsked(person.person_id, request_id, invitation)
        event = make_event(self.tenant, "people", "password_reset_asked", person.person_id, data)
        work.events.append(event)
        return invitation

    def _issue_link(self, cmd: IssuePasswordLink, work: _Work) -> Reply:
        """The token of a request's link, made now (its hour starts when it is emailed),
        kept as its SHA-256; the person's earlier links stop working."""
        now = now_ms()
        person = self.people.get(cmd.person_id)
        loaded = self._tokens.get(password_links.ask_key(cmd.request_id))
        asked = self._current(loaded, work) if loaded is not None else None
        if (
            person is None
            or person.status != "active"
            or asked is None
            or not password_links.open_request(asked, cmd.person_id, now)
        ):
            return Err.of(ErrorCode.NOT_FOUND, "no open request for a link of this person")
        self._void_links(person.person_id, work, close_requests=False)
        token = secrets.token_urlsafe(32)
        row = password_links.link_row(asked, token_hash(token), now)
        work.put_session(row, 0)
        self._tokens[row.token_hash] = row
        return Ok(PasswordLink(token, row.expires_ms, asked.status == password_links.INVITE_ASKED))

    def _reset(self, i: int, cmd: ResetPassword, work: _Work) -> Reply:
        """A new password with a link's token, once; the person's sessions end and a new
        one begins (as a sign-in)."""
        now = now_ms()
        loaded = self._tokens.get(token_hash(cmd.token))
        row = self._current(loaded, work) if loaded is not None else None
        person = self.people.get(row.person_id) if row is not None else None
        if (
            loaded is None
            or row is None
            or not password_links.live_link(row, now)
            or person is None
            or person.status != "active"
            or i not in work.hashed
        ):
            return Err.of(ErrorCode.INVALID_REQUEST, password_links.INVALID_LINK)
        spent = replace(row, status=password_links.USED, version=row.version + 1)
        work.put_session(spent, loaded.version)
        self._void_links(person.person_id, work)
        after = replace(
            person,
            password_hash=work.hashed[i],
            failed_signins=0,
            locked_until_ms=0,
            updated_ms=now,
            version=self._next_version(person),
        )
        self._remember(after)
        self._end_sessions_of(person.person_id, work)  # before the new one opens
        work.events.append(self._event(after, "password_changed"))
        return Ok(self._open(after, uuid.uuid4().hex, ["pwd"], cmd.issuer, cmd.audience, work))

    def _void_links(self, person_id: str, work: _Work, close_requests: bool = True) -> None:
        for loaded in list(self._tokens.values()):
            current = self._current(loaded, work)
            for after in password_links.voided([current], person_id, close_requests):
                work.put_session(after, loaded.version)

    # -- sessions --------------------------------------------------------------------

    def _sign_in(
        self, email: str, checked: passwords.Checked, issuer: str, audience: str, work: _Work
    ) -> Reply:
        person = self.people.get(self.emails.get(email.lower(), ""))
        now = now_ms()
        if person is None or person.status != "active" or person.locked_until_ms > now:
            return Err.of(ErrorCode.UNAUTHENTICATED, WRONG_CREDENTIALS)
        if not checked.matches:
            self._count_failure(person, now)
            return Err.of(ErrorCode.UNAUTHENTICATED, WRONG_CREDENTIALS)
        if person.failed_signins:
            person = replace(person, failed_signins=0, version=self._next_version(person))
            self._remember(person)
        return Ok(self._open(person, uuid.uuid4().hex, ["pwd"], issuer, audience, work))

    def _count_failure(self, person: PersonRecord, now: int) -> None:
        """One more wrong password in a row; the last allowed locks the person out."""
        failed = person.failed_signins + 1
        locked = now + LOCKOUT_MS if failed >= MAX_FAILED_SIGNINS else 0
        self._remember(
            replace(
                person,
                failed_signins=0 if locked else failed,
                locked_until_ms=locked,
                version=self._next_version(person),
            )
        )

    def _external(self, email: str, issuer: str, audience: str, work: _Work) -> Reply:
        person = self.people.get(self.emails.get(email.lower(), ""))
        if person is None or person.status != "active":
            return Err.of(ErrorCode.UNAUTHENTICATED, f"{email} is not a person of this tenant")
        return Ok(self._open(person, uuid.uuid4().hex, ["ext"], issuer, audience, work))

    def _refresh(self, token: str, issuer: str, audience: str, work: _Work) -> Reply:
        record = self._tokens.get(token_hash(token))
        if record is None or tenant_of_refresh(token) != self.tenant:
            return Err.of(ErrorCode.UNAUTHENTICATED, INVALID_REFRESH)
        record = self._current(record, work)
        if record.status == "used":  # shown twice: end the session, whoever holds it
            self._end_family(record, "reused", work)
            return Err.of(ErrorCode.UNAUTHENTICATED, INVALID_REFRESH)
        person = self.people.get(record.person_id)
        if record.status != "active" or record.expires_ms <= now_ms() or person is None:
            return Err.of(ErrorCode.UNAUTHENTICATED, INVALID_REFRESH)
        if person.status != "active":
            return Err.of(ErrorCode.UNAUTHENTICATED, INVALID_REFRESH)
        spent = replace(record, status="used", version=record.version + 1)
        work.put_session(spent, record.version)
        return Ok(self._open(person, record.family_id, ["pwd"], issuer, audience, work))

    def _sign_out(self, token: str, work: _Work) -> Reply:
        record = self._tokens.get(token_hash(token))
        if record is None or tenant_of_refresh(token) != self.tenant:
            return Ok(SignedOut(0))
        return Ok(SignedOut(self._end_family(record, "signed_out", work)))

    def _current(self, record: SessionRecord, work: _Work) -> SessionRecord:
        """The token as this batch has left it (a refresh earlier in the batch spent it)."""
        known = work.sessions.get(record.token_hash)
        return known[0] if known else record

    def _end_family(self, token: SessionRecord, reason: str, work: _Work) -> int:
        """Revoke every live token of a session (``_load`` read them all); the edges
        refuse its access tokens from the ``people.session_ended`` event."""
        family_id = token.family_id
        ended = self._end(lambda r: r.family_id == family_id, work)
        if ended:
            data = SessionEnded(token.person_id, family_id, reason)
            work.events.append(make_event(self.tenant, "people", "session_ended", family_id, data))
        return ended

    def _end_sessions_of(self, person_id: str, work: _Work) -> int:
        return self._end(lambda r: r.person_id == person_id, work)

    def _end(self, which: Callable[[SessionRecord], bool], work: _Work) -> int:
        ended = 0
        for loaded in self._tokens.values():
            record = self._current(loaded, work)
            if which(record) and record.status == "active":
                revoked = replace(record, status="revoked", version=record.version + 1)
                work.put_session(revoked, loaded.version)
                ended += 1
        return ended

    def _open(
        self,
        person: PersonRecord,
        family_id: str,
        methods: list[str],
        issuer: str,
        audience: str,
        work: _Work,
    ) -> Session:
        refresh = f"{REFRESH_PREFIX}{self.tenant}.{secrets.token_urlsafe(32)}"
        now = int(time.time())
        refresh_ttl = self.ctx.refresh_token_ttl_s
        record = SessionRecord(
            self.tenant,
            token_hash(refresh),
            family_id,
            person.person_id,
            "active",
            now * 1000,
            (now + refresh_ttl) * 1000,
            1,
        )
        work.put_session(record, 0)
        # known to the batch's later requests: a reuse in the same batch ends it too
        self._tokens.setdefault(record.token_hash, record)
        roles = person.roles.split()
        claims = {
            "iss": issuer,
            "aud": audience,
            "sub": person.person_id,
            "tid": self.tenant,
            "email": person.email,
            "roles": roles,
            "scope": scopes_of(roles),
            "acl": person.grants.split(),
            "sid": family_id,
            "amr": methods,
            "iat": now,
            "exp": now + self.ctx.access_token_ttl_s,
            "jti": uuid.uuid4().hex,
        }
        access = self.ctx.sign(claims)
        return Session(access, refresh, self.ctx.access_token_ttl_s, refresh_ttl, view(person))

    def _next_version(self, person: PersonRecord) -> int:
        return person.version + 1

    def _event(self, p: PersonRecord, name: str) -> OutboxEvent:
        data = PersonChanged(
            p.person_id, p.email, tuple(p.roles.split()), tuple(p.grants.split()), p.status
        )
        return make_event(self.tenant, "people", name, p.person_id, data)


PEOPLE = ActorKind(
    KIND,
    PeopleActor,
    accepts=(
        CreatePerson,
        UpdatePerson,
        GetPerson,
        ListPeople,
        SetPassword,
        SignIn,
        SignInExternal,
        Refresh,
        SignOut,
        SetSsoProvider,
        GetSsoProvider,
        RemoveSsoProvider,
        AskPasswordLink,
        SendPasswordLink,
        IssuePasswordLink,
        ResetPassword,
    ),
)


def _may_set_sso(principal: Principal) -> bool:
    """The tenant's sign-on provider vouches for every email, an owner's too: only an
    owner sets it, and not one narrowed to some budgets (a tenant-wide setting)."""
    return "owner" in principal.roles and not principal.grants
