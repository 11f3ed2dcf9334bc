"""Budgets over HTTP, through NATS, an actor and SQL — on SQLite and on MariaDB."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import json
from collections import Counter
from typing import Any

from bus.embedded import EmbeddedNats
from bus.messages import Err, Principal
from bus.messages.budget import CreateBudget
from bus.messages.common import Money
from bus.messages.tenant_config import DOCUMENT_NAMES
from storage.errors import StoreUnavailable
from storage.ports import CatalogueStore, Ledger
from tests.conftest import Cluster, start_cluster
from tests.support import Keys, budget_record, transactions


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def jwt_claims(token: str) -> dict[str, Any]:
    payload = token.split(".")[1]
    claims: dict[str, Any] = json.loads(
        base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4))
    )
    return claims


def unsigned(header: dict[str, Any], claims: dict[str, Any]) -> str:
    return f"{_b64(json.dumps(header).encode())}.{_b64(json.dumps(claims).encode())}."


def hs256_with(secret: bytes, claims: dict[str, Any]) -> str:
    header = _b64(json.dumps({"alg": "HS256", "typ": "JWT"}).encode())
    signing_input = f"{header}.{_b64(json.dumps(claims).encode())}"
    signature = hmac.new(secret, signing_input.encode(), hashlib.sha256).digest()
    return f"{signing_input}.{_b64(signature)}"


DEBIT = "/api/v1/budgets/{}/debits"


def debit_body(amount: int = 1, currency: str = "EUR") -> dict[str, Any]:
    return {"amount": {"amount_minor": amount, "currency": currency}}


async def test_burst_of_500_debits_against_300_spends_exactly_300(cluster: Cluster) -> None:
    await cluster.open_budget("acme", "burst", 300)
    headers = cluster.keys.headers("acme")

    async def one() -> tuple[int, str, dict[str, Any]]:
        async with cluster.client.post(
            DEBIT.format("burst"), json=debit_body(), headers=headers
        ) as r:
            return r.status, r.content_type, await r.json(content_type=None)

    results = await asyncio.gather(*(one() for _ in range(500)))
    statuses = Counter(status for status, _, _ in results)
    assert statuses == {201: 300, 409: 200}
    refusals = [body for status, _, body in results if status == 409]
    assert all(body["code"] == "insufficient_funds" for body in refusals)
    assert {ct for status, ct, _ in results if status == 409} == {"application/problem+json"}
    debit_ids = {body["id"] for status, _, body in results if status == 201}
    assert len(debit_ids) == 300

    record = await budget_record(cluster.ledger, "acme", "burst")
    assert record is not None
    assert record.balance_minor == 0
    assert await cluster.ledger.account_balance("acme", "budget:burst") == 0
    assert await cluster.ledger.account_balance("acme", "spent:burst") == 300
    assert await cluster.ledger.entries_total("acme") == 0
    for debit_id in list(debit_ids)[:20]:
        assert debit_id in await transactions(cluster.ledger, "acme")
    async with cluster.client.get("/api/v1/budgets/burst", headers=headers) as r:
        body = await r.json()
    assert body["balance"] == {"amount_minor": 0, "currency": "EUR"}


async def test_create_read_and_debit(cluster: Cluster) -> None:
    headers = cluster.keys.headers("acme")
    async with cluster.client.post(
        "/api/v1/budgets",
        json={
            "id": "q4-sales",
            "name": "Q4 sales",
            "initial": {"amount_minor": 50_000, "currency": "INR"},
        },
        headers=headers,
    ) as r:
        assert r.status == 201
        assert r.headers["Location"] == "/api/v1/budgets/q4-sales"
        created = await r.json()
    assert created == {
        "id": "q4-sales",
        "name": "Q4 sales",
        "balance": {"amount_minor": 50_000, "currency": "INR"},
        "version": 1,
        "cap_minor": None,
        "held": {"amount_minor": 0, "currency": "INR"},
        "low_balance_minor": None,
    }
    async with cluster.client.post(
        DEBIT.format("q4-sales"), json={**debit_body(1234, "INR"), "memo": "gift"}, headers=headers
    ) as r:
        assert r.status == 201
        receipt = await r.json()
    assert receipt["amount"] == {"amount_minor": 1234, "currency": "INR"}
    assert receipt["balance_after"] == {"amount_minor": 48_766, "currency": "INR"}
    assert receipt["id"].startswith("dbt_")
    assert receipt["created_at"].endswith("+00:00")
    async with cluster.client.get("/api/v1/budgets/q4-sales", headers=headers) as r:
        assert (await r.json())["balance"]["amount_minor"] == 48_766

    async with cluster.client.post(
        "/api/v1/budgets",
        json={"id": "q4-sales", "name": "again", "initial": {"amount_minor": 1, "currency": "INR"}},
        headers=headers,
    ) as r:
        assert r.status == 409
        assert (await r.json())["code"] == "already_exists"


async def problem_of(
    cluster: Cluster, method: str, path: str, **kwargs: Any
) -> tuple[int, dict[str, Any]]:
    async with cluster.client.request(method, path, **kwargs) as r:
        assert r.content_type == "application/problem+json", await r.text()
        body = await r.json(content_type=None)
        assert body["status"] == r.status
        assert body["type"].startswith("https://")
        return r.status, body


async def test_bad_input_gets_problem_json_and_changes_nothing(cluster: Cluster) -> None:
    await cluster.open_budget("acme", "b1", 100)
    headers = cluster.keys.headers("acme")
    path = DEBIT.format("b1")

    status, body = await problem_of(
        cluster,
        "POST",
        path,
        json={"amount": {"amount_minor": "5", "currency": "EUR"}},
        headers=headers,
    )
    assert status == 422
    assert body["errors"] == [
        {"pointer": "#/amount/amount_minor", "detail": "Expected `int`, got `str`"}
    ]
    status, body = await problem_of(cluster, "POST", path, json=debit_body(0), headers=headers)
    assert status == 422
    assert body["errors"][0]["pointer"] == "#/amount/amount_minor"
    status, body = await problem_of(cluster, "POST", path, json=debit_body(-5), headers=headers)
    assert status == 422
    status, body = await problem_of(
        cluster,
        "POST",
        path,
        json={"amount": {"amount_minor": 1.5, "currency": "EUR"}},
        headers=headers,
    )
    assert status == 422
    status, body = await problem_of(
        cluster, "POST", path, json=debit_body(1, "EUR\n"), headers=headers
    )
    assert status == 422
    assert body["errors"][0]["pointer"] == "#/amount/currency"
    status, body = await problem_of(
        cluster,
        "POST",
        "/api/v1/budgets",
        json={"id": "promo\n", "name": "P", "initial": {"amount_minor": 1, "currency": "EUR"}},
        headers=headers,
    )
    assert status == 422
    assert body["errors"][0]["pointer"] == "#/id"
    status, body = await problem_of(
        cluster, "POST", path, json=debit_body(1, "eur"), headers=headers
    )
    assert status == 422
    assert body["errors"][0]["pointer"] == "#/amount/currency"
    for code in ("ZZZ", "PTS", "XAU"):  # not a currency in use; points are no currency
        budget = {"id": f"b-{code}", "name": "P", "initial": {"amount_minor": 1, "currency": code}}
        status, body = await problem_of(
            cluster, "POST", "/api/v1/budgets", json=budget, headers=headers
        )
        assert (status, body["errors"][0]["pointer"]) == (422, "#/initial/currency"), code
        funding = {"id": f"f-{code}", "name": "F", "currency": code}
        status, body = await problem_of(
            cluster, "POST", "/api/v1/funding-accounts", json=funding, headers=headers
        )
        assert (status, body["errors"][0]["pointer"]) == (422, "#/currency"), code
        status, body = await problem_of(
            cluster, "PUT", f"/api/v1/fx/EUR/{code}", json={"rate": "1.5"}, headers=headers
        )
        assert status in (404, 422), code
    admin = Principal("admin@acme", roles=("admin",))
    refused = await cluster.bus.request(
        "acme", "treasury", CreateBudget("b-zzz", "Z", Money(1, "ZZZ")), admin, 5
    )
    assert isinstance(refused, Err), refused  # the treasury checks again
    status, body = await problem_of(
        cluster, "POST", path, json={**debit_body(), "extra": 1}, headers=headers
    )
    assert status == 422
    assert "extra" in body["detail"]
    status, body = await problem_of(cluster, "POST", path, json={}, headers=headers)
    assert status == 422
    assert "amount" in body["detail"]
    status, body = await problem_of(
        cluster,
        "POST",
        path,
        data=b"{not json",
        headers={**headers, "Content-Type": "application/json"},
    )
    assert status == 400
    assert body["code"] == "malformed_body"
    status, body = await problem_of(
        cluster,
        "POST",
        path,
        data=b"amount=1",
        headers={**headers, "Content-Type": "application/x-www-form-urlencoded"},
    )
    assert status == 415
    status, body = await problem_of(
        cluster,
        "POST",
        path,
        data=b"[" * 70_000,
        headers={**headers, "Content-Type": "application/json"},
    )
    assert status == 413
    status, body = await problem_of(
        cluster, "POST", path, json=debit_body(1, "USD"), headers=headers
    )
    assert status == 422
    assert body["code"] == "currency_mismatch"
    status, body = await problem_of(cluster, "POST", path, json=debit_body(101), headers=headers)
    assert status == 409
    assert body["code"] == "insufficient_funds"
    status, body = await problem_of(
        cluster, "POST", DEBIT.format("nope"), json=debit_body(), headers=headers
    )
    assert status == 404
    assert body["code"] == "not_found"
    status, body = await problem_of(cluster, "GET", "/api/v1/budgets/bad%20id", headers=headers)
    assert status == 404
    async with cluster.client.delete("/api/v1/budgets/b1", headers=headers) as r:
        assert r.status == 405
        assert r.content_type == "application/problem+json"
        assert set(r.headers["Allow"].split(",")) == {"GET", "HEAD", "PATCH"}
    status, body = await problem_of(cluster, "GET", "/api/v1/nothing-here", headers=headers)
    assert status == 404

    record = await budget_record(cluster.ledger, "acme", "b1")
    assert record is not None
    assert (record.balance_minor, record.version) == (100, 1)
    assert await cluster.ledger.account_balance("acme", "spent:b1") == 0


async def test_authentication_and_scopes(cluster: Cluster) -> None:
    await cluster.open_budget("acme", "b1", 100)
    path = "/api/v1/budgets/b1"
    status, body = await problem_of(cluster, "GET", path)
    assert status == 401
    assert body["code"] == "unauthenticated"
    status, _ = await problem_of(cluster, "GET", path, headers={"Authorization": "Basic eDp5"})
    assert status == 401
    status, _ = await problem_of(
        cluster, "GET", path, headers={"Authorization": "Bearer not.a.jwt"}
    )
    assert status == 401

    import tempfile
    from pathlib import Path

    from tests.support import Keys

    with tempfile.TemporaryDirectory() as other:
        forged = Keys(Path(other)).headers("acme")
    status, _ = await problem_of(cluster, "GET", path, headers=forged)
    assert status == 401
    expired = {"Authorization": f"Bearer {cluster.keys.token('acme', ttl_s=-120)}"}
    status, _ = await problem_of(cluster, "GET", path, headers=expired)
    assert status == 401

    good = jwt_claims(cluster.keys.token("acme"))
    forgeries = {
        "alg none": unsigned({"alg": "none"}, good),
        "wrong audience": cluster.keys.sign({**good, "aud": "someone-else"}),
        "wrong issuer": cluster.keys.sign({**good, "iss": "evil"}),
        "no tenant": cluster.keys.sign({k: v for k, v in good.items() if k != "tid"}),
        "tenant with wildcard": cluster.keys.sign({**good, "tid": "acme.>"}),
        "tenant with a newline": cluster.keys.sign({**good, "tid": "acme\n"}),
        "HS256 with the public key as secret": hs256_with(cluster.keys.public.read_bytes(), good),
    }
    for name, token in forgeries.items():
        status, body = await problem_of(
            cluster, "GET", path, headers={"Authorization": f"Bearer {token}"}
        )
        assert status == 401, name
        assert body["code"] == "unauthenticated", name

    read_only = cluster.keys.headers("acme", ["budgets:read"])
    async with cluster.client.get(path, headers=read_only) as r:
        assert r.status == 200
    status, body = await problem_of(
        cluster, "POST", DEBIT.format("b1"), json=debit_body(), headers=read_only
    )
    assert status == 403
    assert "budgets:debit" in body["detail"]
    assert await cluster.ledger.account_balance("acme", "spent:b1") == 0


async def test_a_tenant_never_sees_or_spends_another_tenants_budget(cluster: Cluster) -> None:
    await cluster.open_budget("acme", "shared-name", 100)
    globex = cluster.keys.headers("globex")
    status, body = await problem_of(cluster, "GET", "/api/v1/budgets/shared-name", headers=globex)
    assert status == 404
    assert "100" not in str(body)
    status, _ = await problem_of(
        cluster, "POST", DEBIT.format("shared-name"), json=debit_body(), headers=globex
    )
    assert status == 404
    record = await budget_record(cluster.ledger, "acme", "shared-name")
    assert record is not None
    assert record.balance_minor == 100


async def test_openapi_document_describes_the_api(cluster: Cluster) -> None:
    async with cluster.client.get("/api/v1/openapi.json") as r:
        assert r.status == 200
        doc = await r.json()
    assert doc["openapi"] == "3.1.0"
    assert set(doc["paths"]) == {
        "/api/v1/budgets",
        "/api/v1/budgets/{budget_id}",
        "/api/v1/budgets/{budget_id}/debits",
        "/api/v1/rewards",
        "/api/v1/wallets/{person_id}",
        "/api/v1/wallets/{person_id}/history",
        "/api/v1/catalogue/products",
        "/api/v1/catalogue/products/{product_id}",
        "/api/v1/catalogue/products/{product_id}/curation",
        "/api/v1/catalogue/export",
        "/api/v1/vouchers/pools",
        "/api/v1/vouchers/pools/{product_id}/{face_value}",
        "/api/v1/vouchers/pools/{product_id}/{face_value}/codes",
        "/api/v1/vouchers/pools/{product_id}/{face_value}/generate",
        "/api/v1/orders",
        "/api/v1/orders/export",
        "/api/v1/orders/{order_id}",
        "/api/v1/orders/{order_id}/vouchers",
        "/api/v1/orders/{order_id}/cancel",
        "/api/v1/orders/{order_id}/resend",
        "/api/v1/orders/{order_id}/review",
        "/api/v1/events",
        "/api/v1/events/schemas",
        "/api/v1/events/schemas/{event_type}",
        "/api/v1/rewards/bulk",
        "/api/v1/rewards/bulk/{job_id}",
        "/api/v1/rewards/bulk/{job_id}/results",
        "/api/v1/rewards/bulk/{job_id}/cancel",
        "/api/v1/fx",
        "/api/v1/fx/{base}/{quote}",
        "/api/v1/funding-accounts",
        "/api/v1/funding-accounts/{account_id}",
        "/api/v1/funding-accounts/{account_id}/deposits",
        "/api/v1/funding-accounts/{account_id}/history",
        "/api/v1/budgets/{budget_id}/allocations",
        "/api/v1/points-rate",
        "/api/v1/clients",
        "/api/v1/clients/{client_id}",
        "/api/v1/clients/{client_id}/secret",
        "/api/v1/nats-credentials",
        "/api/v1/audit",
        "/api/v1/reports/daily",
        "/api/v1/reports/top-products",
        "/api/v1/people",
        "/api/v1/people/{person_id}",
        "/api/v1/people/{person_id}/password",
        "/api/v1/people/{person_id}/password-reset",
        "/api/v1/sso",
        *(f"/api/v1/tenant/config/{name}" for name in DOCUMENT_NAMES),
        *(f"/api/v1/tenant/config/{name}/revisions" for name in DOCUMENT_NAMES),
        "/api/v1/tenants/{tenant}/branding",
        "/api/v1/webhooks",
        "/api/v1/webhooks/{webhook_id}",
        "/api/v1/webhooks/{webhook_id}/secret",
        "/api/v1/webhooks/{webhook_id}/test",
        "/api/v1/webhooks/{webhook_id}/deliveries",
        "/api/v1/webhooks/{webhook_id}/deliveries/{delivery_id}",
        "/api/v1/webhooks/{webhook_id}/deliveries/{delivery_id}/redeliver",
        "/auth/sign-in",
        "/auth/refresh",
        "/auth/sign-out",
        "/auth/me",
        "/auth/{tenant}/sso/login",
        "/auth/sso/callback",
        "/auth/password-reset/request",
        "/auth/password-reset",
        "/oauth/token",  # for integrators' generated clients (client credentials)
    }
    served = {
        (route.method.lower(), route.resource.canonical)
        for route in cluster.client.app.router.routes()
        if route.resource is not None
        and route.resource.canonical.startswith(("/api/v1/", "/auth/"))
        and route.method != "HEAD"
    }
    documented = {(m, path) for path, ops in doc["paths"].items() for m in ops}
    assert served - {("get", "/api/v1/openapi.json")} == documented - {("post", "/oauth/token")}
    oauth2 = doc["components"]["securitySchemes"]["oauth2"]["flows"]["clientCredentials"]
    assert oauth2["tokenUrl"] == "/oauth/token"
    assert {"bearer": []} in doc["security"]
    schemas = doc["components"]["schemas"]
    assert {"BudgetOut", "DebitIn", "DebitOut", "Problem", "CreateBudgetIn"} <= set(schemas)
    debit_in = schemas["PositiveMoney"]["properties"]["amount_minor"]
    assert debit_in["type"] == "integer"
    assert debit_in["exclusiveMinimum"] == 0
    for path in doc["paths"].values():
        for method, operation in path.items():
            public = operation.get("security") == []  # sign-in and the like: no key
            if method in ("post", "put", "patch", "delete") and not public:  # keyed; says
                names = {p["name"] for p in operation["parameters"]}  # what in-flight gets
                assert "Idempotency-Key" in names, operation["operationId"]
                assert "idempotency_key_in_use" in operation["responses"]["409"]["description"]
            for response in operation["responses"].values():
                for content in response.get("content", {}).values():
                    ref = content["schema"]["$ref"]
                    assert ref.removeprefix("#/components/schemas/") in schemas


async def test_health_and_readiness(cluster: Cluster) -> None:
    async with cluster.client.get("/healthz") as r:
        assert r.status == 200
    async with cluster.client.get("/readyz") as r:
        assert r.status == 200
        body = await r.json()
    assert body["status"] == "ready"
    assert body["nats"] == "connected"
    assert body["stores"][0]["ok"] is True

    await cluster.host.stop()
    async with cluster.client.get("/readyz") as r:
        assert r.status == 503
        assert (await r.json())["status"] == "not ready"


async def test_idempotency_key_makes_a_debit_safe_to_retry(cluster: Cluster) -> None:
    await cluster.open_budget("acme", "b1", 100)
    headers = {**cluster.keys.headers("acme"), "Idempotency-Key": "payout-2026-11-25-001"}
    responses = []
    for _ in range(3):
        async with cluster.client.post(
            DEBIT.format("b1"), json=debit_body(40), headers=headers
        ) as r:
            responses.append((r.status, await r.read()))
    assert responses[0][0] == 201
    assert responses[1] == responses[0]
    assert responses[2] == responses[0]
    assert await cluster.ledger.account_balance("acme", "spent:b1") == 40

    status, body = await problem_of(
        cluster, "POST", DEBIT.format("b1"), json=debit_body(41), headers=headers
    )
    assert status == 422
    assert body["code"] == "idempotency_key_reused"

    # The key belongs to acme: another tenant may use the same string freely.
    await cluster.open_budget("globex", "b1", 100)
    globex = {**cluster.keys.headers("globex"), "Idempotency-Key": "payout-2026-11-25-001"}
    async with cluster.client.post(DEBIT.format("b1"), json=debit_body(41), headers=globex) as r:
        assert r.status == 201
    assert await cluster.ledger.account_balance("acme", "spent:b1") == 40

    for bad in ("", "x" * 256, "with space", "naïve"):
        status, body = await problem_of(
            cluster,
            "POST",
            DEBIT.format("b1"),
            json=debit_body(1),
            headers={**cluster.keys.headers("acme"), "Idempotency-Key": bad},
        )
        assert status == 400, bad
        assert "Idempotency-Key" in body["detail"]
    assert await cluster.ledger.account_balance("acme", "spent:b1") == 40


async def test_reads_ignore_idempotency_keys(cluster: Cluster) -> None:
    await cluster.open_budget("acme", "b1", 100)
    headers = {**cluster.keys.headers("acme"), "Idempotency-Key": "same-key"}
    async with cluster.client.get("/api/v1/budgets/b1", headers=headers) as r:
        assert (await r.json())["balance"]["amount_minor"] == 100
    async with cluster.client.post(DEBIT.format("b1"), json=debit_body(30), headers=headers) as r:
        assert r.status == 201  # the key was not spent by the read
    async with cluster.client.get("/api/v1/budgets/b1", headers=headers) as r:
        assert (await r.json())["balance"]["amount_minor"] == 70


async def test_index_page_is_served(cluster: Cluster) -> None:
    """``/`` is the app's shell: it loads the app and says it is installable."""
    async with cluster.client.get("/") as r:
        assert r.status == 200
        assert r.content_type == "text/html"
        shell = await r.text()
    assert 'src="/app/boot.js"' in shell
    assert 'rel="manifest"' in shell


class UnreachableLedger:
    """A real ledger whose store has gone away: every ping fails."""

    def __init__(self, inner: Ledger) -> None:
        self.inner = inner

    def __getattr__(self, name: str) -> object:
        return getattr(self.inner, name)

    async def ping(self) -> None:
        raise StoreUnavailable("connection refused")


async def test_readiness_reports_an_unreachable_store(
    nats_server: EmbeddedNats, ledger: Ledger, catalogue: CatalogueStore, keys: Keys
) -> None:
    async for cluster in start_cluster(nats_server, UnreachableLedger(ledger), catalogue, keys):  # type: ignore[arg-type]
        async with cluster.client.get("/readyz") as r:
            assert r.status == 503
            body = await r.json()
        assert body["status"] == "not ready"
        assert body["stores"][0]["ok"] is False
        assert "connection refused" in body["stores"][0]["detail"]
        async with cluster.client.get("/healthz") as r:
            assert r.status == 200  # alive, just not ready
