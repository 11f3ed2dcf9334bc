"""The production path end to end: edge → tenant config actor → CouchDB (pouchdb-server).
The contract suite checks the adapter; this checks that the host, the actor and the edge
turn CouchDB's revisions and conflicts into ETags, 412s and readiness."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import replace

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from actors.config import ActorsConfig
from actors.kinds import ALL_KINDS
from actors.runtime.host import ActorHost
from bus.client import Bus
from bus.embedded import EmbeddedNats
from edge.app import create_app
from edge.auth import TokenVerifier
from edge.config import EdgeConfig
from storage.couch_tenant_docs import CouchTenantDocuments
from storage.ports import CatalogueStore, Ledger
from tests.conftest import PARTITIONS, context
from tests.servers.couch import drop_databases, unique_prefix
from tests.support import AUDIENCE, ISSUER, Keys

pytestmark = pytest.mark.couch

Client = TestClient[web.Request, web.Application]


@pytest.fixture
async def client(
    couch_url: str, nats_server: EmbeddedNats, ledger: Ledger, catalogue: CatalogueStore, keys: Keys
) -> AsyncIterator[Client]:
    prefix = unique_prefix()
    docs = CouchTenantDocuments(couch_url, prefix=prefix)
    bus = await Bus.connect(nats_server.url, "test-couch", nats_server.credentials)
    ctx = replace(context(ledger, catalogue), tenant_docs=docs, stores=(docs,))
    host = ActorHost(bus, ctx, ALL_KINDS, ActorsConfig(idle_timeout_s=30), PARTITIONS)
    await host.start()
    verifier = TokenVerifier(keys.public.read_bytes(), ISSUER, AUDIENCE)
    edge = EdgeConfig(request_timeout_s=5, rate_per_s=0)
    app = create_app(edge, nats_server.url, verifier, None, nats_server.credentials)
    test_client: Client = TestClient(TestServer(app))
    await test_client.start_server()
    try:
        yield test_client
    finally:
        await test_client.close()
        await host.stop()
        await bus.close()
        await docs.close()
        await drop_databases(couch_url, prefix)


async def test_couchdb_revisions_are_the_etags_and_its_conflicts_412(
    client: Client, keys: Keys
) -> None:
    acme = keys.headers("acme")
    path = "/api/v1/tenant/config/branding"
    create = {**acme, "If-None-Match": "*"}
    async with client.put(path, json={"display_name": "Acme"}, headers=create) as r:
        assert r.status == 201
        first = r.headers["ETag"]
    assert first.startswith('"1-')  # CouchDB's own _rev
    async with client.put(
        path, json={"display_name": "Acme Corp"}, headers={**acme, "If-Match": first}
    ) as r:
        assert r.status == 200
        second = r.headers["ETag"]
    assert second.startswith('"2-')
    async with client.put(
        path, json={"display_name": "Late"}, headers={**acme, "If-Match": first}
    ) as r:
        assert (r.status, (await r.json())["code"]) == (412, "stale_revision")
    async with client.get(path, headers=acme) as r:
        assert (r.status, r.headers["ETag"]) == (200, second)
        assert (await r.json())["display_name"] == "Acme Corp"
    async with client.get(f"{path}?revision={first.strip(chr(34))}", headers=acme) as r:
        assert (await r.json())["display_name"] == "Acme"
    async with client.get("/api/v1/tenants/acme/branding") as r:
        assert (await r.json())["display_name"] == "Acme Corp"
    async with client.get("/readyz") as r:
        stores = {s["name"]: s["ok"] for s in (await r.json())["stores"]}
    assert stores["tenantdocs:couchdb"] is True
