"""One suite over every tenant documents adapter: SQLite (embedded) and CouchDB
(pouchdb-server, started once per session on a free port)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import msgspec
import pytest

from storage.couch_tenant_docs import CouchTenantDocuments
from storage.errors import StaleWrite, StoreUnavailable
from storage.sqlite_tenant_docs import SqliteTenantDocuments
from storage.tenant_docs_ports import TenantDocuments, revision_number
from tests.servers import free_port
from tests.servers.couch import drop_databases, unique_prefix


@pytest.fixture(params=["sqlite", pytest.param("couchdb", marks=pytest.mark.couch)])
async def docs(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[TenantDocuments]:
    if request.param == "sqlite":
        store: TenantDocuments = SqliteTenantDocuments(tmp_path / "tenant-docs.sqlite3")
        yield store
        await store.close()
        return
    url: str = request.getfixturevalue("couch_url")
    prefix = unique_prefix()
    couch = CouchTenantDocuments(url, prefix=prefix)
    yield couch
    await couch.close()
    await drop_databases(url, prefix)


def _value(body: bytes) -> object:
    return msgspec.json.decode(body)


async def test_a_document_is_created_then_read_with_its_revision(docs: TenantDocuments) -> None:
    assert await docs.get("acme", "branding") is None
    assert await docs.revisions("acme", "branding") == []
    saved = await docs.put("acme", "branding", b'{"display_name": "Acme"}', None)
    got = await docs.get("acme", "branding")
    assert got is not None
    assert _value(got.body) == {"display_name": "Acme"}
    assert got.revision == saved.revision
    assert got.saved_ms == saved.saved_ms
    assert revision_number(saved.revision) == 1


async def test_creating_a_document_that_exists_is_a_stale_write(docs: TenantDocuments) -> None:
    first = await docs.put("acme", "locales", b'{"default": "en"}', None)
    with pytest.raises(StaleWrite):
        await docs.put("acme", "locales", b'{"default": "fr"}', None)
    got = await docs.get("acme", "locales")
    assert got is not None
    assert (got.revision, _value(got.body)) == (first.revision, {"default": "en"})


async def test_an_update_naming_the_current_revision_makes_a_new_one(
    docs: TenantDocuments,
) -> None:
    first = await docs.put("acme", "branding", b'{"display_name": "Acme"}', None)
    second = await docs.put("acme", "branding", b'{"display_name": "Acme Corp"}', first.revision)
    assert second.revision != first.revision
    assert revision_number(second.revision) == 2
    got = await docs.get("acme", "branding")
    assert got is not None
    assert (got.revision, _value(got.body)) == (second.revision, {"display_name": "Acme Corp"})


async def test_a_stale_write_is_refused_and_changes_nothing(docs: TenantDocuments) -> None:
    first = await docs.put("acme", "programme", b'{"points_name": "Stars"}', None)
    second = await docs.put("acme", "programme", b'{"points_name": "Kudos"}', first.revision)
    with pytest.raises(StaleWrite):
        await docs.put("acme", "programme", b'{"points_name": "Late"}', first.revision)
    with pytest.raises(StaleWrite):  # a revision it never had
        await docs.put("acme", "programme", b'{"points_name": "Late"}', "9-nonesuch")
    with pytest.raises(StaleWrite):  # updating a document that does not exist
        await docs.put("acme", "locales", b'{"default": "en"}', first.revision)
    got = await docs.get("acme", "programme")
    assert got is not None
    assert (got.revision, _value(got.body)) == (second.revision, {"points_name": "Kudos"})
    assert [r.revision for r in await docs.revisions("acme", "programme")] == [
        second.revision,
        first.revision,
    ]
    assert await docs.get("acme", "locales") is None


async def test_of_concurrent_writers_of_one_revision_exactly_one_wins(
    docs: TenantDocuments,
) -> None:
    base = await docs.put("acme", "branding", b'{"display_name": "v0"}', None)
    bodies = [f'{{"display_name": "writer {i}"}}'.encode() for i in range(8)]
    results = await asyncio.gather(
        *(docs.put("acme", "branding", body, base.revision) for body in bodies),
        return_exceptions=True,
    )
    won = [(i, r) for i, r in enumerate(results) if not isinstance(r, BaseException)]
    lost = [r for r in results if isinstance(r, BaseException)]
    assert len(won) == 1
    assert all(isinstance(e, StaleWrite) for e in lost)
    winner, revision = won[0]
    got = await docs.get("acme", "branding")
    assert got is not None
    assert got.body == msgspec.json.encode(msgspec.json.decode(bodies[winner]))
    assert got.revision == getattr(revision, "revision", None)
    assert len(await docs.revisions("acme", "branding")) == 2


async def test_concurrent_creators_exactly_one_wins(docs: TenantDocuments) -> None:
    results = await asyncio.gather(
        *(docs.put("acme", "locales", f'{{"n": {i}}}'.encode(), None) for i in range(6)),
        return_exceptions=True,
    )
    assert sum(not isinstance(r, BaseException) for r in results) == 1
    assert all(isinstance(r, StaleWrite) for r in results if isinstance(r, BaseException))


async def test_history_lists_every_revision_newest_first_and_each_can_be_read(
    docs: TenantDocuments,
) -> None:
    written = []
    revision = None
    for i in range(4):
        saved = await docs.put("acme", "email-templates", f'{{"v": {i}}}'.encode(), revision)
        written.append(saved)
        revision = saved.revision
    history = await docs.revisions("acme", "email-templates")
    assert [r.revision for r in history] == [w.revision for w in reversed(written)]
    assert [r.saved_ms for r in history] == [w.saved_ms for w in reversed(written)]
    for i, w in enumerate(written):
        past = await docs.get_revision("acme", "email-templates", w.revision)
        assert past is not None
        assert (_value(past.body), past.revision, past.saved_ms) == (
            {"v": i},
            w.revision,
            w.saved_ms,
        )
    assert await docs.get_revision("acme", "email-templates", "7-nonesuch") is None


async def test_tenants_and_documents_are_isolated(docs: TenantDocuments) -> None:
    acme = await docs.put("acme", "branding", b'{"display_name": "Acme"}', None)
    await docs.put("globex", "branding", b'{"display_name": "Globex"}', None)
    assert await docs.get("initech", "branding") is None
    assert await docs.get("acme", "locales") is None
    got = await docs.get("globex", "branding")
    assert got is not None
    assert _value(got.body) == {"display_name": "Globex"}
    # another tenant's revision does not open this tenant's document, nor its history
    assert await docs.get_revision("globex", "branding", acme.revision) is None
    with pytest.raises(StaleWrite):
        await docs.put("globex", "branding", b'{"display_name": "Taken"}', acme.revision)
    assert len(await docs.revisions("globex", "branding")) == 1


async def test_a_body_that_is_not_a_json_object_is_refused(docs: TenantDocuments) -> None:
    for body in (b"[1, 2]", b"not json", b'"text"'):
        with pytest.raises(ValueError, match="JSON"):
            await docs.put("acme", "branding", body, None)
    assert await docs.get("acme", "branding") is None


async def test_the_store_answers_a_ping(docs: TenantDocuments) -> None:
    await docs.ping()
    assert docs.name.startswith("tenantdocs:")


async def test_an_unreachable_couchdb_is_unavailable_not_an_error() -> None:
    gone = CouchTenantDocuments(f"http://127.0.0.1:{free_port()}", timeout_s=2)
    try:
        with pytest.raises(StoreUnavailable):
            await gone.ping()
        with pytest.raises(StoreUnavailable):
            await gone.get("acme", "branding")
        with pytest.raises(StoreUnavailable):
            await gone.put("acme", "branding", b"{}", None)
    finally:
        await gone.close()
