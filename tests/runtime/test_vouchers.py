"""Voucher pools: imports, generated codes, allocation at most once, sealed at rest."""

from __future__ import annotations

import asyncio
import re
from collections import Counter
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from actors.config import ActorsConfig
from actors.runtime.host import ActorHost
from bus import subjects
from bus.client import Bus
from bus.errors import ErrorCode
from bus.messages import Err, Ok, Principal, Reply
from bus.messages.vouchers import (
    AllocateCode,
    Allocated,
    CodeRow,
    GenerateCodes,
    GetPool,
    ImportCodes,
    ImportReport,
    LeaseCodes,
    Leased,
    PoolView,
    RevealCodes,
    Revealed,
    SweepExpiring,
    SweepReport,
    VoucherCommand,
)
from bus.time import now_ms
from storage.ports import CatalogueStore, ChangeSet, Ledger, VoucherCode
from tests.conftest import start_host
from tests.support import outbox_drained, stream_messages

ADMIN = Principal("admin@acme", roles=("admin",))
SYSTEM = Principal("system", roles=("system",))


@pytest.fixture
async def host(bus: Bus, ledger: Ledger, catalogue: CatalogueStore) -> AsyncIterator[ActorHost]:
    h = await start_host(bus, ledger, catalogue)
    yield h
    await h.stop()


async def ask(bus: Bus, body: VoucherCommand, who: Principal = ADMIN) -> Reply:
    return await bus.request("acme", "vouchers", body, who, timeout_s=10)


def rows(*codes: str) -> tuple[CodeRow, ...]:
    return tuple(CodeRow(c, pin=f"pin-{c[-3:]}", url=f"https://redeem.example/{c}") for c in codes)


async def test_import_rejects_duplicates_and_bad_rows(bus: Bus, host: ActorHost) -> None:
    first = await ask(bus, ImportCodes("card-de", 2500, "EUR", rows("AAAA-1111", "BBBB-2222")))
    assert isinstance(first, Ok)
    assert isinstance(first.value, ImportReport)
    assert first.value.imported == 2
    batch = (
        *rows("AAAA-1111", "CCCC-3333", "CCCC-3333"),
        CodeRow("no"),
        CodeRow("has space"),
        CodeRow("DDDD-4444", expires_ms=now_ms() - 1000),
    )
    second = await ask(bus, ImportCodes("card-de", 2500, "EUR", batch))
    assert isinstance(second, Ok)
    assert isinstance(second.value, ImportReport)
    assert second.value.imported == 1
    assert [(p.row, p.reason.split(":")[0]) for p in second.value.rejected] == [
        (0, "duplicate"),
        (2, "duplicate"),
        (3, "invalid code"),
        (4, "invalid code"),
        (5, "expired"),
    ]
    assert second.value.pool == PoolView("card-de", 2500, 3, 0)


async def test_a_url_is_measured_in_the_bytes_it_is_sealed_in(bus: Bus, host: ActorHost) -> None:
    """500 characters of "€" are 1,500 bytes: past what a sealed URL may take. The row is
    refused alone; the import of the others goes through (it failed whole on MariaDB)."""
    long_url = CodeRow("EEEE-5555", url="https://redeem.example/" + "€" * 500)
    reply = await ask(bus, ImportCodes("card-de", 2500, "EUR", (long_url, *rows("FFFF-6666"))))
    assert isinstance(reply, Ok)
    assert isinstance(reply.value, ImportReport)
    assert reply.value.imported == 1
    assert [(p.row, p.reason) for p in reply.value.rejected] == [(0, "PIN or URL too long")]
    # the vouchers actor checks a code's link again, whoever sent the rows
    script = CodeRow("GGGG-7777", url="javascript:alert(1)")
    reply = await ask(bus, ImportCodes("card-de", 2500, "EUR", (script,)))
    assert isinstance(reply, Ok)
    assert isinstance(reply.value, ImportReport)
    assert [(p.row, p.reason) for p in reply.value.rejected] == [(0, "invalid url: an https URL")]


async def test_generated_codes_are_long_unique_and_unguessable(bus: Bus, host: ActorHost) -> None:
    made = await ask(bus, GenerateCodes("own-voucher", 1000, "EUR", 200))
    assert isinstance(made, Ok)
    assert isinstance(made.value, ImportReport)
    assert made.value.imported == 200
    allocated = [await ask(bus, AllocateCode("own-voucher", 1000, f"o{i}")) for i in range(200)]
    ids = [
        r.value.code_id for r in allocated if isinstance(r, Ok) and isinstance(r.value, Allocated)
    ]
    shown = await ask(bus, RevealCodes(tuple(ids)))
    assert isinstance(shown, Ok)
    assert isinstance(shown.value, Revealed)
    codes = [c.code for c in shown.value.codes]
    assert len(codes) == len(set(codes)) == 200
    assert all(re.fullmatch(r"([A-HJ-NP-Z2-9]{4}-){4}[A-HJ-NP-Z2-9]{4}", c) for c in codes)


async def test_a_burst_never_gives_a_code_twice(bus: Bus, ledger: Ledger, host: ActorHost) -> None:
    codes = [f"BURST-{i:05d}" for i in range(200)]
    assert isinstance(await ask(bus, ImportCodes("card-us", 5000, "USD", rows(*codes))), Ok)
    replies = await asyncio.gather(
        *(ask(bus, AllocateCode("card-us", 5000, f"order-{i}")) for i in range(300))
    )
    outcomes = Counter("ok" if isinstance(r, Ok) else r.code for r in replies)
    assert outcomes == {"ok": 200, ErrorCode.OUT_OF_STOCK: 100}
    given = [r.value for r in replies if isinstance(r, Ok) and isinstance(r.value, Allocated)]
    assert len({a.code_id for a in given}) == 200
    assert len({a.order_id for a in given}) == 200
    assert await ledger.pool_counts("acme", "card-us", 5000) == {"allocated": 200}
    pool = await ask(bus, GetPool("card-us", 5000))
    assert isinstance(pool, Ok)
    assert pool.value == PoolView("card-us", 5000, 0, 200)


async def test_codes_are_sealed_at_rest(
    bus: Bus, ledger: Ledger, host: ActorHost, ledger_url: str, tmp_path: Path
) -> None:
    secret = "SECRET-CODE-9876543210"
    imported = await ask(bus, ImportCodes("card-fr", 2000, "EUR", rows(secret)))
    assert isinstance(imported, Ok)
    allocated = await ask(bus, AllocateCode("card-fr", 2000, "order-1"))
    assert isinstance(allocated, Ok)
    assert isinstance(allocated.value, Allocated)
    (stored,) = await ledger.load_codes("acme", [allocated.value.code_id])
    assert secret.encode() not in stored.code_sealed
    assert b"pin-210" not in stored.pin_sealed
    assert secret.encode() not in stored.url_sealed
    if ledger_url.startswith("sqlite:"):
        await host.stop()  # checkpoint nothing in clear: look at every byte on disk
        for f in Path(ledger_url.removeprefix("sqlite:")).parent.glob("ledger.sqlite3*"):
            assert secret.encode() not in f.read_bytes(), f
        await host.start()
    shown = await ask(bus, RevealCodes((allocated.value.code_id,)))
    assert isinstance(shown, Ok)
    assert isinstance(shown.value, Revealed)
    (code,) = shown.value.codes
    assert (code.code, code.pin, code.order_id) == (secret, "pin-210", "order-1")
    assert code.url == f"https://redeem.example/{secret}"
    clerk = Principal("clerk@acme", roles=("programme_manager",))
    refused = await ask(bus, RevealCodes((allocated.value.code_id,)), clerk)
    assert isinstance(refused, Err)
    assert refused.code == ErrorCode.FORBIDDEN


async def test_pool_low_event_when_stock_runs_down(
    bus: Bus, ledger: Ledger, host: ActorHost
) -> None:
    await ask(bus, ImportCodes("card-gb", 1000, "GBP", rows(*[f"LOW-{i:03d}" for i in range(12)])))
    for i in range(5):  # 12 → 7 available: the pool crosses 10 once, at 9
        assert isinstance(await ask(bus, AllocateCode("card-gb", 1000, f"o{i}")), Ok)
    await outbox_drained(ledger)
    events = await stream_messages(bus, subjects.event("acme", "voucher", "pool_low"))
    assert [e["data"] for e in events] == [
        {"product_id": "card-gb", "face_value_minor": 1000, "available": 9, "threshold": 10}
    ]


async def test_codes_that_expire_unused_leave_the_stock(
    bus: Bus, ledger: Ledger, host: ActorHost
) -> None:
    """Codes past their expiry can go to no order: they are not stock in the pool's
    figures, and a pool they leave short says so (``pool_low``) like one given away."""
    soon = now_ms() + 1_500
    expiring = tuple(CodeRow(f"SOON-{i:03d}", expires_ms=soon) for i in range(15))
    assert isinstance(await ask(bus, ImportCodes("card-gb", 1000, "GBP", expiring)), Ok)
    lasting = rows(*[f"LAST-{i:03d}" for i in range(5)])
    assert isinstance(await ask(bus, ImportCodes("card-gb", 1000, "GBP", lasting)), Ok)
    before = await ask(bus, GetPool("card-gb", 1000))
    assert isinstance(before, Ok)
    assert before.value == PoolView("card-gb", 1000, 20, 0)
    await asyncio.sleep(max(soon - now_ms(), 0) / 1000 + 0.2)

    after = await ask(bus, GetPool("card-gb", 1000))
    assert isinstance(after, Ok)
    assert after.value == PoolView("card-gb", 1000, 5, 0)  # the expired are not stock
    assert await ledger.pool_counts("acme", "card-gb", 1000) == {"available": 5, "expired": 15}
    assert await ledger.pool_count("acme", "card-gb", 1000, "available") == 5
    given = await ask(bus, AllocateCode("card-gb", 1000, "o1"))
    assert isinstance(given, Ok)
    assert isinstance(given.value, Allocated)
    assert given.value.expires_ms == 0  # a lasting code
    await outbox_drained(ledger)
    events = await stream_messages(bus, subjects.event("acme", "voucher", "pool_low"))
    assert [e["data"] for e in events] == [  # when the expired left: 5 of 20, once
        {"product_id": "card-gb", "face_value_minor": 1000, "available": 5, "threshold": 10}
    ]
    counts = await ledger.pool_counts("acme", "card-gb", 1000)
    assert counts == {"available": 4, "expired": 15, "allocated": 1}


async def test_codes_expiring_beyond_the_queue_are_counted_at_the_next_refill(
    bus: Bus, ledger: Ledger, host: ActorHost
) -> None:
    """The actor queues 500 codes, soonest expiry first; codes past those that expire
    unused are found when it next reads the store (not on every refill: a count of a
    large pool costs, and lasting codes never need one)."""
    soon = now_ms() + 1_500
    expiring = tuple(CodeRow(f"EXP-{i:04d}", expires_ms=soon) for i in range(510))
    assert isinstance(await ask(bus, ImportCodes("card-gb", 1000, "GBP", expiring)), Ok)
    lasting = rows(*[f"LAST-{i:03d}" for i in range(20)])
    assert isinstance(await ask(bus, ImportCodes("card-gb", 1000, "GBP", lasting)), Ok)
    assert isinstance(await ask(bus, AllocateCode("card-gb", 1000, "o0")), Ok)  # 500 queued
    await asyncio.sleep(max(soon - now_ms(), 0) / 1000 + 0.2)
    for i in range(1, 13):  # the 499 queued expire in the queue, 10 beyond it
        given = await ask(bus, AllocateCode("card-gb", 1000, f"o{i}"))
        assert isinstance(given, Ok)
        assert isinstance(given.value, Allocated)
        assert given.value.expires_ms == 0
    await outbox_drained(ledger)
    events = await stream_messages(bus, subjects.event("acme", "voucher", "pool_low"))
    assert [e["data"] for e in events] == [  # 20 lasting, 1 + 9 given: below 10 at 9
        {"product_id": "card-gb", "face_value_minor": 1000, "available": 9, "threshold": 10}
    ]


async def test_leasing_ahead_stops_at_the_low_stock_mark(
    bus: Bus, ledger: Ledger, host: ActorHost
) -> None:
    # The treasury leases codes for orders still to come; those must not make the pool
    # look low (pool_low) before its orders do. Codes needed now are leased whatever.
    stocked = rows(*[f"LEASE-{i:03d}" for i in range(20)])
    assert isinstance(await ask(bus, ImportCodes("card-gb", 1000, "GBP", stocked)), Ok)
    ahead = await ask(bus, LeaseCodes("card-gb", 1000, 33, ahead=32), SYSTEM)
    assert isinstance(ahead, Ok)
    assert isinstance(ahead.value, Leased)
    assert len(ahead.value.codes) == 10  # the one needed, and 9 ahead: 10 left, the mark
    more = await ask(bus, LeaseCodes("card-gb", 1000, 5, ahead=5), SYSTEM)
    assert isinstance(more, Ok)
    assert isinstance(more.value, Leased)
    assert more.value.codes == ()
    needed = await ask(bus, LeaseCodes("card-gb", 1000, 3), SYSTEM)  # all needed now
    assert isinstance(needed, Ok)
    assert isinstance(needed.value, Leased)
    assert len(needed.value.codes) == 3
    assert await ledger.pool_counts("acme", "card-gb", 1000) == {"leased": 13, "available": 7}
    await outbox_drained(ledger)
    events = await stream_messages(bus, subjects.event("acme", "voucher", "pool_low"))
    assert [e["data"] for e in events] == [  # raised by the codes needed now
        {"product_id": "card-gb", "face_value_minor": 1000, "available": 9, "threshold": 10}
    ]


async def test_each_code_expiring_soon_is_counted_by_one_warning(
    bus: Bus, ledger: Ledger, catalogue: CatalogueStore, host: ActorHost
) -> None:
    day = 86_400_000
    now = now_ms()
    soon, later, far = now + 5 * day, now + 10 * day, now + 200 * day
    expiring = (
        CodeRow("EXP-001", expires_ms=later),
        CodeRow("EXP-002", expires_ms=soon),
        CodeRow("EXP-003", expires_ms=soon),
        CodeRow("EXP-004", expires_ms=far),
        CodeRow("EXP-005"),
    )
    assert isinstance(await ask(bus, ImportCodes("card-fr", 2000, "EUR", expiring)), Ok)
    lasting = (
        CodeRow("LAST-001", expires_ms=far),
        CodeRow("LAST-002", expires_ms=far + day),
        CodeRow("LAST-003"),
    )
    assert isinstance(await ask(bus, ImportCodes("card-de", 2000, "EUR", lasting)), Ok)
    given = []
    for i in range(2):  # soonest first: both allocations hand out a code of 5 days
        got = await ask(bus, AllocateCode("card-fr", 2000, f"x{i}"))
        assert isinstance(got, Ok)
        assert isinstance(got.value, Allocated)
        given.append(got.value.expires_ms)
        assert isinstance(await ask(bus, AllocateCode("card-de", 2000, f"y{i}")), Ok)
    assert given == [soon, soon]
    # a sweep finds nothing new: the import counted the codes inside the window
    assert await ask(bus, SweepExpiring(), SYSTEM) == Ok(SweepReport(0, 0))
    denied = await ask(bus, SweepExpiring())
    assert isinstance(denied, Err)
    assert denied.code == ErrorCode.FORBIDDEN
    await host.stop()

    # a year's window: what entered it is found by the sweep of a starting host, once;
    # allocated codes and codes that never expire are not counted
    wider = await start_host(bus, ledger, catalogue, expiry_warning_days=365)
    try:
        await outbox_drained(ledger)
        assert await ask(bus, SweepExpiring(), SYSTEM) == Ok(SweepReport(0, 0))  # done
    finally:
        await wider.stop()
    again = await start_host(bus, ledger, catalogue, expiry_warning_days=365)
    await again.stop()
    await outbox_drained(ledger)
    events = await stream_messages(bus, subjects.event("acme", "voucher", "codes_expiring"))
    fr = {"product_id": "card-fr", "face_value_minor": 2000}
    assert [e["data"] for e in events] == [
        {**fr, "codes": 3, "first_expires_ms": soon, "warning_days": 30},  # the import
        {**fr, "codes": 1, "first_expires_ms": far, "warning_days": 365},  # the sweep
    ]


async def test_hosts_sweep_on_their_schedule(
    bus: Bus, ledger: Ledger, catalogue: CatalogueStore
) -> None:
    config = ActorsConfig(wake_interval_s=0.2)
    host = await start_host(bus, ledger, catalogue, config=config, expiry_warning_days=365)
    try:
        # a code that entered the window after the host started (written by another host)
        expires = now_ms() + 100 * 86_400_000
        code = VoucherCode(
            "acme", "vch_late", "card-it", 500, "EUR", "h" * 64, b"x", b"", b"",
            expires, "imported", "available", "", now_ms(),
        )  # fmt: skip
        await ledger.apply([ChangeSet("acme", new_codes=(code,))])
        for _ in range(100):
            await asyncio.sleep(0.05)
            if not await ledger.expiring_codes("acme", now_ms(), expires, 10):
                break
        await outbox_drained(ledger)
    finally:
        await host.stop()
    events = await stream_messages(bus, subjects.event("acme", "voucher", "codes_expiring"))
    assert [e["data"] for e in events] == [
        {
            "product_id": "card-it",
            "face_value_minor": 500,
            "codes": 1,
            "first_expires_ms": expires,
            "warning_days": 365,
        }
    ]
