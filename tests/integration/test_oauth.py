"""OAuth2: API clients, the client-credentials token endpoint, published keys."""

from __future__ import annotations

import asyncio
import base64
import json
from typing import Any

import pytest
from joserfc.jws import extract_compact

from tests.conftest import Cluster

#: Above the ledger (tokens are the edge's and the identity actor's; clients are in the ledger
#: contract suite): SQLite only (ADR 30).
pytestmark = pytest.mark.ledgers("sqlite")

CLIENTS = "/api/v1/clients"
FORM = {"grant_type": "client_credentials"}


async def create_client(
    cluster: Cluster, scopes: list[str], key: str | None = None, tenant: str = "acme"
) -> tuple[int, dict[str, Any], Any]:
    headers = cluster.keys.headers(tenant)
    if key:
        headers["Idempotency-Key"] = key
    body = {"name": "HR sync", "scopes": scopes}
    async with cluster.client.post(CLIENTS, json=body, headers=headers) as r:
        return r.status, await r.json(content_type=None), r.headers


async def token(
    cluster: Cluster, client_id: str, secret: str, form: dict[str, str] | None = None
) -> tuple[int, dict[str, Any], Any]:
    credentials = base64.b64encode(f"{client_id}:{secret}".encode()).decode()
    headers = {"Authorization": f"Basic {credentials}"}
    async with cluster.client.post("/oauth/token", data=form or FORM, headers=headers) as r:
        return r.status, await r.json(content_type=None), r.headers


def claims_of(access_token: str) -> tuple[dict[str, Any], dict[str, Any]]:
    compact = extract_compact(access_token.encode())
    return dict(compact.headers()), json.loads(compact.payload)


async def test_a_client_gets_scoped_tokens_that_the_api_accepts(cluster: Cluster) -> None:
    await cluster.open_budget("acme", "b1", 1000)
    status, created, headers = await create_client(cluster, ["budgets:read", "rewards:issue"])
    assert status == 201, created
    assert headers["Cache-Control"] == "no-store"
    client_id, secret = created["id"], created["client_secret"]
    assert headers["Location"] == f"{CLIENTS}/{client_id}"
    assert client_id.startswith("acme.")
    assert secret.startswith("pbs_")
    assert (created["roles"], created["status"]) == (["integrator"], "active")

    status, issued, headers = await token(cluster, client_id, secret)
    assert status == 200, issued
    assert headers["Cache-Control"] == "no-store"
    assert (issued["token_type"], issued["expires_in"], issued["scope"]) == (
        "Bearer",
        900,
        "budgets:read rewards:issue",
    )
    header, claims = claims_of(issued["access_token"])
    assert header["alg"] == "Ed25519"
    assert (claims["tid"], claims["sub"], claims["roles"]) == ("acme", client_id, ["integrator"])
    bearer = {"Authorization": f"Bearer {issued['access_token']}"}
    async with cluster.client.get("/api/v1/budgets/b1", headers=bearer) as r:
        assert r.status == 200
    async with cluster.client.post(
        "/api/v1/budgets/b1/debits",
        json={"amount": {"amount_minor": 1, "currency": "EUR"}},
        headers=bearer,
    ) as r:
        assert r.status == 403  # no budgets:debit scope
    async with cluster.client.get(CLIENTS, headers=bearer) as r:
        assert r.status == 403  # an integrator does not manage clients

    # fewer scopes on request; credentials in the form (client_secret_post)
    form = {**FORM, "scope": "budgets:read", "client_id": client_id, "client_secret": secret}
    async with cluster.client.post("/oauth/token", data=form) as r:
        narrowed = await r.json()
        assert r.status == 200, narrowed
    assert narrowed["scope"] == "budgets:read"

    # the key that signed it is published, and described by discovery
    async with cluster.client.get("/.well-known/jwks.json") as r:
        kids = [k["kid"] for k in (await r.json())["keys"]]
    assert header["kid"] in kids
    async with cluster.client.get("/.well-known/openid-configuration") as r:
        meta = await r.json()
    assert meta["token_endpoint"].endswith("/oauth/token")
    assert meta["grant_types_supported"] == ["client_credentials", "refresh_token"]


async def test_bad_credentials_get_rfc6749_errors_as_problem_details(cluster: Cluster) -> None:
    _, created, _ = await create_client(cluster, ["budgets:read"])
    client_id, secret = created["id"], created["client_secret"]
    for form, auth_secret, status, error in (
        (FORM, "pbs_wrong", 401, "invalid_client"),
        ({"grant_type": "password"}, secret, 400, "unsupported_grant_type"),
        ({**FORM, "scope": "nope:nope"}, secret, 400, "invalid_scope"),
        # a scope perkbus has but this client may not: refused, not a token without it
        ({**FORM, "scope": "budgets:read orders:read"}, secret, 400, "invalid_scope"),
    ):
        got_status, body, headers = await token(cluster, client_id, auth_secret, form)
        assert (got_status, body["error"], body["code"]) == (status, error, error), body
        assert headers["Content-Type"].startswith("application/problem+json")
        assert body["status"] == status
        assert "method" not in body["detail"], body  # authlib's words are not an answer
    _, body, _ = await token(cluster, client_id, secret, {**FORM, "scope": "orders:read"})
    assert body["detail"] == "the client may not have orders:read"
    _, body, _ = await token(cluster, client_id, "pbs_wrong")
    assert body["detail"] == "the client id or secret is wrong, or the client was revoked"
    _, body, headers = await token(cluster, "globex.AAAAAAAAAAAAAAAAAAAAAAAA", secret)
    assert body["error"] == "invalid_client"
    assert headers["WWW-Authenticate"].startswith("Basic")
    _, body, _ = await token(cluster, "no tenant here", secret)
    assert body["error"] == "invalid_client"
    async with cluster.client.post("/oauth/token", json=FORM) as r:
        assert r.status == 400
        assert (await r.json(content_type=None))["error"] == "invalid_request"


async def test_secrets_rotate_and_clients_revoke(cluster: Cluster) -> None:
    acme = cluster.keys.headers("acme")
    _, created, _ = await create_client(cluster, ["budgets:read"], key="hr-sync")
    client_id, first = created["id"], created["client_secret"]
    again = await create_client(cluster, ["budgets:read"], key="hr-sync")
    assert (again[0], again[1]["code"]) == (409, "already_exists")  # the secret is not replayed
    assert first not in json.dumps(again[1])

    async with cluster.client.post(f"{CLIENTS}/{client_id}/secret", headers=acme) as r:
        rotated = await r.json()
        assert (r.status, r.headers["Cache-Control"]) == (200, "no-store")
    second = rotated["client_secret"]
    assert second != first
    assert (await token(cluster, client_id, first))[0] == 401
    assert (await token(cluster, client_id, second))[0] == 200

    globex = cluster.keys.headers("globex")
    async with cluster.client.delete(f"{CLIENTS}/{client_id}", headers=globex) as r:
        assert r.status == 404  # another tenant's client is not there
    async with cluster.client.delete(f"{CLIENTS}/{client_id}", headers=acme) as r:
        assert (r.status, (await r.json())["status"]) == (200, "revoked")
    status, body, _ = await token(cluster, client_id, second)
    assert (status, body["error"]) == (401, "invalid_client")
    async with cluster.client.get(CLIENTS, headers=acme) as r:
        listed = (await r.json())["clients"]
    assert [(c["id"], c["status"], c["client_secret"]) for c in listed] == [
        (client_id, "revoked", None)
    ]
    async with cluster.client.get(CLIENTS, headers=globex) as r:
        assert (await r.json())["clients"] == []


async def test_clients_over_graphql(cluster: Cluster) -> None:
    acme = cluster.keys.headers("acme")
    create = (
        "mutation($input: CreateApiClientInput!) { createApiClient(input: $input) {"
        " __typename ... on ApiClient { id scopes roles status clientSecret }"
        " ... on Error { code } ... on InvalidInput { fields { pointer } } } }"
    )
    variables = {"input": {"name": "CRM", "scopes": ["events:read"], "roles": ["auditor"]}}
    async with cluster.client.post(
        "/graphql", json={"query": create, "variables": variables}, headers=acme
    ) as r:
        made = (await r.json())["data"]["createApiClient"]
    assert (made["__typename"], made["scopes"], made["roles"]) == (
        "ApiClient",
        ["events:read"],
        ["auditor"],
    )
    assert (await token(cluster, made["id"], made["clientSecret"]))[0] == 200
    variables = {"input": {"name": "CRM", "scopes": ["events:read"], "roles": ["owner"]}}
    async with cluster.client.post(
        "/graphql", json={"query": create, "variables": variables}, headers=acme
    ) as r:
        refused = (await r.json())["data"]["createApiClient"]
    assert (refused["__typename"], refused["code"]) == ("InvalidInput", "invalid_request")
    listing = "{ apiClients { ... on ApiClients { clients { id clientSecret } } } }"
    async with cluster.client.post("/graphql", json={"query": listing}, headers=acme) as r:
        clients = (await r.json())["data"]["apiClients"]["clients"]
    assert clients == [{"id": made["id"], "clientSecret": None}]


async def test_the_edge_learns_keys_the_hosts_rotate_in(cluster: Cluster) -> None:
    await cluster.open_budget("acme", "b1", 1000)
    _, created, _ = await create_client(cluster, ["budgets:read"])
    client_id, secret = created["id"], created["client_secret"]
    first = (await token(cluster, client_id, secret))[1]["access_token"]
    await cluster.host.keys.load(now_ms=2**50)  # a host finds its key due: a new one signs
    await asyncio.sleep(1.1)  # the edge fetches keys at most once a second
    second = (await token(cluster, client_id, secret))[1]["access_token"]
    assert claims_of(first)[0]["kid"] != claims_of(second)[0]["kid"]
    for access_token in (second, first):  # the new key is fetched; the old one still counts
        bearer = {"Authorization": f"Bearer {access_token}"}
        async with cluster.client.get("/api/v1/budgets/b1", headers=bearer) as r:
            assert r.status == 200, await r.text()
    forged_header = base64.urlsafe_b64encode(b'{"alg":"Ed25519","kid":"nope"}').rstrip(b"=")
    forged = forged_header.decode() + "." + second.split(".", 1)[1]
    async with cluster.client.get(
        "/api/v1/budgets/b1", headers={"Authorization": f"Bearer {forged}"}
    ) as r:
        assert r.status == 401
