"""Input that passed a loose check and then failed deeper, as a 500: now each is a clear
problem (or a GraphQL error result) and changes nothing."""

from __future__ import annotations

import json

import pytest
from aiohttp import ClientResponse

from tests.conftest import Cluster
from tests.integration.api import GraphQL

#: Above the ledger (odd input is refused before any store): SQLite only (ADR 30).
pytestmark = pytest.mark.ledgers("sqlite")


async def _problem(response: ClientResponse) -> tuple[int, str, str]:
    """Status, code and media type of a problem answer (which it must be)."""
    assert response.content_type == "application/problem+json"
    body = await response.json(content_type=None)
    return response.status, body.get("code") or body.get("error", ""), response.content_type


async def test_a_tenant_id_with_a_trailing_newline_names_no_tenant(cluster: Cluster) -> None:
    """Python's ``$`` matches before a final newline: "acme\\n" passed the pattern and
    then could not be a subject."""
    async with cluster.client.get("/api/v1/tenants/acme%0A/branding") as r:
        status, _, _ = await _problem(r)
        assert status in (400, 404)
    body = {"tenant": "acme\n", "email": "ann@example.com", "password": "x"}
    async with cluster.client.post("/auth/sign-in", json=body) as r:
        status, code, _ = await _problem(r)
        assert (status, code) == (422, "invalid_request")


async def test_a_refresh_token_naming_no_tenant_is_refused(cluster: Cluster) -> None:
    for token in ("pbr_ACME.x", "pbr_a b.x", "pbr_.x"):
        async with cluster.client.post("/auth/refresh", json={"refresh_token": token}) as r:
            status, code, _ = await _problem(r)
            assert (status, code) == (401, "unauthenticated")
        form = {"grant_type": "refresh_token", "refresh_token": token}
        async with cluster.client.post("/oauth/token", data=form) as r:
            body = await r.json(content_type=None)
            assert (r.status, body["error"]) == (400, "invalid_grant")
    async with cluster.client.post("/auth/sign-out", json={"refresh_token": "pbr_ACME.x"}) as r:
        assert r.status == 204  # nothing to end: signing out is idempotent


async def test_points_in_a_csv_must_be_ascii_digits_in_range(cluster: Cluster) -> None:
    await cluster.open_budget("acme", "b1", 1_000_000)
    headers = {**cluster.keys.headers("acme"), "Content-Type": "text/csv"}
    for points in ("²", "1" * 5000, str(2**53 + 1), "0"):
        csv = f"person_id,points\nann@example.com,{points}\n"
        async with cluster.client.post(
            "/api/v1/rewards/bulk?budget_id=b1", data=csv.encode(), headers=headers
        ) as r:
            status, code, _ = await _problem(r)
            assert (status, code) == (422, "invalid_request"), points
    outcome = await GraphQL(cluster.client).bulk_start(
        cluster.keys.headers("acme"), "b1", "person_id,points\nann@example.com,²\n"
    )
    assert outcome.code == "invalid_request"
    assert await cluster.ledger.account_balance("acme", "budget:b1") == 1_000_000


async def test_a_pool_named_with_other_digits_is_not_found(cluster: Cluster) -> None:
    acme = cluster.keys.headers("acme")
    for face_value in ("%C2%B2", "1" * 5000):
        async with cluster.client.get(
            f"/api/v1/vouchers/pools/card-de/{face_value}", headers=acme
        ) as r:
            status, code, _ = await _problem(r)
            assert (status, code) == (404, "not_found")


async def test_an_expiry_before_1970_is_refused(cluster: Cluster) -> None:
    acme = cluster.keys.headers("acme")
    for moment in ("0001-01-01T00:00:00", "1969-12-31T23:59:59Z"):
        body = {"currency": "EUR", "count": 1, "expires_at": moment}
        async with cluster.client.post(
            "/api/v1/vouchers/pools/acme-voucher/1000/generate", json=body, headers=acme
        ) as r:
            status, code, _ = await _problem(r)
            assert (status, code) == (422, "invalid_request"), moment
        codes = {"currency": "EUR", "codes": [{"code": "GIFT-0001", "expires_at": moment}]}
        async with cluster.client.post(
            "/api/v1/vouchers/pools/acme-voucher/1000/codes", json=codes, headers=acme
        ) as r:
            status, code, _ = await _problem(r)
            assert (status, code) == (422, "invalid_request"), moment
    async with cluster.client.get("/api/v1/vouchers/pools/acme-voucher/1000", headers=acme) as r:
        assert (await r.json())["available"] == 0
    # a moment without a zone is UTC, whatever the server's own zone
    naive = {"currency": "EUR", "count": 1, "expires_at": "2099-01-01T00:00:00"}
    async with cluster.client.post(
        "/api/v1/vouchers/pools/acme-voucher/1000/generate", json=naive, headers=acme
    ) as r:
        assert r.status == 200, await r.text()


async def test_graphql_json_nested_thousands_deep_is_a_bad_request(cluster: Cluster) -> None:
    deep = "[" * 3000 + "]" * 3000
    async with cluster.client.post(
        "/graphql",
        data=deep,
        headers={**cluster.keys.headers("acme"), "Content-Type": "application/json"},
    ) as r:
        status, _, _ = await _problem(r)
        assert status == 400


async def test_a_token_request_in_an_unknown_charset_is_a_bad_request(cluster: Cluster) -> None:
    for charset in ("bogus", "utf-16"):
        async with cluster.client.post(
            "/oauth/token",
            data=b"grant_type=client_credentials",
            headers={"Content-Type": f"application/x-www-form-urlencoded; charset={charset}"},
        ) as r:
            body = json.loads(await r.text())
            assert (r.status, body["error"]) == (400, "invalid_request"), charset


async def test_names_are_one_line_and_free_text_has_no_nul(cluster: Cluster) -> None:
    """A NUL in a budget's name stopped the PostgreSQL warehouse for every tenant; a line
    break in a name forges rows in CSV exports and log lines. Refused, and nothing made."""
    owner = cluster.keys.headers("acme")
    eur = {"amount_minor": 0, "currency": "EUR"}
    refused = [
        ("/api/v1/budgets", {"id": "nul", "name": "night\u0000shift", "initial": eur}),
        ("/api/v1/budgets", {"id": "nl", "name": "a\nb", "initial": eur}),
        ("/api/v1/people", {"id": "p1", "email": "p1@acme.test", "name": "Ann\rBell"}),
        ("/api/v1/clients", {"name": "crm\u0007", "scopes": ["orders:read"]}),
        ("/api/v1/rewards", {"budget_id": "b", "person_id": "ann", "points": 1, "memo": "\u0000"}),
    ]
    for path, body in refused:
        async with cluster.client.post(path, json=body, headers=owner) as r:
            status, code, _ = await _problem(r)
            assert (status, code) == (422, "invalid_request"), (path, body)
    for budget in ("nul", "nl"):
        async with cluster.client.get(f"/api/v1/budgets/{budget}", headers=owner) as r:
            assert r.status == 404
    ok = {"id": "ok", "name": "Zoë's team 🎉", "initial": eur}
    async with cluster.client.post("/api/v1/budgets", json=ok, headers=owner) as r:
        assert r.status == 201, await r.text()
    memo = {"budget_id": "ok", "person_id": "ann", "points": 1, "memo": "line one\nline two"}
    async with cluster.client.post(
        "/api/v1/rewards", json=memo, headers={**owner, "Idempotency-Key": "memo-1"}
    ) as r:
        assert r.status != 422, await r.text()  # a memo may have lines


async def test_a_bulk_memo_and_a_deposit_reference_are_held_to_the_single_rules(
    cluster: Cluster,
) -> None:
    """A bulk row's memo is a single reward's memo (no NUL or other control character, or
    it would reach integrators in ``reward.issued``); a deposit's reference is the 200
    characters the ledger keeps, refused at its field, not by the bus with its path."""
    await cluster.open_budget("acme", "b1", 1_000_000)
    owner = cluster.keys.headers("acme")
    csv = "person_id,points,memo\nann@example.com,5,a\u0000b\u001bc\n"
    async with cluster.client.post(
        "/api/v1/rewards/bulk?budget_id=b1",
        data=csv.encode(),
        headers={**owner, "Content-Type": "text/csv", "Idempotency-Key": "nul-1"},
    ) as r:
        status, code, _ = await _problem(r)
        assert (status, code) == (422, "invalid_request")
        assert "control characters" in (await r.json(content_type=None))["detail"]
    assert await cluster.ledger.account_balance("acme", "budget:b1") == 1_000_000

    account = {"id": "main", "name": "Main", "currency": "EUR"}
    async with cluster.client.post("/api/v1/funding-accounts", json=account, headers=owner) as r:
        assert r.status == 201, await r.text()
    deposit = {"amount": {"amount_minor": 100, "currency": "EUR"}, "reference": "x" * 300}
    async with cluster.client.post(
        "/api/v1/funding-accounts/main/deposits",
        json=deposit,
        headers={**owner, "Idempotency-Key": "dep-1"},
    ) as r:
        body = await r.json(content_type=None)
        assert (r.status, body["code"]) == (422, "invalid_request")
        assert body["errors"][0]["pointer"] == "#/reference"
    async with cluster.client.get("/api/v1/funding-accounts/main", headers=owner) as r:
        assert (await r.json())["balance"]["amount_minor"] == 0
