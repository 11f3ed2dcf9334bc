"""GraphQL held to what REST takes: points, milliseconds and stream sequences as ``Long``
(GraphQL's ``Int`` has 32 bits), and arguments within REST's limits."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest

from storage.sqlite_webhooks import SqliteWebhookStore
from tests.conftest import Cluster
from tests.support import webhook_relay

#: Above the ledger (GraphQL's types and limits, whatever stores the values): SQLite only
#: (ADR 30).
pytestmark = pytest.mark.ledgers("sqlite")


async def graphql(cluster: Cluster, query: str) -> dict[str, Any]:
    async with cluster.client.post(
        "/graphql", json={"query": query}, headers=cluster.keys.headers("acme")
    ) as r:
        body: dict[str, Any] = await r.json()
    assert "errors" not in body, body
    data: dict[str, Any] = body["data"]
    return data


async def test_points_past_32_bits_are_read_back(cluster: Cluster) -> None:
    await cluster.open_budget("acme", "b1", 10**10)
    issue = 'mutation { issuePoints(input: {budgetId: "b1", personId: "ann", points: 3000000000})'
    issue += " { __typename } }"
    assert (await graphql(cluster, issue))["issuePoints"]["__typename"] == "Reward"
    page = await graphql(
        cluster,
        '{ walletHistory(personId: "ann") { ... on WalletHistory { entries { points } } } }',
    )
    assert [e["points"] for e in page["walletHistory"]["entries"]] == [3_000_000_000]


async def test_the_audit_log_is_searched_by_milliseconds_since_1970(cluster: Cluster) -> None:
    await cluster.open_budget("acme", "b1", 100)
    since = int(time.time() * 1000) - 3_600_000
    query = f"{{ auditLog(sinceMs: {since}) {{ __typename ... on AuditPage {{ total }} }} }}"
    assert (await graphql(cluster, query))["auditLog"]["__typename"] == "AuditPage"


async def test_arguments_are_held_to_rests_limits(cluster: Cluster) -> None:
    """A reason longer than REST takes is refused, not cut short; a negative offset into a
    job's results is refused, not read from the start."""
    reason = "x" * 201
    query = f'mutation {{ cancelOrder(orderId: "o1", reason: "{reason}") {{ __typename }} }}'
    assert (await graphql(cluster, query))["cancelOrder"]["__typename"] == "InvalidInput"
    results = '{ bulkResults(id: "j1", offset: -1) { __typename } }'
    assert (await graphql(cluster, results))["bulkResults"]["__typename"] == "InvalidInput"


async def test_listings_take_the_pages_rest_takes(cluster: Cluster) -> None:
    """``first`` is REST's ``limit`` (1 to 100), ``after`` its ``cursor`` (at most 200
    characters, one the API gave): anything else is refused, not cut to fit."""
    await cluster.open_budget("acme", "b1", 100)
    for field, listed in (("budgets", "BudgetList"), ("voucherPools", "PoolList")):
        for arguments in ("first: 0", "first: 101", f'after: "{"x" * 201}"', 'after: "not-ours"'):
            query = f"{{ {field}({arguments}) {{ __typename }} }}"
            assert (await graphql(cluster, query))[field]["__typename"] == "InvalidInput", query
        page = await graphql(cluster, f"{{ {field}(first: 100) {{ __typename }} }}")
        assert page[field]["__typename"] == listed


async def test_webhook_deliveries_take_the_pages_and_statuses_rest_takes(
    cluster: Cluster, tmp_path: Path
) -> None:
    store = SqliteWebhookStore(tmp_path / "webhooks.sqlite3")
    async with webhook_relay(cluster.bus, store):  # it reads the cursor
        made = await graphql(
            cluster,
            'mutation { createWebhook(input: {url: "https://hooks.acme.example/in",'
            " enabled: false}) { ... on Webhook { id } } }",
        )
        webhook_id = made["createWebhook"]["id"]
        for arguments in (
            "first: 0",
            "first: 101",
            f'after: "{"x" * 201}"',
            'after: "not-ours"',
            'status: "lost"',
        ):
            query = (
                f'{{ webhookDeliveries(webhookId: "{webhook_id}", {arguments}) {{ __typename }} }}'
            )
            page = (await graphql(cluster, query))["webhookDeliveries"]
            assert page["__typename"] == "InvalidInput", query
        for arguments in ("first: 100", 'status: "failed"', 'after: "123"'):
            query = (
                f'{{ webhookDeliveries(webhookId: "{webhook_id}", {arguments})'
                " { __typename ... on WebhookDeliveryList { deliveries { id } nextCursor } } }"
            )
            page = (await graphql(cluster, query))["webhookDeliveries"]
            assert page == {
                "__typename": "WebhookDeliveryList",
                "deliveries": [],
                "nextCursor": None,
            }, query
    await store.close()


async def test_delivery_ids_are_longs_and_those_rest_cannot_name_are_not_found(
    cluster: Cluster, tmp_path: Path
) -> None:
    """A delivery id is REST's integer: past 32 bits it is still an id (``Long``), and one
    no delivery can have (0, negative, past 62 bits) is not found, as in REST's path."""
    store = SqliteWebhookStore(tmp_path / "webhooks.sqlite3")
    async with webhook_relay(cluster.bus, store):
        webhook_id = "ep_" + "0" * 32
        for delivery_id in (0, -1, 2**62 + 1, 10**19, 2**31, 10**17):
            arguments = f'webhookId: "{webhook_id}", deliveryId: {delivery_id}'
            selection = "{ __typename ... on Error { code } }"
            read = await graphql(cluster, f"{{ webhookDelivery({arguments}) {selection} }}")
            again = await graphql(
                cluster, f"mutation {{ redeliverWebhook({arguments}) {selection} }}"
            )
            not_found = {"__typename": "NotFound", "code": "not_found"}
            assert (read["webhookDelivery"], again["redeliverWebhook"]) == (not_found,) * 2
    await store.close()


async def test_an_old_secret_is_kept_within_rests_limits(cluster: Cluster) -> None:
    made = await graphql(
        cluster,
        'mutation { createWebhook(input: {url: "https://hooks.acme.example/in"})'
        " { ... on Webhook { id } } }",
    )
    webhook_id = made["createWebhook"]["id"]
    for keep, typename in ((-1, "InvalidInput"), (7 * 86_400 + 1, "InvalidInput"), (0, "Webhook")):
        query = (
            f'mutation {{ rotateWebhookSecret(id: "{webhook_id}", keepOldS: {keep})'
            " { __typename } }"
        )
        answer = (await graphql(cluster, query))["rotateWebhookSecret"]
        assert answer["__typename"] == typename, keep


async def test_the_idempotency_key_header_makes_a_retried_mutation_safe_as_on_rest(
    cluster: Cluster, caplog: pytest.LogCaptureFixture
) -> None:
    """Sent twice with one Idempotency-Key header, a debit happens once; a bad header,
    or one over two mutations, is refused (400) and nothing runs. A caller's syntax error
    is logged as theirs (INFO), without their text."""
    await cluster.open_budget("acme", "b1", 100)
    debit = (
        'debitBudget(budgetId: "b1", input: {amount: {amountMinor: 7, currency: "EUR"}})'
        " { ... on Debit { id balanceAfter { amountMinor } } }"
    )

    async def send(query: str, key: str) -> tuple[int, dict[str, Any]]:
        headers = {**cluster.keys.headers("acme"), "Idempotency-Key": key}
        async with cluster.client.post("/graphql", json={"query": query}, headers=headers) as r:
            return r.status, await r.json()

    first = await send("mutation { " + debit + " }", "hdr-0001")
    again = await send("mutation { " + debit + " }", "hdr-0001")
    assert first == again
    assert first[1]["data"]["debitBudget"]["balanceAfter"]["amountMinor"] == 93
    for query, key in (
        ("mutation { " + debit + " }", "bad key"),
        ("mutation { " + debit + " second: " + debit + " }", "hdr-0002"),
    ):
        status, problem = await send(query, key)
        assert (status, problem["code"]) == (400, "invalid_request"), problem
    budget = await cluster.ledger.account_balance("acme", "budget:b1")
    assert budget == 93  # one debit in all

    forged = "{ nope }\n2026-11-28 23:59:59,000 INFO [edge] FORGED admin signed in\n"
    with caplog.at_level("INFO", logger="edge.graphql"):
        await send(forged, "hdr-0003")
    refusals = [r for r in caplog.records if r.name == "edge.graphql"]
    assert refusals
    assert all(r.levelname == "INFO" for r in refusals)
    assert not any("FORGED" in r.getMessage() for r in caplog.records)
