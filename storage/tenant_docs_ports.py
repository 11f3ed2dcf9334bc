"""The tenant documents port: a tenant's configuration documents, each with revisions.

A document is a JSON object stored whole under ``(tenant, name)``. Every write names the
revision it replaces (None to create the document); if that is not the current revision
the write fails with :class:`~storage.errors.StaleWrite` and nothing changes, so of two
writers that read the same revision exactly one wins. Revisions are opaque strings in
CouchDB's form ``<n>-<hash>``, ``n`` counting the document's writes; the history of a
document lists every revision it had, and each past revision can be read back
(ADR 0025).
"""

from __future__ import annotations

from typing import Protocol

import msgspec


class StoredDocument(msgspec.Struct, frozen=True):
    #: The document's JSON object (equal in value, not necessarily in bytes, to what was
    #: written).
    body: bytes
    revision: str
    saved_ms: int


class DocumentRevision(msgspec.Struct, frozen=True):
    revision: str
    saved_ms: int


class TenantDocuments(Protocol):
    """Tenants' configuration documents (CouchDB, or SQLite embedded)."""

    name: str

    async def ping(self) -> None: ...

    async def close(self) -> None: ...

    async def get(self, tenant: str, name: str) -> StoredDocument | None:
        """The document as it is now; None if it was never written."""
        ...

    async def get_revision(self, tenant: str, name: str, revision: str) -> StoredDocument | None:
        """The document as it was at ``revision``; None if it never had that revision."""
        ...

    async def put(
        self, tenant: str, name: str, body: bytes, expected_revision: str | None
    ) -> DocumentRevision:
        """Write ``body`` (a JSON object) over ``expected_revision`` (None: create it);
        the new revision. :class:`~storage.errors.StaleWrite` if the document is not at
        ``expected_revision`` (or exists, for a create): then nothing was written."""
        ...

    async def revisions(self, tenant: str, name: str) -> list[DocumentRevision]:
        """Every revision the document had, newest (the current one) first."""
        ...


def revision_number(revision: str) -> int:
    """The ``n`` of ``<n>-<hash>``: how many writes made this revision (0 if malformed)."""
    head, _, _ = revision.partition("-")
    return int(head) if head.isdigit() else 0
