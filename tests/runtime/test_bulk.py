"""Bulk rewards: a job loads, runs in chunks, survives its host, and its per-row results
match the ledger."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Sequence
from types import SimpleNamespace

import pytest

from actors.bulk import CHUNK, BulkActor
from actors.runtime.actor import ActorKey
from actors.runtime.host import ActorHost
from bus.client import Bus
from bus.errors import ErrorCode
from bus.messages import Command, Envelope, Err, Ok, Principal, Reply
from bus.messages.budget import CreateBudget
from bus.messages.bulk import (
    LOAD_CHUNK,
    MAX_JOB_POINTS,
    BulkResultPage,
    BulkResults,
    BulkRow,
    BulkView,
    CancelBulk,
    ContinueBulk,
    GetBulk,
    IssueItem,
    IssuePointsMany,
    LoadBulkRows,
    RescheduleBulk,
    StartBulk,
)
from bus.messages.common import Money
from bus.time import now_ms
from storage.ports import BulkJobRecord, CatalogueStore, ChangeSet, Ledger, PutBulkJob
from tests.conftest import start_host
from tests.support import transactions

ADMIN = Principal("admin@acme", roles=("admin",))


@pytest.fixture
async def host(bus: Bus, ledger: Ledger, catalogue: CatalogueStore) -> AsyncIterator[ActorHost]:
    h = await start_host(bus, ledger, catalogue)
    yield h
    await h.stop()


async def ask(bus: Bus, body: Command, kind: str = "bulk") -> Reply:
    return await bus.request("acme", kind, body, ADMIN, timeout_s=30)


async def load(bus: Bus, job: str, rows: list[BulkRow]) -> None:
    for offset in range(0, len(rows), LOAD_CHUNK):
        loaded = await ask(bus, LoadBulkRows(job, "b1", offset, tuple(rows[offset:][:LOAD_CHUNK])))
        assert isinstance(loaded, Ok), loaded
    started = await ask(bus, StartBulk(job, len(rows)))
    assert isinstance(started, Ok), started


async def wait_done(bus: Bus, job: str, timeout_s: float = 120) -> BulkView:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        status = await ask(bus, GetBulk(job))
        assert isinstance(status, Ok)
        assert isinstance(status.value, BulkView)
        if status.value.status == "done":
            return status.value
        await asyncio.sleep(0.1)
    raise AssertionError(f"job {job} did not finish")


async def results(bus: Bus, job: str) -> list[tuple[int, str, int, str, str, str]]:
    found: list[tuple[int, str, int, str, str, str]] = []
    while True:
        page = await ask(bus, BulkResults(job, offset=len(found)))
        assert isinstance(page, Ok)
        assert isinstance(page.value, BulkResultPage)
        if not page.value.rows:
            return found
        found += [
            (r.row, r.person_id, r.points, r.status, r.reason, r.reward_id) for r in page.value.rows
        ]


async def check_against_ledger(
    ledger: Ledger, rows: list[tuple[int, str, int, str, str, str]], budget: int
) -> None:
    per_person: dict[str, int] = {}
    for _, person, points, status, _, _ in rows:
        if status == "ok":
            per_person[person] = per_person.get(person, 0) + points
    for person, points in list(per_person.items())[:200]:
        assert await ledger.account_balance("acme", f"wallet:{person}") == points
    spent = sum(per_person.values())
    assert await ledger.account_balance("acme", "budget:b1") == budget - spent
    assert await ledger.entries_total("acme") == 0
    ok_ids = [reward for *_, status, _, reward in rows if status == "ok"]
    for reward in ok_ids[:50]:
        assert reward in await transactions(ledger, "acme")


async def test_a_job_issues_every_row_once_and_reports_each(
    bus: Bus, ledger: Ledger, host: ActorHost
) -> None:
    budget = 25_000
    assert isinstance(await ask(bus, CreateBudget("b1", "B", Money(budget, "EUR")), "treasury"), Ok)
    rows = [BulkRow(f"p{i % 3000}", 2 + i % 3) for i in range(10_000)]
    rows[5] = BulkRow("bad person!", 1)
    await load(bus, "job-1", rows)
    done = await wait_done(bus, "job-1")
    assert done.total == done.done == 10_000
    found = await results(bus, "job-1")
    assert len(found) == 10_000
    assert [r[0] for r in found] == list(range(10_000))
    assert found[5][3:5] == ("failed", "invalid_request")
    assert done.succeeded + done.failed == 10_000
    # The budget runs out part-way: later rows fail with insufficient funds, and rows are
    # issued in their order (chunks asked ahead still reach the treasury in turn), so the
    # outcome is the one of issuing them one by one (a point costs a cent here).
    left, expected = budget, []
    for i, row in enumerate(rows):
        if i == 5:
            expected.append(("failed", "invalid_request"))
        elif row.points <= left:
            left -= row.points
            expected.append(("ok", ""))
        else:
            expected.append(("failed", "insufficient_funds"))
    assert [r[3:5] for r in found] == expected
    assert ("failed", "insufficient_funds") in expected
    assert done.succeeded == sum(1 for r in found if r[3] == "ok")
    await check_against_ledger(ledger, found, budget)
    again = await ask(bus, StartBulk("job-1", 10_000))
    assert isinstance(again, Ok)  # starting a finished job again changes nothing
    reload = await ask(bus, LoadBulkRows("job-1", "b1", 0, (BulkRow("x", 1),)))
    assert isinstance(reload, Ok)  # a retried slice: nothing loaded twice
    more = await ask(bus, LoadBulkRows("job-1", "b1", 10_000, (BulkRow("x", 1),)))
    assert isinstance(more, Err)
    assert more.code == ErrorCode.ALREADY_EXISTS


async def test_rows_are_issued_in_their_order_across_chunks(
    bus: Bus, ledger: Ledger, host: ActorHost
) -> None:
    """The job asks for chunks ahead of their answers; the budget still goes to the
    first rows, as if they were issued one by one."""
    budget = 2_500  # runs out in the third chunk of five
    assert isinstance(await ask(bus, CreateBudget("b1", "B", Money(budget, "EUR")), "treasury"), Ok)
    rows = [BulkRow(f"p{i}", 1) for i in range(5 * CHUNK)]
    await load(bus, "job-3", rows)
    done = await wait_done(bus, "job-3")
    found = await results(bus, "job-3")
    assert (done.succeeded, done.failed) == (budget, len(rows) - budget)
    assert [r[3] for r in found] == ["ok"] * budget + ["failed"] * (len(rows) - budget)
    await check_against_ledger(ledger, found, budget)


async def test_a_job_survives_the_death_of_its_host(
    bus: Bus, ledger: Ledger, catalogue: CatalogueStore
) -> None:
    host = await start_host(bus, ledger, catalogue)
    budget = 10**9
    try:
        opened = await ask(bus, CreateBudget("b1", "B", Money(budget, "EUR")), "treasury")
        assert isinstance(opened, Ok)
        rows = [BulkRow(f"p{i}", 7) for i in range(20_000)]
        await load(bus, "job-2", rows)
        await asyncio.sleep(0.3)
    finally:
        await host.stop()  # mid-job: the chunk in hand is finished, the rest waits
    status = await ledger.load_bulk_job("acme", "job-2")
    assert status is not None
    assert status.status == "running"
    assert status.next_row < 20_000
    second = await start_host(bus, ledger, catalogue)  # tells running jobs to go on
    try:
        done = await wait_done(bus, "job-2")
        found = await results(bus, "job-2")
    finally:
        await second.stop()
    assert (done.succeeded, done.failed) == (20_000, 0)
    await check_against_ledger(ledger, found, budget)


async def test_a_chunk_asked_ahead_waits_for_the_one_before(
    bus: Bus, ledger: Ledger, catalogue: CatalogueStore
) -> None:
    """A chunk the treasury could not answer is never overtaken by those asked ahead of
    it: each names the chunk before, and is refused (retryable, no effect) until that
    one has been answered — in this activation, or stored before it."""
    system = Principal("perkbus:system", roles=("system",))

    async def chunk(first: int, person: str, after: str = "") -> Reply:
        items = (IssueItem(person, 5, f"job-9:{first}"),)
        body = IssuePointsMany("b1", items, after)
        return await bus.request(
            "acme", "treasury", body, system, timeout_s=30, idempotency_key=f"bulk:job-9:{first}"
        )

    host = await start_host(bus, ledger, catalogue)
    try:
        assert isinstance(
            await ask(bus, CreateBudget("b1", "B", Money(1000, "EUR")), "treasury"), Ok
        )
        early = await chunk(1000, "p1", after="bulk:job-9:0")
        assert isinstance(early, Err)
        assert (early.code, early.retryable) == (ErrorCode.UNAVAILABLE, True)
        assert await ledger.account_balance("acme", "wallet:p1") == 0  # nothing issued
        assert isinstance(await chunk(0, "p0"), Ok)
        assert isinstance(await chunk(1000, "p1", after="bulk:job-9:0"), Ok)  # asked again
        assert await ledger.account_balance("acme", "wallet:p1") == 5
    finally:
        await host.stop()
    second = await start_host(bus, ledger, catalogue)  # a new activation: found stored
    try:
        assert isinstance(await chunk(2000, "p2", after="bulk:job-9:1000"), Ok)
        assert await ledger.account_balance("acme", "wallet:p2") == 5
    finally:
        await second.stop()


async def test_a_scheduled_job_told_to_go_on_early_waits_for_its_time(
    bus: Bus, ledger: Ledger, host: ActorHost
) -> None:
    """Every host tells due jobs to go on, and a job may be told early (a host's clock
    ahead, a nudge of its own): before its time it stays scheduled and spends nothing."""
    assert isinstance(await ask(bus, CreateBudget("b1", "B", Money(1000, "EUR")), "treasury"), Ok)
    rows = [BulkRow("ann", 300), BulkRow("bob", 400)]
    loaded = await ask(bus, LoadBulkRows("camp-1", "b1", 0, tuple(rows)))
    assert isinstance(loaded, Ok), loaded
    start_at = now_ms() + 60_000
    started = await ask(bus, StartBulk("camp-1", 2, "New year", start_at))
    assert isinstance(started, Ok)
    assert isinstance(started.value, BulkView)
    assert (started.value.status, started.value.start_at_ms, started.value.points) == (
        "scheduled",
        start_at,
        700,
    )
    for _ in range(3):
        early = await ask(bus, ContinueBulk("camp-1"))
        assert isinstance(early, Ok)
        assert isinstance(early.value, BulkView)
        assert early.value.status == "scheduled"
    assert await host.send_due() == 0  # not due: not on any host's list
    assert await ledger.account_balance("acme", "budget:b1") == 1000
    moved = await ask(bus, RescheduleBulk("camp-1", now_ms() - 1))
    assert isinstance(moved, Ok)
    done = await wait_done(bus, "camp-1")
    assert (done.succeeded, done.name) == (2, "New year")
    assert await ledger.account_balance("acme", "budget:b1") == 300


async def test_a_campaign_whose_start_was_not_written_pays_nothing_when_cancelled(
    bus: Bus, ledger: Ledger, catalogue: CatalogueStore
) -> None:
    """Found by review: a due job was started in memory and its chunks asked for in the
    same batch; when that batch's write failed, the job reloaded as scheduled and could be
    cancelled after the treasury had paid. The start is now written before any chunk."""
    real_apply = ledger.apply
    failed: list[str] = []

    async def apply_failing_the_start(change_sets: Sequence[ChangeSet]) -> None:
        for cs in change_sets:
            for put in cs.bulk_jobs:
                if put.record.status in ("running", "done") and not failed:
                    failed.append(put.record.status)
                    raise ConnectionError("the ledger went away")
        await real_apply(change_sets)

    ledger.apply = apply_failing_the_start  # type: ignore[method-assign]
    host = await start_host(bus, ledger, catalogue)
    try:
        opened = await ask(bus, CreateBudget("b1", "B", Money(1000, "EUR")), "treasury")
        assert isinstance(opened, Ok)
        rows = (BulkRow("ann", 300), BulkRow("bob", 400))
        assert isinstance(await ask(bus, LoadBulkRows("camp-x", "b1", 0, rows)), Ok)
        started = await ask(bus, StartBulk("camp-x", 2, "New year", now_ms() + 1000))
        assert isinstance(started, Ok)
        for _ in range(50):  # the host finds it due and tells it to go on: the write fails
            await asyncio.sleep(0.1)
            if failed:
                break
        assert failed == ["running"]  # the start alone, with no chunk asked for
        await asyncio.sleep(0.3)
        cancelled = await ask(bus, CancelBulk("camp-x"))
        if isinstance(cancelled, Ok):  # cancelled before it started again: nothing paid
            await asyncio.sleep(1.0)
            job = await ledger.load_bulk_job("acme", "camp-x")
            assert job is not None
            assert job.status == "cancelled"
            assert await ledger.account_balance("acme", "budget:b1") == 1000
        else:  # the next poll started it first: it runs, and pays each row once
            done = await wait_done(bus, "camp-x")
            assert (done.succeeded, done.failed) == (2, 0)
            assert await ledger.account_balance("acme", "budget:b1") == 300
        assert await ledger.account_balance("acme", "wallet:ann") in (0, 300)
        assert await ledger.entries_total("acme") == 0
    finally:
        await host.stop()


async def test_a_job_started_in_a_batch_is_told_to_go_on_whatever_else_the_batch_held(
    ledger: Ledger,
) -> None:
    """Found by review: a second ContinueBulk in the batch that started a job (every host
    tells a due job to go on; a person may start it now at the same moment) reset the
    batch's "go on", and the job stayed running with nothing done until the hourly wake."""
    told: list[Command] = []

    async def tell(tenant: str, kind: str, body: Command) -> None:
        told.append(body)

    context = SimpleNamespace(ledger=ledger, tell=tell)
    system = Principal("perkbus:system", roles=("system",))
    batches: list[list[Command]] = [
        [ContinueBulk("j1"), ContinueBulk("j1")],
        [RescheduleBulk("j2", 0), ContinueBulk("j2")],
    ]
    for n, batch in enumerate(batches, start=1):
        due = BulkJobRecord("acme", f"j{n}", "b1", "scheduled", 2, 0, 0, 0, 1, 1, 1, "", 1, 700)
        await ledger.apply([ChangeSet("acme", bulk_jobs=(PutBulkJob(due, 0),))])
        actor = BulkActor(context, ActorKey("acme", "bulk", f"j{n}"))  # type: ignore[arg-type]
        await actor.on_activate()
        told.clear()
        decision = await actor.handle(
            [Envelope("acme", system, f"r{i}", now_ms() + 10_000, b) for i, b in enumerate(batch)]
        )
        assert actor.job is not None
        assert actor.job.status == "running"
        assert decision.changes is not None  # the start, written before any chunk
        assert told == [ContinueBulk(f"j{n}")]


async def test_a_job_whose_points_add_up_past_the_limit_is_refused_and_kept_nowhere(
    bus: Bus, ledger: Ledger, host: ActorHost
) -> None:
    """Each row within a reward's limit, but 1,025 of 2**53 points pass a 64-bit integer:
    refused for good (not a storage error the caller would retry), with nothing kept."""
    big = [BulkRow(f"p{i}", MAX_JOB_POINTS) for i in range(1025)]
    refused = await ask(bus, LoadBulkRows("job-big", "b1", 0, tuple(big)))
    assert isinstance(refused, Err), refused
    assert (refused.code, refused.retryable) == (ErrorCode.INVALID_REQUEST, False)
    gone = await ask(bus, GetBulk("job-big"))
    assert isinstance(gone, Err)
    assert gone.code == ErrorCode.NOT_FOUND
    # within the limit, the same job id loads as any other
    fits = await ask(bus, LoadBulkRows("job-big", "b1", 0, (BulkRow("p1", MAX_JOB_POINTS),)))
    assert isinstance(fits, Ok), fits
