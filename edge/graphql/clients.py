"""GraphQL for a tenant's OAuth2 clients (operations shared with REST)."""

from __future__ import annotations

from typing import Annotated

import strawberry

from bus.messages import Err
from edge import operations
from edge.graphql.common import AnyError, GqlInfo, caller, error, invalid, mutate
from edge.schemas import ClientListOut, ClientOut, CreateClientIn
from edge.validation import Invalid


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
    try:
        who = caller(info, idempotency_key)
    except Invalid as e:
        return invalid(e, "idempotencyKey")
    result = await operations.rotate_client_secret(who, str(client_id))
    return error(result) if isinstance(result, Err) else api_client(result)


async def revoke(
    info: GqlInfo, client_id: strawberry.ID, idempotency_key: str | None = None
) -> ApiClientResult:
    try:
        who = caller(info, idempotency_key)
    except Invalid as e:
        return invalid(e, "idempotencyKey")
    result = await operations.revoke_client(who, str(client_id))
    return error(result) if isinstance(result, Err) else api_client(result)
