"""The edge's defences: rate limits (local and shared through Redis), body depth,
security headers, GraphQL depth and alias limits."""

from __future__ import annotations

import math
import ssl
import time
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import msgspec
import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from bus.embedded import EmbeddedNats
from edge import listening
from edge.app import create_app, tls_context
from edge.auth import TokenVerifier
from edge.client_address import trusted_networks
from edge.config import EdgeConfig
from storage.ports import CatalogueStore, Ledger
from storage.redis_limiter import RedisLimiter
from tests.conftest import Cluster, start_cluster
from tests.contract.test_rate_limiter import REDIS_URL
from tests.servers import free_port
from tests.support import AUDIENCE, ISSUER, Keys, self_signed, unavailable

#: Above the ledger (the edge's limits and headers): SQLite only (ADR 30).
pytestmark = pytest.mark.ledgers("sqlite")

LIMITED = EdgeConfig(rate_per_s=1, rate_burst=3, token_rate_per_s=1, token_rate_burst=2)


@pytest.fixture
async def limited(
    nats_server: EmbeddedNats, ledger: Ledger, catalogue: CatalogueStore, keys: Keys
) -> AsyncIterator[Cluster]:
    async for c in start_cluster(nats_server, ledger, catalogue, keys, edge=LIMITED):
        yield c


async def test_a_principal_past_its_bucket_gets_429_with_retry_after(limited: Cluster) -> None:
    await limited.open_budget("acme", "b1", 100)
    acme = limited.keys.headers("acme")
    statuses = []
    for _ in range(4):
        async with limited.client.get("/api/v1/budgets/b1", headers=acme) as r:
            statuses.append(r.status)
            if r.status == 429:
                body = await r.json(content_type=None)
                retry_after = int(r.headers["Retry-After"])
                assert r.content_type == "application/problem+json"
    assert statuses == [200, 200, 200, 429]
    assert (body["code"], body["retryable"], retry_after) == ("rate_limited", True, 1)
    async with limited.client.get(
        "/api/v1/budgets/b1", headers=limited.keys.headers("globex")
    ) as r:
        assert r.status == 404  # another principal has a bucket of its own (and no b1)
    tokens = []
    for _ in range(3):  # the token endpoint limits by address: secrets cannot be guessed fast
        async with limited.client.post("/oauth/token", data={"grant_type": "x"}) as r:
            tokens.append(r.status)
    assert tokens == [401, 401, 429]


async def test_edges_share_buckets_through_redis(
    nats_server: EmbeddedNats, ledger: Ledger, catalogue: CatalogueStore, keys: Keys
) -> None:
    prefix = f"pb:test:{uuid.uuid4().hex[:8]}:"
    shared = RedisLimiter(REDIS_URL, prefix=prefix)
    try:
        await shared.take("ping", 1, 1)
    except Exception as e:
        await shared.close()
        unavailable(f"Redis at {REDIS_URL} is not reachable: {e}")
    verifier = TokenVerifier(keys.public.read_bytes(), ISSUER, AUDIENCE)
    other: TestClient[web.Request, web.Application] = TestClient(
        TestServer(create_app(LIMITED, nats_server.url, verifier, shared, nats_server.credentials))
    )
    await other.start_server()
    try:
        async for cluster in start_cluster(
            nats_server, ledger, catalogue, keys, edge=LIMITED, limiter=shared
        ):
            await cluster.open_budget("acme", "b1", 100)
            acme = keys.headers("acme")
            statuses = []
            for client in (cluster.client, other, cluster.client, other):
                async with client.get("/api/v1/budgets/b1", headers=acme) as r:
                    statuses.append(r.status)
            assert statuses == [200, 200, 200, 429]  # one bucket across both edges
    finally:
        await other.close()
        await shared.close()


async def test_deep_json_is_refused_before_decoding(cluster: Cluster) -> None:
    await cluster.open_budget("acme", "b1", 100)
    deep = b'{"amount": ' + b"[" * 100 + b"1" + b"]" * 100 + b"}"
    async with cluster.client.post(
        "/api/v1/budgets/b1/debits",
        data=deep,
        headers={**cluster.keys.headers("acme"), "Content-Type": "application/json"},
    ) as r:
        body = await r.json(content_type=None)
        assert (r.status, body["code"]) == (400, "malformed_body")
        assert "nested deeper than 32" in body["detail"]
    brackets_in_strings = b'{"amount": {"amount_minor": 1, "currency": "EUR"}, "memo": "' + (
        b"[" * 100
    ) + b'"}'  # fmt: skip
    async with cluster.client.post(
        "/api/v1/budgets/b1/debits",
        data=brackets_in_strings,
        headers={**cluster.keys.headers("acme"), "Content-Type": "application/json"},
    ) as r:
        assert r.status == 201  # only structure counts, not brackets inside strings
    assert await cluster.ledger.account_balance("acme", "budget:b1") == 99


async def test_every_answer_carries_security_headers(cluster: Cluster) -> None:
    for path, headers in (
        ("/api/v1/budgets/nope", cluster.keys.headers("acme")),
        ("/api/v1/budgets/nope", {}),
        ("/healthz", {}),
        ("/.well-known/jwks.json", {}),
    ):
        async with cluster.client.get(path, headers=headers) as r:
            assert r.headers["X-Content-Type-Options"] == "nosniff", path
            assert "frame-ancestors 'none'" in r.headers["Content-Security-Policy"], path
            assert r.headers["Referrer-Policy"] == "no-referrer"
            assert r.headers["Server"] == "perkbus", path  # no aiohttp or Python version
            assert "Strict-Transport-Security" not in r.headers  # plain HTTP here


async def test_what_a_token_was_needed_for_is_kept_by_no_cache(cluster: Cluster) -> None:
    """Budgets, the audit log, webhooks, people, wallets, GraphQL: after sign-out nobody
    at the same device reads them back from the browser's cache. Public reads may be kept."""
    await cluster.open_budget("acme", "b1", 100)
    acme = cluster.keys.headers("acme")
    for path in ("/api/v1/budgets", "/api/v1/budgets/b1", "/api/v1/audit", "/api/v1/webhooks",
                 "/api/v1/people", "/api/v1/wallets/ann", "/api/v1/funding-accounts"):  # fmt: skip
        async with cluster.client.get(path, headers=acme) as r:
            assert (r.status, r.headers.get("Cache-Control")) == (200, "no-store"), path
    query = {"query": "{ budgets { __typename } }"}
    async with cluster.client.post("/graphql", json=query, headers=acme) as r:
        assert r.headers.get("Cache-Control") == "no-store"
    async with cluster.client.get("/.well-known/jwks.json") as r:
        assert r.headers["Cache-Control"] == "public, max-age=300"


async def test_graphql_refuses_documents_too_deep_or_too_aliased(cluster: Cluster) -> None:
    acme = cluster.keys.headers("acme")
    nested = '{ a: budget(id: "b") ' + "{ ... on Budget { id " * 12 + "}" * 24 + " }"
    aliased = "{ " + " ".join(f'b{i}: budget(id: "b") {{ __typename }}' for i in range(20)) + " }"
    for query, reason in ((nested, "exceeds maximum operation depth"), (aliased, "aliases")):
        async with cluster.client.post("/graphql", json={"query": query}, headers=acme) as r:
            body = await r.json()
        assert body.get("data") is None, query
        assert reason in body["errors"][0]["message"], body
    ok = '{ budget(id: "b") { __typename } }'
    async with cluster.client.post("/graphql", json={"query": ok}, headers=acme) as r:
        assert (await r.json())["data"]["budget"]["__typename"] == "NotFound"


async def test_the_edge_serves_tls_with_hsts(
    nats_server: EmbeddedNats, keys: Keys, tmp_path: Path
) -> None:
    cert_file, key_file = self_signed(tmp_path)
    port = free_port()
    config = EdgeConfig(port=port, tls_cert_file=str(cert_file), tls_key_file=str(key_file))
    context = tls_context(config)
    assert context is not None
    verifier = TokenVerifier(keys.public.read_bytes(), ISSUER, AUDIENCE)
    runner = web.AppRunner(
        create_app(config, nats_server.url, verifier, nats_credentials=nats_server.credentials)
    )
    await runner.setup()
    await listening.site(runner, config, context).start()  # as `perkbus edge` listens
    trusted = ssl.create_default_context(cafile=str(cert_file))
    try:
        async with aiohttp.ClientSession() as session:
            async with session.get(f"https://127.0.0.1:{port}/healthz", ssl=trusted) as r:
                assert r.status == 200
                assert r.headers["Strict-Transport-Security"].startswith("max-age=")
            with pytest.raises(aiohttp.ClientError):  # plain HTTP is not spoken there
                async with session.get(f"http://127.0.0.1:{port}/healthz") as r:
                    await r.read()
    finally:
        await runner.cleanup()


async def test_behind_trusted_proxies_each_client_has_its_own_bucket(
    nats_server: EmbeddedNats, ledger: Ledger, catalogue: CatalogueStore, keys: Keys
) -> None:
    """Behind a load balancer every peer is the balancer: with it trusted, the address it
    saw (the last in X-Forwarded-For not its own) is the client's; what the client wrote
    further left counts for nothing. Without the setting the header is ignored."""

    async def statuses(client: Any, forwarded: str, times: int) -> list[int]:
        seen = []
        for _ in range(times):
            async with client.post(
                "/oauth/token", data={"grant_type": "x"}, headers={"X-Forwarded-For": forwarded}
            ) as r:
                seen.append(r.status)
        return seen

    behind = msgspec.structs.replace(LIMITED, trusted_proxies="127.0.0.0/8, 10.0.0.0/8")
    async for cluster in start_cluster(nats_server, ledger, catalogue, keys, edge=behind):
        client = cluster.client
        assert await statuses(client, "198.51.100.1", 3) == [401, 401, 429]
        assert await statuses(client, "198.51.100.2, 10.1.2.3", 1) == [401]  # a second proxy
        assert await statuses(client, "203.0.113.9, 198.51.100.1", 1) == [429]  # spoofed left
    async for cluster in start_cluster(nats_server, ledger, catalogue, keys, edge=LIMITED):
        assert await statuses(cluster.client, "198.51.100.1", 2) == [401, 401]
        assert await statuses(cluster.client, "198.51.100.2", 1) == [429]  # one peer, one bucket


def test_a_bad_trusted_proxy_is_named_at_start() -> None:
    with pytest.raises(ValueError, match=r"PERKBUS_EDGE_TRUSTED_PROXIES: .*not-an-ip"):
        trusted_networks("10.0.0.0/8, not-an-ip")


async def test_each_mutation_of_a_graphql_document_pays_the_rate_limit(limited: Cluster) -> None:
    """One document may run several mutations (one plain, more under aliases): each is
    a request's worth of work and takes a token. A document the bucket cannot pay for
    runs none of them."""
    await limited.open_budget("acme", "b1", 100)
    acme = limited.keys.headers("acme")

    def debits(n: int) -> str:
        one = (
            '{0}debitBudget(budgetId: "b1", input: {{amount: {{amountMinor: 1, currency: "EUR"}}}})'
        )
        fields = " ".join(one.format(f"d{i}: " if i else "") + " { __typename }" for i in range(n))
        return "mutation { " + fields + " }"

    async with limited.client.post("/graphql", json={"query": debits(2)}, headers=acme) as r:
        two = await r.json()
    assert two["data"]["debitBudget"]["__typename"] == "Debit", two  # 2 of the burst's 3
    async with limited.client.post("/graphql", json={"query": debits(3)}, headers=acme) as r:
        three = await r.json()
        assert (r.status, r.content_type) == (429, "application/problem+json")
        assert int(r.headers["Retry-After"]) >= 1
    assert three["code"] == "rate_limited", three
    assert await limited.ledger.account_balance("acme", "budget:b1") == 98  # the 3 ran none


async def test_public_reads_do_not_refill_the_sign_in_bucket(
    nats_server: EmbeddedNats, ledger: Ledger, catalogue: CatalogueStore, keys: Keys
) -> None:
    """Guessing secrets and passwords has a bucket of its own: shared with the general
    limit, a public read before each guess refilled it at that limit's rate."""
    edge = EdgeConfig(rate_per_s=200, rate_burst=400, token_rate_per_s=1, token_rate_burst=2)
    async for cluster in start_cluster(nats_server, ledger, catalogue, keys, edge=edge):
        seen = []
        started = time.monotonic()
        for _ in range(6):
            async with cluster.client.get("/api/v1/tenants/acme/branding") as r:
                await r.read()
            guess = {
                "grant_type": "client_credentials",
                "client_id": "acme.x",
                "client_secret": "g",
            }
            async with cluster.client.post("/oauth/token", data=guess) as r:
                seen.append(r.status)
            password = {"tenant": "acme", "email": "boss@acme.example", "password": "guess-1234"}
            async with cluster.client.post("/auth/sign-in", json=password) as r:
                seen.append(r.status)
        refilled = math.ceil(time.monotonic() - started)  # 1 a second, however slow
        assert len(seen) - seen.count(429) <= 2 + refilled  # the burst and the refill only


async def test_each_field_of_a_graphql_query_pays_too_whatever_its_media_type(
    limited: Cluster,
) -> None:
    """A document sent as another media type (which strawberry would read) is refused,
    not run unpaid; a query of many aliased searches is as many requests."""
    acme = limited.keys.headers("acme")
    searches = (
        f'p{i}: products(first: 1, filter: {{q: "x{i}"}}) {{ __typename }}' for i in range(4)
    )
    query = {"query": "{ " + " ".join(searches) + " }"}
    for media_type in ("application/jsonx", "text/plain"):  # a token each, of the three
        headers = {**acme, "Content-Type": media_type}
        async with limited.client.post(
            "/graphql", data=msgspec.json.encode(query), headers=headers
        ) as r:
            refused = await r.json()
            assert (r.status, refused["code"]) == (415, "unsupported_media_type"), media_type
    async with limited.client.post("/graphql", json=query, headers=acme) as r:
        problem = await r.json()
        assert (r.status, problem["code"]) == (429, "rate_limited"), problem
    assert "4 fields in one document" in problem["detail"]
