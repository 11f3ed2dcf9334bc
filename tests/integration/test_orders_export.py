"""The orders export: a range of UTC days as CSV, newest first, across pages, for staff
only, narrowed by grants, one tenant's, and safe to open in a spreadsheet."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime
from typing import Any

import pytest
from msgspec.structs import replace

from bus.errors import ErrorCode
from bus.messages import Command, Err, Ok
from bus.messages.common import Principal
from bus.messages.history import ExportOrders
from edge import operations, orders_export
from edge.operations import Caller
from edge.orders_export import COLUMNS, PAGE
from storage.ports import ChangeSet, OrderRecord, PutOrder
from tests.conftest import Cluster
from tests.support import order_record

#: Above the ledger (order pages by time are held equal on both ledgers by the contract
#: suite): SQLite only (ADR 30).
pytestmark = pytest.mark.ledgers("sqlite")

EXPORT = "/api/v1/orders/export"


def ms(text: str) -> int:
    return int(datetime.fromisoformat(text).replace(tzinfo=UTC).timestamp() * 1000)


def placed(order_id: str, at: str, **fields: object) -> OrderRecord:
    created = ms(at)
    return replace(
        order_record(order_id, "fulfilled"), created_ms=created, updated_ms=created, **fields
    )


async def seed(cluster: Cluster) -> list[OrderRecord]:
    """acme: one at the last millisecond of 30 November, orders on 1 December (more than a
    page), one at the last millisecond of 2 December, one on 3 December paid by budget b2
    for a recipient whose id looks like a formula, one failed, one on 4 December; globex:
    one on 2 December."""
    # three to a millisecond, and so many that the first page ends between two placed at
    # once (the 3 later orders and 97 of these: ord_0034 on it, ord_0033 on the next)
    busy = [placed(f"ord_{i:04d}", f"2026-12-01T10:00:00.{i // 3:03d}") for i in range(PAGE + 31)]
    orders = [
        placed("ord_before", "2026-11-30T23:59:59.999"),
        *busy,
        placed("ord_edge", "2026-12-02T23:59:59.999"),
        placed("ord_b2", "2026-12-03T08:00:00", payer="budget:b2", recipient="=cmd|'/c calc'!A1"),
        placed("ord_fail", "2026-12-03T09:00:00", status="failed", reason="out_of_stock"),
        placed("ord_next", "2026-12-04T00:00:00"),
    ]
    await cluster.ledger.apply([ChangeSet("acme", orders=tuple(PutOrder(o, 0) for o in orders))])
    other = replace(placed("ord_globex", "2026-12-02T12:00:00"), tenant="globex")
    await cluster.ledger.apply([ChangeSet("globex", orders=(PutOrder(other, 0),))])
    return orders


async def export(cluster: Cluster, headers: dict[str, str], **params: str) -> list[dict[str, str]]:
    async with cluster.client.get(EXPORT, params=params, headers=headers) as r:
        assert (r.status, r.content_type) == (200, "text/csv"), await r.text()
        text = await r.text()
        assert r.headers["Content-Disposition"].startswith("attachment; filename=")
        assert text.splitlines()[0] == ",".join(COLUMNS)
        return list(csv.DictReader(io.StringIO(text)))


async def refusal(cluster: Cluster, headers: dict[str, str], **params: str) -> tuple[int, str]:
    """The status and problem code of an export refused."""
    async with cluster.client.get(EXPORT, params=params, headers=headers) as r:
        assert r.content_type == "application/problem+json"
        return r.status, (await r.json())["code"]


async def test_a_range_of_days_comes_whole_newest_first_across_pages(cluster: Cluster) -> None:
    await seed(cluster)
    owner = cluster.keys.headers("acme")
    rows = await export(cluster, owner, **{"from": "2026-12-01", "to": "2026-12-03"})
    ids = [r["order_id"] for r in rows]
    assert ids[:3] == ["ord_fail", "ord_b2", "ord_edge"]  # 4 December is out, the 2nd's last ms in
    assert ids[3:] == [f"ord_{i:04d}" for i in reversed(range(PAGE + 31))]
    assert len(set(ids)) == len(ids) == PAGE + 34  # no order twice where pages meet
    assert "ord_globex" not in ids
    first = rows[1]
    assert first == {
        "order_id": "ord_b2",
        "created_at": "2026-12-03T08:00:00.000+00:00",
        "updated_at": "2026-12-03T08:00:00.000+00:00",
        "status": "fulfilled",
        "recipient": "'=cmd|'/c calc'!A1",  # text in a spreadsheet, not a formula
        "payer": "budget:b2",
        "product_id": "card-de",
        "face_value_minor": "2500",
        "face_value_currency": "EUR",
        "price_minor": "2500",
        "price_currency": "EUR",
        "voucher_id": "",
        "failure_reason": "",
        "external_id": "",
        "fx_rate": "",
        "points_rate": "",
    }
    failed = await export(
        cluster, owner, **{"from": "2026-12-01", "to": "2026-12-03", "status": "failed"}
    )
    assert [(r["order_id"], r["failure_reason"]) for r in failed] == [("ord_fail", "out_of_stock")]
    one_day = await export(cluster, owner, **{"from": "2026-12-02", "to": "2026-12-02"})
    assert [r["order_id"] for r in one_day] == ["ord_edge"]
    november = await export(cluster, owner, **{"from": "2026-11-01", "to": "2026-11-30"})
    assert [r["order_id"] for r in november] == ["ord_before"]
    assert await export(cluster, owner, **{"from": "2026-10-01", "to": "2026-10-31"}) == []


async def test_only_staff_export_and_narrowed_staff_get_their_budgets_orders(
    cluster: Cluster,
) -> None:
    await seed(cluster)
    days = {"from": "2026-12-01", "to": "2026-12-03"}
    narrowed = cluster.keys.headers("acme", roles=["finance"], grants=["budget:b2"])
    theirs = await export(cluster, narrowed, **days)
    assert [r["order_id"] for r in theirs] == ["ord_b2"]
    ann = cluster.keys.headers("acme", roles=["end_user"], subject="ann")
    assert await refusal(cluster, ann, **days) == (403, "forbidden")
    no_scope = cluster.keys.headers("acme", scopes=["budgets:read"])
    assert await refusal(cluster, no_scope, **days) == (403, "forbidden")
    globex = cluster.keys.headers("globex")
    theirs = await export(cluster, globex, **days)
    assert [r["order_id"] for r in theirs] == ["ord_globex"]


async def test_bad_ranges_are_refused(cluster: Cluster) -> None:
    owner = cluster.keys.headers("acme")
    for params in (
        {"from": "2026-12-01"},
        {"from": "2026-12-03", "to": "2026-12-01"},
        {"from": "2026-02-30", "to": "2026-03-01"},
        {"from": "2025-01-01", "to": "2026-12-31"},
        {"from": "2026-12-01", "to": "2026-12-02", "status": "lost"},
        {"from": "9999-12-30", "to": "9999-12-31"},  # past the last day a time can end
        {"from": "1969-12-31", "to": "1970-01-01"},  # before times in milliseconds begin
        {"from": "2026-12-01", "to": "2026-12-02", "limit": "5"},
    ):
        assert await refusal(cluster, owner, **params) == (422, "invalid_request"), params


async def test_an_export_of_thousands_of_orders_is_whole_in_pages_of_a_thousand(
    cluster: Cluster, monkeypatch: pytest.MonkeyPatch
) -> None:
    """2,345 orders, five to a millisecond (pages end between orders placed at once): the
    file is every one of them, newest first, read in 3 pages — and the same file, byte
    for byte, as pages of the API's 100 give."""
    assert PAGE == 1_000
    orders = [
        placed(f"big_{i:05d}", f"2026-12-05T{i // 3000:02d}:00:{i // 5 % 60:02d}.{i // 300:03d}")
        for i in range(2_345)
    ]
    await cluster.ledger.apply([ChangeSet("acme", orders=tuple(PutOrder(o, 0) for o in orders))])
    pages: list[int] = []
    ask = operations.call

    async def counted(caller: Caller, kind: str, body: Command, **options: Any) -> Any:
        assert isinstance(body, ExportOrders)
        pages.append(body.limit)
        return await ask(caller, kind, body, **options)

    monkeypatch.setattr(orders_export, "call", counted)
    owner = cluster.keys.headers("acme")
    day = {"from": "2026-12-05", "to": "2026-12-05"}
    async with cluster.client.get(EXPORT, params=day, headers=owner) as r:
        assert r.status == 200
        text = await r.text()
    newest_first = sorted(orders, key=lambda o: (o.created_ms, o.order_id), reverse=True)
    rows = list(csv.DictReader(io.StringIO(text)))
    assert [r["order_id"] for r in rows] == [o.order_id for o in newest_first]
    assert pages == [1_000, 1_000, 1_000]

    pages.clear()
    monkeypatch.setattr(orders_export, "PAGE", 100)  # the pages the export read before
    async with cluster.client.get(EXPORT, params=day, headers=owner) as r:
        assert await r.text() == text
    assert len(pages) == 24


async def test_the_history_actor_bounds_the_exports_pages_and_keeps_them_for_staff(
    cluster: Cluster,
) -> None:
    owner = Principal("owner@acme", roles=("owner",))
    person = Principal("ann", roles=("end_user",))
    assert isinstance(await cluster.bus.request("acme", "history", ExportOrders(), owner, 5), Ok)
    refused = await cluster.bus.request("acme", "history", ExportOrders(), person, 5)
    assert isinstance(refused, Err)
    assert refused.code == ErrorCode.FORBIDDEN
    too_many = await cluster.bus.request("acme", "history", ExportOrders(limit=1_001), owner, 5)
    assert isinstance(too_many, Err)
    assert too_many.code == ErrorCode.INVALID_REQUEST
