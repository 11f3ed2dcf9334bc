"""Events: committed with the change (outbox), published to PB_EVENTS as CloudEvents,
de-duplicated by Nats-Msg-Id, and recovered from the outbox after a crash."""

from __future__ import annotations

import asyncio
from typing import Any

import msgspec

from actors.runtime.outbox import OutboxRelay
from bus import subjects
from bus.client import Bus
from bus.embedded import EmbeddedNats
from bus.events import EventPublisher, ensure_streams
from bus.time import now_ms
from storage.ports import CatalogueStore, ChangeSet, Ledger
from tests.conftest import Cluster, start_cluster
from tests.support import Keys, outbox_drained, sample_event, stream_messages


async def test_debits_publish_cloudevents_per_tenant(cluster: Cluster) -> None:
    await cluster.open_budget("acme", "b1", 100)
    await cluster.open_budget("globex", "b1", 100)
    headers = cluster.keys.headers("acme")
    ids = []
    for amount in (10, 20):
        async with cluster.client.post(
            "/api/v1/budgets/b1/debits",
            json={"amount": {"amount_minor": amount, "currency": "EUR"}, "memo": f"m{amount}"},
            headers=headers,
        ) as r:
            ids.append((await r.json())["id"])
    await outbox_drained(cluster.ledger)

    events = await stream_messages(cluster.bus, subjects.events_of_tenant("acme"))
    assert [e["type"] for e in events] == [
        "perkbus.budget.created",
        "perkbus.budget.debited",
        "perkbus.budget.debited",
    ]
    debited = events[1]
    assert debited["specversion"] == "1.0"
    assert debited["tenant"] == "acme"
    assert debited["source"] == "/perkbus/tenants/acme"
    assert debited["subject"] == "budget/b1"
    assert debited["data"] == {
        "budget_id": "b1",
        "debit_id": ids[0],
        "amount": {"amount_minor": 10, "currency": "EUR"},
        "balance_after": {"amount_minor": 90, "currency": "EUR"},
        "memo": "m10",
    }
    assert len({e["id"] for e in events}) == 3
    globex = await stream_messages(cluster.bus, subjects.events_of_tenant("globex"))
    assert [e["tenant"] for e in globex] == ["globex"]


async def test_republishing_an_event_is_deduplicated(bus: Bus) -> None:
    await ensure_streams(bus.js, duplicate_window_s=60)
    event = sample_event(1)
    publisher = EventPublisher(bus.nc)
    await publisher.publish([event])
    await publisher.publish([event, event])
    info = await bus.js.stream_info(subjects.EVENTS_STREAM)
    assert info.state.messages == 1


async def test_outbox_left_by_a_crash_is_published_on_start(
    nats_server: EmbeddedNats, ledger: Ledger, catalogue: CatalogueStore, keys: Keys
) -> None:
    # Events committed by a host that died before publishing them.
    stranded = tuple(sample_event(i) for i in range(5))
    await ledger.apply([ChangeSet("acme", events=stranded)])
    assert len(await ledger.pending_events(10)) == 5
    async for cluster in start_cluster(nats_server, ledger, catalogue, keys):
        await outbox_drained(ledger)
        events = await stream_messages(cluster.bus, subjects.events_of_tenant("acme"))
        assert sorted(str(e["id"]) for e in events) == sorted(e.event_id for e in stranded)


async def test_relay_sweeps_up_events_stranded_by_another_host(bus: Bus, ledger: Ledger) -> None:
    await ensure_streams(bus.js, duplicate_window_s=60)
    relay = OutboxRelay(ledger, EventPublisher(bus.nc), sweep_interval_s=0.2)
    relay.start()
    try:
        await outbox_drained(ledger)  # the start-up scan found nothing
        # Another host committed these a while ago and died before publishing them.
        stranded = sample_event(1)
        stranded = msgspec.structs.replace(stranded, created_ms=now_ms() - 60_000)
        await ledger.apply([ChangeSet("acme", events=(stranded,))])
        await outbox_drained(ledger)
    finally:
        await relay.stop()
    events = await stream_messages(bus, subjects.events_of_tenant("acme"))
    assert [e["id"] for e in events] == [stranded.event_id]


async def test_the_sweep_comes_while_the_host_is_busy(bus: Bus, ledger: Ledger) -> None:
    """Each commit wakes the relay: a sweep that waited for a quiet interval never came
    while this host committed steadily, and another host's stranded events waited."""
    await ensure_streams(bus.js, duplicate_window_s=60)
    relay = OutboxRelay(ledger, EventPublisher(bus.nc), sweep_interval_s=0.3)
    relay.start()
    try:
        await outbox_drained(ledger)
        stranded = msgspec.structs.replace(sample_event(999), created_ms=now_ms() - 60_000)
        await ledger.apply([ChangeSet("acme", events=(stranded,))])  # another host died
        for i in range(30):  # a commit every 0.1 s for up to 3 s: 10 sweep intervals
            event = sample_event(i)
            await ledger.apply([ChangeSet("acme", events=(event,))])
            relay.committed([event])
            await asyncio.sleep(0.1)
            pending = {e.event_id for e in await ledger.pending_events(100)}
            if stranded.event_id not in pending:
                break
        assert stranded.event_id not in pending
    finally:
        await relay.stop()
    events = await stream_messages(bus, subjects.events_of_tenant("acme"))
    assert stranded.event_id in {e["id"] for e in events}


async def test_events_replay_from_any_point_per_tenant(cluster: Cluster) -> None:
    await cluster.open_budget("acme", "b1", 100)
    await cluster.open_budget("globex", "b1", 100)
    acme = cluster.keys.headers("acme")
    for amount in (1, 2, 3):
        async with cluster.client.post(
            "/api/v1/budgets/b1/debits",
            json={"amount": {"amount_minor": amount, "currency": "EUR"}},
            headers=acme,
        ) as r:
            assert r.status == 201
    await outbox_drained(cluster.ledger)

    async def page(after: int, limit: int, headers: dict[str, str] = acme) -> dict[str, Any]:
        params = {"after": str(after), "limit": str(limit)}
        async with cluster.client.get("/api/v1/events", params=params, headers=headers) as r:
            assert r.status == 200, await r.text()
            body: dict[str, Any] = await r.json()
            return body

    first = await page(0, 2)
    assert [e["type"] for e in first["events"]] == [
        "perkbus.budget.created",
        "perkbus.budget.debited",
    ]
    rest = await page(first["next_after"], 10)
    assert [e["data"]["amount"]["amount_minor"] for e in rest["events"]] == [2, 3]
    assert all(e["tenant"] == "acme" for e in first["events"] + rest["events"])
    assert first["sequences"] == sorted(first["sequences"])
    assert (await page(rest["next_after"], 10))["events"] == []
    globex = await page(0, 10, cluster.keys.headers("globex"))
    assert [e["tenant"] for e in globex["events"]] == ["globex"]
    async with cluster.client.get("/api/v1/events", params={"limit": "0"}, headers=acme) as r:
        assert r.status == 422


async def test_replay_keeps_people_and_clients_to_their_admins_and_refuses_narrow_tokens(
    cluster: Cluster,
) -> None:
    """Events about people carry their emails, roles and grants: an integrator who may
    not read people through the API does not read them in the replay either (the page
    still moves past them). A token narrowed to some budgets gets no replay: the stream
    is the whole tenant's, as reports are."""
    owner = cluster.keys.headers("acme")
    await cluster.open_budget("acme", "b1", 100)
    person = {"id": "ann", "email": "ann@acme.example", "name": "Ann"}
    async with cluster.client.post("/api/v1/people", json=person, headers=owner) as r:
        assert r.status == 201
    await outbox_drained(cluster.ledger)

    async def types(headers: dict[str, str]) -> tuple[list[str], int]:
        async with cluster.client.get("/api/v1/events", headers=headers) as r:
            assert r.status == 200, await r.text()
            body = await r.json()
            return [e["type"] for e in body["events"]], body["next_after"]

    everything, last = await types(owner)
    assert "perkbus.people.person_created" in everything
    integrator = cluster.keys.headers("acme", ["events:read"], roles=["integrator"])
    seen, after = await types(integrator)
    assert seen == [t for t in everything if not t.startswith("perkbus.people.")]
    assert after == last  # moved past what it may not read
    narrow = cluster.keys.headers("acme", ["events:read"], grants=["budget:b1"])
    async with cluster.client.get("/api/v1/events", headers=narrow) as r:
        assert r.status == 403


async def test_every_event_type_has_a_schema_that_fits_its_events(cluster: Cluster) -> None:
    acme = cluster.keys.headers("acme")
    async with cluster.client.get("/api/v1/events/schemas", headers=acme) as r:
        types = (await r.json())["types"]
    assert "perkbus.order.fulfilled" in types
    await cluster.open_budget("acme", "b1", 100)
    await outbox_drained(cluster.ledger)
    (created,) = await stream_messages(cluster.bus, subjects.events_of_tenant("acme"))
    async with cluster.client.get(types["perkbus.budget.created"], headers=acme) as r:
        assert r.content_type == "application/schema+json"
        doc = await r.json()
    assert set(doc["required"]) <= set(created)
    assert doc["properties"]["type"] == {"const": created["type"]}
    data_schema = doc["$defs"]["BudgetCreated"]
    data = created["data"]
    assert isinstance(data, dict)
    assert set(data_schema["required"]) <= set(data)
    async with cluster.client.get("/api/v1/events/schemas/nope", headers=acme) as r:
        assert r.status == 404


async def test_graphql_replays_the_same_events_as_rest(cluster: Cluster) -> None:
    await cluster.open_budget("acme", "b1", 100)
    await outbox_drained(cluster.ledger)
    acme = cluster.keys.headers("acme")
    async with cluster.client.get("/api/v1/events", headers=acme) as r:
        rest = await r.json()
    query = "{ events(after: 0, limit: 10) { ... on EventPage { events sequences nextAfter } } }"
    async with cluster.client.post("/graphql", json={"query": query}, headers=acme) as r:
        graphql = (await r.json())["data"]["events"]
    assert graphql["events"] == rest["events"]
    assert graphql["sequences"] == rest["sequences"]
    assert graphql["nextAfter"] == rest["next_after"]
    bad = "{ events(limit: 0) { ... on Error { code } } }"
    async with cluster.client.post("/graphql", json={"query": bad}, headers=acme) as r:
        assert (await r.json())["data"]["events"]["code"] == "invalid_request"


async def test_a_start_past_64_bits_is_refused_and_the_last_one_allowed_is_empty(
    cluster: Cluster,
) -> None:
    """Found by the fuzzer: ``after`` was unbounded, and one past 64 bits failed (500)."""
    acme = cluster.keys.headers("acme")
    await cluster.open_budget("acme", "b1", 100)
    for path in ("/api/v1/events", "/api/v1/audit"):
        params = {"after": str(2**64)}
        async with cluster.client.get(path, params=params, headers=acme) as r:
            body = await r.json()
            assert (r.status, body["code"]) == (422, "invalid_request"), (path, body)
            assert body["errors"][0]["pointer"] == "#/after"
        async with cluster.client.get(path, params={"after": str(2**62)}, headers=acme) as r:
            assert r.status == 200, (path, await r.text())
            page = await r.json()
            assert page.get("events", page.get("entries")) == [], (path, page)
