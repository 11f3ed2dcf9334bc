"""The programme's order limits: a person's orders paid with points, counted exactly by
the treasury per UTC day and week; past a limit the order fails and costs nothing; a
changed programme applies to the very next order; gifts from a budget are not limited."""

from __future__ import annotations

import asyncio
from typing import Any

import msgspec
import pytest

from actors.order_limits import DAY_MS, week_start
from bus.messages import Ok, Principal
from bus.messages.treasury import FulfilOrder, OrderSettled
from bus.time import now_ms
from storage.ports import CatalogueStore, ChangeSet, PutOrder
from tests.conftest import Cluster
from tests.support import order_record

PROGRAMME = "/api/v1/tenant/config/programme"


@pytest.fixture(autouse=True)
async def away_from_midnight() -> None:
    """Days and weeks turn at UTC midnight: a test never runs across one."""
    left_ms = DAY_MS - now_ms() % DAY_MS
    if left_ms < 30_000:
        await asyncio.sleep(left_ms / 1000 + 1)


async def set_programme(cluster: Cluster, limits: dict[str, Any]) -> None:
    acme = cluster.keys.headers("acme")
    async with cluster.client.get(PROGRAMME, headers=acme) as r:
        current = r.headers.get("ETag") if r.status == 200 else None
    headers = {**acme, **({"If-Match": current} if current else {"If-None-Match": "*"})}
    async with cluster.client.put(PROGRAMME, json=limits, headers=headers) as r:
        assert r.status in (200, 201), await r.text()


async def redeem(cluster: Cluster, person: str, key: str) -> dict[str, Any]:
    token = cluster.keys.token("acme", roles=["end_user"], subject=person)
    order = {"product_id": "card-de", "face_value_minor": 2500, "recipient": person}
    headers = {"Authorization": f"Bearer {token}", "Idempotency-Key": key}
    async with cluster.client.post("/api/v1/orders", json=order, headers=headers) as r:
        body: dict[str, Any] = await r.json()
        assert r.status == 201, body
        return body


async def test_a_day_limit_fails_the_next_order_and_takes_nothing(
    cluster: Cluster, catalogue: CatalogueStore
) -> None:
    await cluster.open_shop(catalogue, 40, 1_000_000, {"bob": 10_000, "cy": 10_000})
    await set_programme(cluster, {"max_orders_per_day": 2})
    first = await redeem(cluster, "bob", "b-1")
    second = await redeem(cluster, "bob", "b-2")
    assert (first["status"], second["status"]) == ("fulfilled", "fulfilled")
    third = await redeem(cluster, "bob", "b-3")
    assert (third["status"], third["failure_reason"]) == ("failed", "order_limit_reached")
    assert await cluster.ledger.account_balance("acme", "wallet:bob") == 5_000
    assert await redeem(cluster, "bob", "b-1") == first  # a retry is the same order
    assert (await redeem(cluster, "cy", "c-1"))["status"] == "fulfilled"  # one's own count

    gift = {"product_id": "card-de", "face_value_minor": 2500, "recipient": "bob"}
    gift |= {"budget_id": "b1"}
    headers = {**cluster.keys.headers("acme"), "Idempotency-Key": "gift-1"}
    async with cluster.client.post("/api/v1/orders", json=gift, headers=headers) as r:
        assert (r.status, (await r.json())["status"]) == (201, "fulfilled")  # not limited

    await set_programme(cluster, {"max_orders_per_day": 3})  # the very next order sees it
    assert (await redeem(cluster, "bob", "b-4"))["status"] == "fulfilled"
    refused = await redeem(cluster, "bob", "b-5")
    assert refused["failure_reason"] == "order_limit_reached"
    await set_programme(cluster, {})  # no limits
    assert (await redeem(cluster, "bob", "b-6"))["status"] == "fulfilled"
    assert await cluster.ledger.account_balance("acme", "wallet:bob") == 0


async def test_a_week_counts_this_weeks_orders_only(
    cluster: Cluster, catalogue: CatalogueStore
) -> None:
    await cluster.open_shop(catalogue, 40, 1_000_000, {"ann": 10_000})
    now = now_ms()

    def earlier(order_id: str, created_ms: int, status: str = "fulfilled") -> PutOrder:
        record = msgspec.structs.replace(
            order_record(order_id, status), payer="wallet:ann", created_ms=created_ms
        )
        return PutOrder(record, 0)

    this_week = week_start(now)
    placed = (
        earlier("old-1", this_week - 1),  # last week
        earlier("old-2", this_week - 3 * DAY_MS),
        earlier("old-3", this_week, status="failed"),  # failed: not counted
        earlier("new-1", this_week),  # this week's first millisecond
    )
    await cluster.ledger.apply([ChangeSet("acme", orders=placed)])
    await set_programme(cluster, {"max_orders_per_week": 2})
    assert (await redeem(cluster, "ann", "a-1"))["status"] == "fulfilled"
    refused = await redeem(cluster, "ann", "a-2")
    assert (refused["status"], refused["failure_reason"]) == ("failed", "order_limit_reached")
    assert await cluster.ledger.account_balance("acme", "wallet:ann") == 7_500


async def test_limits_are_validated_when_set(cluster: Cluster) -> None:
    acme = {**cluster.keys.headers("acme"), "If-None-Match": "*"}
    for bad in (
        {"max_orders_per_day": 0},
        {"max_orders_per_day": 5, "max_orders_per_week": 4},
        {"max_orders_per_week": "7"},
    ):
        async with cluster.client.put(PROGRAMME, json=bad, headers=acme) as r:
            problem = await r.json()
            assert (r.status, r.content_type) == (422, "application/problem+json"), problem
    async with cluster.client.get(PROGRAMME, headers=cluster.keys.headers("acme")) as r:
        assert r.status == 404  # nothing was stored


async def test_orders_placed_at_once_count_each_other(
    cluster: Cluster, catalogue: CatalogueStore
) -> None:
    await cluster.open_shop(catalogue, 40, 1_000_000, {"dee": 10_000})
    await set_programme(cluster, {"max_orders_per_day": 2})
    placed = await asyncio.gather(*(redeem(cluster, "dee", f"d-{n}") for n in range(6)))
    assert sorted(o["status"] for o in placed) == ["failed"] * 4 + ["fulfilled"] * 2
    assert {o["failure_reason"] for o in placed if o["status"] == "failed"} == {
        "order_limit_reached"
    }
    assert await cluster.ledger.account_balance("acme", "wallet:dee") == 5_000


async def test_the_last_rules_read_hold_while_they_cannot_be_read(
    cluster: Cluster, catalogue: CatalogueStore
) -> None:
    await cluster.open_shop(catalogue, 40, 1_000_000, {"eve": 10_000})
    await set_programme(cluster, {"max_orders_per_day": 1})
    assert (await redeem(cluster, "eve", "e-1"))["status"] == "fulfilled"
    docs = cluster.host.context.tenant_docs
    assert docs is not None
    await docs.close()  # the tenant documents store is gone
    acme = {**cluster.keys.headers("acme"), "If-None-Match": "*"}
    async with cluster.client.put(PROGRAMME, json={}, headers=acme) as r:
        assert r.status == 503  # and the tenant config actor forgot what it had read
    cluster.host.context.programmes.changed("acme")  # as if the kept rules timed out
    refused = await redeem(cluster, "eve", "e-2")
    assert (refused["status"], refused["failure_reason"]) == ("failed", "order_limit_reached")


async def test_an_order_is_checked_against_the_day_it_is_counted_in(
    cluster: Cluster, catalogue: CatalogueStore
) -> None:
    """An order priced just before midnight and decided just after is counted on the day
    it was placed, so it is checked against that day too: else a burst straddling
    midnight passed the new day's empty count and overran the old day's limit."""
    await cluster.open_shop(catalogue, 10, 1_000_000, {"bob": 10_000})
    await set_programme(cluster, {"max_orders_per_day": 1})
    before_midnight = now_ms() // DAY_MS * DAY_MS - 1  # yesterday's last millisecond
    system = Principal("system", roles=("system",))

    def fulfil(order_id: str) -> FulfilOrder:
        return FulfilOrder(
            order_id=order_id, recipient="bob", payer="wallet:bob", product_id="card-de",
            face_value_minor=2500, currency="EUR", price_minor=2500, price_unit="PTS",
            external_id="", created_ms=before_midnight, points_rate="100",
        )  # fmt: skip

    replies = []
    for order_id in ("ord-late-1", "ord-late-2"):
        replies.append(await cluster.bus.request("acme", "treasury", fulfil(order_id), system, 10))
    settled = [r.value for r in replies if isinstance(r, Ok) and isinstance(r.value, OrderSettled)]
    assert [(v.status, v.reason) for v in settled] == [
        ("fulfilled", ""),
        ("failed", "order_limit_reached"),
    ]
    assert await cluster.ledger.account_balance("acme", "wallet:bob") == 7_500
