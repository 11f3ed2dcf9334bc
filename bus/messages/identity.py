"""Identity: the OAuth2 clients of a tenant, and the tokens they are issued.

One identity actor per tenant (key ``all``) owns its clients. A client's id names its
tenant (``<tenant>.<random>``) so that a token request, which carries no bearer token,
can be routed to the right tenant. Secrets are shown once — in the reply that creates or
rotates them, which is never stored — and kept only as hashes (ADR 14).
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Mapping
from typing import Annotated
from urllib.parse import unquote

import msgspec

from bus.messages.common import ONE_LINE, TENANT_WIDE, whole
from bus.messages.grants import Grant

KIND = "identity"

CLIENT_ID_PATTERN = whole("[a-z0-9][a-z0-9_-]{0,62}\\.[A-Za-z0-9_-]{16,64}")
ClientId = Annotated[str, msgspec.Meta(pattern=CLIENT_ID_PATTERN)]
Scope = Annotated[str, msgspec.Meta(pattern=whole("[a-z_]{1,32}:[a-z_]{1,32}"))]
RoleName = Annotated[str, msgspec.Meta(pattern=whole("[a-z_]{1,32}"))]
ClientName = Annotated[str, msgspec.Meta(min_length=1, max_length=200, pattern=ONE_LINE)]


def tenant_of_client(client_id: str) -> str:
    return client_id.partition(".")[0]


def client_named(form: Mapping[str, str], authorization: str) -> str:
    """The client id a token request names: in its form, or its HTTP Basic credentials
    (RFC 6749 §2.3.1: form-encoded, then base64); "" if none."""
    if form.get("client_id"):
        return form["client_id"]
    scheme, _, encoded = authorization.partition(" ")
    if scheme.lower() != "basic":
        return ""
    try:
        decoded = base64.b64decode(encoded.strip(), validate=True).decode()
    except (binascii.Error, ValueError, UnicodeDecodeError):
        return ""
    return unquote(decoded.partition(":")[0])


class CreateClient(msgspec.Struct, frozen=True, tag="identity.client.create"):
    """A new client for an integrator's system, with the scopes it may ask for and the
    roles its tokens carry (owner and admin only)."""

    name: ClientName
    scopes: tuple[Scope, ...]
    roles: tuple[RoleName, ...] = ("integrator",)
    #: Narrow the roles to these resources (``budget:<id>``); none: the whole tenant.
    grants: tuple[Grant, ...] = ()

    @property
    def actor_key(self) -> str:
        return TENANT_WIDE


class ListClients(msgspec.Struct, frozen=True, tag="identity.client.list"):
    @property
    def actor_key(self) -> str:
        return TENANT_WIDE


class RotateClientSecret(msgspec.Struct, frozen=True, tag="identity.client.rotate"):
    """A new secret for the client; the old one stops working at once."""

    client_id: ClientId

    @property
    def actor_key(self) -> str:
        return TENANT_WIDE


class RevokeClient(msgspec.Struct, frozen=True, tag="identity.client.revoke"):
    """The client gets no more tokens (tokens it holds expire within their lifetime)."""

    client_id: ClientId

    @property
    def actor_key(self) -> str:
        return TENANT_WIDE


class TokenRequest(msgspec.Struct, frozen=True, tag="identity.token"):
    """A request to the token endpoint, as the edge received it (RFC 6749 §3.2): its
    form parameters and Authorization header, and the issuer and audience the edge's
    tokens carry."""

    form: dict[str, str]
    authorization: str
    uri: str
    issuer: str
    audience: str

    @property
    def actor_key(self) -> str:
        return TENANT_WIDE


class IssueNatsCredentials(msgspec.Struct, frozen=True, tag="identity.nats_credentials.issue"):
    """NATS credentials for an integrator's subscriber: the tenant's events only, until
    they expire (ADR 17; owner and admin only)."""

    ttl_days: Annotated[int, msgspec.Meta(ge=1, le=365)] = 30

    @property
    def actor_key(self) -> str:
        return TENANT_WIDE


IdentityCommand = (
    CreateClient
    | ListClients
    | RotateClientSecret
    | RevokeClient
    | TokenRequest
    | IssueNatsCredentials
)


class ClientView(msgspec.Struct, frozen=True, tag="identity.client"):
    client_id: str
    name: str
    scopes: tuple[str, ...]
    roles: tuple[str, ...]
    status: str
    created_ms: int
    updated_ms: int
    #: Only in the reply that creates or rotates it; such a reply is never stored.
    client_secret: str = ""
    grants: tuple[str, ...] = ()

    @property
    def final(self) -> bool:
        """A reply carrying a secret is not kept for replays (it would keep the secret)."""
        return not self.client_secret


class ClientList(msgspec.Struct, frozen=True, tag="identity.clients"):
    clients: tuple[ClientView, ...]


class TokenReply(msgspec.Struct, frozen=True, tag="identity.token_reply"):
    """What the token endpoint answers: an HTTP status, a JSON body, headers."""

    status: int
    body: str
    headers: tuple[tuple[str, str], ...] = ()


class NatsCredentials(msgspec.Struct, frozen=True, tag="identity.nats_credentials"):
    """A ``.creds`` file (user JWT and seed) that may subscribe to ``subject`` only."""

    subject: str
    expires_ms: int
    creds: str

    @property
    def final(self) -> bool:
        """Never kept for replays: it carries the user's seed."""
        return False


class ClientChanged(msgspec.Struct, frozen=True):
    """Data of the ``identity.client_created``, ``identity.client_secret_rotated`` and
    ``identity.client_revoked`` events (never the secret)."""

    client_id: str
    name: str
    scopes: tuple[str, ...]
    roles: tuple[str, ...]
    status: str
    grants: tuple[str, ...] = ()
