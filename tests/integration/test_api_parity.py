"""One suite over REST and GraphQL: the same calls give the same results."""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest

from bus import subjects
from bus.messages import Ok, Principal
from bus.messages.vouchers import GenerateCodes
from storage.sqlite_webhooks import SqliteWebhookStore
from tests.conftest import Cluster
from tests.integration.api import BudgetApi, GraphQL, Outcome, Rest
from tests.support import budget_record, outbox_drained, stream_messages, webhook_relay
from tests.webhook_receiver import receiver

#: Above the ledger (REST and GraphQL against each other; the ledgers are held equal by their
#: contract suite): SQLite only (ADR 30).
pytestmark = pytest.mark.ledgers("sqlite")


@pytest.fixture(params=["rest", "graphql"])
def api(request: pytest.FixtureRequest, cluster: Cluster) -> BudgetApi:
    return Rest(cluster.client) if request.param == "rest" else GraphQL(cluster.client)


async def test_open_read_debit(api: BudgetApi, cluster: Cluster) -> None:
    acme = cluster.keys.headers("acme")
    created = await api.create(acme, "q4", 50_000, "INR")
    assert created.value == {
        "id": "q4",
        "name": "Budget q4",
        "version": 1,
        "balance": {"amount_minor": 50_000, "currency": "INR"},
        "cap_minor": None,
        "held": {"amount_minor": 0, "currency": "INR"},
        "low_balance_minor": None,
    }
    receipt = await api.debit(acme, "q4", 1234, "INR", memo="gift")
    assert receipt.value is not None
    assert receipt.value["budget_id"] == "q4"
    assert receipt.value["amount"] == {"amount_minor": 1234, "currency": "INR"}
    assert receipt.value["balance_after"] == {"amount_minor": 48_766, "currency": "INR"}
    assert receipt.value["id"].startswith("dbt_")
    read = await api.get(acme, "q4")
    assert read.value is not None
    assert read.value["balance"]["amount_minor"] == 48_766
    assert (await api.create(acme, "q4", 1, "INR")).code == "already_exists"


async def test_both_list_the_same_pages_with_the_same_cursors(cluster: Cluster) -> None:
    for budget_id in ("b3", "b1", "b2"):
        await cluster.open_budget("acme", budget_id, 100)
    admin = Principal("admin@acme", roles=("admin",))
    for product_id, face in (("card-de", 2500), ("card-de", 500), ("acme-voucher", 1000)):
        stock = GenerateCodes(product_id, face, "EUR", 2)
        assert isinstance(await cluster.bus.request("acme", "vouchers", stock, admin, 10), Ok)
    rest, graphql = Rest(cluster.client), GraphQL(cluster.client)
    acme = cluster.keys.headers("acme")
    for name in ("budgets", "pools"):
        listed, asked = getattr(rest, name), getattr(graphql, name)
        first = await listed(acme, 2)
        assert first == await asked(acme, 2), name
        assert first.value is not None
        cursor = first.value["next_cursor"]  # either API's cursor, for either API
        last = await listed(acme, 2, cursor)
        assert last == await asked(acme, 2, cursor), name
        assert last.value is not None
        assert (len(last.value[name]), last.value["next_cursor"]) == (1, None)


async def test_amounts_beyond_32_bits(api: BudgetApi, cluster: Cluster) -> None:
    acme = cluster.keys.headers("acme")
    big = 5 * 10**12  # 50 billion in minor units: past GraphQL's Int
    assert (await api.create(acme, "big", big)).value is not None
    receipt = await api.debit(acme, "big", 2**40)
    assert receipt.value is not None
    assert receipt.value["balance_after"]["amount_minor"] == big - 2**40


async def test_refusals_are_the_same(api: BudgetApi, cluster: Cluster) -> None:
    acme = cluster.keys.headers("acme")
    await cluster.open_budget("acme", "b1", 100)
    assert (await api.debit(acme, "b1", 101)).code == "insufficient_funds"
    assert (await api.debit(acme, "b1", 1, "USD")).code == "currency_mismatch"
    assert (await api.debit(acme, "nope", 1)).code == "not_found"
    assert (await api.debit(acme, "bad id!", 1)).code == "not_found"
    assert (await api.get(acme, "nope")).code == "not_found"
    for amount, pointer in ((0, "#/amount/amount_minor"), (-5, "#/amount/amount_minor")):
        outcome = await api.debit(acme, "b1", amount)
        assert outcome.code == "invalid_request"
        assert outcome.pointer == pointer
    outcome = await api.debit(acme, "b1", 1, "eur")
    assert outcome.code == "invalid_request"
    assert outcome.pointer == "#/amount/currency"
    reader = cluster.keys.headers("acme", ["budgets:read"])
    assert (await api.debit(reader, "b1", 1)).code == "forbidden"
    assert (await api.get(reader, "b1")).value is not None
    record = await budget_record(cluster.ledger, "acme", "b1")
    assert record is not None
    assert (record.balance_minor, record.version) == (100, 1)


async def test_tenants_are_isolated(api: BudgetApi, cluster: Cluster) -> None:
    await cluster.open_budget("acme", "shared", 100)
    globex = cluster.keys.headers("globex")
    assert (await api.get(globex, "shared")).code == "not_found"
    assert (await api.debit(globex, "shared", 1)).code == "not_found"
    assert await cluster.ledger.account_balance("acme", "spent:shared") == 0


async def test_idempotent_retries(api: BudgetApi, cluster: Cluster) -> None:
    acme = cluster.keys.headers("acme")
    await cluster.open_budget("acme", "b1", 100)
    first = await api.debit(acme, "b1", 40, key="k-1")
    assert first.value is not None
    assert await api.debit(acme, "b1", 40, key="k-1") == first
    assert (await api.debit(acme, "b1", 41, key="k-1")).code == "idempotency_key_reused"
    assert (await api.debit(acme, "b1", 1, key="bad key")).code == "invalid_request"
    assert await cluster.ledger.account_balance("acme", "spent:b1") == 40


async def test_burst_never_overspends(api: BudgetApi, cluster: Cluster) -> None:
    acme = cluster.keys.headers("acme")
    await cluster.open_budget("acme", "burst", 150)
    outcomes = await asyncio.gather(*(api.debit(acme, "burst", 1) for _ in range(250)))
    assert Counter(o.code for o in outcomes) == {None: 150, "insufficient_funds": 100}
    record = await budget_record(cluster.ledger, "acme", "burst")
    assert record is not None
    assert record.balance_minor == 0
    assert await cluster.ledger.entries_total("acme") == 0


async def test_graphql_needs_a_token(cluster: Cluster) -> None:
    async with cluster.client.post("/graphql", json={"query": "{ __typename }"}) as r:
        assert r.status == 401
        assert r.content_type == "application/problem+json"


async def test_graphql_bodies_it_cannot_read_get_problem_details(cluster: Cluster) -> None:
    """Found by fuzzing /graphql: strawberry answered these in plain text; a number of
    5,000 digits (a ValueError, not a JSONDecodeError) and a body that is JSON but not
    an object or a list were internal errors."""
    headers = cluster.keys.headers("acme")
    query = b'{"query": "{ fxRates { __typename } }", "variables": '
    for body, content_type, status, code in (
        (b"{not json", "application/json", 400, "malformed_body"),
        (b"", "application/json", 400, "malformed_body"),
        (b"[]", "application/json", 400, "malformed_body"),
        (b"null", "application/json", 400, "malformed_body"),
        (b'"{ fxRates { __typename } }"', "application/json", 400, "malformed_body"),
        (b'{"query": 5}', "application/json", 400, "malformed_body"),
        (query + b"[]}", "application/json", 400, "malformed_body"),
        (query + b'{"a": ' + b"9" * 5_000 + b"}}", "application/json", 400, "malformed_body"),
        (b"query=1", "application/x-www-form-urlencoded", 415, "unsupported_media_type"),
        (query + b"{}}", "text/plain", 415, "unsupported_media_type"),
    ):
        sent = {**headers, "Content-Type": content_type}
        async with cluster.client.post("/graphql", data=body, headers=sent) as r:
            answer = await r.json(content_type=None)
            assert (r.status, r.content_type) == (status, "application/problem+json"), body
            assert (answer["status"], answer["code"]) == (status, code), body
            assert answer["instance"] == "/graphql"


async def test_graphql_minor_units_are_ascii_digits(cluster: Cluster) -> None:
    """Found by the GraphQL fuzzer: ``MinorUnits`` took whatever Python's int() takes
    ("1_000", " 12 ", Arabic-Indic digits), and refused 5,000 digits with Python's own
    advice (sys.set_int_max_str_digits) in the message."""
    await cluster.open_budget("acme", "b1", 100)
    query = (
        'mutation($a: MinorUnits!) { debitBudget(budgetId: "b1", input: {amount:'
        ' {amountMinor: $a, currency: "EUR"}}) { __typename } }'
    )
    headers = cluster.keys.headers("acme")
    for amount in ("1_0", " 12 ", "\u0661\u0662", "9" * 5_000, "1.5", 1.5, True, "", "-"):
        body = {"query": query, "variables": {"a": amount}}
        async with cluster.client.post("/graphql", json=body, headers=headers) as r:
            answer = await r.json()
        assert r.status == 200
        assert answer["data"] is None, amount
        [error] = answer["errors"]
        assert "MinorUnits is an integer" in error["message"], error
        assert "sys." not in error["message"]
    for amount in ("12", 10):
        body = {"query": query, "variables": {"a": amount}}
        async with cluster.client.post("/graphql", json=body, headers=headers) as r:
            assert (await r.json())["data"] == {"debitBudget": {"__typename": "Debit"}}
    assert await cluster.ledger.account_balance("acme", "budget:b1") == 78


async def test_points_issued_from_a_budget(api: BudgetApi, cluster: Cluster) -> None:
    acme = cluster.keys.headers("acme")
    await cluster.open_budget("acme", "spot", 10_000)
    issued = await api.issue(acme, "spot", "ann@acme.example", 500)
    assert issued.value is not None
    assert issued.value["id"].startswith("rwd_")
    assert issued.value["cost"] == {"amount_minor": 500, "currency": "EUR"}
    assert issued.value["budget_balance_after"] == {"amount_minor": 9_500, "currency": "EUR"}
    assert issued.value["wallet_points_after"] == 500
    again = await api.issue(acme, "spot", "ann@acme.example", 250)
    assert again.value is not None
    assert again.value["wallet_points_after"] == 750
    wallet = await api.wallet(acme, "ann@acme.example")
    assert wallet.value == {"person_id": "ann@acme.example", "points": 750, "version": 2}
    assert (await api.wallet(acme, "nobody")).value == {
        "person_id": "nobody",
        "points": 0,
        "version": 0,
    }
    ledger = cluster.ledger
    assert await ledger.account_balance("acme", "budget:spot") == 9_250
    assert await ledger.account_balance("acme", "points:EUR") == 750
    assert await ledger.account_balance("acme", "wallet:ann@acme.example") == 750
    assert await ledger.entries_total("acme") == 0


async def test_points_refusals(api: BudgetApi, cluster: Cluster) -> None:
    acme = cluster.keys.headers("acme")
    await cluster.open_budget("acme", "small", 100)
    assert (await api.issue(acme, "small", "ann", 101)).code == "insufficient_funds"
    assert (await api.issue(acme, "nope", "ann", 1)).code == "not_found"
    zero = await api.issue(acme, "small", "ann", 0)
    assert zero.code == "invalid_request"
    assert zero.pointer == "#/points"
    assert (await api.issue(acme, "small", "bad person!", 1)).code == "invalid_request"
    no_scope = cluster.keys.headers("acme", ["budgets:read"])
    assert (await api.issue(no_scope, "small", "ann", 1)).code == "forbidden"
    assert (await api.wallet(no_scope, "ann")).code == "forbidden"
    assert (await api.wallet(cluster.keys.headers("globex"), "ann")).value == {
        "person_id": "ann",
        "points": 0,
        "version": 0,
    }
    assert await cluster.ledger.account_balance("acme", "wallet:ann") == 0
    first = await api.issue(acme, "small", "ann", 10, key="r-1")
    assert await api.issue(acme, "small", "ann", 10, key="r-1") == first
    assert (await api.issue(acme, "small", "bob", 10, key="r-1")).code == "idempotency_key_reused"
    assert await cluster.ledger.account_balance("acme", "wallet:ann") == 10


async def test_points_burst_never_overspends(api: BudgetApi, cluster: Cluster) -> None:
    acme = cluster.keys.headers("acme")
    await cluster.open_budget("acme", "pool", 200)
    people = [f"p{i}" for i in range(100)]
    outcomes = await asyncio.gather(
        *(api.issue(acme, "pool", people[i % 100], 1) for i in range(300))
    )
    assert Counter(o.code for o in outcomes) == {None: 200, "insufficient_funds": 100}
    wallets = [await cluster.ledger.account_balance("acme", f"wallet:{p}") for p in people]
    assert sum(wallets) == 200
    assert await cluster.ledger.account_balance("acme", "budget:pool") == 0
    assert await cluster.ledger.entries_total("acme") == 0


async def test_a_budget_below_its_threshold_raises_low_balance_once(
    api: BudgetApi, cluster: Cluster
) -> None:
    acme = cluster.keys.headers("acme")
    assert (await api.create(acme, "q1", 1000)).value is not None
    updated = (await api.update(acme, "q1", {"name": "Q1 bonus", "low_balance_minor": 500})).value
    assert updated is not None
    assert (updated["name"], updated["low_balance_minor"], updated["version"]) == (
        "Q1 bonus",
        500,
        2,
    )
    for amount in (400, 200, 100):  # 600, then 400 (below 500: the event), then 300
        assert (await api.debit(acme, "q1", amount)).value is not None
    too_low = await api.update(acme, "q1", {"cap_minor": 299})
    assert too_low.code == "invalid_request"
    bad = await api.update(acme, "q1", {"low_balance_minor": -1})
    assert (bad.code, bad.pointer) == ("invalid_request", "#/low_balance_minor")
    assert (await api.update(acme, "nope", {"name": "x"})).code == "not_found"
    reader = cluster.keys.headers("acme", ["budgets:read"])
    assert (await api.update(reader, "q1", {"name": "x"})).code == "forbidden"
    assert (await api.update(cluster.keys.headers("globex"), "q1", {"name": "x"})).code == (
        "not_found"
    )
    read = (await api.get(acme, "q1")).value
    assert read is not None
    assert (read["name"], read["balance"]["amount_minor"], read["cap_minor"]) == (
        "Q1 bonus",
        300,
        None,
    )
    await outbox_drained(cluster.ledger)
    low = await stream_messages(cluster.bus, subjects.event("acme", "budget", "low_balance"))
    assert [e["data"] for e in low] == [
        {
            "budget_id": "q1",
            "balance": {"amount_minor": 400, "currency": "EUR"},
            "threshold": {"amount_minor": 500, "currency": "EUR"},
            "held": {"amount_minor": 0, "currency": "EUR"},
        }
    ]
    changes = await stream_messages(cluster.bus, subjects.event("acme", "budget", "updated"))
    assert [e["data"] for e in changes] == [
        {"budget_id": "q1", "name": "Q1 bonus", "cap_minor": 0, "low_balance_minor": 500}
    ]


NO_WEBHOOK = "ep_" + "0" * 32


async def test_webhooks_are_made_read_changed_and_removed(api: BudgetApi, cluster: Cluster) -> None:
    acme = cluster.keys.headers("acme")
    body = {"url": "https://hooks.acme.example/in", "event_types": ["perkbus.budget.*"]}
    made = await api.webhook_create(acme, {**body, "description": "Budgets"}, key="w-1")
    hook = made.value
    assert hook is not None
    assert hook["id"].startswith("ep_")
    assert hook["secret"].startswith("whsec_")
    shown = ("id", "secret", "created_at", "private_aggregates")
    assert {k: v for k, v in hook.items() if k not in shown} == {
        "url": "https://hooks.acme.example/in",
        "description": "Budgets",
        "event_types": ["perkbus.budget.*"],
        "enabled": True,
        "updated_at": hook["created_at"],
        "old_secret_expires_at": None,
        "disabled_reason": None,  # disabled by a person, or not at all
        "disabled_at": None,
    }
    seen = {**hook, "secret": None}  # shown once
    assert (await api.webhooks(acme)).value == {"webhooks": [seen]}
    assert (await api.webhook(acme, hook["id"])).value == seen
    changed = await api.webhook_update(acme, hook["id"], {"description": "All", "enabled": False})
    assert changed.value is not None
    seen |= {"description": "All", "enabled": False, "updated_at": changed.value["updated_at"]}
    assert changed.value == seen
    kept = (await api.webhook_update(acme, hook["id"], {"url": None, "event_types": None})).value
    assert kept is not None
    seen["updated_at"] = kept["updated_at"]
    assert kept == seen  # null: unchanged
    rotated = await api.webhook_rotate(acme, hook["id"], 0)
    assert rotated.value is not None
    assert rotated.value["secret"].startswith("whsec_")
    assert rotated.value["secret"] != hook["secret"]
    assert rotated.value["old_secret_expires_at"] is None
    for keep in (3600, None):  # no body (REST), no argument (GraphQL): a day
        during = (await api.webhook_rotate(acme, hook["id"], keep)).value
        assert during is not None
        assert during["old_secret_expires_at"] is not None
        assert (await api.webhook(acme, hook["id"])).value == seen | {
            "updated_at": during["updated_at"],
            "old_secret_expires_at": during["old_secret_expires_at"],
        }
    removed = await api.webhook_delete(acme, hook["id"])
    assert removed.value is not None
    assert (removed.value["id"], removed.value["secret"]) == (hook["id"], None)
    assert (await api.webhook(acme, hook["id"])).code == "not_found"
    assert (await api.webhook_delete(acme, hook["id"])).code == "not_found"
    assert (await api.webhooks(acme)).value == {"webhooks": []}


async def test_webhook_refusals_are_the_same(api: BudgetApi, cluster: Cluster) -> None:
    acme = cluster.keys.headers("acme")
    url = "https://hooks.acme.example/in"
    for body, pointer in (
        ({"url": "ftp://hooks.acme.example/in"}, "#/url"),
        ({"url": url, "event_types": ["order.fulfilled"]}, "#/event_types/0"),
        ({"url": url, "description": "a\nb"}, "#/description"),
    ):
        refused = await api.webhook_create(acme, body)
        assert (refused.code, refused.pointer) == ("invalid_request", pointer), body
    unknown = await api.webhook_create(acme, {"url": url, "event_types": ["perkbus.no.such"]})
    assert unknown.code == "invalid_request"
    hook = (await api.webhook_create(acme, {"url": url})).value
    assert hook is not None
    assert (await api.webhook_create(acme, {"url": url}, key="bad key")).code == "invalid_request"
    bad = await api.webhook_update(acme, hook["id"], {"url": "https://a b"})
    assert (bad.code, bad.pointer) == ("invalid_request", "#/url")
    for keep in (-1, 7 * 86_400 + 1):
        bad = await api.webhook_rotate(acme, hook["id"], keep)
        assert (bad.code, bad.pointer) == ("invalid_request", "#/keep_old_s")
    for webhook_id in (NO_WEBHOOK, "nope", "bad id!"):
        assert (await api.webhook(acme, webhook_id)).code == "not_found"
        assert (await api.webhook_update(acme, webhook_id, {"enabled": False})).code == (
            "not_found"
        )
        assert (await api.webhook_rotate(acme, webhook_id)).code == "not_found"
        assert (await api.webhook_delete(acme, webhook_id)).code == "not_found"
    globex = cluster.keys.headers("globex")
    assert (await api.webhook(globex, hook["id"])).code == "not_found"
    assert (await api.webhook_update(globex, hook["id"], {"enabled": False})).code == "not_found"
    assert (await api.webhook_rotate(globex, hook["id"])).code == "not_found"
    assert (await api.webhook_delete(globex, hook["id"])).code == "not_found"
    assert (await api.webhooks(globex)).value == {"webhooks": []}
    for token in (
        {"roles": ["auditor"]},
        {"roles": ["admin"], "grants": ["budget:b1"]},
        {"scopes": ["events:read"]},
    ):
        who = cluster.keys.headers(
            "acme", token.get("scopes"), token.get("roles"), grants=token.get("grants")
        )
        assert (await api.webhooks(who)).code == "forbidden", token
        assert (await api.webhook(who, hook["id"])).code == "forbidden", token
        assert (await api.webhook(who, "nope")).code == "forbidden", token
        assert (await api.webhook_create(who, {"url": url})).code == "forbidden", token
        assert (await api.webhook_rotate(who, hook["id"])).code == "forbidden", token
        assert (await api.webhook_delete(who, hook["id"])).code == "forbidden", token
        assert (await api.webhook_test(who, hook["id"])).code == "forbidden", token
        assert (await api.webhook_deliveries(who, hook["id"])).code == "forbidden", token
    listed = await api.webhooks(acme)
    assert listed.value == {"webhooks": [{**hook, "secret": None}]}


@asynccontextmanager
async def relay(cluster: Cluster, tmp_path: Path) -> AsyncIterator[None]:
    """The webhook relay, its deliveries in SQLite (the suite runs on that ledger only; the
    webhook stores are held equal by their contract suite)."""
    store = SqliteWebhookStore(str(tmp_path / "webhooks.sqlite3"))
    try:
        async with webhook_relay(cluster.bus, store):
            yield
    finally:
        await store.close()


async def until(read: Any, ready: Any) -> Outcome:
    for _ in range(300):
        outcome: Outcome = await read()
        if ready(outcome):
            return outcome
        await asyncio.sleep(0.05)
    raise AssertionError(f"never got there: {outcome}")


def retried(first: Outcome, again: Outcome) -> tuple[str | None, str | None, bool]:
    """A call's code, its retry's, and whether the retry names what the first made."""
    made, named = ((o.value or {}).get("id") for o in (first, again))
    return first.code, again.code, made is not None and made == named


async def keyed_webhook_calls(
    api: BudgetApi, headers: dict[str, str], url: str
) -> list[tuple[str | None, str | None, bool]]:
    """Each keyed webhook call retried with its key; a create, then another under its key."""
    body = {"url": url, "event_types": ["perkbus.budget.low_balance"]}
    made = await api.webhook_create(headers, body, key="create")
    assert made.value is not None
    h = made.value["id"]
    got = [retried(made, await api.webhook_create(headers, body, key="create"))]
    other = await api.webhook_create(headers, {**body, "description": "two"}, key="create")
    got.append((other.code, None, False))
    change = {"description": "B"}
    first = await api.webhook_update(headers, h, change, key="update")
    got.append(retried(first, await api.webhook_update(headers, h, change, key="update")))
    first = await api.webhook_test(headers, h, key="test")
    got.append(retried(first, await api.webhook_test(headers, h, key="test")))
    page = (await api.webhook_deliveries(headers, h, limit=1)).value
    assert page is not None
    d = page["deliveries"][0]["id"]
    first = await api.webhook_redeliver(headers, h, d, key="again")
    got.append(retried(first, await api.webhook_redeliver(headers, h, d, key="again")))
    got.append(((await api.webhook_test(headers, h, key="bad key")).code, None, False))
    got.append(retried(await api.webhook_delete(headers, h, key="delete"), made))
    return got


async def test_both_retry_keyed_webhook_calls_alike(cluster: Cluster, tmp_path: Path) -> None:
    """The same keyed calls through either API (each in a tenant of its own, so that the
    keys are not shared) end alike: each retry as the first, or refused the same way."""
    async with relay(cluster, tmp_path), receiver() as box:
        rest = Rest(cluster.client), cluster.keys.headers("acme")
        graphql = GraphQL(cluster.client), cluster.keys.headers("globex")
        by_rest = await keyed_webhook_calls(*rest, box.url)
        assert by_rest == await keyed_webhook_calls(*graphql, box.url)


async def test_both_read_deliveries_and_send_them_again_the_same(
    cluster: Cluster, tmp_path: Path
) -> None:
    rest, graphql = Rest(cluster.client), GraphQL(cluster.client)
    acme, globex = cluster.keys.headers("acme"), cluster.keys.headers("globex")
    async with relay(cluster, tmp_path), receiver() as box:
        body = {"url": box.url, "event_types": ["perkbus.budget.created"]}
        hook = (await rest.webhook_create(acme, body)).value
        assert hook is not None
        h = hook["id"]
        sent = [await api.webhook_test(acme, h) for api in (rest, graphql, rest)]
        for test in sent:
            assert test.value is not None
            assert (test.value["webhook_id"], test.value["event_type"]) == (
                h,
                "perkbus.webhook.test",
            )
            assert (test.value["status"], test.value["attempts"]) == ("pending", 0)
        await box.wait_for(3)
        listed = await until(
            lambda: rest.webhook_deliveries(acme, h, status="delivered"),
            lambda o: len(o.value["deliveries"]) == 3,
        )
        assert listed.value is not None
        newest_first = [d["id"] for d in reversed([t.value for t in sent if t.value])]
        assert [d["id"] for d in listed.value["deliveries"]] == newest_first
        assert listed == await graphql.webhook_deliveries(acme, h, status="delivered")
        # the same pages, either API's cursor for either API
        first = await rest.webhook_deliveries(acme, h, limit=2)
        assert first == await graphql.webhook_deliveries(acme, h, limit=2)
        assert first.value is not None
        cursor = first.value["next_cursor"]
        last = await graphql.webhook_deliveries(acme, h, limit=2, cursor=cursor)
        assert last == await rest.webhook_deliveries(acme, h, limit=2, cursor=cursor)
        assert last.value is not None
        assert (len(last.value["deliveries"]), last.value["next_cursor"]) == (1, None)
        for status in ("failed", "pending", "cancelled"):
            empty = await graphql.webhook_deliveries(acme, h, status=status)
            assert empty == await rest.webhook_deliveries(acme, h, status=status)
            assert empty.value == {"deliveries": [], "next_cursor": None}
        # one delivery: its attempts and its event, as sent
        d = newest_first[-1]
        detail = await rest.webhook_delivery(acme, h, d)
        assert detail == await graphql.webhook_delivery(acme, h, d)
        assert detail.value is not None
        assert [a["status_code"] for a in detail.value["attempts"]] == [200]
        assert detail.value["event"] == box.received[0].event
        assert detail.value["event"]["data"]["endpoint_id"] == h
        # sent again, once, by either API
        for api, n in ((graphql, 4), (rest, 5)):
            again = await api.webhook_redeliver(acme, h, d)
            assert again.value is not None
            assert (again.value["id"], again.value["status"]) == (d, "pending")
            await box.wait_for(n)
        done = await until(
            lambda: graphql.webhook_delivery(acme, h, d),
            lambda o: o.value["delivery"]["attempts"] == 3,
        )
        assert done == await rest.webhook_delivery(acme, h, d)
        # refused alike
        other = (await graphql.webhook_create(acme, {"url": box.url, "enabled": False})).value
        assert other is not None
        disabled = await graphql.webhook_test(acme, other["id"])
        assert disabled == await rest.webhook_test(acme, other["id"])
        assert disabled.code == "invalid_request"
        for api in (rest, graphql):
            for who, webhook_id, delivery_id in (
                (acme, other["id"], d),  # another endpoint's delivery
                (acme, h, 10**17),
                (acme, NO_WEBHOOK, d),
                (globex, h, d),
            ):
                found = await api.webhook_delivery(who, webhook_id, delivery_id)
                assert found.code == "not_found", (api.name, webhook_id, delivery_id)
                again = await api.webhook_redeliver(who, webhook_id, delivery_id)
                assert again.code == "not_found", (api.name, webhook_id, delivery_id)
            assert (await api.webhook_test(globex, h)).code == "not_found"
            assert (await api.webhook_test(acme, NO_WEBHOOK)).code == "not_found"
            # another tenant's endpoint is none of the caller's: not found, as when read
            listed = await api.webhook_deliveries(globex, h)
            assert listed.code == "not_found", (api.name, listed)
            bad = await api.webhook_deliveries(acme, h, status="lost")
            assert (bad.code, bad.pointer) == ("invalid_request", "#/status")
        assert len(box.received) == 5
