"""GraphQL for a tenant's configuration documents (operations shared with REST).

A document travels as the ``JSON`` scalar, with the same snake_case fields as REST, and is
validated against the same Structs. ``putTenantConfig`` names the revision it replaces
(``expectedRevision``; null creates the document); a stale one is a ``Conflict`` with
code ``stale_revision``, and nothing changes.
"""

from __future__ import annotations

from typing import Annotated, Any

import msgspec
import strawberry
from strawberry.scalars import JSON

from bus.errors import ErrorCode
from bus.messages import Err
from bus.messages.tenant_config import DOCUMENT_NAMES, DOCUMENT_TYPES, DocumentName, DocumentView
from bus.time import rfc3339
from edge import config_operations as ops
from edge.config_operations import RevisionsOut
from edge.cors import EMBED_ORIGINS
from edge.graphql.common import AnyError, FieldError, GqlInfo, InvalidInput, caller, error
from edge.validation import Invalid, convert


@strawberry.type
class TenantConfig:
    name: str
    revision: str = strawberry.field(description="Send it as expectedRevision to update.")
    saved_at: str
    document: JSON = strawberry.field(description="The document, with REST's field names.")


@strawberry.type
class TenantConfigRevision:
    revision: str
    saved_at: str


@strawberry.type
class TenantConfigRevisions:
    name: str
    revisions: list[TenantConfigRevision] = strawberry.field(description="Newest first.")


TenantConfigResult = Annotated[TenantConfig | AnyError, strawberry.union("TenantConfigResult")]
TenantConfigRevisionsResult = Annotated[
    TenantConfigRevisions | AnyError, strawberry.union("TenantConfigRevisionsResult")
]


def _invalid(e: Invalid, argument: str) -> InvalidInput:
    """Like :func:`edge.graphql.common.invalid`, but a document's field names are its
    own (snake_case, as in REST), not GraphQL's."""
    pointer = "#/" + argument + e.pointer.removeprefix("#")
    return InvalidInput(
        code=ErrorCode.INVALID_REQUEST.value,
        message=f"{e.detail} at {pointer}",
        retryable=False,
        fields=[FieldError(pointer=pointer, detail=e.detail)],
    )


def _name(name: str) -> DocumentName | InvalidInput:
    for known in DOCUMENT_NAMES:
        if name == known:
            return known
    return _invalid(Invalid(f"one of {', '.join(DOCUMENT_NAMES)}"), "name")


def tenant_config(view: DocumentView) -> TenantConfig:
    return TenantConfig(
        name=view.name,
        revision=view.revision,
        saved_at=rfc3339(view.saved_ms),
        document=msgspec.json.decode(view.body),
    )


def revisions(out: RevisionsOut) -> TenantConfigRevisions:
    return TenantConfigRevisions(
        name=out.name,
        revisions=[
            TenantConfigRevision(revision=r.revision, saved_at=r.saved_at) for r in out.revisions
        ],
    )


async def get_tenant_config(
    info: GqlInfo, name: str, revision: str | None = None
) -> TenantConfigResult:
    checked = _name(name)
    if isinstance(checked, InvalidInput):
        return checked
    result = await ops.get_document(caller(info), checked, revision)
    return error(result) if isinstance(result, Err) else tenant_config(result)


async def list_tenant_config_revisions(info: GqlInfo, name: str) -> TenantConfigRevisionsResult:
    checked = _name(name)
    if isinstance(checked, InvalidInput):
        return checked
    result = await ops.list_revisions(caller(info), checked)
    return error(result) if isinstance(result, Err) else revisions(result)


async def put_tenant_config(
    info: GqlInfo,
    name: str,
    document: JSON,
    expected_revision: str | None = None,
    idempotency_key: str | None = None,
) -> TenantConfigResult:
    checked = _name(name)
    if isinstance(checked, InvalidInput):
        return checked
    try:
        who = caller(info, idempotency_key)
    except Invalid as e:
        return _invalid(e, "idempotencyKey")
    raw: Any = document
    try:
        value = convert(raw, DOCUMENT_TYPES[checked])
        ops.readable(value)
    except Invalid as e:
        return _invalid(e, "document")
    body = msgspec.json.encode(value)
    result = await ops.put_document(who, checked, body, expected_revision)
    if checked == "programme":  # its allowed origins may have changed (edge.cors)
        info.context["request"].app[EMBED_ORIGINS].forget(who.identity.tenant)
    return error(result) if isinstance(result, Err) else tenant_config(result)
