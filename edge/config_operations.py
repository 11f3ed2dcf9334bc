"""What the API can do with a tenant's configuration documents, once for REST and GraphQL
(see :mod:`edge.operations` for the shape every operation has).

A document is read with its revision and written over the revision read (none to create
it); the tenant config actor refuses a write over any other (``stale_revision``). Reading
a tenant's public profile (branding, locales, embedding origins) needs no token: the PWA
shows it before anyone signs in.
"""

from __future__ import annotations

from typing import Annotated

import msgspec

from bus.client import Bus
from bus.errors import BusError, ErrorCode
from bus.messages import Err, Ok
from bus.messages.common import whole
from bus.messages.tenant_config import (
    KIND,
    Branding,
    Colours,
    DocumentName,
    DocumentView,
    GetDocument,
    GetPublicProfile,
    ListRevisions,
    PublicProfile,
    PutDocument,
    Revision,
    RevisionList,
)
from bus.scopes import SCOPE_CONFIG, SCOPE_CONFIG_ADMIN
from bus.time import rfc3339
from edge.operations import Caller, call, missing_scope
from edge.people_operations import ANONYMOUS
from edge.validation import Invalid


class RevisionOut(msgspec.Struct, frozen=True):
    revision: str
    saved_at: str


class RevisionsOut(msgspec.Struct, frozen=True):
    name: str
    #: Newest first: the first is the current revision.
    revisions: list[RevisionOut]


class LocalesOut(msgspec.Struct, frozen=True):
    default: str
    enabled: list[str]


class PublicProfileOut(msgspec.Struct, frozen=True):
    """What the PWA needs before anyone signs in."""

    tenant: str
    display_name: str
    logo_url: str | None
    colours: Colours
    #: The colours as CSS custom properties (``--pb-primary`` …) for a ``:root`` rule.
    css_properties: dict[str, str]
    locales: LocalesOut
    #: Origins that may embed the storefront (CSP ``frame-ancestors``, CORS).
    allowed_origins: list[str]
    points_name: str


TenantId = Annotated[str, msgspec.Meta(pattern=whole("[a-z0-9][a-z0-9_-]{0,62}"))]


def revisions_out(value: RevisionList) -> RevisionsOut:
    return RevisionsOut(
        value.name, [RevisionOut(r.revision, rfc3339(r.saved_ms)) for r in value.revisions]
    )


def public_out(p: PublicProfile) -> PublicProfileOut:
    return PublicProfileOut(
        tenant=p.tenant,
        display_name=p.branding.display_name,
        logo_url=p.branding.logo_url,
        colours=p.branding.colours,
        css_properties=p.branding.colours.css_properties(),
        locales=LocalesOut(p.locales.default, list(p.locales.enabled)),
        allowed_origins=list(p.allowed_origins),
        points_name=p.points_name,
    )


def _revision(revision: str) -> bool:
    """Could this be a revision? One that cannot never reaches the bus."""
    try:
        msgspec.convert(revision, Revision)
    except msgspec.ValidationError:
        return False
    return True


def _unexpected(value: object) -> Err:
    return Err.of(ErrorCode.INTERNAL, f"unexpected reply {type(value).__name__}")


async def get_document(
    caller: Caller, name: DocumentName, revision: str | None = None
) -> DocumentView | Err:
    if denied := missing_scope(caller, SCOPE_CONFIG):
        return denied
    if revision is not None and not _revision(revision):
        return Err.of(ErrorCode.NOT_FOUND, f"no {name} document at that revision")
    value = await call(caller, KIND, GetDocument(name, revision), keyed=False)
    if isinstance(value, Err):
        return value
    return value if isinstance(value, DocumentView) else _unexpected(value)


def readable(document: object) -> None:
    """Raise :class:`Invalid` at the colour if a branding's text would be unreadable
    (``Colours.unreadable``); the actor checks it again."""
    if isinstance(document, Branding) and (bad := document.colours.unreadable()):
        field, why = bad
        raise Invalid(why, f"#/colours/{field}")


async def put_document(
    caller: Caller, name: DocumentName, body: bytes, expected_revision: str | None
) -> DocumentView | Err:
    """``body`` is the document's JSON, already validated by the caller."""
    if denied := missing_scope(caller, SCOPE_CONFIG_ADMIN):
        return denied
    if expected_revision is not None and not _revision(expected_revision):
        return Err.of(ErrorCode.STALE_REVISION, f"{name} was never at that revision")
    value = await call(caller, KIND, PutDocument(name, body, expected_revision), keyed=True)
    if isinstance(value, Err):
        return value
    return value if isinstance(value, DocumentView) else _unexpected(value)


async def list_revisions(caller: Caller, name: DocumentName) -> RevisionsOut | Err:
    if denied := missing_scope(caller, SCOPE_CONFIG):
        return denied
    value = await call(caller, KIND, ListRevisions(name), keyed=False)
    if isinstance(value, Err):
        return value
    return revisions_out(value) if isinstance(value, RevisionList) else _unexpected(value)


async def public_profile(bus: Bus, timeout_s: float, tenant: str) -> PublicProfileOut | Err:
    """A tenant's public profile, asked as nobody; a tenant id that cannot be one is not
    found (and never reaches the bus)."""
    try:
        msgspec.convert(tenant, TenantId)
    except msgspec.ValidationError:
        return Err.of(ErrorCode.NOT_FOUND, "no tenant has that id")
    try:
        reply = await bus.request(tenant, KIND, GetPublicProfile(), ANONYMOUS, timeout_s)
    except BusError as e:
        return Err(code=e.code, message=str(e), retryable=True)
    match reply:
        case Ok(value=PublicProfile() as profile):
            return public_out(profile)
        case Err() as err:
            return err
    return _unexpected(reply)
