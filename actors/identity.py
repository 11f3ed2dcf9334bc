"""The identity actor: one per tenant, owner of its OAuth2 clients and issuer of their
access tokens (ADR 14), and of its integrators' NATS credentials (ADR 17).

The token endpoint is authlib's: the edge forwards the HTTP request (form and
Authorization header) as a :class:`~bus.messages.identity.TokenRequest`; this actor loads
the client it names, lets authlib's :class:`AuthorizationServer` authenticate it
(``client_secret_basic`` or ``client_secret_post``), check the grant and the scopes, and
answers with the response authlib built — a signed JWT access token, or an RFC 6749
error. Signing keys stay in actor hosts; the edge only ever sees public keys.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import re
import secrets
import time
import uuid
from collections.abc import Collection, Mapping, Sequence
from typing import Any

from authlib.oauth2.rfc6749 import AuthorizationServer, ClientMixin, OAuth2Request
from authlib.oauth2.rfc6749.errors import InsecureTransportError, InvalidScopeError
from authlib.oauth2.rfc6749.grants import ClientCredentialsGrant
from authlib.oauth2.rfc6749.requests import BasicOAuth2Payload
from authlib.oauth2.rfc6750 import BearerTokenGenerator
from msgspec.structs import replace

from actors.runtime.actor import ActorContext, ActorKey, ActorKind, Decision
from bus import acl, subjects
from bus.errors import ErrorCode
from bus.events import OutboxEvent, make_event
from bus.messages import Err, Ok, Principal, Reply, Request
from bus.messages.identity import (
    KIND,
    ClientChanged,
    ClientList,
    ClientView,
    CreateClient,
    IssueNatsCredentials,
    ListClients,
    NatsCredentials,
    RevokeClient,
    RotateClientSecret,
    TokenReply,
    TokenRequest,
    client_named,
    tenant_of_client,
)
from bus.scopes import ALL_SCOPES, CLIENT_ROLES
from bus.time import now_ms
from storage.ports import ChangeSet, ClientRecord, PutClient

#: Roles that manage a tenant's clients.
CLIENT_ADMINS = frozenset({"owner", "admin"})
SECRET_PREFIX = "pbs_"


def hash_secret(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def client_id_for(tenant: str, subject: str, key: str | None) -> str:
    """From an Idempotency-Key, so that a retry finds the client its first attempt made."""
    if key is None:
        return f"{tenant}.{secrets.token_urlsafe(18)}"
    digest = hashlib.sha256(f"{tenant}\n{subject}\n{key}".encode()).digest()[:18]
    return f"{tenant}.{base64.urlsafe_b64encode(digest).decode()}"


def client_shaped(tenant: str, text: str) -> bool:
    """Whether ``text`` has the form of an id :func:`client_id_for` makes for ``tenant``
    (a person may not take one: it would share the client's keys and revocations)."""
    head, dot, tail = text.partition(".")
    return (
        head == tenant and dot == "." and len(tail) == 24 and _URLSAFE.fullmatch(tail) is not None
    )


_URLSAFE = re.compile(r"[A-Za-z0-9_-]+")


def view(c: ClientRecord, secret: str = "") -> ClientView:
    return ClientView(
        c.client_id,
        c.name,
        tuple(c.scopes.split()),
        tuple(c.roles.split()),
        c.status,
        c.created_ms,
        c.updated_ms,
        secret,
        tuple(c.grants.split()),
    )


class _Client(ClientMixin):
    """A client record as authlib sees it: confidential, client credentials only."""

    def __init__(self, record: ClientRecord) -> None:
        self.record = record

    def get_client_id(self) -> str:
        return self.record.client_id

    def get_default_redirect_uri(self) -> str:
        return ""  # no redirects: client credentials only

    def get_allowed_scope(self, scope: Collection[str] | str | None) -> str:
        """What the client asked for, if it may have all of it (else ``invalid_scope``, RFC
        6749 §5.2: a token without what was asked for only fails later, as a 403);
        everything it may have if it asked for nothing (§3.3)."""
        allowed = self.record.scopes.split()
        if not scope:
            return " ".join(allowed)
        asked = scope.split() if isinstance(scope, str) else list(scope)
        if beyond := [s for s in asked if s not in allowed]:
            raise InvalidScopeError(f"the client may not have {' '.join(beyond)}")
        return " ".join(asked)

    def check_redirect_uri(self, redirect_uri: str) -> bool:
        return False

    def check_client_secret(self, client_secret: str) -> bool:
        return hmac.compare_digest(hash_secret(client_secret), self.record.secret_hash)

    def check_endpoint_auth_method(self, method: str, endpoint: str) -> bool:
        return endpoint == "token" and method in ("client_secret_basic", "client_secret_post")

    def check_response_type(self, response_type: str) -> bool:
        return False

    def check_grant_type(self, grant_type: str) -> bool:
        return grant_type == ClientCredentialsGrant.GRANT_TYPE


class _Request(OAuth2Request):
    def __init__(self, request: TokenRequest) -> None:
        headers = {"Authorization": request.authorization} if request.authorization else {}
        super().__init__("POST", request.uri, headers=headers)
        self._form = dict(request.form)
        self.payload = BasicOAuth2Payload(self._form)

    @property
    def args(self) -> dict[str, str | None]:
        return {}

    @property
    def form(self) -> dict[str, str]:
        return self._form


class _ClientCredentials(ClientCredentialsGrant):
    TOKEN_ENDPOINT_AUTH_METHODS = ["client_secret_basic", "client_secret_post"]


class _TokenServer(AuthorizationServer):
    """authlib's token endpoint over the clients one batch loaded."""

    def __init__(
        self, tenant: str, clients: dict[str, ClientRecord | None], ctx: ActorContext
    ) -> None:
        super().__init__(scopes_supported=list(ALL_SCOPES))
        self.tenant = tenant
        self.clients = clients
        self.ctx = ctx
        self.request: TokenRequest | None = None
        self.register_grant(_ClientCredentials)
        ttl = ctx.access_token_ttl_s
        generator = BearerTokenGenerator(self._access_token, expires_generator=lambda c, g: ttl)
        self.register_token_generator("default", generator)

    def query_client(self, client_id: str) -> _Client | None:  # type: ignore[override]
        """None for an unknown or revoked client (authlib answers ``invalid_client``);
        the stub's non-optional return type is narrower than authlib itself."""
        record = self.clients.get(client_id)
        if record is None or record.status != "active" or record.tenant != self.tenant:
            return None
        return _Client(record)

    def save_token(self, token: dict[str, Any], request: OAuth2Request) -> None:
        """Access tokens are self-contained JWTs: nothing to store."""

    def send_signal(self, name: str, *args: object, **kwargs: object) -> None:
        pass

    def create_oauth2_request(self, request: TokenRequest) -> OAuth2Request:
        self.request = request
        return _Request(request)

    def handle_response(self, status: int, body: Mapping[str, object], headers: Any) -> TokenReply:
        """authlib passes headers as a list of pairs (its stub says a mapping)."""
        pairs = list(headers.items()) if isinstance(headers, Mapping) else list(headers)
        return TokenReply(status, json.dumps(body), tuple((str(k), str(v)) for k, v in pairs))

    def token(self, request: TokenRequest) -> TokenReply:
        try:
            reply = self.create_token_response(request)
        except InsecureTransportError as e:  # raised before authlib's own error handling
            return self.handle_response(*e())
        assert isinstance(reply, TokenReply)
        return reply

    def _access_token(
        self, *, client: ClientMixin, grant_type: str, user: object, scope: str
    ) -> str:
        assert self.request is not None
        assert isinstance(client, _Client)
        now = int(time.time())
        claims = {
            "iss": self.request.issuer,
            "aud": self.request.audience,
            "sub": client.record.client_id,
            "client_id": client.record.client_id,
            "tid": self.tenant,
            "roles": client.record.roles.split(),
            "scope": scope,
            "acl": client.record.grants.split(),
            "iat": now,
            "exp": now + self.ctx.access_token_ttl_s,
            "jti": uuid.uuid4().hex,
        }
        return self.ctx.sign(claims)


class IdentityActor:
    def __init__(self, ctx: ActorContext, key: ActorKey) -> None:
        self.ctx = ctx
        self.tenant = key.tenant
        #: Client id → record as last committed, or None if looked for and missing.
        self.clients: dict[str, ClientRecord | None] = {}
        self._all_loaded = False

    async def on_activate(self) -> None:
        self.clients = {}
        self._all_loaded = False

    async def on_deactivate(self, reason: str) -> None:
        self.clients = {}

    async def _load(self, batch: Sequence[Request]) -> None:
        wanted: set[str] = set()
        everything = False
        for r in batch:
            match r.body:
                case RotateClientSecret(client_id=c) | RevokeClient(client_id=c):
                    wanted.add(c)
                case TokenRequest() as token:
                    named = client_named(token.form, token.authorization)
                    if named and tenant_of_client(named) == self.tenant:
                        wanted.add(named)
                case ListClients() | CreateClient():
                    everything = True
        if everything and not self._all_loaded:
            for record in await self.ctx.ledger.load_clients(self.tenant, []):
                self.clients[record.client_id] = record
            self._all_loaded = True
        missing = [c for c in wanted if self.clients.get(c) is None and not self._all_loaded]
        if missing:
            for c in missing:
                self.clients[c] = None
            for record in await self.ctx.ledger.load_clients(self.tenant, missing):
                self.clients[record.client_id] = record

    async def handle(self, batch: Sequence[Request]) -> Decision:
        await self._load(batch)
        before = dict(self.clients)
        events: list[OutboxEvent] = []
        replies = [self._decide(request, events) for request in batch]
        puts = []
        for client_id, record in self.clients.items():
            old = before.get(client_id)
            if record is not None and record != old:
                expected = old.version if old is not None else 0
                puts.append(PutClient(record, expected))
        if not puts:
            return Decision(replies)
        return Decision(replies, ChangeSet(self.tenant, events=tuple(events), clients=tuple(puts)))

    def _decide(self, request: Request, events: list[OutboxEvent]) -> Reply:
        body = request.body
        if isinstance(body, TokenRequest):
            return Ok(_TokenServer(self.tenant, self.clients, self.ctx).token(body))
        if not CLIENT_ADMINS & set(request.principal.roles):
            return Err.of(ErrorCode.FORBIDDEN, "only owners and admins manage API clients")
        match body:
            case CreateClient() as create:
                return self._create(request, create, events)
            case ListClients():
                records = sorted(
                    (c for c in self.clients.values() if c is not None),
                    key=lambda c: (c.created_ms, c.client_id),
                )
                return Ok(ClientList(tuple(view(c) for c in records)))
            case RotateClientSecret(client_id=c) | RevokeClient(client_id=c) if (
                refused := self._beyond(request.principal, c)
            ):
                return refused
            case RotateClientSecret(client_id=client_id):
                return self._rotate(client_id, events)
            case RevokeClient(client_id=client_id):
                return self._revoke(client_id, events)
            case IssueNatsCredentials() if request.principal.grants:
                # they see every event of the tenant, as the replay does, which refuses
                # principals narrowed to some budgets
                return Err.of(
                    ErrorCode.FORBIDDEN, "NATS credentials cover the whole tenant, not some budgets"
                )
            case IssueNatsCredentials(ttl_days=days):
                return self._issue_nats_credentials(days)
        return Err.of(ErrorCode.INVALID_REQUEST, "not an identity request")

    def _create(self, request: Request, cmd: CreateClient, events: list[OutboxEvent]) -> Reply:
        unknown = [s for s in cmd.scopes if s not in ALL_SCOPES]
        if unknown or not cmd.scopes:
            return Err.of(ErrorCode.INVALID_REQUEST, f"unknown scopes: {' '.join(unknown)}")
        roles = set(cmd.roles)
        if not roles or not roles <= CLIENT_ROLES:
            allowed = ", ".join(sorted(CLIENT_ROLES))
            return Err.of(ErrorCode.INVALID_REQUEST, f"a client's roles are among {allowed}")
        if why := acl.beyond(request.principal, cmd.grants):
            return Err.of(ErrorCode.FORBIDDEN, why)
        client_id = client_id_for(self.tenant, request.principal.subject, request.idempotency_key)
        if self.clients.get(client_id) is not None:
            return Err.of(
                ErrorCode.ALREADY_EXISTS,
                f"client {client_id} exists; its secret was shown once — rotate it for a new one",
            )
        secret = SECRET_PREFIX + secrets.token_urlsafe(32)
        now = now_ms()
        record = ClientRecord(
            self.tenant,
            client_id,
            cmd.name,
            hash_secret(secret),
            " ".join(dict.fromkeys(cmd.scopes)),
            " ".join(sorted(roles)),
            "active",
            now,
            now,
            1,
            " ".join(acl.normalise(cmd.grants)),
        )
        self.clients[client_id] = record
        events.append(self._event(record, "client_created"))
        return Ok(view(record, secret))

    def _beyond(self, principal: Principal, client_id: str) -> Err | None:
        """An admin narrowed to some budgets manages only clients narrowed within them:
        a new secret of a wider client would be a key to what it does not hold (ADR 19)."""
        record = self.clients.get(client_id)
        if record is not None and (why := acl.beyond(principal, record.grants.split())):
            return Err.of(ErrorCode.FORBIDDEN, why)
        return None

    def _rotate(self, client_id: str, events: list[OutboxEvent]) -> Reply:
        record = self.clients.get(client_id)
        if record is None or record.status != "active":
            return Err.of(ErrorCode.NOT_FOUND, f"no active client {client_id}")
        secret = SECRET_PREFIX + secrets.token_urlsafe(32)
        after = replace(
            record,
            secret_hash=hash_secret(secret),
            updated_ms=now_ms(),
            version=self._next_version(client_id),
        )
        self.clients[client_id] = after
        events.append(self._event(after, "client_secret_rotated"))
        return Ok(view(after, secret))

    def _revoke(self, client_id: str, events: list[OutboxEvent]) -> Reply:
        record = self.clients.get(client_id)
        if record is None:
            return Err.of(ErrorCode.NOT_FOUND, f"no client {client_id}")
        if record.status == "revoked":
            return Ok(view(record))
        after = replace(
            record, status="revoked", updated_ms=now_ms(), version=self._next_version(client_id)
        )
        self.clients[client_id] = after
        events.append(self._event(after, "client_revoked"))
        return Ok(view(after))

    def _issue_nats_credentials(self, ttl_days: int) -> Reply:
        """A new NATS user that may subscribe to this tenant's events only (ADR 17). Only
        the audit log remembers it: the reply, with its seed, is not stored."""
        if self.ctx.nats_users is None:  # a retry would not change that: not retryable
            return Err(
                code=ErrorCode.UNAVAILABLE,
                message="this deployment does not offer NATS credentials: its actor hosts hold"
                " no NATS account key (PERKBUS_NATS_AUTH_DIR); its webhooks carry the same events",
                retryable=False,
            )
        now = int(time.time())
        ttl_s = ttl_days * 86_400
        creds = self.ctx.nats_users.tenant_credentials(self.tenant, now, ttl_s)
        subject = subjects.events_of_tenant(self.tenant)
        return Ok(NatsCredentials(subject, (now + ttl_s) * 1000, creds))

    def _next_version(self, client_id: str) -> int:
        record = self.clients[client_id]
        assert record is not None
        return record.version + 1

    def _event(self, c: ClientRecord, name: str) -> OutboxEvent:
        data = ClientChanged(
            c.client_id,
            c.name,
            tuple(c.scopes.split()),
            tuple(c.roles.split()),
            c.status,
            tuple(c.grants.split()),
        )
        return make_event(self.tenant, "identity", name, c.client_id, data)


IDENTITY = ActorKind(
    KIND,
    IdentityActor,
    accepts=(
        CreateClient,
        ListClients,
        RotateClientSecret,
        RevokeClient,
        TokenRequest,
        IssueNatsCredentials,
    ),
)
