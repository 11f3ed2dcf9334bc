"""The webhook deliveries contract: every adapter (SQLite, MySQL/MariaDB) must pass all of
it. Times are the tests' own numbers (a store never reads the clock but to stamp its
migrations), so nothing here waits for a lease to pass."""

from __future__ import annotations

import asyncio
import os
import sqlite3
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path

import asyncmy
import pytest
from asyncmy.errors import DataError, IntegrityError
from msgspec.structs import replace

from storage import mysql_webhooks, sqlite_webhooks
from storage.mysql import MysqlLedger
from storage.mysql_pool import connect_args
from storage.mysql_webhooks import MysqlWebhookStore
from storage.sqlite_webhooks import SqliteWebhookStore
from storage.webhook_ports import (
    Attempt,
    Delivery,
    DeliveryStatus,
    KeyReused,
    NewDelivery,
    WebhookStore,
)
from tests.support import mysql_database


@dataclass
class Backend:
    store: WebhookStore
    #: How many attempt rows the store keeps, whatever their delivery (or lack of one).
    attempt_rows: Callable[[], Awaitable[int]]


@pytest.fixture(params=["sqlite", pytest.param("mysql", marks=pytest.mark.mysql)])
async def backend(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Backend]:
    if request.param == "sqlite":
        path = tmp_path / "webhooks.sqlite3"

        async def sqlite_rows() -> int:
            with sqlite3.connect(path) as con:
                return int(con.execute("SELECT COUNT(*) FROM webhook_attempts").fetchone()[0])

        store: WebhookStore = SqliteWebhookStore(str(path))
        await store.migrate()
        yield Backend(store, sqlite_rows)
        await store.close()
        return
    async with mysql_database() as url:

        async def mysql_rows() -> int:
            conn = await asyncmy.connect(**connect_args(url))
            try:
                async with conn.cursor() as cur:
                    await cur.execute("SELECT COUNT(*) FROM webhook_attempts")
                    (n,) = await cur.fetchone()
                return int(n)
            finally:
                conn.close()

        store = MysqlWebhookStore(url)
        await store.migrate()
        yield Backend(store, mysql_rows)
        await store.close()


@pytest.fixture
def store(backend: Backend) -> WebhookStore:
    return backend.store


def new(
    event_id: str = "ev-1",
    endpoint_id: str = "ep-1",
    tenant: str = "acme",
    *,
    due: int = 1_000,
    created: int = 1_000,
    payload: bytes = b'{"type": "order.fulfilled"}',
    event_type: str = "order.fulfilled",
    retries_left: int = 5,
) -> NewDelivery:
    return NewDelivery(
        tenant, endpoint_id, event_id, event_type, payload, created, due, retries_left
    )


def attempt(
    delivery_id: int,
    n: int,
    at_ms: int = 2_000,
    status_code: int = 500,
    error: str = "HTTP 500",
    response: str = "Internal Server Error",
) -> Attempt:
    return Attempt(delivery_id, n, at_ms, 120, status_code, error, response)


async def only(store: WebhookStore, tenant: str = "acme") -> list[Delivery]:
    return await store.deliveries(tenant, None, None, 100, None)


async def get(store: WebhookStore, delivery_id: int, tenant: str = "acme") -> Delivery:
    d = await store.delivery(tenant, delivery_id)
    assert d is not None
    return d


# --- migrations and the relay's sequence ------------------------------------------------


async def test_a_new_store_has_read_nothing_and_migrates_again_harmlessly(
    store: WebhookStore,
) -> None:
    assert await store.last_sequence() == 0
    await store.enqueue([new()], 3)
    await store.migrate()
    await store.ping()
    assert await store.last_sequence() == 3
    assert [d.event_id for d in await only(store)] == ["ev-1"]


async def test_enqueue_adds_a_delivery_once_per_endpoint_and_event(store: WebhookStore) -> None:
    assert await store.enqueue([new("ev-1", "ep-1"), new("ev-1", "ep-2")], 1) == 2
    # Again after a restart (the relay read the event again), with one new endpoint.
    again = [new("ev-1", "ep-1", payload=b"{}"), new("ev-1", "ep-2"), new("ev-1", "ep-3")]
    assert await store.enqueue(again, 1) == 1
    # Twice in one batch: once.
    assert await store.enqueue([new("ev-2", "ep-1"), new("ev-2", "ep-1")], 2) == 1
    listed = await only(store)
    assert sorted((d.event_id, d.endpoint_id) for d in listed) == [
        ("ev-1", "ep-1"),
        ("ev-1", "ep-2"),
        ("ev-1", "ep-3"),
        ("ev-2", "ep-1"),
    ]
    first = next(d for d in listed if (d.event_id, d.endpoint_id) == ("ev-1", "ep-1"))
    assert first.payload == b'{"type": "order.fulfilled"}'  # the one there, left as it was


async def test_the_sequence_only_moves_forward(store: WebhookStore) -> None:
    assert await store.enqueue([], 10) == 0  # events no endpoint wanted still count as read
    assert await store.last_sequence() == 10
    assert await store.enqueue([new("ev-late")], 7) == 1
    assert await store.last_sequence() == 10
    await store.enqueue([], 11)
    assert await store.last_sequence() == 11


async def test_deliveries_are_not_kept_when_the_sequence_cannot_move(store: WebhookStore) -> None:
    await store.enqueue([], 4)
    # A sequence no BIGINT holds: the move fails after the deliveries were written.
    with pytest.raises((OverflowError, DataError)):
        await store.enqueue([new("ev-1"), new("ev-2")], 2**70)
    assert await only(store) == []
    assert await store.last_sequence() == 4


async def test_the_sequence_does_not_move_when_the_deliveries_cannot_be_written(
    store: WebhookStore,
) -> None:
    await store.enqueue([], 4)
    broken = replace(new("ev-2"), event_type=None)  # NOT NULL: the insert fails
    with pytest.raises((sqlite3.IntegrityError, IntegrityError)):
        await store.enqueue([new("ev-1"), broken], 5)
    assert await only(store) == []
    assert await store.last_sequence() == 4


# --- add ----------------------------------------------------------------------------------


async def test_add_makes_a_pending_delivery_or_returns_the_one_there(store: WebhookStore) -> None:
    made = await store.add(new("test-1", due=1_500, created=1_400, retries_left=2))
    assert made == Delivery(
        made.id,
        "acme",
        "ep-1",
        "test-1",
        "order.fulfilled",
        b'{"type": "order.fulfilled"}',
        "pending",
        attempts=0,
        retries_left=2,
        created_ms=1_400,
        next_attempt_ms=1_500,
    )
    same = await store.add(new("test-1", due=9_999, payload=b"{}", event_type="other"))
    assert same == made
    assert await store.enqueue([new("test-1")], 1) == 0
    other = await store.add(new("test-2"))
    assert other.id > made.id
    assert await store.delivery("acme", made.id) == made


async def test_ids_increase_in_the_order_deliveries_were_added(store: WebhookStore) -> None:
    await store.enqueue([new("ev-a"), new("ev-b"), new("ev-c")], 1)
    added = await store.add(new("ev-d"))
    await store.enqueue([new("ev-e")], 2)
    listed = await only(store)
    assert [d.event_id for d in listed] == ["ev-e", "ev-d", "ev-c", "ev-b", "ev-a"]
    ids = [d.id for d in listed]
    assert ids == sorted(ids, reverse=True)
    assert len(set(ids)) == 5
    assert added.id == ids[1]


# --- claim ---------------------------------------------------------------------------------


async def test_claim_hands_out_due_pending_deliveries_earliest_first(store: WebhookStore) -> None:
    await store.enqueue(
        [
            new("ev-300", due=300),
            new("ev-100", due=100),
            new("ev-500", due=500),  # not due at 400
            new("ev-200", due=200),
        ],
        1,
    )
    first = await store.claim(now_ms=400, limit=2, lease_ms=1_000)
    assert [(d.event_id, d.next_attempt_ms) for d in first] == [
        ("ev-100", 1_400),
        ("ev-200", 1_400),
    ]
    assert all(d.status == "pending" and d.attempts == 0 for d in first)
    assert (await get(store, first[0].id)).next_attempt_ms == 1_400  # kept, not only returned
    second = await store.claim(now_ms=400, limit=10, lease_ms=1_000)
    assert [(d.event_id, d.next_attempt_ms) for d in second] == [("ev-300", 1_400)]
    assert await store.claim(now_ms=400, limit=10, lease_ms=1_000) == []
    later = await store.claim(now_ms=1_399, limit=10, lease_ms=1_000)
    assert [(d.event_id, d.next_attempt_ms) for d in later] == [("ev-500", 2_399)]
    expired = await store.claim(now_ms=1_400, limit=10, lease_ms=1_000)
    assert sorted(d.event_id for d in expired) == ["ev-100", "ev-200", "ev-300"]


async def test_a_claim_is_handed_out_again_once_its_lease_has_passed(store: WebhookStore) -> None:
    await store.enqueue([new("ev-1", due=100), new("ev-2", due=600)], 1)
    assert [d.event_id for d in await store.claim(500, 10, 1_000)] == ["ev-1"]
    assert [d.event_id for d in await store.claim(1_499, 10, 1_000)] == ["ev-2"]
    assert await store.claim(1_499, 10, 1_000) == []
    again = await store.claim(1_500, 10, 1_000)  # ev-1's lease ended at 1,500
    assert [(d.event_id, d.next_attempt_ms) for d in again] == [("ev-1", 2_500)]


async def test_claim_skips_deliveries_no_longer_pending(store: WebhookStore) -> None:
    ids = {}
    for event_id in ("ev-delivered", "ev-failed", "ev-cancelled", "ev-pending"):
        ids[event_id] = (await store.add(new(event_id, endpoint_id=event_id, due=100))).id
    await store.record(
        attempt(ids["ev-delivered"], 1, status_code=200, error=""), "delivered", 0, 5
    )
    await store.record(attempt(ids["ev-failed"], 1), "failed", 0, 0)
    await store.cancel_endpoint("acme", "ev-cancelled")
    claimed = await store.claim(10_000, 10, 1_000)
    assert [d.event_id for d in claimed] == ["ev-pending"]
    assert await store.claim(10_000, 0, 1_000) == []


async def test_claims_at_once_never_hand_out_one_delivery_twice(store: WebhookStore) -> None:
    await store.enqueue([new(f"ev-{i:02d}", due=i) for i in range(30)], 1)
    claims = await asyncio.gather(*(store.claim(1_000, 8, 5_000) for _ in range(4)))
    ids = [d.id for c in claims for d in c]
    assert len(ids) == 30
    assert len(set(ids)) == 30
    assert await store.claim(1_000, 8, 5_000) == []


# --- record ---------------------------------------------------------------------------------


async def test_record_appends_the_attempt_and_sets_the_outcome(store: WebhookStore) -> None:
    d = await store.add(new(retries_left=3, due=100))
    [claimed] = await store.claim(1_000, 10, 30_000)
    assert claimed.id == d.id
    first = attempt(d.id, 1, at_ms=1_000, status_code=503, error="HTTP 503", response="busy")
    await store.record(first, "pending", 61_000, 2)
    after_first = await get(store, d.id)
    assert after_first == replace(
        d,
        attempts=1,
        next_attempt_ms=61_000,
        retries_left=2,
        last_attempt_ms=1_000,
        last_status_code=503,
        last_error="HTTP 503",
    )
    second = Attempt(d.id, 2, 61_000, 40, 204, "", "")
    await store.record(second, "delivered", 61_000, 2)
    after_second = await get(store, d.id)
    assert (after_second.status, after_second.attempts) == ("delivered", 2)
    assert (after_second.last_attempt_ms, after_second.last_status_code) == (61_000, 204)
    assert after_second.last_error == ""
    assert await store.attempts("acme", d.id) == [first, second]


async def test_record_of_a_failed_attempt_with_no_answer(store: WebhookStore) -> None:
    d = await store.add(new(retries_left=0))
    refused = Attempt(d.id, 1, 3_000, 5, 0, "connection refused", "")
    await store.record(refused, "failed", 3_000, 0)
    got = await get(store, d.id)
    assert (got.status, got.attempts, got.retries_left) == ("failed", 1, 0)
    assert (got.last_status_code, got.last_error) == (0, "connection refused")
    assert await store.attempts("acme", d.id) == [refused]


async def test_a_delivery_cancelled_while_sent_stays_cancelled(store: WebhookStore) -> None:
    d = await store.add(new(due=100))
    await store.claim(1_000, 10, 30_000)
    assert await store.cancel_endpoint("acme", "ep-1") == 1
    done = attempt(d.id, 1, at_ms=1_200, status_code=200, error="", response="ok")
    await store.record(done, "delivered", 1_200, 5)
    got = await get(store, d.id)
    assert got.status == "cancelled"
    assert (got.attempts, got.last_attempt_ms, got.last_status_code) == (1, 1_200, 200)
    assert await store.attempts("acme", d.id) == [done]  # appended all the same
    assert await store.claim(100_000, 10, 1_000) == []


async def test_record_of_a_delivery_that_is_gone_keeps_nothing(backend: Backend) -> None:
    store = backend.store
    d = await store.add(new(created=100))
    await store.record(attempt(d.id, 1, status_code=200, error=""), "delivered", 0, 5)
    assert await store.prune(1_000) == 1
    assert await backend.attempt_rows() == 0
    await store.record(attempt(d.id, 2), "pending", 9_000, 4)  # a late relay's outcome
    assert await backend.attempt_rows() == 0
    assert await store.delivery("acme", d.id) is None


# --- cancel_endpoint --------------------------------------------------------------------------


async def test_cancel_endpoint_cancels_only_its_pending_deliveries(store: WebhookStore) -> None:
    pending_1 = await store.add(new("ev-1"))
    pending_2 = await store.add(new("ev-2"))
    delivered = await store.add(new("ev-3"))
    await store.record(attempt(delivered.id, 1, status_code=200, error=""), "delivered", 0, 5)
    failed = await store.add(new("ev-4"))
    await store.record(attempt(failed.id, 1), "failed", 0, 0)
    elsewhere = await store.add(new("ev-1", endpoint_id="ep-2"))
    globex = await store.add(new("ev-9", tenant="globex"))  # same endpoint id, another tenant

    assert await store.cancel_endpoint("acme", "ep-1") == 2
    assert (await get(store, pending_1.id)).status == "cancelled"
    assert (await get(store, pending_2.id)).status == "cancelled"
    assert (await get(store, delivered.id)).status == "delivered"
    assert (await get(store, failed.id)).status == "failed"
    assert (await get(store, elsewhere.id)).status == "pending"
    assert (await get(store, globex.id, "globex")).status == "pending"
    assert await store.cancel_endpoint("acme", "ep-1") == 0
    assert await store.cancel_endpoint("acme", "ep-none") == 0


async def test_delivered_since_looks_at_the_endpoints_deliveries_delivered_from_then(
    store: WebhookStore,
) -> None:
    assert not await store.delivered_since("acme", "ep-1", 0)
    failed = await store.add(new("ev-1"))
    await store.record(attempt(failed.id, 1, at_ms=2_000), "failed", 0, 0)
    assert not await store.delivered_since("acme", "ep-1", 0)  # failed is not delivered
    delivered = await store.add(new("ev-2"))
    await store.record(attempt(delivered.id, 1, 3_000, 200, ""), "delivered", 0, 5)
    assert await store.delivered_since("acme", "ep-1", 3_000)
    assert not await store.delivered_since("acme", "ep-1", 3_001)
    assert not await store.delivered_since("acme", "ep-2", 0)  # another endpoint
    assert not await store.delivered_since("globex", "ep-1", 0)  # another tenant's
    await store.redeliver("acme", delivered.id, 4_000)  # pending again: not delivered now
    assert not await store.delivered_since("acme", "ep-1", 0)


# --- deliveries, delivery, attempts -------------------------------------------------------------


async def _listing(store: WebhookStore) -> dict[str, int]:
    """acme: e1..e6 alternating ep-a / ep-b, e2 and e5 delivered; globex: g1 on ep-a."""
    ids = {}
    for i in range(1, 7):
        ids[f"e{i}"] = (await store.add(new(f"e{i}", "ep-a" if i % 2 else "ep-b"))).id
        if i == 3:
            ids["g1"] = (await store.add(new("g1", "ep-a", tenant="globex"))).id
    for key in ("e2", "e5"):
        await store.record(attempt(ids[key], 1, status_code=200, error=""), "delivered", 0, 5)
    return ids


async def test_deliveries_newest_first_by_endpoint_and_status(store: WebhookStore) -> None:
    ids = await _listing(store)

    async def events(endpoint: str | None, status: DeliveryStatus | None) -> list[str]:
        got = await store.deliveries("acme", endpoint, status, 100, None)
        return [d.event_id for d in got]

    assert await events(None, None) == ["e6", "e5", "e4", "e3", "e2", "e1"]
    assert await events("ep-a", None) == ["e5", "e3", "e1"]
    assert await events(None, "delivered") == ["e5", "e2"]
    assert await events(None, "pending") == ["e6", "e4", "e3", "e1"]
    assert await events("ep-b", "delivered") == ["e2"]
    assert await events("ep-c", None) == []
    assert await events(None, "failed") == []
    assert [d.event_id for d in await store.deliveries("globex", None, None, 100, None)] == ["g1"]
    assert ids["g1"] not in [d.id for d in await store.deliveries("acme", None, None, 100, None)]


async def test_deliveries_page_by_id(store: WebhookStore) -> None:
    ids = await _listing(store)
    pages: list[list[str]] = []
    before: int | None = None
    while True:
        page = await store.deliveries("acme", None, None, 4, before)
        if not page:
            break
        pages.append([d.event_id for d in page])
        before = page[-1].id
    assert pages == [["e6", "e5", "e4", "e3"], ["e2", "e1"]]
    page = await store.deliveries("acme", "ep-a", None, 1, ids["e5"])
    assert [d.event_id for d in page] == ["e3"]
    assert await store.deliveries("acme", None, None, 10, ids["e1"]) == []
    # The page's cursor is an id below which to look, not a count: globex's id in between
    # changes nothing.
    page = await store.deliveries("acme", None, None, 10, ids["g1"])
    assert [d.event_id for d in page] == ["e3", "e2", "e1"]


async def test_another_tenants_delivery_is_never_seen(store: WebhookStore) -> None:
    theirs = await store.add(new("ev-1", "ep-1", tenant="globex"))
    await store.record(attempt(theirs.id, 1), "failed", 0, 0)
    # The same endpoint id and event id in acme: a delivery of its own, not globex's.
    ours = await store.add(new("ev-1", "ep-1", tenant="acme"))
    assert ours.id != theirs.id
    assert ours.tenant == "acme"

    assert await store.delivery("acme", theirs.id) is None
    assert await store.attempts("acme", theirs.id) == []
    assert await store.redeliver("acme", theirs.id, 50_000) is None
    assert [d.id for d in await only(store, "acme")] == [ours.id]
    for status in ("failed", None):
        listed = await store.deliveries("acme", "ep-1", status, 100, None)
        assert theirs.id not in [d.id for d in listed]
    assert await store.cancel_endpoint("acme", "ep-1") == 1
    kept = await get(store, theirs.id, "globex")
    assert (kept.status, kept.next_attempt_ms, kept.retries_left) == ("failed", 0, 0)
    assert len(await store.attempts("globex", theirs.id)) == 1


async def test_an_unknown_delivery(store: WebhookStore) -> None:
    assert await store.delivery("acme", 12345) is None
    assert await store.attempts("acme", 12345) == []
    assert await store.redeliver("acme", 12345, 1_000) is None


# --- redeliver ---------------------------------------------------------------------------------


@pytest.mark.parametrize("outcome", ["delivered", "failed", "cancelled"])
async def test_redeliver_makes_any_delivery_due_now_for_one_attempt(
    store: WebhookStore, outcome: DeliveryStatus
) -> None:
    d = await store.add(new(retries_left=4, due=100))
    await store.record(attempt(d.id, 1), "pending", 60_000, 3)
    if outcome == "cancelled":
        await store.cancel_endpoint("acme", "ep-1")
    else:
        code = 200 if outcome == "delivered" else 500
        await store.record(attempt(d.id, 2, status_code=code), outcome, 60_000, 0)
    again = await store.redeliver("acme", d.id, 90_000)
    assert again is not None
    assert (again.status, again.next_attempt_ms, again.retries_left) == ("pending", 90_000, 0)
    assert again.attempts == (1 if outcome == "cancelled" else 2)  # its history stays
    assert again == await get(store, d.id)
    assert await store.claim(89_999, 10, 1_000) == []
    assert [c.id for c in await store.claim(90_000, 10, 1_000)] == [d.id]


async def test_redeliver_of_a_pending_delivery_keeps_its_retries(store: WebhookStore) -> None:
    d = await store.add(new(retries_left=4, due=100))
    await store.record(attempt(d.id, 1), "pending", 60_000, 3)
    again = await store.redeliver("acme", d.id, 9_000)
    assert again is not None
    assert (again.status, again.next_attempt_ms, again.retries_left) == ("pending", 9_000, 3)


async def test_a_keyed_redelivery_happens_once_and_its_key_serves_no_other(
    store: WebhookStore,
) -> None:
    d = await store.add(new("ev-1", retries_left=0, due=100))
    other = await store.add(new("ev-2", retries_left=0, due=100))
    await store.record(attempt(d.id, 1), "failed", 0, 0)
    first = await store.redeliver("acme", d.id, 9_000, key="k1")
    assert first is not None
    assert (first.status, first.next_attempt_ms) == ("pending", 9_000)
    await store.record(attempt(d.id, 2), "failed", 0, 0)
    again = await store.redeliver("acme", d.id, 10_000, key="k1")  # a retry: nothing more
    assert again == await get(store, d.id)
    assert again is not None
    assert again.status == "failed"
    with pytest.raises(KeyReused):
        await store.redeliver("acme", other.id, 10_000, key="k1")
    assert (await get(store, other.id)).next_attempt_ms == 100  # unchanged
    # keys are the tenant's: another tenant's same key is its own
    theirs = await store.add(new("ev-1", tenant="globex", retries_left=0, due=100))
    mine = await store.redeliver("globex", theirs.id, 11_000, key="k1")
    assert mine is not None
    assert mine.next_attempt_ms == 11_000
    assert await store.redeliver("acme", 12345, 1_000, key="k2") is None


# --- prune -------------------------------------------------------------------------------------


async def test_prune_deletes_old_finished_deliveries_and_their_attempts(backend: Backend) -> None:
    store = backend.store
    old = {}
    for outcome in ("delivered", "failed", "cancelled", "pending"):
        old[outcome] = await store.add(new(f"old-{outcome}", outcome, created=100))
        await store.record(attempt(old[outcome].id, 1), "pending", 5_000, 3)
    await store.record(attempt(old["delivered"].id, 2, status_code=200), "delivered", 0, 3)
    await store.record(attempt(old["failed"].id, 2), "failed", 0, 0)
    await store.cancel_endpoint("acme", "cancelled")
    young = await store.add(new("young", created=1_000))
    await store.record(attempt(young.id, 1, status_code=200), "delivered", 0, 5)
    assert await backend.attempt_rows() == 4 + 2 + 1

    assert await store.prune(before_ms=1_000) == 3
    for outcome in ("delivered", "failed", "cancelled"):
        assert await store.delivery("acme", old[outcome].id) is None
    assert await backend.attempt_rows() == 1 + 1  # old pending's and young's
    assert len(await store.attempts("acme", old["pending"].id)) == 1
    assert len(await store.attempts("acme", young.id)) == 1
    assert [d.event_id for d in await only(store)] == ["young", "old-pending"]
    assert await store.prune(before_ms=1_000) == 0


async def test_prune_goes_through_more_than_one_batch(
    store: WebhookStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(sqlite_webhooks, "PRUNE_BATCH", 2)
    monkeypatch.setattr(mysql_webhooks, "PRUNE_BATCH", 2)
    for i in range(5):
        d = await store.add(new(f"ev-{i}", created=100 + i))
        await store.record(attempt(d.id, 1, status_code=200), "delivered", 0, 5)
    assert await store.prune(before_ms=10_000) == 5
    assert await only(store) == []


# --- what the columns hold -----------------------------------------------------------------------


async def test_payload_bytes_come_back_exactly(store: WebhookStore) -> None:
    payloads = {
        "utf8": '{"name": "Grüße aus Köln", "city": "東京", "gift": "🎁"}'.encode(),
        "binary": bytes(range(256)) * 4,
        "empty": b"",
        "64k": (b'{"pad": "' + os.urandom(32 * 1024).hex().encode() + b'"}')[: 64 * 1024],
        "1m": os.urandom(1024 * 1024),
    }
    assert len(payloads["64k"]) == 65_536  # one byte more than a MySQL BLOB holds
    await store.enqueue([new(k, payload=v) for k, v in payloads.items()], 1)
    listed = {d.event_id: d.payload for d in await only(store)}
    assert listed == payloads
    claimed = {d.event_id: d.payload for d in await store.claim(1_000, 10, 1_000)}
    assert claimed == payloads
    for d in await only(store):
        assert (await get(store, d.id)).payload == payloads[d.event_id]
    added = await store.add(new("added", payload=payloads["utf8"]))
    assert added.payload == payloads["utf8"]


async def test_identifiers_as_long_as_allowed_come_back_exactly(store: WebhookStore) -> None:
    tenant, endpoint, event = "t" * 63 + "é", "ё" * 64, "e" * 63 + "🎁"
    event_type = "order.fulfilled." + "ß" * 84
    d = await store.add(new(event, endpoint, tenant, event_type=event_type))
    got = await get(store, d.id, tenant)
    assert (got.tenant, got.endpoint_id, got.event_id, got.event_type) == (
        tenant,
        endpoint,
        event,
        event_type,
    )
    assert [x.id for x in await store.deliveries(tenant, endpoint, "pending", 10, None)] == [d.id]
    assert await store.cancel_endpoint(tenant, endpoint) == 1


async def test_error_and_response_of_full_length_come_back_exactly(store: WebhookStore) -> None:
    error = ("Zeitüberschreitung 🎁 — 接続が拒否されました; " * 20)[:500]
    response = ('{"détail": "überlastet", "emoji": "🎁🎉", "日本": "語"} ' * 30)[:1000]
    assert (len(error), len(response)) == (500, 1000)
    d = await store.add(new())
    sent = Attempt(d.id, 1, 2_000, 30_000, 502, error, response)
    await store.record(sent, "pending", 9_000, 4)
    assert await store.attempts("acme", d.id) == [sent]
    assert (await get(store, d.id)).last_error == error


# --- MariaDB: beside the ledger -------------------------------------------------------------------


@pytest.mark.mysql
async def test_webhook_migrations_are_kept_apart_from_the_ledgers() -> None:
    async with mysql_database() as url:
        ledger = MysqlLedger(url, pool_size=2)
        webhooks = MysqlWebhookStore(url, pool_size=2)
        try:
            await webhooks.migrate()  # first: version 1 of its own, not the ledger's
            await ledger.migrate()
            await webhooks.migrate()
            await ledger.migrate()
            conn = await asyncmy.connect(**connect_args(url))
            try:
                async with conn.cursor() as cur:
                    await cur.execute("SELECT version FROM webhook_schema_migrations")
                    found = sorted(r[0] for r in await cur.fetchall())
                    assert found == [m.version for m in mysql_webhooks.MIGRATIONS] == [1, 2, 3]
                    await cur.execute("SELECT COUNT(*) FROM schema_migrations")
                    (ledger_versions,) = await cur.fetchone()
                    await cur.execute("SHOW TABLES LIKE 'accounts'")
                    assert await cur.fetchall()  # the ledger made its tables all the same
            finally:
                conn.close()
            assert ledger_versions > 1
            await webhooks.enqueue([new()], 1)
            assert await webhooks.last_sequence() == 1
        finally:
            await webhooks.close()
            await ledger.close()
