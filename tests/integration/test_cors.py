"""CORS for embedded storefronts over HTTP: only the origins a tenant lists in its
programme read the API's answers from a browser (ADR 28)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping

import pytest

from bus.embedded import EmbeddedNats
from edge.config import EdgeConfig
from storage.ports import CatalogueStore, Ledger
from tests.conftest import Cluster, start_cluster
from tests.support import Keys

#: Above the ledger (CORS is the edge's): SQLite only (ADR 30).
pytestmark = pytest.mark.ledgers("sqlite")

HOST = "http://localhost:8123"  # the tenant's intranet, as the test lists it
STRANGER = "http://127.0.0.1:8123"  # an origin no tenant lists
PROGRAMME = "/api/v1/tenant/config/programme"
PRODUCTS = "/api/v1/catalogue/products"


@pytest.fixture
async def listed(cluster: Cluster) -> Cluster:
    body = {"allowed_origins": [HOST, "https://intranet.acme.example"]}
    headers = {**cluster.keys.headers("acme"), "If-None-Match": "*"}
    async with cluster.client.put(PROGRAMME, json=body, headers=headers) as r:
        assert r.status == 201, await r.text()
    return cluster


async def preflight(cluster: Cluster, path: str, origin: str) -> Mapping[str, str]:
    headers = {
        "Origin": origin,
        "Access-Control-Request-Method": "POST",
        "Access-Control-Request-Headers": "authorization, content-type, idempotency-key",
    }
    async with cluster.client.options(path, headers=headers) as r:
        assert r.status == 204
        return r.headers


async def headers_of(
    cluster: Cluster, method: str, path: str, headers: dict[str, str], json: object = None
) -> tuple[int, Mapping[str, str]]:
    async with cluster.client.request(method, path, headers=headers, json=json) as r:
        await r.read()
        return r.status, r.headers


async def test_a_listed_origin_reads_the_tenants_api(listed: Cluster) -> None:
    acme = listed.keys.headers("acme")
    status, headers = await headers_of(listed, "GET", PRODUCTS, {**acme, "Origin": HOST})
    assert status == 200
    assert headers["Access-Control-Allow-Origin"] == HOST
    assert "Origin" in headers["Vary"]
    assert "Retry-After" in headers["Access-Control-Expose-Headers"]
    assert "Access-Control-Allow-Credentials" not in headers


async def test_other_origins_get_no_cors_headers(listed: Cluster) -> None:
    acme = listed.keys.headers("acme")
    for origin in (STRANGER, "https://intranet.acme.example.evil.test", "null"):
        status, headers = await headers_of(listed, "GET", PRODUCTS, {**acme, "Origin": origin})
        assert status == 200  # answered: the browser is what refuses the page the answer
        assert "Access-Control-Allow-Origin" not in headers, origin
        assert "Origin" in headers["Vary"]


async def test_the_tokens_tenant_decides_not_a_header(listed: Cluster) -> None:
    globex = {**listed.keys.headers("globex"), "Origin": HOST, "X-Perkbus-Tenant": "acme"}
    status, headers = await headers_of(listed, "GET", PRODUCTS, globex)
    assert status == 200
    assert "Access-Control-Allow-Origin" not in headers


async def test_unauthenticated_answers_follow_the_named_tenant(listed: Cluster) -> None:
    # no token: the header names the tenant, so the app can read its 401 and refresh
    named = {"Origin": HOST, "X-Perkbus-Tenant": "acme"}
    status, headers = await headers_of(listed, "GET", PRODUCTS, named)
    assert (status, headers["Access-Control-Allow-Origin"]) == (401, HOST)
    status, headers = await headers_of(listed, "GET", PRODUCTS, {"Origin": HOST})
    assert status == 401
    assert "Access-Control-Allow-Origin" not in headers
    # sign-in names its tenant in the body
    wrong = {"tenant": "acme", "email": "nobody@acme.test", "password": "not-the-password"}
    status, headers = await headers_of(listed, "POST", "/auth/sign-in", {"Origin": HOST}, wrong)
    assert (status, headers["Access-Control-Allow-Origin"]) == (401, HOST)
    other = {**wrong, "tenant": "globex"}
    status, headers = await headers_of(listed, "POST", "/auth/sign-in", {"Origin": HOST}, other)
    assert status == 401
    assert "Access-Control-Allow-Origin" not in headers
    # a refresh token names its tenant too
    spent = {"grant_type": "refresh_token", "refresh_token": "pbr_acme.not-a-live-one"}
    async with listed.client.post("/oauth/token", data=spent, headers={"Origin": HOST}) as r:
        assert r.status == 400
        assert r.headers["Access-Control-Allow-Origin"] == HOST


async def test_the_public_branding_is_read_by_listed_origins_only(listed: Cluster) -> None:
    branding = "/api/v1/tenants/acme/branding"
    status, headers = await headers_of(listed, "GET", branding, {"Origin": HOST})
    assert (status, headers["Access-Control-Allow-Origin"]) == (200, HOST)
    status, headers = await headers_of(listed, "GET", branding, {"Origin": STRANGER})
    assert status == 200
    assert "Access-Control-Allow-Origin" not in headers


async def test_preflights(listed: Cluster) -> None:
    approved = await preflight(listed, "/api/v1/orders", HOST)
    assert approved["Access-Control-Allow-Origin"] == HOST
    allowed = approved["Access-Control-Allow-Headers"]
    for name in ("Authorization", "Content-Type", "Idempotency-Key", "X-CSRF-Token"):
        assert name in allowed
    assert "POST" in approved["Access-Control-Allow-Methods"]
    assert "Access-Control-Allow-Credentials" not in approved
    assert "Origin" in approved["Vary"]
    # a path that names its tenant: only that tenant's origins
    named = await preflight(listed, "/api/v1/tenants/acme/branding", STRANGER)
    assert "Access-Control-Allow-Origin" not in named
    named = await preflight(listed, "/api/v1/tenants/acme/branding", HOST)
    assert named["Access-Control-Allow-Origin"] == HOST
    # no tenant in a preflight: only origins a tenant could list at all are approved
    for origin in ("http://evil.example", "null", "https://x.example/path"):
        refused = await preflight(listed, "/api/v1/orders", origin)
        assert "Access-Control-Allow-Origin" not in refused, origin


async def test_a_programme_change_takes_effect_at_once(listed: Cluster) -> None:
    acme = listed.keys.headers("acme")
    status, headers = await headers_of(listed, "GET", PRODUCTS, {**acme, "Origin": HOST})
    assert headers["Access-Control-Allow-Origin"] == HOST  # now kept by the edge
    async with listed.client.get(PROGRAMME, headers=acme) as r:
        etag = r.headers["ETag"]
    body = {"allowed_origins": ["https://intranet.acme.example"]}
    async with listed.client.put(PROGRAMME, json=body, headers={**acme, "If-Match": etag}) as r:
        assert r.status == 200
    status, headers = await headers_of(listed, "GET", PRODUCTS, {**acme, "Origin": HOST})
    assert status == 200
    assert "Access-Control-Allow-Origin" not in headers


async def test_same_origin_requests_need_no_cors(listed: Cluster) -> None:
    acme = listed.keys.headers("acme")
    own = str(listed.client.make_url("")).rstrip("/")
    status, headers = await headers_of(listed, "GET", PRODUCTS, {**acme, "Origin": own})
    assert status == 200
    assert "Access-Control-Allow-Origin" not in headers


async def test_the_framed_storefront_may_be_framed_by_listed_origins_only(
    listed: Cluster,
) -> None:
    async with listed.client.get("/embed/acme") as r:
        assert r.status == 200
        assert r.content_type == "text/html"
        csp = r.headers["Content-Security-Policy"]
        page = await r.text()
    ancestors = csp.split("frame-ancestors ")[1].split(";")[0]
    assert ancestors == f"{HOST} https://intranet.acme.example"
    assert 'data-tenant="acme"' in page
    async with listed.client.get("/embed/globex") as r:  # lists none: framed by none
        assert "frame-ancestors 'none'" in r.headers["Content-Security-Policy"]
    for bad in ("/embed/Acme", "/embed/%3Cscript%3E", "/embed/a%22b"):
        async with listed.client.get(bad) as r:
            assert r.status == 404, bad
    async with listed.client.get("/api/v1/tenants/acme/branding") as r:  # the rest: none
        assert "frame-ancestors 'none'" in r.headers["Content-Security-Policy"]


@pytest.fixture
async def strict(
    nats_server: EmbeddedNats, ledger: Ledger, catalogue: CatalogueStore, keys: Keys
) -> AsyncIterator[Cluster]:
    """An edge whose per-address bucket holds two requests (one more a second)."""
    config = EdgeConfig(request_timeout_s=5.0, rate_per_s=1, rate_burst=2)
    async for cluster in start_cluster(nats_server, ledger, catalogue, keys, edge=config):
        yield cluster


async def test_naming_tenants_without_a_token_is_limited_by_address(strict: Cluster) -> None:
    """Each tenant named in a path may wake that tenant's actor: the framed storefront
    and preflights naming a tenant count against the caller's address, as the public
    branding does, so nobody wakes actors for made-up tenants without end."""
    framed = []
    for n in range(6):
        async with strict.client.get(f"/embed/made-up-{n}") as r:
            framed.append(r.status)
    assert framed[:2] == [200, 200]
    assert 429 in framed
    asked = []
    for n in range(6):
        headers = {"Origin": STRANGER, "Access-Control-Request-Method": "GET"}
        async with strict.client.options(
            f"/api/v1/tenants/made-up-{n}/branding", headers=headers
        ) as r:
            asked.append(r.status)
    assert 429 in asked
    assert len(strict.host.activations) < 12  # not one actor per name asked
