"""Every field of the GraphQL schema, as the REST access matrix does for every operation:
no token (or a bad one) → 401; a role without the field's permission → the ``Forbidden``
member of its union, never data; another tenant's resource → ``NotFound``.

The table below classifies each field of ``Query`` and ``Mutation``: the scopes it needs
and a minimal valid call. It must match the live schema both ways, so a new field cannot
ship unclassified; each field also names its REST twin, whose ``x-required-scope`` must be
the scope the table gives.
"""

from __future__ import annotations

import asyncio
import functools
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import pytest

from bus.messages.catalogue import Product, Texts
from bus.scopes import (
    ROLE_PERMISSIONS,
    ROLES,
    SCOPE_ADMIN,
    SCOPE_AUDIT,
    SCOPE_BULK,
    SCOPE_CATALOGUE,
    SCOPE_CATALOGUE_ADMIN,
    SCOPE_CLIENTS,
    SCOPE_CONFIG,
    SCOPE_CONFIG_ADMIN,
    SCOPE_DEBIT,
    SCOPE_EVENTS,
    SCOPE_FUNDING,
    SCOPE_FUNDING_READ,
    SCOPE_FX,
    SCOPE_ISSUE,
    SCOPE_ORDERS,
    SCOPE_ORDERS_READ,
    SCOPE_ORDERS_REVIEW,
    SCOPE_PEOPLE,
    SCOPE_READ,
    SCOPE_REPORTS,
    SCOPE_VOUCHERS,
    SCOPE_VOUCHERS_ADMIN,
    SCOPE_WALLETS,
    SCOPE_WEBHOOKS,
)
from edge.graphql import schema
from edge.openapi_paths import PATHS
from storage.ports import CatalogueStore
from storage.sqlite_webhooks import SqliteWebhookStore
from tests.conftest import Cluster
from tests.support import Keys, webhook_relay
from tests.webhook_receiver import receiver

#: Above the ledger (GraphQL's refusals and lookups are REST's, whose matrix and tenant
#: tests run on both ledgers): SQLite only (ADR 30).
pytestmark = pytest.mark.ledgers("sqlite")

#: Every answer is read through the ``Error`` interface; a success shows as its typename.
SELECTION = "{ __typename ... on Error { code message } }"


@dataclass(frozen=True)
class Case:
    """One call of a field: what it needs, how to call it, and its REST twin."""

    operation: Literal["query", "mutation"]
    field: str
    arguments: str
    needs: tuple[str, ...]
    rest: tuple[str, str]  # (METHOD, path template) of the same operation

    def document(self) -> str:
        return f"{self.operation} {{ {asked(self.field, self.arguments)} {SELECTION} }}"


def asked(field: str, arguments: str) -> str:
    return f"{field}({arguments})" if arguments else field


def query(field: str, arguments: str, needs: tuple[str, ...], rest: tuple[str, str]) -> Case:
    return Case("query", field, arguments, needs, rest)


def mutation(field: str, arguments: str, needs: tuple[str, ...], rest: tuple[str, str]) -> Case:
    return Case("mutation", field, arguments, needs, rest)


EUR1 = '{amountMinor: 1, currency: "EUR"}'
CLIENT = '"acme.AAAAAAAAAAAAAAAAAAAAAAAA"'
WEBHOOK = '"ep_' + "0" * 32 + '"'
WEBHOOKS = "/api/v1/webhooks/{webhook_id}"

#: Every field, and for some a second call that needs more (spending a budget).
CASES = [
    query("budget", 'id: "b1"', (SCOPE_READ,), ("GET", "/api/v1/budgets/{budget_id}")),
    query("budgets", "first: 1", (SCOPE_READ,), ("GET", "/api/v1/budgets")),
    query("wallet", 'personId: "ann"', (SCOPE_WALLETS,), ("GET", "/api/v1/wallets/{person_id}")),
    query("events", "limit: 1", (SCOPE_EVENTS,), ("GET", "/api/v1/events")),
    query(
        "fundingAccount",
        'id: "f1"',
        (SCOPE_FUNDING_READ,),
        ("GET", "/api/v1/funding-accounts/{account_id}"),
    ),
    query(
        "fundingAccounts", "first: 1", (SCOPE_FUNDING_READ,), ("GET", "/api/v1/funding-accounts")
    ),
    query(
        "fundingAccountHistory",
        'accountId: "f1"',
        (SCOPE_FUNDING_READ,),
        ("GET", "/api/v1/funding-accounts/{account_id}/history"),
    ),
    query("fxRates", "", (SCOPE_READ,), ("GET", "/api/v1/fx")),
    query("auditLog", "limit: 1", (SCOPE_AUDIT,), ("GET", "/api/v1/audit")),
    # a range that ends before it starts: refused or invalid, without needing a warehouse
    query(
        "dailyReport",
        'from: "2026-03-02", to: "2026-03-01"',
        (SCOPE_REPORTS,),
        ("GET", "/api/v1/reports/daily"),
    ),
    query(
        "topProducts",
        'from: "2026-03-02", to: "2026-03-01"',
        (SCOPE_REPORTS,),
        ("GET", "/api/v1/reports/top-products"),
    ),
    query("apiClients", "", (SCOPE_CLIENTS,), ("GET", "/api/v1/clients")),
    query("pointsRate", "", (SCOPE_READ,), ("GET", "/api/v1/points-rate")),
    query("people", "", (SCOPE_PEOPLE,), ("GET", "/api/v1/people")),
    # Another's record needs people:admin (one's own needs no scope: test_sessions).
    query("person", 'id: "ann"', (SCOPE_PEOPLE,), ("GET", "/api/v1/people/{person_id}")),
    query("products", "first: 1", (SCOPE_CATALOGUE,), ("GET", "/api/v1/catalogue/products")),
    query(
        "product",
        'id: "p1"',
        (SCOPE_CATALOGUE,),
        ("GET", "/api/v1/catalogue/products/{product_id}"),
    ),
    query(
        "catalogueExport",
        "first: 1",
        (SCOPE_CATALOGUE_ADMIN,),
        ("GET", "/api/v1/catalogue/export"),
    ),
    query("order", 'id: "ord_x"', (SCOPE_ORDERS_READ,), ("GET", "/api/v1/orders/{order_id}")),
    # the caller's own: allowed to every role that may read orders and wallets at all
    query("orders", "first: 1", (SCOPE_ORDERS_READ,), ("GET", "/api/v1/orders")),
    query(
        "walletHistory",
        'personId: "user@acme"',
        (SCOPE_WALLETS,),
        ("GET", "/api/v1/wallets/{person_id}/history"),
    ),
    query(
        "orderVouchers",
        'orderId: "ord_x"',
        (SCOPE_ORDERS_READ,),
        ("GET", "/api/v1/orders/{order_id}/vouchers"),
    ),
    query("bulkJob", 'id: "bulk_x"', (SCOPE_BULK,), ("GET", "/api/v1/rewards/bulk/{job_id}")),
    query("bulkJobs", "first: 1", (SCOPE_BULK,), ("GET", "/api/v1/rewards/bulk")),
    query(
        "bulkResults",
        'id: "bulk_x"',
        (SCOPE_BULK,),
        ("GET", "/api/v1/rewards/bulk/{job_id}/results"),
    ),
    query(
        "voucherPool",
        'productId: "p1", faceValue: 500',
        (SCOPE_VOUCHERS,),
        ("GET", "/api/v1/vouchers/pools/{product_id}/{face_value}"),
    ),
    query("voucherPools", "first: 1", (SCOPE_VOUCHERS,), ("GET", "/api/v1/vouchers/pools")),
    mutation(
        "createBudget",
        f'input: {{id: "b2", name: "Two", initial: {EUR1}}}',
        (SCOPE_ADMIN,),
        ("POST", "/api/v1/budgets"),
    ),
    mutation(
        "updateBudget",
        'budgetId: "b1", input: {name: "One"}',
        (SCOPE_ADMIN,),
        ("PATCH", "/api/v1/budgets/{budget_id}"),
    ),
    mutation(
        "debitBudget",
        f'budgetId: "b1", input: {{amount: {EUR1}}}',
        (SCOPE_DEBIT,),
        ("POST", "/api/v1/budgets/{budget_id}/debits"),
    ),
    mutation(
        "issuePoints",
        'input: {budgetId: "b1", personId: "ann", points: 1}',
        (SCOPE_ISSUE,),
        ("POST", "/api/v1/rewards"),
    ),
    mutation(
        "openFundingAccount",
        'input: {id: "f2", name: "Two", currency: "EUR"}',
        (SCOPE_FUNDING,),
        ("POST", "/api/v1/funding-accounts"),
    ),
    mutation(
        "deposit",
        f'accountId: "f1", input: {{amount: {EUR1}}}',
        (SCOPE_FUNDING,),
        ("POST", "/api/v1/funding-accounts/{account_id}/deposits"),
    ),
    mutation(
        "allocateBudget",
        f'budgetId: "b1", input: {{fromAccount: "f1", amount: {EUR1}}}',
        (SCOPE_FUNDING,),
        ("POST", "/api/v1/budgets/{budget_id}/allocations"),
    ),
    mutation(
        "setFxRate",
        'base: "EUR", quote: "USD", rate: "1.1"',
        (SCOPE_FX,),
        ("PUT", "/api/v1/fx/{base}/{quote}"),
    ),
    mutation(
        "createApiClient",
        'input: {name: "HR", scopes: ["budgets:read"]}',
        (SCOPE_CLIENTS,),
        ("POST", "/api/v1/clients"),
    ),
    mutation(
        "rotateApiClientSecret",
        f"clientId: {CLIENT}",
        (SCOPE_CLIENTS,),
        ("POST", "/api/v1/clients/{client_id}/secret"),
    ),
    mutation(
        "revokeApiClient",
        f"clientId: {CLIENT}",
        (SCOPE_CLIENTS,),
        ("DELETE", "/api/v1/clients/{client_id}"),
    ),
    mutation("issueNatsCredentials", "", (SCOPE_CLIENTS,), ("POST", "/api/v1/nats-credentials")),
    mutation(
        "createPerson",
        'input: {id: "zoe", email: "zoe@acme.test", name: "Zoe"}',
        (SCOPE_PEOPLE,),
        ("POST", "/api/v1/people"),
    ),
    mutation(
        "updatePerson",
        'id: "ann", input: {name: "Ann"}',
        (SCOPE_PEOPLE,),
        ("PATCH", "/api/v1/people/{person_id}"),
    ),
    mutation(
        "sendPasswordLink",
        'id: "ann"',
        (SCOPE_PEOPLE,),
        ("POST", "/api/v1/people/{person_id}/password-reset"),
    ),
    mutation(
        "setPointsRate",
        'currency: "EUR", pointsPerUnit: "100"',
        (SCOPE_FX,),
        ("PUT", "/api/v1/points-rate"),
    ),
    mutation(
        "curateProduct",
        'productId: "p1", input: {enabled: true}',
        (SCOPE_CATALOGUE_ADMIN,),
        ("PUT", "/api/v1/catalogue/products/{product_id}/curation"),
    ),
    mutation(
        "addCustomProduct",
        'input: {id: "mug", brand: "Acme", kind: "merchandise", category: "home",'
        ' currency: "EUR", countries: ["DE"], texts: [{locale: "en", name: "Mug"}],'
        " denominations: [500]}",
        (SCOPE_CATALOGUE_ADMIN,),
        ("POST", "/api/v1/catalogue/products"),
    ),
    # Redeeming one's own points (the token's subject): ordering is all it takes.
    mutation(
        "placeOrder",
        'input: {productId: "p1", faceValueMinor: 500, recipient: "user@acme"}',
        (SCOPE_ORDERS,),
        ("POST", "/api/v1/orders"),
    ),
    # Spending a budget takes what debiting it takes, on top of ordering.
    mutation(
        "placeOrder",
        'input: {productId: "p1", faceValueMinor: 500, recipient: "ann", budgetId: "b1"}',
        (SCOPE_ORDERS, SCOPE_DEBIT),
        ("POST", "/api/v1/orders"),
    ),
    mutation(
        "startBulkRewards",
        'budgetId: "b1", csv: "person_id,points\\nann,1\\n"',
        (SCOPE_BULK,),
        ("POST", "/api/v1/rewards/bulk"),
    ),
    mutation(
        "rescheduleBulkJob",
        'id: "bulk_x"',
        (SCOPE_BULK,),
        ("PATCH", "/api/v1/rewards/bulk/{job_id}"),
    ),
    mutation(
        "cancelBulkJob",
        'id: "bulk_x"',
        (SCOPE_BULK,),
        ("POST", "/api/v1/rewards/bulk/{job_id}/cancel"),
    ),
    mutation(
        "cancelOrder",
        'orderId: "ord_x"',
        (SCOPE_ORDERS,),
        ("POST", "/api/v1/orders/{order_id}/cancel"),
    ),
    mutation(
        "resendOrder",
        'orderId: "ord_x"',
        (SCOPE_ORDERS,),
        ("POST", "/api/v1/orders/{order_id}/resend"),
    ),
    mutation(
        "reviewOrder",
        'orderId: "ord_x", approve: true',
        (SCOPE_ORDERS_REVIEW,),
        ("POST", "/api/v1/orders/{order_id}/review"),
    ),
    mutation(
        "importVoucherCodes",
        'productId: "p1", faceValue: 500, input: {currency: "EUR", csv: "code\\nABC-123\\n"}',
        (SCOPE_VOUCHERS_ADMIN,),
        ("POST", "/api/v1/vouchers/pools/{product_id}/{face_value}/codes"),
    ),
    mutation(
        "generateVoucherCodes",
        'productId: "p1", faceValue: 500, input: {currency: "EUR", count: 1}',
        (SCOPE_VOUCHERS_ADMIN,),
        ("POST", "/api/v1/vouchers/pools/{product_id}/{face_value}/generate"),
    ),
    query(
        "tenantConfig",
        'name: "branding"',
        (SCOPE_CONFIG,),
        ("GET", "/api/v1/tenant/config/branding"),
    ),
    query(
        "tenantConfigRevisions",
        'name: "branding"',
        (SCOPE_CONFIG,),
        ("GET", "/api/v1/tenant/config/branding/revisions"),
    ),
    mutation(
        "putTenantConfig",
        'name: "locales", document: {default: "en", enabled: ["en"]}',
        (SCOPE_CONFIG_ADMIN,),
        ("PUT", "/api/v1/tenant/config/locales"),
    ),
    query("webhooks", "", (SCOPE_WEBHOOKS,), ("GET", "/api/v1/webhooks")),
    query("webhook", f"id: {WEBHOOK}", (SCOPE_WEBHOOKS,), ("GET", WEBHOOKS)),
    query(
        "webhookDeliveries",
        f"webhookId: {WEBHOOK}, first: 1",
        (SCOPE_WEBHOOKS,),
        ("GET", WEBHOOKS + "/deliveries"),
    ),
    query(
        "webhookDelivery",
        f"webhookId: {WEBHOOK}, deliveryId: 1",
        (SCOPE_WEBHOOKS,),
        ("GET", WEBHOOKS + "/deliveries/{delivery_id}"),
    ),
    # disabled: no deliveries to an address of nobody's while the relay runs
    mutation(
        "createWebhook",
        'input: {url: "https://hooks.acme.example/in", enabled: false}',
        (SCOPE_WEBHOOKS,),
        ("POST", "/api/v1/webhooks"),
    ),
    mutation(
        "updateWebhook",
        f'id: {WEBHOOK}, input: {{description: "One"}}',
        (SCOPE_WEBHOOKS,),
        ("PATCH", WEBHOOKS),
    ),
    mutation("deleteWebhook", f"id: {WEBHOOK}", (SCOPE_WEBHOOKS,), ("DELETE", WEBHOOKS)),
    mutation(
        "rotateWebhookSecret",
        f"id: {WEBHOOK}, keepOldS: 0",
        (SCOPE_WEBHOOKS,),
        ("POST", WEBHOOKS + "/secret"),
    ),
    mutation("testWebhook", f"id: {WEBHOOK}", (SCOPE_WEBHOOKS,), ("POST", WEBHOOKS + "/test")),
    mutation(
        "redeliverWebhook",
        f"webhookId: {WEBHOOK}, deliveryId: 1",
        (SCOPE_WEBHOOKS,),
        ("POST", WEBHOOKS + "/deliveries/{delivery_id}/redeliver"),
    ),
]


#: A platform product the table's calls name.
P1 = Product(
    id="p1",
    brand="Brand",
    kind="gift_card",
    category="shopping",
    currency="EUR",
    countries=("DE",),
    texts={"en": Texts("Card")},
    denominations=(500,),
)
ROOTS = {"query": "Query", "mutation": "Mutation"}


@functools.cache
def types() -> dict[str, Any]:
    """The live schema's types by name, as introspection describes them."""
    return {t["name"]: t for t in schema.introspect()["__schema"]["types"]}


def schema_fields() -> set[tuple[str, str]]:
    """(operation, field) for every field of Query and Mutation in the live schema."""
    return {
        (operation, field["name"])
        for operation, root in ROOTS.items()
        for field in types()[root]["fields"]
    }


def unwrapped(of: dict[str, Any]) -> dict[str, Any]:
    while of["kind"] in ("NON_NULL", "LIST"):
        of = of["ofType"]
    return of


def fields_naming_a_resource() -> set[str]:
    """Root fields with an ``ID`` argument: each names something of a tenant's."""
    return {
        field["name"]
        for root in ROOTS.values()
        for field in types()[root]["fields"]
        if any(unwrapped(a["type"])["name"] == "ID" for a in field["args"])
    }


def everything(type_name: str, depth: int = 3) -> str:
    """A selection of every field of a result type (each member of a union, each nested
    object to ``depth``), so whatever an answer holds is in the response to inspect."""
    kind = types()[type_name]
    if kind["kind"] == "UNION":
        members = " ".join(
            f"... on {m['name']} {everything(m['name'], depth)}" for m in kind["possibleTypes"]
        )
        return f"{{ __typename {members} }}"
    parts = []
    for field in kind["fields"]:
        of = unwrapped(field["type"])
        if of["kind"] in ("SCALAR", "ENUM"):
            parts.append(field["name"])
        elif depth > 0:
            parts.append(f"{field['name']} {everything(of['name'], depth - 1)}")
    return f"{{ {' '.join(parts)} }}"


def result_type(operation: str, field: str) -> str:
    """The union a root field answers with."""
    fields = types()[ROOTS[operation]]["fields"]
    name: str = unwrapped(next(f for f in fields if f["name"] == field)["type"])["name"]
    return name


async def ask(
    cluster: Cluster, document: str, headers: dict[str, str]
) -> tuple[int, dict[str, Any], str]:
    """POST a document to /graphql: the status, the decoded body and its content type."""
    async with cluster.client.post("/graphql", json={"query": document}, headers=headers) as r:
        return r.status, json.loads(await r.text()), r.content_type


def answer(body: dict[str, Any], field: str) -> dict[str, Any]:
    """The field's union member, after checking there were no top-level errors."""
    assert "errors" not in body, (field, body)
    member: dict[str, Any] = body["data"][field]
    return member


async def call(
    cluster: Cluster, headers: dict[str, str], operation: str, field: str, arguments: str
) -> tuple[dict[str, Any], str]:
    """Call one field selecting everything its answer may hold: the member, the body text."""
    document = (
        f"{operation} {{ {asked(field, arguments)} {everything(result_type(operation, field))} }}"
    )
    async with cluster.client.post("/graphql", json={"query": document}, headers=headers) as r:
        text = await r.text()
        assert r.status == 200, text
    return answer(json.loads(text), field), text


async def made(
    cluster: Cluster, headers: dict[str, str], operation: str, field: str, arguments: str
) -> dict[str, Any]:
    """The success member of a call that must succeed."""
    member, _ = await call(cluster, headers, operation, field, arguments)
    assert "code" not in member, (field, member)
    return member


def test_the_table_classifies_every_field_of_the_schema() -> None:
    tabled = {(c.operation, c.field) for c in CASES}
    live = schema_fields()
    assert live - tabled == set(), "classify these fields in CASES"
    assert tabled - live == set(), "these fields are no longer in the schema"


#: Fields whose scope depends on what they name (another person's record needs
#: people:admin, one's own none): the edge cannot ask for it before reading the path.
_CONDITIONAL = {"person": SCOPE_PEOPLE}


def test_each_field_needs_what_its_rest_twin_needs() -> None:
    for case in CASES:
        method, path = case.rest
        required = PATHS[path][method.lower()]["x-required-scope"] or _CONDITIONAL.get(case.field)
        assert case.needs[:1] == ((required,) if required else ()), case.field


async def test_every_field_needs_a_valid_token(cluster: Cluster, tmp_path: Path) -> None:
    stranger = Keys(tmp_path / "stranger")  # a well-formed token from a key nobody trusts
    credentials = {
        "none": {},
        "garbage": {"Authorization": "Bearer not-a-token"},
        "expired": {"Authorization": f"Bearer {cluster.keys.token('acme', ttl_s=-120)}"},
        "foreign": stranger.headers("acme"),
    }
    for name, headers in credentials.items():
        for case in CASES:
            status, body, content_type = await ask(cluster, case.document(), headers)
            assert (status, body["code"], content_type) == (
                401,
                "unauthenticated",
                "application/problem+json",
            ), (name, case.field)
            assert "data" not in body


async def test_every_field_refuses_the_roles_without_its_permission(
    cluster: Cluster, catalogue: CatalogueStore, tmp_path: Path
) -> None:
    store = SqliteWebhookStore(tmp_path / "webhooks.sqlite3")
    async with webhook_relay(cluster.bus, store):  # answers about deliveries
        await refuses_the_roles_without_permissions(cluster, catalogue)
    await store.close()


async def refuses_the_roles_without_permissions(
    cluster: Cluster, catalogue: CatalogueStore
) -> None:
    # What the table's calls name, so that the allowed ones reach real resources.
    await catalogue.put_products([P1])
    await cluster.open_budget("acme", "b1", 100_000)
    owner = cluster.keys.headers("acme")
    await made(cluster, owner, "mutation", "openFundingAccount", OPEN_F1)
    await made(cluster, owner, "mutation", "createPerson", CREATE_ANN)
    await made(cluster, owner, "mutation", "generateVoucherCodes", P1_CODES)
    refused = 0
    for role in ROLES:
        headers = cluster.keys.headers("acme", roles=[role])  # every scope, this one role
        for case in CASES:
            status, body, _ = await ask(cluster, case.document(), headers)
            assert status == 200, (role, case.field, body)
            member = answer(body, case.field)
            if not set(case.needs) <= ROLE_PERMISSIONS[role]:
                assert (member["__typename"], member["code"]) == ("Forbidden", "forbidden"), (
                    role,
                    case.document(),
                    member,
                )
                assert role in member["message"]
                refused += 1
            else:  # allowed: the actors agree with the role table, and nothing breaks
                assert member["__typename"] not in ("Forbidden", "Unavailable"), (
                    role,
                    case.document(),
                    member,
                )
    assert refused > 50


OPEN_F1 = 'input: {id: "f1", name: "Main", currency: "EUR"}'
CREATE_ANN = 'input: {id: "ann", email: "ann@acme.test", name: "Ann"}'
P1_CODES = 'productId: "p1", faceValue: 500, input: {currency: "EUR", count: 20}'
BULK_CSV = "person_id,points\\nzed.acme,7\\n"
MUG_POOL = 'productId: "acme-mug", faceValue: 500'
#: Fields whose ids are the caller's tenant's own names, whoever else uses them: a wallet
#: exists (at zero) for any person id, a pool for any product and face value; a
#: recipient's orders and a wallet's history are the caller's tenant's (empty).
OWN_NAMES = {
    "wallet",
    "voucherPool",
    "importVoucherCodes",
    "generateVoucherCodes",
    "orders",
    "walletHistory",
}


async def test_another_tenants_resources_are_not_found(cluster: Cluster, tmp_path: Path) -> None:
    store = SqliteWebhookStore(tmp_path / "webhooks.sqlite3")
    async with webhook_relay(cluster.bus, store), receiver() as box:
        await another_tenants_resources_are_not_found(cluster, box.url)
    await store.close()


async def another_tenants_resources_are_not_found(cluster: Cluster, hook_url: str) -> None:
    acme = cluster.keys.headers("acme")

    async def make(operation: str, field: str, arguments: str) -> dict[str, Any]:
        return await made(cluster, acme, operation, field, arguments)

    # acme's resources, each with something only acme may see
    await cluster.open_budget("acme", "acme-bonus", 123457)
    await make("mutation", "updateBudget", 'budgetId: "acme-bonus", input: {name: "Acme Bonus"}')
    await make(
        "mutation",
        "openFundingAccount",
        'input: {id: "acme-treasury", name: "Acme Treasury", currency: "EUR"}',
    )
    await make(
        "mutation",
        "deposit",
        'accountId: "acme-treasury", input: {amount: {amountMinor: 765431, currency: "EUR"}}',
    )
    client = await make(
        "mutation", "createApiClient", 'input: {name: "Acme HR Link", scopes: ["budgets:read"]}'
    )
    await make(
        "mutation",
        "createPerson",
        'input: {id: "zed.acme", email: "zed@acme.test", name: "Zed Acmeson"}',
    )
    await make(
        "mutation",
        "issuePoints",
        'input: {budgetId: "acme-bonus", personId: "zed.acme", points: 4242}',
    )
    await make(
        "mutation",
        "addCustomProduct",
        'input: {id: "acme-mug", brand: "AcmeBrandX", kind: "merchandise", category: "home",'
        ' currency: "EUR", countries: ["DE"], texts: [{locale: "en", name: "Acme Mug"}],'
        " denominations: [500]}",
    )
    await make(
        "mutation",
        "generateVoucherCodes",
        f'{MUG_POOL}, input: {{currency: "EUR", count: 2}}',
    )
    mug_order = (
        'input: {productId: "acme-mug", faceValueMinor: 500, recipient: "zed.acme",'
        ' budgetId: "acme-bonus"}'
    )
    order = await make("mutation", "placeOrder", mug_order)
    o = order["id"]
    codes = await make("query", "orderVouchers", f'orderId: "{o}"')
    job = await make("mutation", "startBulkRewards", f'budgetId: "acme-bonus", csv: "{BULK_CSV}"')
    j, c = job["id"], client["id"]
    while job["status"] != "done":  # its row paid, so acme's balance below is settled
        await asyncio.sleep(0.02)
        job = await make("query", "bulkJob", f'id: "{j}"')
    hook = await make(
        "mutation",
        "createWebhook",
        f'input: {{url: "{hook_url}", description: "Acme Hooks Desk",'
        ' eventTypes: ["perkbus.budget.low_balance"]}',
    )
    w = hook["id"]
    sent = await make("mutation", "testWebhook", f'id: "{w}"')
    d = sent["id"]
    delivery = f'webhookId: "{w}", deliveryId: {d}'
    detail = await make("query", "webhookDelivery", delivery)
    while detail["delivery"]["status"] != "delivered":  # its attempt logged, its answer kept
        await asyncio.sleep(0.02)
        detail = await make("query", "webhookDelivery", delivery)
    secrets = [
        "Acme Bonus",
        "123457",
        "Acme Treasury",
        "765431",
        "Acme HR Link",
        client["clientSecret"],
        "zed@acme.test",
        "Zed Acmeson",
        "4242",
        "AcmeBrandX",
        "Acme Mug",
        *(v["code"] for v in codes["vouchers"]),
        "Acme Hooks Desk",
        hook_url,
        hook["secret"],
        sent["eventId"],
    ]
    ids = ["acme-bonus", "acme-treasury", c, "zed.acme", "acme-mug", o, j, w]

    def leaks(text: str, arguments: str) -> list[str]:
        """acme's secrets in an answer, and its ids but for those the caller named."""
        return [s for s in secrets if s in text] + [
            i for i in ids if i in text and i not in arguments
        ]

    # globex's owner names each of them: not found, and nothing of acme's in the answer
    globex = cluster.keys.headers("globex")
    probes = [
        ("query", "budget", 'id: "acme-bonus"'),
        ("query", "fundingAccount", 'id: "acme-treasury"'),
        ("query", "fundingAccountHistory", 'accountId: "acme-treasury"'),
        ("query", "person", 'id: "zed.acme"'),
        ("query", "product", 'id: "acme-mug"'),
        ("query", "order", f'id: "{o}"'),
        ("query", "orderVouchers", f'orderId: "{o}"'),
        ("query", "bulkJob", f'id: "{j}"'),
        ("query", "bulkResults", f'id: "{j}"'),
        ("mutation", "rescheduleBulkJob", f'id: "{j}"'),
        ("mutation", "cancelBulkJob", f'id: "{j}"'),
        ("mutation", "updateBudget", 'budgetId: "acme-bonus", input: {name: "Mine"}'),
        ("mutation", "debitBudget", f'budgetId: "acme-bonus", input: {{amount: {EUR1}}}'),
        ("mutation", "issuePoints", 'input: {budgetId: "acme-bonus", personId: "x", points: 1}'),
        (
            "mutation",
            "allocateBudget",
            f'budgetId: "acme-bonus", input: {{fromAccount: "acme-treasury", amount: {EUR1}}}',
        ),
        ("mutation", "deposit", f'accountId: "acme-treasury", input: {{amount: {EUR1}}}'),
        ("mutation", "startBulkRewards", f'budgetId: "acme-bonus", csv: "{BULK_CSV}"'),
        ("mutation", "rotateApiClientSecret", f'clientId: "{c}"'),
        ("mutation", "revokeApiClient", f'clientId: "{c}"'),
        ("mutation", "updatePerson", 'id: "zed.acme", input: {name: "Mine"}'),
        ("mutation", "sendPasswordLink", 'id: "zed.acme"'),
        ("mutation", "curateProduct", 'productId: "acme-mug", input: {enabled: false}'),
        ("mutation", "placeOrder", mug_order),
        ("mutation", "cancelOrder", f'orderId: "{o}"'),
        ("mutation", "resendOrder", f'orderId: "{o}"'),
        ("mutation", "reviewOrder", f'orderId: "{o}", approve: true'),
        ("query", "webhook", f'id: "{w}"'),
        ("query", "webhookDelivery", delivery),
        ("query", "webhookDeliveries", f'webhookId: "{w}"'),
        ("mutation", "updateWebhook", f'id: "{w}", input: {{description: "Mine"}}'),
        ("mutation", "deleteWebhook", f'id: "{w}"'),
        ("mutation", "rotateWebhookSecret", f'id: "{w}"'),
        ("mutation", "testWebhook", f'id: "{w}"'),
        ("mutation", "redeliverWebhook", delivery),
    ]
    probed = {field for _, field, _ in probes}
    assert fields_naming_a_resource() - OWN_NAMES - probed == set(), "probe these across tenants"
    for operation, field, arguments in probes:
        member, text = await call(cluster, globex, operation, field, arguments)
        assert (member["__typename"], member.get("code")) == ("NotFound", "not_found"), (
            field,
            member,
        )
        assert leaks(text, arguments) == [], (field, text)

    # globex's own names: a wallet at zero, an empty pool it may stock (acme's untouched)
    wallet, text = await call(cluster, globex, "query", "wallet", 'personId: "zed.acme"')
    assert (wallet["__typename"], wallet["points"], wallet["version"]) == ("Wallet", 0, 0)
    assert leaks(text, "zed.acme") == [], text
    orders, text = await call(cluster, globex, "query", "orders", 'recipient: "zed.acme"')
    assert (orders["__typename"], orders["orders"]) == ("OrderList", [])
    assert leaks(text, "zed.acme") == [], text
    history, text = await call(cluster, globex, "query", "walletHistory", 'personId: "zed.acme"')
    assert (history["__typename"], history["entries"]) == ("WalletHistory", [])
    assert leaks(text, "zed.acme") == [], text
    pool, text = await call(cluster, globex, "query", "voucherPool", MUG_POOL)
    assert (pool["__typename"], pool["available"], pool["allocated"]) == ("Pool", 0, 0)
    assert leaks(text, MUG_POOL) == [], text
    pools, text = await call(cluster, globex, "query", "voucherPools", "")
    assert (pools["__typename"], pools["pools"]) == ("PoolList", [])
    assert leaks(text, "") == [], text
    stocked, text = await call(
        cluster,
        globex,
        "mutation",
        "generateVoucherCodes",
        f'{MUG_POOL}, input: {{currency: "EUR", count: 3}}',
    )
    assert (stocked["pool"]["available"], stocked["pool"]["allocated"]) == (3, 0)
    assert leaks(text, MUG_POOL) == [], text
    # globex's lists now: its own pool (its figures, not acme's), none of acme's budgets
    pools, text = await call(cluster, globex, "query", "voucherPools", "")
    listed = [(p["productId"], p["available"], p["allocated"]) for p in pools["pools"]]
    assert (pools["__typename"], listed) == ("PoolList", [("acme-mug", 3, 0)])
    assert leaks(text, MUG_POOL) == [], text
    budgets, text = await call(cluster, globex, "query", "budgets", "")
    assert (budgets["__typename"], budgets["budgets"]) == ("BudgetList", [])
    assert leaks(text, "") == [], text
    funding, text = await call(cluster, globex, "query", "fundingAccounts", "")
    assert (funding["__typename"], funding["fundingAccounts"]) == ("FundingAccountList", [])
    assert leaks(text, "") == [], text
    hooks, text = await call(cluster, globex, "query", "webhooks", "")
    assert (hooks["__typename"], hooks["webhooks"]) == ("Webhooks", [])
    assert leaks(text, "") == [], text

    # and acme's are as they were
    budget, _ = await call(cluster, acme, "query", "budget", 'id: "acme-bonus"')
    assert budget["name"] == "Acme Bonus"
    assert budget["balance"]["amountMinor"] == 123457 - 4242 - 500 - 7  # points, mug, bulk
    funding, _ = await call(cluster, acme, "query", "fundingAccount", 'id: "acme-treasury"')
    assert funding["balance"]["amountMinor"] == 765431
    person, _ = await call(cluster, acme, "query", "person", 'id: "zed.acme"')
    assert person["name"] == "Zed Acmeson"
    clients, _ = await call(cluster, acme, "query", "apiClients", "")
    assert [x["status"] for x in clients["clients"]] == ["active"]
    placed, _ = await call(cluster, acme, "query", "order", f'id: "{o}"')
    assert placed["status"] == "fulfilled"
    mugs, _ = await call(cluster, acme, "query", "voucherPool", MUG_POOL)
    assert (mugs["available"], mugs["allocated"]) == (1, 1)
    product, _ = await call(cluster, acme, "query", "product", 'id: "acme-mug"')
    assert product["enabled"] is True
    kept, _ = await call(cluster, acme, "query", "webhook", f'id: "{w}"')
    assert (kept["description"], kept["secret"], kept["oldSecretExpiresAt"]) == (
        "Acme Hooks Desk",
        None,
        None,
    )
    sent_once, _ = await call(cluster, acme, "query", "webhookDeliveries", f'webhookId: "{w}"')
    assert [(x["id"], x["attempts"]) for x in sent_once["deliveries"]] == [(d, 1)]
