"""GraphQL for a tenant's people (operations shared with REST). Signing in is not a
GraphQL operation: it sets cookies, which is the REST sign-in's job."""

from __future__ import annotations

from typing import Annotated

import strawberry

from bus.messages import Err
from edge import people_operations as ops
from edge.graphql.common import (
    AnyError,
    GqlInfo,
    act,
    caller,
    error,
    invalid,
    mutate,
    page_query,
)
from edge.operations import Caller
from edge.schemas import (
    CreatePersonIn,
    PasswordLinkOut,
    PeopleOut,
    PeopleQuery,
    PersonOut,
    UpdatePersonIn,
)
from edge.validation import Invalid, convert


@strawberry.type
class Person:
    id: strawberry.ID
    email: str
    name: str
    roles: list[str]
    grants: list[str] = strawberry.field(
        description="The budgets the roles are narrowed to (budget:<id>); empty: all."
    )
    status: str
    has_password: bool
    created_at: str
    updated_at: str


@strawberry.type
class People:
    people: list[Person]
    #: Pass as ``after`` for the next page; null on the last page.
    next_cursor: str | None


@strawberry.type
class PasswordLinkSent:
    id: strawberry.ID
    email: str
    kind: str = strawberry.field(
        description="invitation (no password yet: the link works a week) or reset (an hour)."
    )


PersonResult = Annotated[Person | AnyError, strawberry.union("PersonResult")]
PasswordLinkResult = Annotated[PasswordLinkSent | AnyError, strawberry.union("PasswordLinkResult")]
PeopleResult = Annotated[People | AnyError, strawberry.union("PeopleResult")]


@strawberry.input
class CreatePersonInput:
    id: str
    email: str
    name: str
    roles: list[str] = strawberry.field(default_factory=lambda: ["end_user"])
    grants: list[str] = strawberry.field(default_factory=list)
    password: str | None = None


@strawberry.input
class UpdatePersonInput:
    name: str | None = None
    roles: list[str] | None = None
    grants: list[str] | None = None
    status: str | None = None


def person(out: PersonOut) -> Person:
    return Person(
        id=strawberry.ID(out.id),
        email=out.email,
        name=out.name,
        roles=out.roles,
        grants=out.grants,
        status=out.status,
        has_password=out.has_password,
        created_at=out.created_at,
        updated_at=out.updated_at,
    )


async def list_people(
    info: GqlInfo, first: int = 20, after: str | None = None, q: str | None = None
) -> PeopleResult:
    raw = page_query(first, after) | ({} if q is None else {"q": q})
    try:
        query = convert(raw, PeopleQuery)
    except Invalid as e:
        return invalid(e, "people")
    result: PeopleOut | Err = await ops.list_people(caller(info), query)
    if isinstance(result, Err):
        return error(result)
    return People(people=[person(p) for p in result.people], next_cursor=result.next_cursor)


async def get_person(info: GqlInfo, id: strawberry.ID) -> PersonResult:
    result = await ops.get_person(caller(info), str(id))
    return error(result) if isinstance(result, Err) else person(result)


async def create_person(
    info: GqlInfo, input: CreatePersonInput, idempotency_key: str | None = None
) -> PersonResult:
    result: PersonResult = await mutate(
        info, idempotency_key, input, CreatePersonIn, ops.create_person, person
    )
    return result


async def update_person(
    info: GqlInfo, id: strawberry.ID, input: UpdatePersonInput, idempotency_key: str | None = None
) -> PersonResult:
    async def operation(who: Caller, data: UpdatePersonIn) -> PersonOut | Err:
        return await ops.update_person(who, str(id), data)

    result: PersonResult = await mutate(
        info, idempotency_key, input, UpdatePersonIn, operation, person
    )
    return result


async def send_password_link(
    info: GqlInfo, id: strawberry.ID, idempotency_key: str | None = None
) -> PasswordLinkResult:
    async def operation(who: Caller) -> PasswordLinkOut | Err:
        return await ops.send_password_link(who, str(id))

    def present(out: PasswordLinkOut) -> PasswordLinkSent:
        return PasswordLinkSent(id=strawberry.ID(out.id), email=out.email, kind=out.kind)

    result: PasswordLinkResult = await act(info, idempotency_key, operation, present)
    return result
