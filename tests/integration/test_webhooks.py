"""Webhooks end to end: endpoints set through the API, events of the tenant's own ledger
delivered by the relay to a real HTTP receiver, signed as Standard Webhooks says (checked
with the ``standardwebhooks`` library, not our own code), retried, logged, sent again."""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import AsyncExitStack, asynccontextmanager
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from standardwebhooks.webhooks import Webhook, WebhookVerificationError

from actors.webhook_relay import WebhookRelay
from bus.errors import ErrorCode
from bus.messages import Err, Ok, Principal
from bus.messages.webhooks import DisableFailing
from storage.mysql_webhooks import MysqlWebhookStore
from storage.sqlite_webhooks import SqliteWebhookStore
from storage.webhook_ports import WebhookStore
from tests.conftest import Cluster
from tests.support import webhook_relay
from tests.webhook_receiver import Receiver, receiver

#: Above the ledger (the relay's stores have their contract suite; two tests run the relay on
#: each ledger's store): SQLite only (ADR 30).
pytestmark = pytest.mark.ledgers("sqlite")

FAST = (0.2, 0.2)
_keys = itertools.count()

StartRelay = Callable[[Sequence[float]], Awaitable[WebhookRelay]]


@pytest.fixture
async def start_relay(
    cluster: Cluster, ledger_url: str, tmp_path: Path
) -> AsyncIterator[StartRelay]:
    """Starts the relay (once per test) with a retry schedule; its deliveries are kept
    where ``perkbus webhooks`` keeps them beside this ledger."""
    async with AsyncExitStack() as stack:

        async def start(schedule: Sequence[float]) -> WebhookRelay:
            store: WebhookStore = (
                SqliteWebhookStore(str(tmp_path / "webhooks.sqlite3"))
                if ledger_url.startswith("sqlite")
                else MysqlWebhookStore(ledger_url)
            )
            stack.push_async_callback(store.close)
            return await stack.enter_async_context(webhook_relay(cluster.bus, store, schedule))

        yield start


@asynccontextmanager
async def endpoint(
    cluster: Cluster, tenant: str, **fields: Any
) -> AsyncIterator[tuple[Receiver, dict[str, Any]]]:
    async with receiver() as box:
        body = {"url": box.url, **fields}
        status, created = await send(cluster, "POST", "/api/v1/webhooks", tenant, body)
        assert status == 201, created
        yield box, created


async def send(
    cluster: Cluster, method: str, path: str, tenant: str, body: Any = None, **token: Any
) -> tuple[int, Any]:
    headers = {**cluster.keys.headers(tenant, **token), "Idempotency-Key": f"k-{next(_keys)}"}
    async with cluster.client.request(method, path, json=body, headers=headers) as r:
        return r.status, await r.json(content_type=None)


async def debit(cluster: Cluster, tenant: str, budget: str, amount: int, key: str) -> None:
    async with cluster.client.post(
        f"/api/v1/budgets/{budget}/debits",
        json={"amount": {"amount_minor": amount, "currency": "EUR"}},
        headers={**cluster.keys.headers(tenant), "Idempotency-Key": key},
    ) as r:
        assert r.status == 201, await r.text()


async def deliveries_until(
    cluster: Cluster, tenant: str, webhook: str, ready: Callable[[list[Any]], bool]
) -> list[Any]:
    for _ in range(300):
        status, page = await send(
            cluster, "GET", f"/api/v1/webhooks/{webhook}/deliveries?limit=100", tenant
        )
        assert status == 200, page
        if ready(page["deliveries"]):
            return list(page["deliveries"])
        await asyncio.sleep(0.05)
    raise AssertionError(f"deliveries never got there: {page}")


async def fanned_out(cluster: Cluster, relay: WebhookRelay) -> None:
    """Once the relay has fanned out every event on the stream so far."""
    info = await cluster.bus.js.stream_info("PB_EVENTS")
    for _ in range(300):
        if await relay.store.last_sequence() >= info.state.last_seq:
            return
        await asyncio.sleep(0.05)
    raise AssertionError("the relay never read the stream to its end")


def verified(secret: str, received: Any) -> Any:
    """The event, verified by an independent Standard Webhooks implementation."""
    return Webhook(secret).verify(received.body, received.headers)


@pytest.mark.ledgers("sqlite", "mysql")  # the relay on each ledger's store
async def test_a_tenants_events_reach_its_endpoint_signed_and_no_other_tenants(
    cluster: Cluster, start_relay: StartRelay
) -> None:
    await start_relay(FAST)
    await cluster.open_budget("acme", "b1", 10_000)
    await cluster.open_budget("globex", "g1", 50_000)
    async with endpoint(cluster, "acme", event_types=["perkbus.budget.debited"]) as (box, hook):
        assert hook["secret"].startswith("whsec_")
        assert hook["event_types"] == ["perkbus.budget.debited"]
        await debit(cluster, "globex", "g1", 700, "g-1")  # another tenant's: never sent
        await debit(cluster, "acme", "b1", 250, "a-1")
        [got] = await box.wait_for(1)
        await asyncio.sleep(0.5)  # anything else that would come, comes
        assert len(box.received) == 1
        event = verified(hook["secret"], got)
        assert event["type"] == "perkbus.budget.debited"
        assert event["tenant"] == "acme"
        assert event["data"]["amount"] == {"amount_minor": 250, "currency": "EUR"}
        assert got.headers["webhook-id"] == event["id"]
        assert got.headers["Content-Type"] == "application/json"
        with pytest.raises(WebhookVerificationError):  # another secret does not verify
            Webhook("whsec_" + "A" * 43 + "=").verify(got.body, got.headers)
        [delivery] = await deliveries_until(
            cluster, "acme", hook["id"], lambda d: bool(d) and d[0]["status"] == "delivered"
        )
        assert delivery["event_id"] == event["id"]
        assert delivery["attempts"] == 1
        assert delivery["next_attempt_at"] is None
        # globex cannot see acme's endpoint or its deliveries
        for path in (f"/api/v1/webhooks/{hook['id']}", f"/api/v1/webhooks/{hook['id']}/deliveries"):
            status, problem = await send(cluster, "GET", path, "globex")
            assert (status, problem["code"]) == (404, "not_found"), problem
        status, problem = await send(
            cluster, "GET", f"/api/v1/webhooks/{hook['id']}/deliveries/{delivery['id']}", "globex"
        )
        assert status == 404, problem


async def test_a_failing_endpoint_is_retried_until_it_answers_and_each_attempt_is_logged(
    cluster: Cluster, start_relay: StartRelay
) -> None:
    await start_relay(FAST)
    await cluster.open_budget("acme", "b1", 10_000)
    async with endpoint(cluster, "acme", event_types=["perkbus.budget.*"]) as (box, hook):
        box.statuses.extend([500, 503])
        await debit(cluster, "acme", "b1", 100, "a-1")
        first, second, third = await box.wait_for(3)
        assert (
            first.headers["webhook-id"]
            == second.headers["webhook-id"]
            == third.headers["webhook-id"]
        )
        assert first.body == second.body == third.body
        [delivery] = await deliveries_until(
            cluster, "acme", hook["id"], lambda d: bool(d) and d[0]["status"] == "delivered"
        )
        assert delivery["attempts"] == 3
        assert delivery["last_status_code"] == 200
        status, detail = await send(
            cluster, "GET", f"/api/v1/webhooks/{hook['id']}/deliveries/{delivery['id']}", "acme"
        )
        assert status == 200, detail
        assert [a["status_code"] for a in detail["attempts"]] == [500, 503, 200]
        assert [a["n"] for a in detail["attempts"]] == [1, 2, 3]
        assert detail["attempts"][0]["error"] == "the endpoint answered 500"
        assert detail["attempts"][0]["response"] == "answered 500"
        assert detail["event"]["type"] == "perkbus.budget.debited"


async def webhook_until(
    cluster: Cluster, tenant: str, webhook: str, ready: Callable[[Any], bool]
) -> Any:
    for _ in range(300):
        status, found = await send(cluster, "GET", f"/api/v1/webhooks/{webhook}", tenant)
        assert status == 200, found
        if ready(found):
            return found
        await asyncio.sleep(0.05)
    raise AssertionError(f"the endpoint never got there: {found}")


@pytest.mark.ledgers("sqlite", "mysql")  # the relay on each ledger's store
async def test_when_retries_run_out_the_endpoint_is_disabled_and_redeliver_sends_once_more(
    cluster: Cluster, start_relay: StartRelay
) -> None:
    await start_relay((0.1,))
    await cluster.open_budget("acme", "b1", 10_000)
    async with endpoint(cluster, "acme", event_types=["perkbus.budget.debited"]) as (box, hook):
        box.statuses.extend([500, 500, 500])
        await debit(cluster, "acme", "b1", 100, "a-1")
        [failed] = await deliveries_until(
            cluster, "acme", hook["id"], lambda d: bool(d) and d[0]["status"] == "failed"
        )
        assert failed["attempts"] == 2
        assert len(box.received) == 2
        # the whole schedule failed and nothing was delivered meanwhile: disabled, and why
        off = await webhook_until(cluster, "acme", hook["id"], lambda w: not w["enabled"])
        assert off["disabled_reason"] == "failing"
        assert off["disabled_at"] is not None
        await debit(cluster, "acme", "b1", 100, "a-2")  # while disabled: not sent
        status, on = await send(
            cluster, "PATCH", f"/api/v1/webhooks/{hook['id']}", "acme", {"enabled": True}
        )
        assert status == 200, on
        assert (on["enabled"], on["disabled_reason"], on["disabled_at"]) == (True, None, None)
        status, page = await send(
            cluster, "GET", f"/api/v1/webhooks/{hook['id']}/deliveries?status=failed", "acme"
        )
        assert [d["id"] for d in page["deliveries"]] == [failed["id"]]
        path = f"/api/v1/webhooks/{hook['id']}/deliveries/{failed['id']}/redeliver"
        status, again = await send(cluster, "POST", path, "acme")
        assert status == 202, again
        assert again["status"] == "pending"
        await box.wait_for(3)  # one more: it fails (500) and stays failed, no retry
        await deliveries_until(
            cluster,
            "acme",
            hook["id"],
            lambda d: d[0]["attempts"] == 3 and d[0]["status"] == "failed",
        )
        # a redelivery is one attempt, not a schedule: the endpoint stays enabled
        await asyncio.sleep(0.3)
        status, still = await send(cluster, "GET", f"/api/v1/webhooks/{hook['id']}", "acme")
        assert (status, still["enabled"]) == (200, True)
        status, again = await send(cluster, "POST", path, "acme")
        assert status == 202
        [done] = await deliveries_until(
            cluster, "acme", hook["id"], lambda d: d[0]["status"] == "delivered"
        )
        assert done["attempts"] == 4
        assert len(box.received) == 4
    status, audit = await send(cluster, "GET", "/api/v1/audit?limit=100", "acme")
    assert ("webhooks.endpoint.disable_failing", hook["id"], "perkbus:webhook-relay") in {
        (e["action"], e["target"], e["actor"]) for e in audit["entries"]
    }


async def test_an_endpoint_that_delivered_while_one_delivery_failed_stays_enabled(
    cluster: Cluster, start_relay: StartRelay
) -> None:
    await start_relay((1.0,))
    await cluster.open_budget("acme", "b1", 10_000)
    async with endpoint(cluster, "acme", event_types=["perkbus.budget.debited"]) as (box, hook):
        box.statuses.extend([500, 200, 500])
        await debit(cluster, "acme", "b1", 100, "a-1")  # fails now and at its retry …
        await box.wait_for(1)
        await debit(cluster, "acme", "b1", 100, "a-2")  # … while this one gets through
        await deliveries_until(
            cluster,
            "acme",
            hook["id"],
            lambda d: sorted(x["status"] for x in d) == ["delivered", "failed"],
        )
        await asyncio.sleep(0.3)
        status, still = await send(cluster, "GET", f"/api/v1/webhooks/{hook['id']}", "acme")
        assert (status, still["enabled"], still["disabled_reason"]) == (200, True, None)


async def test_a_failing_test_event_leaves_the_endpoint_enabled_and_a_failing_event_does_not(
    cluster: Cluster, start_relay: StartRelay
) -> None:
    """With no retries at all, one failed attempt is the whole schedule: an event's
    disables the endpoint, a test event's (someone is setting it up) does not."""
    await start_relay(())
    await cluster.open_budget("acme", "b1", 10_000)
    async with endpoint(cluster, "acme", event_types=["perkbus.budget.debited"]) as (box, hook):
        box.statuses.extend([500, 500])
        status, _ = await send(cluster, "POST", f"/api/v1/webhooks/{hook['id']}/test", "acme")
        assert status == 202
        await deliveries_until(
            cluster, "acme", hook["id"], lambda d: bool(d) and d[0]["status"] == "failed"
        )
        await asyncio.sleep(0.3)
        status, still = await send(cluster, "GET", f"/api/v1/webhooks/{hook['id']}", "acme")
        assert (status, still["enabled"]) == (200, True)
        await debit(cluster, "acme", "b1", 100, "a-1")
        off = await webhook_until(cluster, "acme", hook["id"], lambda w: not w["enabled"])
        assert off["disabled_reason"] == "failing"


async def test_a_test_event_and_a_rotated_secret_sign_with_both_secrets_for_a_while(
    cluster: Cluster, start_relay: StartRelay
) -> None:
    await start_relay(FAST)
    async with endpoint(cluster, "acme", event_types=["perkbus.budget.created"]) as (box, hook):
        status, delivery = await send(
            cluster, "POST", f"/api/v1/webhooks/{hook['id']}/test", "acme"
        )
        assert status == 202, delivery
        [got] = await box.wait_for(1)
        event = verified(hook["secret"], got)
        assert event["type"] == "perkbus.webhook.test"
        assert event["data"]["endpoint_id"] == hook["id"]
        path = f"/api/v1/webhooks/{hook['id']}/secret"
        status, rotated = await send(cluster, "POST", path, "acme", {"keep_old_s": 3600})
        assert status == 200, rotated
        assert rotated["secret"] != hook["secret"]
        assert rotated["old_secret_expires_at"] is not None
        status, _ = await send(cluster, "POST", f"/api/v1/webhooks/{hook['id']}/test", "acme")
        [_, during] = await box.wait_for(2)
        assert len(during.headers["webhook-signature"].split(" ")) == 2
        verified(rotated["secret"], during)
        verified(hook["secret"], during)  # receivers that still have the old one
        status, final = await send(cluster, "POST", path, "acme", {"keep_old_s": 0})
        assert final["old_secret_expires_at"] is None
        status, _ = await send(cluster, "POST", f"/api/v1/webhooks/{hook['id']}/test", "acme")
        [_, _, after] = await box.wait_for(3)
        verified(final["secret"], after)
        for old in (hook["secret"], rotated["secret"]):
            with pytest.raises(WebhookVerificationError):
                verified(old, after)
        status, listed = await send(cluster, "GET", "/api/v1/webhooks", "acme")
        assert [w["secret"] for w in listed["webhooks"]] == [None]  # never shown again


async def test_deleting_or_disabling_an_endpoint_cancels_its_pending_deliveries(
    cluster: Cluster, start_relay: StartRelay
) -> None:
    relay = await start_relay((60.0,))
    await cluster.open_budget("acme", "b1", 10_000)
    async with endpoint(cluster, "acme", event_types=["perkbus.budget.debited"]) as (box, hook):
        box.statuses.extend([500])
        await debit(cluster, "acme", "b1", 100, "a-1")
        await deliveries_until(
            cluster, "acme", hook["id"], lambda d: bool(d) and d[0]["attempts"] == 1
        )
        status, changed = await send(
            cluster, "PATCH", f"/api/v1/webhooks/{hook['id']}", "acme", {"enabled": False}
        )
        assert status == 200, changed
        assert changed["enabled"] is False
        [cancelled] = await deliveries_until(
            cluster, "acme", hook["id"], lambda d: d[0]["status"] == "cancelled"
        )
        assert cancelled["next_attempt_at"] is None
        await debit(cluster, "acme", "b1", 100, "a-2")  # while disabled: not queued
        await fanned_out(cluster, relay)
        status, _ = await send(
            cluster, "PATCH", f"/api/v1/webhooks/{hook['id']}", "acme", {"enabled": True}
        )
        await debit(cluster, "acme", "b1", 100, "a-3")
        await deliveries_until(
            cluster,
            "acme",
            hook["id"],
            lambda d: [x["status"] for x in d] == ["delivered", "cancelled"],
        )
        assert len(box.received) == 2
        status, gone = await send(cluster, "DELETE", f"/api/v1/webhooks/{hook['id']}", "acme")
        assert status == 200, gone
        status, problem = await send(cluster, "GET", f"/api/v1/webhooks/{hook['id']}", "acme")
        assert status == 404, problem


async def test_people_events_go_only_to_endpoints_set_by_someone_who_may_read_them(
    cluster: Cluster, start_relay: StartRelay
) -> None:
    await start_relay(FAST)
    integrator = {"roles": ["integrator"], "scopes": ["webhooks:admin", "events:read"]}
    async with receiver() as box:
        status, problem = await send(
            cluster,
            "POST",
            "/api/v1/webhooks",
            "acme",
            {"url": box.url, "event_types": ["perkbus.people.*"]},
            **integrator,
        )
        assert status == 403, problem
        status, hook = await send(
            cluster, "POST", "/api/v1/webhooks", "acme", {"url": box.url}, **integrator
        )
        assert status == 201, hook
        assert hook["private_aggregates"] == []
        status, person = await send(
            cluster,
            "POST",
            "/api/v1/people",
            "acme",
            {"id": "ana", "email": "ana@acme.example", "name": "Ana", "roles": ["end_user"]},
        )
        assert status == 201, person
        await cluster.open_budget("acme", "b1", 10_000)
        await box.wait_for(1)
        await asyncio.sleep(0.5)
        types = {r.event["type"] for r in box.received}
        assert "perkbus.budget.created" in types
        assert not [t for t in types if t.startswith("perkbus.people.")]


@pytest.mark.parametrize(
    ("body", "status", "says"),
    [
        ({"url": "ftp://example.com/x"}, 422, "url"),
        ({"url": "https://user:pw@example.com/x"}, 422, "#/url"),
        ({"url": "https://example.com/x", "event_types": ["perkbus.nothing.here"]}, 422, "no such"),
        ({"url": "https://example.com/x", "event_types": ["order.fulfilled"]}, 422, "event_types"),
        ({"url": "https://example.com/x", "secret": "mine"}, 422, "secret"),
        ({"url": "https://example.com/x", "description": "a\nb"}, 422, "description"),
    ],
)
async def test_bad_endpoints_are_refused_with_a_problem_and_nothing_is_made(
    cluster: Cluster, body: dict[str, Any], status: int, says: str
) -> None:
    got, problem = await send(cluster, "POST", "/api/v1/webhooks", "acme", body)
    assert got == status, problem
    assert says in str(problem)
    _, listed = await send(cluster, "GET", "/api/v1/webhooks", "acme")
    assert listed["webhooks"] == []


async def test_only_whole_tenant_webhook_admins_manage_webhooks(cluster: Cluster) -> None:
    body = {"url": "https://example.com/hooks"}
    for token in (
        {"roles": ["end_user"]},
        {"roles": ["auditor"]},
        {"roles": ["admin"], "grants": ["budget:b1"]},
        {"roles": ["admin"], "scopes": ["events:read"]},
    ):
        status, problem = await send(cluster, "POST", "/api/v1/webhooks", "acme", body, **token)
        assert status == 403, (token, problem)
        status, problem = await send(cluster, "GET", "/api/v1/webhooks", "acme", **token)
        assert status == 403, (token, problem)
    status, created = await send(cluster, "POST", "/api/v1/webhooks", "acme", body)
    assert status == 201, created


async def test_readyz_shows_the_relays_store_and_stays_ready_without_it(
    cluster: Cluster, start_relay: StartRelay
) -> None:
    async with cluster.client.get("/readyz") as r:
        before = await r.json()
    assert r.status == 200
    assert before["webhooks"].startswith("unavailable")
    relay = await start_relay(FAST)
    async with cluster.client.get("/readyz") as r:
        after = await r.json()
    assert r.status == 200
    assert after["webhooks"] == [
        {"name": relay.store.name, "ok": True, "detail": "", "essential": False}
    ]


async def keyed(
    cluster: Cluster, method: str, path: str, key: str, body: Any = None
) -> tuple[int, Any]:
    headers = {**cluster.keys.headers("acme"), "Idempotency-Key": key}
    async with cluster.client.request(method, path, json=body, headers=headers) as r:
        return r.status, await r.json(content_type=None)


async def test_a_retry_with_the_same_key_makes_sends_or_resends_once(
    cluster: Cluster, start_relay: StartRelay
) -> None:
    await start_relay(FAST)
    async with receiver() as box:
        body = {"url": box.url, "event_types": ["perkbus.budget.created"]}
        status, made = await keyed(cluster, "POST", "/api/v1/webhooks", "make-1", body)
        assert status == 201, made
        assert made["secret"]
        status, again = await keyed(cluster, "POST", "/api/v1/webhooks", "make-1", body)
        assert (status, again["code"]) == (409, "already_exists"), again  # no secret again
        assert made["secret"] not in str(again)
        _, listed = await send(cluster, "GET", "/api/v1/webhooks", "acme")
        assert [w["id"] for w in listed["webhooks"]] == [made["id"]]
        test = f"/api/v1/webhooks/{made['id']}/test"
        status, first = await keyed(cluster, "POST", test, "test-1")
        status, second = await keyed(cluster, "POST", test, "test-1")
        assert status == 202, second
        assert second["id"] == first["id"]
        await box.wait_for(1)
        path = f"/api/v1/webhooks/{made['id']}/deliveries/{first['id']}/redeliver"
        for _ in range(2):
            status, resent = await keyed(cluster, "POST", path, "again-1")
            assert status == 202, resent
        await box.wait_for(2)
        await asyncio.sleep(0.5)  # anything more that would come, comes
        assert len(box.received) == 2
        status, other = await keyed(cluster, "POST", test, "test-2")
        reuse = f"/api/v1/webhooks/{made['id']}/deliveries/{other['id']}/redeliver"
        status, problem = await keyed(cluster, "POST", reuse, "again-1")
        assert (status, problem["code"]) == (422, "idempotency_key_reused"), problem


async def test_cursors_and_delivery_ids_that_are_no_numbers_are_refused_cleanly(
    cluster: Cluster, start_relay: StartRelay
) -> None:
    await start_relay(FAST)
    status, hook = await send(
        cluster, "POST", "/api/v1/webhooks", "acme", {"url": "https://hooks.example.com/in"}
    )
    assert status == 201, hook
    base = f"/api/v1/webhooks/{hook['id']}/deliveries"
    for cursor in ("²", "-1", "1e3", "9" * 19):  # "²" is a digit to str.isdigit
        status, problem = await send(cluster, "GET", f"{base}?cursor={cursor}", "acme")
        assert (status, problem["code"]) == (422, "invalid_request"), (cursor, problem)
    for delivery_id in ("²", "0", "-1", "1.5", "9" * 19):
        status, problem = await send(cluster, "GET", f"{base}/{delivery_id}", "acme")
        assert (status, problem["code"]) == (404, "not_found"), (delivery_id, problem)


INTEGRATOR = {"roles": ["integrator"], "scopes": ["webhooks:admin", "events:read"]}


async def test_an_integrator_gets_no_people_events_through_an_owners_endpoint(
    cluster: Cluster, start_relay: StartRelay
) -> None:
    """An owner's endpoint of every event gets people's events; an integrator, who may not
    read them, can neither find them among its deliveries (nor what the endpoint answered,
    which may echo them), send them again, nor point the endpoint at itself and keep
    getting them."""
    await start_relay(FAST)
    async with endpoint(cluster, "acme") as (box, hook):
        box.echo = True
        assert hook["private_aggregates"] == ["funding", "identity", "people"]
        person = {"id": "ana", "email": "ana@acme.example", "name": "Ana", "roles": ["end_user"]}
        status, _ = await send(cluster, "POST", "/api/v1/people", "acme", person)
        assert status == 201
        [created] = await deliveries_until(
            cluster, "acme", hook["id"], lambda d: bool(d) and d[0]["status"] == "delivered"
        )
        assert created["event_type"] == "perkbus.people.person_created"
        path = f"/api/v1/webhooks/{hook['id']}/deliveries/{created['id']}"
        status, detail = await send(cluster, "GET", path, "acme", **INTEGRATOR)
        assert (status, detail["code"]) == (404, "not_found"), detail
        assert "ana@acme.example" not in str(detail)
        listing = f"/api/v1/webhooks/{hook['id']}/deliveries"
        status, page = await send(cluster, "GET", listing, "acme", **INTEGRATOR)
        assert (status, page["deliveries"]) == (200, []), page
        status, owner_view = await send(cluster, "GET", path, "acme")
        assert owner_view["event"]["data"]["email"] == "ana@acme.example"
        assert "ana@acme.example" in owner_view["attempts"][0]["response"]  # the echo
        status, problem = await send(cluster, "POST", f"{path}/redeliver", "acme", **INTEGRATOR)
        assert (status, problem["code"]) == (404, "not_found"), problem
        async with receiver() as mine:
            status, moved = await send(
                cluster,
                "PATCH",
                f"/api/v1/webhooks/{hook['id']}",
                "acme",
                {"url": mine.url},
                **INTEGRATOR,
            )
            assert status == 200, moved
            assert moved["private_aggregates"] == []
            person = {"id": "bo", "email": "bo@acme.example", "name": "Bo", "roles": ["end_user"]}
            await send(cluster, "POST", "/api/v1/people", "acme", person)
            await cluster.open_budget("acme", "b1", 100)
            await mine.wait_for(1)
            await asyncio.sleep(0.5)
            assert [r.event["type"] for r in mine.received] == ["perkbus.budget.created"]
            assert "bo@acme.example" not in str([r.body for r in mine.received])
        assert len(box.received) == 1


async def test_a_delivery_of_a_type_the_endpoint_no_longer_takes_is_not_sent(
    cluster: Cluster, start_relay: StartRelay
) -> None:
    await start_relay((60.0,))
    await cluster.open_budget("acme", "b1", 10_000)
    async with endpoint(cluster, "acme", event_types=["perkbus.budget.debited"]) as (box, hook):
        box.statuses.extend([500])
        await debit(cluster, "acme", "b1", 100, "a-1")
        [pending] = await deliveries_until(
            cluster, "acme", hook["id"], lambda d: bool(d) and d[0]["attempts"] == 1
        )
        types = {"event_types": ["perkbus.order.*"]}
        status, _ = await send(cluster, "PATCH", f"/api/v1/webhooks/{hook['id']}", "acme", types)
        assert status == 200
        path = f"/api/v1/webhooks/{hook['id']}/deliveries/{pending['id']}"
        status, _ = await send(cluster, "POST", f"{path}/redeliver", "acme")
        assert status == 202
        [skipped] = await deliveries_until(
            cluster, "acme", hook["id"], lambda d: d[0]["status"] == "cancelled"
        )
        assert "no longer takes perkbus.budget.debited" in skipped["last_error"]
        assert len(box.received) == 1  # the first attempt only


async def test_a_rotation_retried_with_its_key_gives_the_secret_it_made(
    cluster: Cluster, start_relay: StartRelay
) -> None:
    await start_relay(FAST)
    async with endpoint(cluster, "acme") as (box, hook):
        path = f"/api/v1/webhooks/{hook['id']}/secret"
        body = {"keep_old_s": 3600}
        status, first = await keyed(cluster, "POST", path, "rotate-1", body)
        assert status == 200, first
        status, again = await keyed(cluster, "POST", path, "rotate-1", body)
        assert status == 200, again
        assert again["secret"] == first["secret"]
        status, _ = await send(cluster, "POST", f"/api/v1/webhooks/{hook['id']}/test", "acme")
        [got] = await box.wait_for(1)
        verified(first["secret"], got)
        verified(hook["secret"], got)  # the original goes on signing: rotated once


async def test_a_test_event_key_on_another_endpoint_is_another_event(
    cluster: Cluster, start_relay: StartRelay
) -> None:
    await start_relay(FAST)
    async with endpoint(cluster, "acme") as (one, a), endpoint(cluster, "acme") as (two, b):
        for hook in (a, b):
            status, _ = await keyed(cluster, "POST", f"/api/v1/webhooks/{hook['id']}/test", "t")
            assert status == 202
        [first] = await one.wait_for(1)
        [second] = await two.wait_for(1)
        assert first.headers["webhook-id"] != second.headers["webhook-id"]


async def test_a_slow_endpoint_with_a_backlog_does_not_hold_up_another(
    cluster: Cluster, tmp_path: Path
) -> None:
    store = SqliteWebhookStore(str(tmp_path / "webhooks.sqlite3"))
    async with (
        webhook_relay(cluster.bus, store, FAST, timeout_s=10),
        endpoint(cluster, "acme") as (slow, a),
        endpoint(cluster, "globex") as (fast, b),
    ):
        slow.delay_s = 1.0  # 8 at a time: 8 a second
        for n in range(100):  # more than the relay holds at once (twice its 32 slots)
            status, _ = await keyed(cluster, "POST", f"/api/v1/webhooks/{a['id']}/test", f"s{n}")
            assert status == 202
        status, _ = await send(cluster, "POST", f"/api/v1/webhooks/{b['id']}/test", "globex")
        assert status == 202
        await fast.wait_for(1, timeout_s=3)
        assert len(slow.received) < 40  # most of the backlog still waits its turn
    await store.close()


async def test_a_tenant_whose_endpoints_cannot_be_read_holds_up_no_other(
    cluster: Cluster, start_relay: StartRelay
) -> None:
    docs = cluster.host.context.tenant_docs
    assert docs is not None
    await docs.put("globex", "webhooks", b'{"endpoints": [{"url": 7}]}', None)  # unreadable
    await start_relay(FAST)
    async with endpoint(cluster, "acme", event_types=["perkbus.budget.created"]) as (box, _):
        await cluster.open_budget("globex", "g1", 100)  # globex's event comes first
        await cluster.open_budget("acme", "b1", 100)
        [got] = await box.wait_for(1)
        assert got.event["tenant"] == "acme"


async def test_only_the_relay_disables_and_not_an_endpoint_changed_since_it_began_failing(
    cluster: Cluster,
) -> None:
    async with endpoint(cluster, "acme", event_types=["perkbus.budget.debited"]) as (_, hook):
        status, changed = await send(
            cluster, "PATCH", f"/api/v1/webhooks/{hook['id']}", "acme", {"url": hook["url"]}
        )
        assert status == 200, changed
        changed_ms = int(datetime.fromisoformat(changed["updated_at"]).timestamp() * 1000)
        owner = Principal("user@acme", roles=("owner",))
        relay = Principal("perkbus:webhook-relay", roles=("system",))

        async def disable(since_ms: int, who: Principal = relay) -> Any:
            body = DisableFailing(hook["id"], since_ms)
            return await cluster.bus.request("acme", "webhooks", body, who, 10)

        refused = await disable(changed_ms + 1, owner)
        assert isinstance(refused, Err)
        assert refused.code == ErrorCode.FORBIDDEN
        kept = await disable(changed_ms - 1)  # failing since before someone changed it
        assert isinstance(kept, Err)
        assert kept.message == "left as it is: changed since it began failing"
        off = await disable(changed_ms + 1)
        assert isinstance(off, Ok)
        assert (off.value.enabled, off.value.disabled_reason) == (False, "failing")
        again = await disable(changed_ms + 2)  # another failing delivery's ask: no change
        assert isinstance(again, Err)
        assert again.message == "left as it is: off already"
        status, audit = await send(cluster, "GET", "/api/v1/audit?limit=100", "acme")
        done = [(e["action"], e["outcome"]) for e in audit["entries"]]
        assert done.count(("webhooks.endpoint.disable_failing", "ok")) == 1  # what it changed
        other = await cluster.bus.request(
            "globex", "webhooks", DisableFailing(hook["id"], 0), relay, 10
        )
        assert isinstance(other, Err)
        assert other.code == ErrorCode.NOT_FOUND  # another tenant's endpoint is not there


async def test_a_pending_delivery_sent_again_and_failing_leaves_the_endpoint_enabled(
    cluster: Cluster, start_relay: StartRelay
) -> None:
    """Its last retry, asked for at once, fails: it has not failed for as long as the
    schedule lasts, so the endpoint has not been failing for long (found by the console's
    test)."""
    await start_relay((60.0,))
    await cluster.open_budget("acme", "b1", 10_000)
    async with endpoint(cluster, "acme", event_types=["perkbus.budget.debited"]) as (box, hook):
        box.statuses.extend([500, 503])
        await debit(cluster, "acme", "b1", 100, "a-1")
        [pending] = await deliveries_until(
            cluster, "acme", hook["id"], lambda d: bool(d) and d[0]["attempts"] == 1
        )
        path = f"/api/v1/webhooks/{hook['id']}/deliveries/{pending['id']}/redeliver"
        status, _ = await send(cluster, "POST", path, "acme")
        assert status == 202
        await deliveries_until(cluster, "acme", hook["id"], lambda d: d[0]["status"] == "failed")
        await asyncio.sleep(0.3)
        status, still = await send(cluster, "GET", f"/api/v1/webhooks/{hook['id']}", "acme")
        assert (status, still["enabled"], still["disabled_reason"]) == (200, True, None)
