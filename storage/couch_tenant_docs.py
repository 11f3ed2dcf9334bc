"""CouchDB tenant documents (aiocouch): the production adapter of the tenant documents port.

One database per tenant, ``<prefix><tenant>`` (ADR 0025): a tenant's configuration can be
replicated, backed up, secured (``_security``) and removed on its own. Within it, a
document's current revision is the document named after it (``branding``); CouchDB's
``_rev`` is its revision, and a ``PUT`` that names an older ``_rev`` is refused with
409 Conflict — that refusal is the port's :class:`~storage.errors.StaleWrite`, so of
concurrent writers exactly one wins without any lock of ours.

CouchDB does not keep the bodies of old revisions (compaction drops them), so before a
write replaces a revision it copies that revision to an immutable archive document
``<name>@<rev>``. The replacement is the commit point: a writer that dies between the two
leaves an archive of a revision that is still current, which :meth:`revisions` ignores.

pouchdb-server (the tests' CouchDB) answers JSON only to ``Accept: application/json``,
and its compression stalls continuous ``_changes`` unless ``Accept-Encoding: identity``;
every request sends both (correct against Apache CouchDB too), through an aiohttp
client middleware given to aiocouch's session.
"""

from __future__ import annotations

import time
from typing import Any

import aiohttp
import msgspec
from aiocouch import ConflictError, CouchDB, NotFoundError, PreconditionFailedError
from aiocouch.database import Database
from aiocouch.document import Document
from yarl import URL

from storage.errors import StaleWrite, StoreUnavailable
from storage.tenant_docs_ports import DocumentRevision, StoredDocument, revision_number

DEFAULT_PREFIX = "perkbus-config-"
ARCHIVE = "@"


async def couch_headers(
    request: aiohttp.ClientRequest, handler: aiohttp.ClientHandlerType
) -> aiohttp.ClientResponse:
    """aiohttp client middleware: JSON answers, uncompressed (see the module's docstring)."""
    request.headers["Accept"] = "application/json"
    request.headers["Accept-Encoding"] = "identity"
    return await handler(request)


def _body(value: Any) -> dict[str, Any]:
    try:
        body = msgspec.json.decode(value) if isinstance(value, bytes) else value
    except msgspec.DecodeError as e:
        raise ValueError(f"a tenant document is JSON: {e}") from e
    if not isinstance(body, dict):
        raise ValueError("a tenant document is a JSON object")
    return body


def _stored(data: dict[str, Any], revision: str) -> StoredDocument:
    return StoredDocument(msgspec.json.encode(data["body"]), revision, int(data["saved_ms"]))


class CouchTenantDocuments:
    name = "tenantdocs:couchdb"

    def __init__(self, url: str, prefix: str = DEFAULT_PREFIX, timeout_s: float = 10.0) -> None:
        parsed = URL(url)
        server = str(parsed.with_user(None).with_password(None)).rstrip("/")
        self.prefix = prefix
        self.couch = CouchDB(
            server,
            user=parsed.user,
            password=parsed.password,
            middlewares=(couch_headers,),
            timeout=aiohttp.ClientTimeout(total=timeout_s),
        )
        self._created: set[str] = set()

    def database_name(self, tenant: str) -> str:
        return f"{self.prefix}{tenant}"

    def _database(self, tenant: str) -> Database:
        return Database(self.couch, self.database_name(tenant))

    async def _created_database(self, tenant: str) -> Database:
        name = self.database_name(tenant)
        if name not in self._created:
            try:
                await self.couch.create(name, exists_ok=True)
            except (aiohttp.ClientError, TimeoutError) as e:
                raise StoreUnavailable(f"CouchDB: cannot create {name}: {e}") from e
            self._created.add(name)
        return self._database(tenant)

    async def ping(self) -> None:
        try:
            await self.couch.info()
        except (aiohttp.ClientError, TimeoutError) as e:
            raise StoreUnavailable(f"CouchDB: {e}") from e

    async def close(self) -> None:
        await self.couch.close()

    async def _fetch(self, db: Database, doc_id: str) -> dict[str, Any] | None:
        try:
            doc = await db.get(doc_id)
        except NotFoundError:  # no such document, or no database: never written
            return None
        except (aiohttp.ClientError, TimeoutError) as e:
            raise StoreUnavailable(f"CouchDB: {e}") from e
        return doc.data

    async def get(self, tenant: str, name: str) -> StoredDocument | None:
        data = await self._fetch(self._database(tenant), name)
        return None if data is None else _stored(data, str(data["_rev"]))

    async def get_revision(self, tenant: str, name: str, revision: str) -> StoredDocument | None:
        db = self._database(tenant)
        current = await self._fetch(db, name)
        if current is not None and current["_rev"] == revision:
            return _stored(current, revision)
        archived = await self._fetch(db, f"{name}{ARCHIVE}{revision}")
        return None if archived is None else _stored(archived, revision)

    async def put(
        self, tenant: str, name: str, body: bytes, expected_revision: str | None
    ) -> DocumentRevision:
        what = f"tenant document {tenant}/{name}"
        value = _body(body)
        db = await self._created_database(tenant)
        if expected_revision is not None:
            current = await self._fetch(db, name)
            if current is None or current["_rev"] != expected_revision:
                raise StaleWrite(what, expected_revision)
            await self._archive(db, name, current)
        saved_ms = int(time.time() * 1000)
        doc = Document(db, name, data={"body": value, "saved_ms": saved_ms})
        if expected_revision is not None:
            doc.rev = expected_revision
        try:
            await doc.save()
        except ConflictError as e:  # 409: another writer replaced (or created) it first
            raise StaleWrite(what, expected_revision or 0) from e
        except (aiohttp.ClientError, TimeoutError) as e:
            raise StoreUnavailable(f"CouchDB: {e}") from e
        revision = doc.rev
        if revision is None:  # pragma: no cover - CouchDB always answers a saved rev
            raise StoreUnavailable(f"CouchDB gave no revision for {what}")
        return DocumentRevision(revision, saved_ms)

    async def _archive(self, db: Database, name: str, current: dict[str, Any]) -> None:
        """Keep the revision about to be replaced; a copy made already (by a concurrent
        writer, or one that died before its write) is the same copy."""
        revision = str(current["_rev"])
        data = {"body": current["body"], "saved_ms": current["saved_ms"], "revision": revision}
        archive = Document(db, f"{name}{ARCHIVE}{revision}", data=data)
        try:
            await archive.save()
        except ConflictError:
            pass
        except (aiohttp.ClientError, TimeoutError) as e:
            raise StoreUnavailable(f"CouchDB: {e}") from e

    async def revisions(self, tenant: str, name: str) -> list[DocumentRevision]:
        db = self._database(tenant)
        current = await self._fetch(db, name)
        if current is None:
            return []
        head = DocumentRevision(str(current["_rev"]), int(current["saved_ms"]))
        past: list[DocumentRevision] = []
        try:
            async for doc in db.docs(prefix=f"{name}{ARCHIVE}"):
                data = doc.data or {}
                if "revision" in data and data["revision"] != head.revision:
                    past.append(DocumentRevision(str(data["revision"]), int(data["saved_ms"])))
        except (NotFoundError, PreconditionFailedError):
            pass
        except (aiohttp.ClientError, TimeoutError) as e:
            raise StoreUnavailable(f"CouchDB: {e}") from e
        past.sort(key=lambda r: (revision_number(r.revision), r.saved_ms), reverse=True)
        return [head, *past]

    async def drop_tenant(self, tenant: str) -> None:
        """Remove a tenant's database (its configuration and every past revision)."""
        self._created.discard(self.database_name(tenant))
        try:
            db = await self.couch[self.database_name(tenant)]
        except NotFoundError:
            return
        await db.delete()
