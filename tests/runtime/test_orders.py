"""Orders: the saga pays, allocates a code or refunds; exactly once per key; resumable."""

from __future__ import annotations

import asyncio
import dataclasses
from collections import Counter
from collections.abc import AsyncIterator

import msgspec
import pytest

from actors.leased_codes import LEASE_MIN, LOW_WATER
from actors.orders import order_id_for
from actors.runtime.host import ActorHost
from bus import subjects
from bus.client import Bus
from bus.errors import ErrorCode
from bus.messages import Command, Err, Ok, Principal, Reply, encoder
from bus.messages.budget import CreateBudget
from bus.messages.catalogue import CatalogueChanged, CurateProduct
from bus.messages.common import Money
from bus.messages.orders import (
    CancelOrder,
    GetOrder,
    OrderCodes,
    OrderView,
    PlaceOrder,
    ResendOrder,
)
from bus.messages.treasury import FulfilOrder, FxTable, GetFxRates, OrderSettled, SetFxRate
from bus.messages.vouchers import (
    AllocateCode,
    CodeRow,
    GetPool,
    ImportCodes,
    LeaseCodes,
    PoolView,
    Revealed,
)
from bus.messages.wallet import IssuePoints
from storage.ports import CatalogueStore, ChangeSet, Ledger, PutOrder
from tests.conftest import start_host
from tests.support import (
    budget_record,
    fail_first_ask,
    gift_card,
    order_record,
    outbox_drained,
    stream_messages,
    transactions,
    until,
)

ADMIN = Principal("admin@acme", roles=("admin",))


def person(name: str) -> Principal:
    return Principal(name, roles=("end_user",))


@pytest.fixture
async def host(bus: Bus, ledger: Ledger, catalogue: CatalogueStore) -> AsyncIterator[ActorHost]:
    card = gift_card(denominations=(1000, 2500))
    yen = gift_card("card-jp", currency="JPY", country="JP", denominations=(1000,))
    await catalogue.put_products([card, yen])
    h = await start_host(bus, ledger, catalogue)
    yield h
    await h.stop()


async def ask(
    bus: Bus, kind: str, body: Command, who: Principal = ADMIN, key: str | None = None
) -> Reply:
    return await bus.request("acme", kind, body, who, timeout_s=10, idempotency_key=key)


async def stock(bus: Bus, codes: int, face: int = 2500) -> None:
    rows = tuple(CodeRow(f"CODE-{face}-{i:05d}") for i in range(codes))
    assert isinstance(await ask(bus, "vouchers", ImportCodes("card-de", face, "EUR", rows)), Ok)


async def fund(bus: Bus, budget: int = 100_000) -> None:
    opened = await ask(bus, "treasury", CreateBudget("b1", "Programme", Money(budget, "EUR")))
    assert isinstance(opened, Ok)


def order(
    n: int,
    recipient: str = "ann",
    budget: str | None = "b1",
    face: int = 2500,
    product: str = "card-de",
    external: str | None = None,
) -> PlaceOrder:
    return PlaceOrder(f"ord-{n}", product, face, recipient, budget, external)


def placed(reply: Reply) -> OrderView:
    assert isinstance(reply, Ok), reply
    assert isinstance(reply.value, OrderView)
    return reply.value


async def pool_figures(bus: Bus, product_id: str, face_value: int) -> tuple[int, int]:
    """(available, allocated) as the vouchers actor reports a pool."""
    pool = await ask(bus, "vouchers", GetPool(product_id, face_value))
    assert isinstance(pool, Ok)
    assert isinstance(pool.value, PoolView)
    return pool.value.available, pool.value.allocated


async def test_a_gift_card_paid_from_a_budget(bus: Bus, ledger: Ledger, host: ActorHost) -> None:
    await fund(bus)
    await stock(bus, 2)
    o = placed(await ask(bus, "orders", order(1)))
    assert o.status == "fulfilled"
    assert o.price == Money(2500, "EUR")
    assert o.code_id.startswith("vch_")
    record = await budget_record(ledger, "acme", "b1")
    assert record is not None
    assert record.balance_minor == 100_000 - 2500
    codes = await ask(bus, "orders", OrderCodes(o.order_id))
    assert isinstance(codes, Ok)
    assert isinstance(codes.value, Revealed)
    assert codes.value.codes[0].code.startswith("CODE-2500-")
    # The recipient sees it too; someone else does not even learn the order exists.
    assert isinstance(await ask(bus, "orders", OrderCodes(o.order_id), person("ann")), Ok)
    stranger = await ask(bus, "orders", OrderCodes(o.order_id), person("bob"))
    assert isinstance(stranger, Err)
    assert stranger.code == ErrorCode.NOT_FOUND


async def test_points_redemption_and_nothing_taken_when_out_of_stock(
    bus: Bus, ledger: Ledger, host: ActorHost
) -> None:
    await fund(bus)
    await stock(bus, 1)
    issued = await ask(bus, "treasury", IssuePoints("b1", "ann", 6000, "rwd-1"))
    assert isinstance(issued, Ok)
    first = placed(await ask(bus, "orders", order(1, budget=None), person("ann")))
    assert (first.status, first.price) == ("fulfilled", Money(2500, "PTS"))
    second = placed(await ask(bus, "orders", order(2, budget=None), person("ann")))
    assert (second.status, second.reason) == ("failed", "out_of_stock")
    assert await ledger.account_balance("acme", "wallet:ann") == 6000 - 2500
    # the first order's points were spent; the second found no code and took nothing
    assert await ledger.account_balance("acme", "points:redeemed") == 2500
    assert f"{first.order_id}:committed" in await transactions(ledger, "acme")
    assert f"{second.order_id}:committed" not in await transactions(ledger, "acme")
    assert f"{second.order_id}:hold" not in await transactions(ledger, "acme")
    third = await ask(bus, "orders", order(3, budget=None, face=1000), person("ann"))
    assert placed(third).reason == "out_of_stock"
    poor = await ask(bus, "orders", order(4, budget=None, recipient="bob"), person("bob"))
    assert (placed(poor).status, placed(poor).reason) == ("failed", "insufficient_funds")
    others = await ask(bus, "orders", order(5, budget=None), person("bob"))
    assert isinstance(others, Err)
    assert others.code == ErrorCode.FORBIDDEN
    yen = await ask(
        bus, "orders", order(6, budget=None, product="card-jp", face=1000), person("ann")
    )
    assert isinstance(yen, Err)
    assert yen.code == ErrorCode.CURRENCY_MISMATCH
    assert await ledger.entries_total("acme") == 0


async def test_one_order_per_key_and_per_external_id(
    bus: Bus, ledger: Ledger, host: ActorHost
) -> None:
    await fund(bus)
    await stock(bus, 5)
    first = placed(await ask(bus, "orders", order(1), key="k-1"))
    again = placed(await ask(bus, "orders", order(2), key="k-1"))  # a retry: new attempt id
    assert again == first
    other = await ask(bus, "orders", order(3, face=1000), key="k-1")
    assert isinstance(other, Err)
    assert other.code == ErrorCode.IDEMPOTENCY_KEY_REUSED
    crm = placed(await ask(bus, "orders", order(4, external="crm-42")))
    assert placed(await ask(bus, "orders", order(5, external="crm-42"))) == crm
    record = await budget_record(ledger, "acme", "b1")
    assert record is not None
    assert record.balance_minor == 100_000 - 2 * 2500


async def test_a_retry_finds_the_order_its_key_placed_step_by_step(
    bus: Bus, ledger: Ledger, host: ActorHost
) -> None:
    # An order placed step by step (by an earlier version) took its id from the key and
    # has no stored reply while it is on its way: the treasury, which places new orders
    # under the id the edge made, must find it rather than place a second one.
    await fund(bus)
    await stock(bus, 2)
    earlier = order_id_for("acme", ADMIN.subject, "k-saga")
    await ledger.apply([ChangeSet("acme", orders=(PutOrder(order_record(earlier), 0),))])
    again = placed(await ask(bus, "treasury", order(7), key="k-saga"))
    assert again.order_id == earlier
    assert await ledger.load_orders("acme", ["ord-7"]) == []
    new = placed(await ask(bus, "treasury", order(8), key="k-new"))
    assert new.order_id == "ord-8"  # a new order keeps the id it was sent with


async def test_an_interrupted_order_is_resumed(bus: Bus, ledger: Ledger, host: ActorHost) -> None:
    await fund(bus)
    await stock(bus, 1)
    # The actor host died right after recording the order, before paying for it.
    await ledger.apply([ChangeSet("acme", orders=(PutOrder(order_record("ord-crashed"), 0),))])
    resumed = placed(await ask(bus, "orders", GetOrder("ord-crashed")))
    assert resumed.status == "fulfilled"
    record = await budget_record(ledger, "acme", "b1")
    assert record is not None
    assert record.balance_minor == 100_000 - 2500
    assert (await ledger.unfinished_orders("acme", 10)) == []


async def test_burst_of_redemptions_keeps_every_invariant(
    bus: Bus, ledger: Ledger, host: ActorHost
) -> None:
    await fund(bus, budget=1_000_000)
    await stock(bus, 150)
    people = [f"p{i}" for i in range(100)]
    for p in people:  # enough for one card each, and a second for some
        assert isinstance(await ask(bus, "treasury", IssuePoints("b1", p, 4000, f"r-{p}")), Ok)
    replies = await asyncio.gather(
        *(
            ask(
                bus,
                "orders",
                order(i, recipient=people[i % 100], budget=None),
                person(people[i % 100]),
            )
            for i in range(400)
        )
    )
    views = [placed(r) for r in replies]
    outcome = Counter((v.status, v.reason) for v in views)
    assert outcome[("fulfilled", "")] == 100  # each person can afford exactly one
    assert outcome[("failed", "insufficient_funds")] == 300
    codes = [v.code_id for v in views if v.status == "fulfilled"]
    assert len(set(codes)) == len(codes)
    for p in people:
        assert await ledger.account_balance("acme", f"wallet:{p}") == 4000 - 2500
    assert await ledger.entries_total("acme") == 0
    counts = await ledger.pool_counts("acme", "card-de", 2500)
    # codes the treasury holds on lease are not given: still available in the pool's view
    assert (counts["allocated"], counts.get("available", 0) + counts.get("leased", 0)) == (100, 50)
    assert await pool_figures(bus, "card-de", 2500) == (50, 100)


async def test_cancelling_a_points_order_gives_the_points_and_their_money_back(
    bus: Bus, ledger: Ledger, host: ActorHost
) -> None:
    await fund(bus)
    await stock(bus, 1)
    assert isinstance(await ask(bus, "treasury", IssuePoints("b1", "ann", 6000, "rwd-1")), Ok)
    o = placed(await ask(bus, "orders", order(1, budget=None), person("ann")))
    assert o.status == "fulfilled"
    assert await ledger.account_balance("acme", "points:redeemed") == 2500
    cancelled = placed(await ask(bus, "orders", CancelOrder(o.order_id)))
    assert cancelled.status == "cancelled"
    assert await ledger.account_balance("acme", "wallet:ann") == 6000
    assert await ledger.account_balance("acme", "points:redeemed") == 0
    assert await ledger.account_balance("acme", "redeemed:EUR") == 0
    assert await ledger.account_balance("acme", "points:EUR") == 6000
    assert await ledger.entries_total("acme") == 0


async def test_staff_cancel_within_the_window_voids_and_refunds(
    bus: Bus, ledger: Ledger, host: ActorHost
) -> None:
    await fund(bus)
    await stock(bus, 2)
    o = placed(await ask(bus, "orders", order(1)))
    refused = await ask(bus, "orders", CancelOrder(o.order_id), person("ann"))
    assert isinstance(refused, Err)
    assert refused.code == ErrorCode.NOT_FOUND  # not staff: not even told it exists
    cancelled = placed(await ask(bus, "orders", CancelOrder(o.order_id, "wrong recipient")))
    assert (cancelled.status, cancelled.reason) == ("cancelled", "wrong recipient")
    assert placed(await ask(bus, "orders", CancelOrder(o.order_id))) == cancelled
    record = await budget_record(ledger, "acme", "b1")
    assert record is not None
    assert record.balance_minor == 100_000  # refunded
    (code,) = await ledger.load_codes("acme", [o.code_id])
    assert code.status == "void"  # never given again
    assert await pool_figures(bus, "card-de", 2500) == (1, 0)  # the void code is not counted
    gone = await ask(bus, "orders", OrderCodes(o.order_id))
    assert isinstance(gone, Err)
    failed = placed(await ask(bus, "orders", order(2, face=1000)))
    assert failed.status == "failed"
    not_fulfilled = await ask(bus, "orders", CancelOrder(failed.order_id))
    assert isinstance(not_fulfilled, Err)
    assert not_fulfilled.code == ErrorCode.INVALID_REQUEST
    assert await ledger.entries_total("acme") == 0


async def test_resend_publishes_the_delivery_again(
    bus: Bus, ledger: Ledger, host: ActorHost
) -> None:
    await fund(bus)
    await stock(bus, 1)
    o = placed(await ask(bus, "orders", order(1)))
    assert placed(await ask(bus, "orders", ResendOrder(o.order_id))) == o
    await outbox_drained(ledger)
    events = await stream_messages(bus, subjects.event("acme", "order", "resent"))
    assert [e["data"] for e in events] == [
        {**msgspec.to_builtins(events[0]["data"]), "order_id": o.order_id}
    ]
    data = events[0]["data"]
    assert isinstance(data, dict)
    assert data["status"] == "fulfilled"


async def test_an_order_the_pool_could_not_serve_leaves_nothing_and_its_retry_pays_once(
    bus: Bus, ledger: Ledger, host: ActorHost
) -> None:
    failed_once = fail_first_ask(host, LeaseCodes, "vouchers are restarting")
    await fund(bus)
    await stock(bus, 1)
    first = await ask(bus, "orders", order(1), key="k-flaky")
    assert isinstance(first, Err)
    assert first.retryable
    assert [c.product_id for c in failed_once if isinstance(c, LeaseCodes)] == ["card-de"]
    record = await budget_record(ledger, "acme", "b1")
    assert record is not None
    assert record.balance_minor == 100_000
    assert await ledger.unfinished_orders("acme", 10) == []
    again = placed(await ask(bus, "orders", order(2), key="k-flaky"))  # the client's retry
    assert again.status == "fulfilled"
    record = await budget_record(ledger, "acme", "b1")
    assert record is not None
    assert record.balance_minor == 100_000 - 2500  # paid once


async def test_a_lease_whose_answer_was_lost_is_answered_again_under_its_key(
    bus: Bus, ledger: Ledger, host: ActorHost
) -> None:
    """The vouchers actor set the pool's last code aside, but its answer never reached
    the treasury (a timeout, the bus away). Asked again under the lease's key, it answers
    with that code: the next order gets it, instead of out_of_stock with the code set
    aside for no one until the treasury reloads."""
    real_ask = host.context.ask
    leases: list[str | None] = []

    async def answer_lost_once(tenant: str, kind: str, body: Command, key: str | None) -> Reply:
        reply = await real_ask(tenant, kind, body, key)
        if isinstance(body, LeaseCodes):
            leases.append(key)
            if len(leases) == 1:
                return Err.of(ErrorCode.UNAVAILABLE, "no reply within 10.000s")
        return reply

    host.context = dataclasses.replace(host.context, ask=answer_lost_once)
    await fund(bus)
    await stock(bus, 1)
    first = await ask(bus, "orders", order(1), key="k-lost")
    assert isinstance(first, Err)
    assert first.retryable

    async def asked_again() -> bool:
        return len(leases) >= 2

    await until(asked_again, "the lease asked for again")
    assert leases[0] is not None
    assert leases[1] == leases[0]  # asked again under the same key
    again = placed(await ask(bus, "orders", order(2), key="k-lost"))  # the client's retry
    assert again.status == "fulfilled"
    assert await ledger.pool_counts("acme", "card-de", 2500) == {"allocated": 1}


async def test_a_stranded_order_whose_step_failed_goes_on_by_itself(
    bus: Bus, ledger: Ledger, host: ActorHost
) -> None:
    await fund(bus)
    await stock(bus, 1)
    fail_first_ask(host, AllocateCode, "vouchers are restarting")
    # Recorded by an earlier version, which carried orders step by step, before a crash.
    await ledger.apply([ChangeSet("acme", orders=(PutOrder(order_record("ord-stranded"), 0),))])
    o = placed(await ask(bus, "orders", GetOrder("ord-stranded")))
    assert o.status == "paid"  # paid, no code yet: the client is told it is on its way
    for _ in range(50):  # nobody asks again: the actor retries on its own
        await asyncio.sleep(0.1)
        (stored,) = await ledger.load_orders("acme", [o.order_id])
        if stored.status == "fulfilled":
            break
    assert stored.status == "fulfilled"
    record = await budget_record(ledger, "acme", "b1")
    assert record is not None
    assert record.balance_minor == 100_000 - 2500  # paid once


async def test_spending_a_budget_needs_a_spending_role(
    bus: Bus, ledger: Ledger, host: ActorHost
) -> None:
    await fund(bus)
    await stock(bus, 1)
    refused = await ask(bus, "orders", order(1, recipient="ann"), person("ann"))
    assert isinstance(refused, Err)
    assert refused.code == ErrorCode.FORBIDDEN
    o = placed(await ask(bus, "orders", order(2)))
    stranger = await ask(bus, "orders", GetOrder(o.order_id), person("bob"))
    assert isinstance(stranger, Err)
    assert stranger.code == ErrorCode.NOT_FOUND
    assert placed(await ask(bus, "orders", GetOrder(o.order_id), person("ann"))) == o


async def test_a_callers_keys_cannot_block_the_sagas_steps(
    bus: Bus, ledger: Ledger, host: ActorHost
) -> None:
    await fund(bus)
    await stock(bus, 1)
    o = placed(await ask(bus, "orders", order(1)))
    # A user spends the keys the cancellation's steps will use, on requests of their own.
    for step in ("void", "cancel-refund"):
        await ask(bus, "orders", GetOrder("x"), person("mallory"), key=f"{o.order_id}:{step}")
    both = await asyncio.gather(
        ask(bus, "orders", CancelOrder(o.order_id)), ask(bus, "orders", CancelOrder(o.order_id))
    )
    assert [placed(r).status for r in both] == ["cancelled", "cancelled"]
    (code,) = await ledger.load_codes("acme", [o.code_id])
    assert code.status == "void"


async def test_an_order_in_another_currency_locks_the_tenants_rate(
    bus: Bus, ledger: Ledger, host: ActorHost
) -> None:
    await fund(bus)
    rows = tuple(CodeRow(f"YEN-{i}") for i in range(3))
    assert isinstance(await ask(bus, "vouchers", ImportCodes("card-jp", 1000, "JPY", rows)), Ok)
    no_rate = await ask(bus, "orders", order(1, product="card-jp", face=1000))
    assert isinstance(no_rate, Err)
    assert no_rate.code == ErrorCode.CURRENCY_MISMATCH
    refused = await ask(bus, "treasury", SetFxRate("JPY", "EUR", "0.0061"), person("ann"))
    assert isinstance(refused, Err)
    assert refused.code == ErrorCode.FORBIDDEN
    assert isinstance(await ask(bus, "treasury", SetFxRate("JPY", "EUR", "0.0061")), Ok)
    o = placed(await ask(bus, "orders", order(2, product="card-jp", face=1000)))
    assert (o.status, o.price, o.fx_rate) == ("fulfilled", Money(610, "EUR"), "0.0061")
    assert isinstance(await ask(bus, "treasury", SetFxRate("JPY", "EUR", "0.0070")), Ok)
    assert placed(await ask(bus, "orders", GetOrder(o.order_id))).price == Money(610, "EUR")
    record = await budget_record(ledger, "acme", "b1")
    assert record is not None
    assert record.balance_minor == 100_000 - 610
    issued = await ask(bus, "treasury", IssuePoints("b1", "ann", 1000, "rwd-fx"))
    assert isinstance(issued, Ok)
    points = placed(
        await ask(bus, "orders", order(3, product="card-jp", face=1000, budget=None), person("ann"))
    )
    assert (points.status, points.price) == ("fulfilled", Money(700, "PTS"))  # new rate
    rates = await ask(bus, "treasury", GetFxRates())
    assert isinstance(rates, Ok)
    assert isinstance(rates.value, FxTable)
    assert [(r.base, r.quote, r.rate) for r in rates.value.rates] == [("JPY", "EUR", "0.0070")]
    assert await ledger.entries_total("acme") == 0


async def test_the_treasury_carries_an_order_out_once_and_only_for_the_system(
    bus: Bus, ledger: Ledger, host: ActorHost
) -> None:
    await fund(bus)
    await stock(bus, 3)
    fulfil = FulfilOrder(
        order_id="ord-direct",
        recipient="ann",
        payer="budget:b1",
        product_id="card-de",
        face_value_minor=2500,
        currency="EUR",
        price_minor=2500,
        price_unit="EUR",
        external_id="",
        created_ms=1,
    )
    refused = await ask(bus, "treasury", fulfil)  # an admin is not the system
    assert isinstance(refused, Err)
    assert refused.code == ErrorCode.FORBIDDEN
    system = Principal("perkbus:system", roles=("system",))
    first = await ask(bus, "treasury", fulfil, system)
    again = await ask(bus, "treasury", fulfil, system)  # no idempotency key: asked again
    assert isinstance(first, Ok)
    assert isinstance(first.value, OrderSettled)
    assert first.value.status == "fulfilled"
    assert again == first  # answered from what was written, not carried out twice
    (stored,) = await ledger.load_orders("acme", ["ord-direct"])
    assert (stored.status, stored.code_id, stored.version) == ("fulfilled", first.value.code_id, 1)
    record = await budget_record(ledger, "acme", "b1")
    assert record is not None
    assert record.balance_minor == 100_000 - 2500
    assert await pool_figures(bus, "card-de", 2500) == (2, 1)
    assert await ledger.entries_total("acme") == 0


async def test_a_curation_reaches_the_very_next_order(
    bus: Bus, ledger: Ledger, host: ActorHost
) -> None:
    """The treasury keeps the products it asked the catalogue actor for (ADR 21), but a
    tenant's curation drops them before the curator is answered."""
    curator = Principal("curator@acme", roles=("admin",), scopes=("catalogue:admin",))
    await fund(bus)
    await stock(bus, 3)
    first = placed(await ask(bus, "treasury", order(1)))  # as the edge sends it
    assert first.price == Money(2500, "EUR")
    hide = CurateProduct("card-de", enabled=False)
    assert isinstance(await ask(bus, "catalogue", hide, curator), Ok)
    hidden = await ask(bus, "treasury", order(2))
    assert isinstance(hidden, Err)
    assert hidden.code == ErrorCode.NOT_FOUND
    marked_up = CurateProduct("card-de", enabled=True, markup_bps=1000)
    assert isinstance(await ask(bus, "catalogue", marked_up, curator), Ok)
    third = placed(await ask(bus, "treasury", order(3)))
    assert third.price == Money(2750, "EUR")
    record = await budget_record(ledger, "acme", "b1")
    assert record is not None
    assert record.balance_minor == 100_000 - 2500 - 2750


async def test_a_catalogue_hint_from_another_host_drops_the_products_kept_here(
    bus: Bus, host: ActorHost
) -> None:
    """A catalogue actor on another host (a tenant's partition moved there and back, two
    hosts overlapping in a deploy) announces its changes on core NATS: the products this
    host kept for that tenant's treasury are asked for again; other tenants' stay kept
    until a change of the platform's products drops them all."""
    await fund(bus)
    await stock(bus, 3)
    placed(await ask(bus, "treasury", order(1)))
    views = host.context.product_views
    kept = views.get("acme", "card-de")
    assert kept is not None
    views.keep("globex", "card-de", kept, views.generation("globex"))

    async def hinted(payload: bytes, tenant: str) -> None:
        async def dropped() -> bool:
            return views.get(tenant, "card-de") is None

        await bus.nc.publish(subjects.CATALOGUE_CHANGED, payload)
        await until(dropped, f"the products kept for {tenant or 'every tenant'} dropped")

    await bus.nc.publish(subjects.CATALOGUE_CHANGED, b"not a hint")  # ignored
    await hinted(encoder.encode(CatalogueChanged("acme")), "acme")
    assert views.get("globex", "card-de") is not None
    second = placed(await ask(bus, "treasury", order(2)))  # asks the catalogue again
    assert second.price == Money(2500, "EUR")
    assert views.get("acme", "card-de") is not None
    await hinted(encoder.encode(CatalogueChanged("")), "globex")
    assert views.get("acme", "card-de") is None


async def test_the_treasury_leases_ahead_of_need_in_the_background(
    bus: Bus, ledger: Ledger, host: ActorHost
) -> None:
    await fund(bus, 1_000_000)
    await stock(bus, 100)
    first = range(1, LEASE_MIN)
    views = [placed(await ask(bus, "orders", order(i), key=f"k-{i}")) for i in first]
    assert {v.status for v in views} == {"fulfilled"}
    # 1 + LEASE_MIN leased by the first order (one at a time: the minimum lease); 2 left
    # after the others: still LOW_WATER batches' worth, no refill yet
    assert await ledger.pool_counts("acme", "card-de", 2500) == {
        "allocated": LEASE_MIN - 1,
        "leased": LOW_WATER,
        "available": 100 - 1 - LEASE_MIN,
    }
    next_one = placed(await ask(bus, "orders", order(LEASE_MIN), key=f"k-{LEASE_MIN}"))
    assert next_one.status == "fulfilled"  # from what was held, with 1 left: a refill goes out
    want = {"allocated": LEASE_MIN, "leased": 1 + LEASE_MIN, "available": 100 - 1 - 2 * LEASE_MIN}
    for _ in range(100):
        if await ledger.pool_counts("acme", "card-de", 2500) == want:
            break
        await asyncio.sleep(0.02)
    assert await ledger.pool_counts("acme", "card-de", 2500) == want
    more = range(LEASE_MIN + 1, LEASE_MIN + 5)
    later = [placed(await ask(bus, "orders", order(i), key=f"k-{i}")) for i in more]
    codes = {v.code_id for v in [*views, next_one, *later]}
    assert len(codes) == LEASE_MIN + 4
    counts = await ledger.pool_counts("acme", "card-de", 2500)
    assert counts["allocated"] == LEASE_MIN + 4  # the rest leased or available
    assert counts["leased"] + counts["available"] == 100 - LEASE_MIN - 4


async def test_codes_leased_before_a_restart_are_given_after_it_and_never_twice(
    bus: Bus, ledger: Ledger, catalogue: CatalogueStore, host: ActorHost
) -> None:
    await fund(bus, 1_000_000)
    stocked = LEASE_MIN + 13  # the lease leaves more than the low-stock mark (10)
    await stock(bus, stocked)
    first = placed(await ask(bus, "orders", order(1), key="k-1"))
    assert first.status == "fulfilled"
    counts = await ledger.pool_counts("acme", "card-de", 2500)
    # the batch's one code and the minimum lease ahead
    assert counts == {"allocated": 1, "leased": LEASE_MIN, "available": 12}
    await host.stop()
    fresh = await start_host(bus, ledger, catalogue)  # the lease comes from storage
    try:
        views = [
            placed(await ask(bus, "orders", order(i), key=f"k-{i}")) for i in range(2, stocked + 2)
        ]
    finally:
        await fresh.stop()
    outcome = Counter((v.status, v.reason) for v in views)
    assert outcome == {("fulfilled", ""): stocked - 1, ("failed", "out_of_stock"): 1}
    codes = [first.code_id, *(v.code_id for v in views if v.status == "fulfilled")]
    assert len(set(codes)) == stocked  # the leased codes too, once each
    assert await ledger.pool_counts("acme", "card-de", 2500) == {"allocated": stocked}
    record = await budget_record(ledger, "acme", "b1")
    assert record is not None
    assert record.balance_minor == 1_000_000 - stocked * 2500
    assert await ledger.entries_total("acme") == 0
