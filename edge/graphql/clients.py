"""GraphQL for a tenant's OAuth2 clients, its integrators' NATS credentials and its audit
log (operations shared with REST)."""

from __future__ import annotations

from typing import Annotated

import strawberry

from bus.messages import Err
from edge import operations
from edge.graphql.common import (
    LONG_ZERO,
    AnyError,
    GqlInfo,
    Long,
    act,
    caller,
    error,
    invalid,
    mutate,
)
from edge.schemas import (
    AuditQuery,
    ClientListOut,
    ClientOut,
    CreateClientIn,
    NatsCredentialsIn,
    NatsCredentialsOut,
)
from edge.validation import Invalid, convert


@strawberry.type
class ApiClient:
    id: strawberry.ID
    name: str
    scopes: list[str]
    roles: list[str]
    status: str
    created_at: str
    updated_at: str
    client_secret: str | None = strawberry.field(
        description="Only when created or rotated: shown this once, never stored in clear."
    )
    grants: list[str] = strawberry.field(
        description="The budgets its roles are narrowed to (budget:<id>); empty: all."
    )


@strawberry.type
class ApiClients:
    clients: list[ApiClient]


ApiClientResult = Annotated[ApiClient | AnyError, strawberry.union("ApiClientResult")]
ApiClientsResult = Annotated[ApiClients | AnyError, strawberry.union("ApiClientsResult")]


@strawberry.input
class CreateApiClientInput:
    name: str
    scopes: list[str]
    roles: list[str] = strawberry.field(default_factory=lambda: ["integrator"])
    grants: list[str] = strawberry.field(default_factory=list)


def api_client(out: ClientOut) -> ApiClient:
    return ApiClient(
        id=strawberry.ID(out.id),
        name=out.name,
        scopes=out.scopes,
        roles=out.roles,
        status=out.status,
        created_at=out.created_at,
        updated_at=out.updated_at,
        client_secret=out.client_secret,
        grants=out.grants,
    )


def api_clients(out: ClientListOut) -> ApiClients:
    return ApiClients(clients=[api_client(c) for c in out.clients])


async def list_clients(info: GqlInfo) -> ApiClientsResult:
    result = await operations.list_clients(caller(info))
    return error(result) if isinstance(result, Err) else api_clients(result)


async def create_client(
    info: GqlInfo, input: CreateApiClientInput, idempotency_key: str | None = None
) -> ApiClientResult:
    result: ApiClientResult = await mutate(
        info, idempotency_key, input, CreateClientIn, operations.create_client, api_client
    )
    return result


async def rotate_secret(
    info: GqlInfo, client_id: strawberry.ID, idempotency_key: str | None = None
) -> ApiClientResult:
    async def operation(who: operations.Caller) -> ClientOut | Err:
        return await operations.rotate_client_secret(who, str(client_id))

    result: ApiClientResult = await act(info, idempotency_key, operation, api_client)
    return result


async def revoke(
    info: GqlInfo, client_id: strawberry.ID, idempotency_key: str | None = None
) -> ApiClientResult:
    async def operation(who: operations.Caller) -> ClientOut | Err:
        return await operations.revoke_client(who, str(client_id))

    result: ApiClientResult = await act(info, idempotency_key, operation, api_client)
    return result


@strawberry.type
class NatsCredentials:
    subject: str = strawberry.field(description="The only subjects they may subscribe to.")
    expires_at: str
    creds: str = strawberry.field(
        description="A .creds file (NATS user JWT and seed): shown this once, kept nowhere."
    )


NatsCredentialsResult = Annotated[
    NatsCredentials | AnyError, strawberry.union("NatsCredentialsResult")
]


@strawberry.input
class NatsCredentialsInput:
    ttl_days: int = 30


def nats_credentials(out: NatsCredentialsOut) -> NatsCredentials:
    return NatsCredentials(subject=out.subject, expires_at=out.expires_at, creds=out.creds)


async def issue_nats_credentials(
    info: GqlInfo, input: NatsCredentialsInput | None = None, idempotency_key: str | None = None
) -> NatsCredentialsResult:
    result: NatsCredentialsResult = await mutate(
        info,
        idempotency_key,
        input or NatsCredentialsInput(),
        NatsCredentialsIn,
        operations.issue_nats_credentials,
        nats_credentials,
    )
    return result


@strawberry.type
class AuditEntry:
    seq: int
    at: str
    actor: str
    action: str
    target: str
    outcome: str
    detail: str
    hash: str


@strawberry.type
class AuditPage:
    entries: list[AuditEntry]
    next_after: int
    total: int | None = strawberry.field(description="A search's count of matching entries.")
    degraded: bool = strawberry.field(
        description="A search answered without the search index: recent entries only."
    )


AuditPageResult = Annotated[AuditPage | AnyError, strawberry.union("AuditPageResult")]


async def read_audit(
    info: GqlInfo,
    after: int = 0,
    limit: int = 100,
    action: str | None = None,
    actor: str | None = None,
    q: str | None = None,
    since_ms: Long = LONG_ZERO,
    until_ms: Long = LONG_ZERO,
    offset: int = 0,
) -> AuditPageResult:
    raw = {
        "after": after,
        "limit": limit,
        "action": action,
        "actor": actor,
        "q": q,
        "since_ms": since_ms,
        "until_ms": until_ms,
        "offset": offset,
    }
    try:
        query = convert(raw, AuditQuery)
    except Invalid as e:
        return invalid(e, "arguments")
    result = await operations.read_audit(caller(info), query)
    if isinstance(result, Err):
        return error(result)
    entries = [
        AuditEntry(
            seq=e.seq,
            at=e.at,
            actor=e.actor,
            action=e.action,
            target=e.target,
            outcome=e.outcome,
            detail=e.detail,
            hash=e.hash,
        )
        for e in result.entries
    ]
    return AuditPage(
        entries=entries, next_after=result.next_after, total=result.total, degraded=result.degraded
    )
