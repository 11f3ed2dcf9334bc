"""The Ledger contract for history pages (orders, one account's entries and its
statement, newest first, resumed after a position): every adapter (SQLite, MySQL/MariaDB)
passes it."""

from __future__ import annotations

from msgspec.structs import replace

from storage.ports import (
    BulkJobRecord,
    ChangeSet,
    Entry,
    Ledger,
    OrderRecord,
    PutBulkJob,
    PutOrder,
    StatementLine,
)
from tests.support import order_record


async def _orders(ledger: Ledger) -> None:
    placed = [
        replace(order_record("o1"), created_ms=10, recipient="ann", payer="wallet:ann"),
        replace(order_record("o2", "fulfilled"), created_ms=20, recipient="raj"),
        replace(order_record("o3", "fulfilled"), created_ms=20, recipient="ann"),
        replace(order_record("o4", "failed"), created_ms=30, recipient="li", payer="budget:b2"),
    ]
    await ledger.apply([ChangeSet("acme", orders=tuple(PutOrder(o, 0) for o in placed))])
    other = replace(order_record("o9"), tenant="globex", created_ms=40)
    await ledger.apply([ChangeSet("globex", orders=(PutOrder(other, 0),))])


def _ids(found: list[OrderRecord]) -> list[str]:
    return [o.order_id for o in found]


async def test_orders_are_listed_newest_first_and_scoped_by_tenant(ledger: Ledger) -> None:
    await _orders(ledger)
    # equal times are ordered by id, newest (greatest) first, so a page never splits them
    assert _ids(await ledger.list_orders("acme", 10)) == ["o4", "o3", "o2", "o1"]
    assert _ids(await ledger.list_orders("globex", 10)) == ["o9"]
    assert await ledger.list_orders("initech", 10) == []


async def test_order_pages_resume_after_a_position(ledger: Ledger) -> None:
    await _orders(ledger)
    first = await ledger.list_orders("acme", 2)
    assert _ids(first) == ["o4", "o3"]
    last = first[-1]
    rest = await ledger.list_orders("acme", 2, before=(last.created_ms, last.order_id))
    assert _ids(rest) == ["o2", "o1"]
    assert await ledger.list_orders("acme", 2, before=(10, "o1")) == []


async def test_orders_filter_by_recipient_status_and_payer(ledger: Ledger) -> None:
    await _orders(ledger)
    assert _ids(await ledger.list_orders("acme", 10, recipient="ann")) == ["o3", "o1"]
    assert _ids(await ledger.list_orders("acme", 10, status="fulfilled")) == ["o3", "o2"]
    both = await ledger.list_orders("acme", 10, recipient="ann", status="accepted")
    assert _ids(both) == ["o1"]
    by_b1 = await ledger.list_orders("acme", 10, payers=["budget:b1"])
    assert _ids(by_b1) == ["o3", "o2"]
    by_either = await ledger.list_orders("acme", 10, payers=["budget:b1", "budget:b2"])
    assert _ids(by_either) == ["o4", "o3", "o2"]
    assert await ledger.list_orders("acme", 10, payers=[]) == []


async def test_orders_are_kept_to_a_time_range(ledger: Ledger) -> None:
    """From ``since_ms`` (in) to ``until_ms`` (out): the export's days."""
    await _orders(ledger)
    assert _ids(await ledger.list_orders("acme", 10, since_ms=20)) == ["o4", "o3", "o2"]
    assert _ids(await ledger.list_orders("acme", 10, until_ms=30)) == ["o3", "o2", "o1"]
    assert _ids(await ledger.list_orders("acme", 10, since_ms=20, until_ms=21)) == ["o3", "o2"]
    resumed = await ledger.list_orders("acme", 10, (20, "o3"), since_ms=11, until_ms=30)
    assert _ids(resumed) == ["o2"]
    fulfilled = await ledger.list_orders("acme", 10, status="fulfilled", since_ms=20, until_ms=21)
    assert _ids(fulfilled) == ["o3", "o2"]
    assert await ledger.list_orders("acme", 10, since_ms=31) == []
    assert await ledger.list_orders("globex", 10, since_ms=20, until_ms=30) == []


async def test_account_lines_are_newest_first_and_page_by_entry(ledger: Ledger) -> None:
    moves = ChangeSet(
        "acme",
        entries=(
            Entry("rwd_1", "points:issued", -500, "PTS", 1),
            Entry("rwd_1", "wallet:ann", 500, "PTS", 1),
            Entry("ord_1:committed", "wallet:ann", -200, "PTS", 2),
            Entry("ord_1:committed", "points:redeemed", 200, "PTS", 2),
            Entry("rwd_2", "points:issued", -50, "PTS", 3),
            Entry("rwd_2", "wallet:raj", 50, "PTS", 3),
        ),
    )
    await ledger.apply([moves])
    await ledger.apply(
        [
            ChangeSet(
                "globex",
                entries=(
                    Entry("rwd_9", "points:issued", -1, "PTS", 4),
                    Entry("rwd_9", "wallet:ann", 1, "PTS", 4),
                ),
            )
        ]
    )
    lines = await ledger.account_lines("acme", "wallet:ann", 10)
    assert [(line.txn_id, line.amount_minor, line.currency) for line in lines] == [
        ("ord_1:committed", -200, "PTS"),
        ("rwd_1", 500, "PTS"),
    ]
    assert lines[0].entry_id > lines[1].entry_id
    assert lines[0].created_ms == 2
    (newest,) = await ledger.account_lines("acme", "wallet:ann", 1)
    assert newest == lines[0]
    (older,) = await ledger.account_lines("acme", "wallet:ann", 1, before_entry=newest.entry_id)
    assert older == lines[1]
    assert await ledger.account_lines("acme", "wallet:ann", 1, before_entry=older.entry_id) == []
    assert await ledger.account_lines("acme", "wallet:li", 10) == []


async def test_a_statement_names_the_other_side_and_the_balance_after_each_entry(
    ledger: Ledger,
) -> None:
    def move(txn: str, source: str, target: str, amount: int, at: int) -> tuple[Entry, Entry]:
        return (
            Entry(txn, source, -amount, "EUR", at),
            Entry(txn, target, amount, "EUR", at),
        )

    await ledger.apply(
        [
            ChangeSet(
                "acme",
                entries=(
                    *move("dep_1", "external:deposits", "funding:main", 50_000, 1),
                    *move("alc_1", "funding:main", "budget:q1", 15_000, 2),
                    *move("dep_2", "external:deposits", "funding:ops", 900, 3),
                ),
            ),
            ChangeSet("globex", entries=move("dep_9", "external:deposits", "funding:main", 7, 4)),
        ]
    )
    spending = tuple(
        e for n in range(20) for e in move(f"ord_{n}:c", "budget:q1", "spent:q1", 1, 5)
    )
    await ledger.apply([ChangeSet("acme", entries=spending)])  # far from the rest
    await ledger.apply(
        [ChangeSet("acme", entries=move("alc_2", "funding:main", "budget:q2", 5, 5))]
    )
    split = (
        Entry("fix_1", "funding:main", -3, "EUR", 6),  # a transaction of three entries
        Entry("fix_1", "budget:q1", 2, "EUR", 6),
        Entry("fix_1", "budget:q2", 1, "EUR", 6),
        *move("fix_2", "funding:main", "funding:main", 4, 7),  # one account on both sides
    )
    await ledger.apply([ChangeSet("acme", entries=split)])

    def shown(lines: list[StatementLine]) -> list[tuple[str, int, str, int]]:
        return [
            (s.line.txn_id, s.line.amount_minor, s.counterpart, s.balance_after_minor)
            for s in lines
        ]

    statement = await ledger.account_statement("acme", "funding:main", 10)
    assert shown(statement) == [
        ("fix_2", 4, "", 34_992),
        ("fix_2", -4, "", 34_988),
        ("fix_1", -3, "", 34_992),  # several other sides: none named
        ("alc_2", -5, "budget:q2", 34_995),
        ("alc_1", -15_000, "budget:q1", 35_000),
        ("dep_1", 50_000, "external:deposits", 50_000),
    ]
    assert [s.line for s in statement] == await ledger.account_lines("acme", "funding:main", 10)
    allocation = statement[3].line.entry_id
    older = await ledger.account_statement("acme", "funding:main", 1, before_entry=allocation)
    assert shown(older) == [("alc_1", -15_000, "budget:q1", 35_000)]
    assert shown(await ledger.account_statement("globex", "funding:main", 10)) == [
        ("dep_9", 7, "external:deposits", 7)
    ]
    assert await ledger.account_statement("acme", "funding:none", 10) == []


async def _bulk_jobs(ledger: Ledger) -> list[BulkJobRecord]:
    def job(
        job_id: str, created: int, status: str, budget: str = "b1", at: int = 0
    ) -> BulkJobRecord:
        return BulkJobRecord("acme", job_id, budget, status, 2, 0, 0, 0, created, created, 1,
                             f"name of {job_id}", at, 700)  # fmt: skip

    jobs = [
        job("j1", 10, "done"),
        job("j2", 20, "scheduled", at=5_000),
        job("j3", 20, "scheduled", "b2", at=1_000),
        job("j4", 30, "cancelled", at=2_000),
    ]
    await ledger.apply([ChangeSet("acme", bulk_jobs=tuple(PutBulkJob(j, 0) for j in jobs))])
    other = replace(job("j9", 40, "scheduled", at=500), tenant="globex")
    await ledger.apply([ChangeSet("globex", bulk_jobs=(PutBulkJob(other, 0),))])
    return jobs


async def test_bulk_jobs_are_listed_newest_first_with_their_name_and_time(ledger: Ledger) -> None:
    jobs = await _bulk_jobs(ledger)
    listed = await ledger.list_bulk_jobs("acme", 10)
    assert listed == jobs[::-1]  # equal times by id, greatest first; every field kept
    assert [j.job_id for j in await ledger.list_bulk_jobs("acme", 2)] == ["j4", "j3"]
    after = await ledger.list_bulk_jobs("acme", 10, (20, "j3"))
    assert [j.job_id for j in after] == ["j2", "j1"]
    scheduled = await ledger.list_bulk_jobs("acme", 10, status="scheduled")
    assert [j.job_id for j in scheduled] == ["j3", "j2"]
    assert [j.job_id for j in await ledger.list_bulk_jobs("acme", 10, budget_ids=["b2"])] == ["j3"]
    assert await ledger.list_bulk_jobs("acme", 10, budget_ids=[]) == []
    assert [j.job_id for j in await ledger.list_bulk_jobs("globex", 10)] == ["j9"]


async def test_due_bulk_jobs_are_the_scheduled_ones_whose_time_has_come(ledger: Ledger) -> None:
    await _bulk_jobs(ledger)
    assert await ledger.due_bulk_jobs(400, 10) == []
    # every tenant's, the most overdue first; cancelled and done jobs never
    assert await ledger.due_bulk_jobs(1_000, 10) == [("globex", "j9"), ("acme", "j3")]
    assert await ledger.due_bulk_jobs(10_000, 10) == [
        ("globex", "j9"),
        ("acme", "j3"),
        ("acme", "j2"),
    ]
    assert await ledger.due_bulk_jobs(10_000, 1) == [("globex", "j9")]
    started = replace((await ledger.list_bulk_jobs("acme", 1, status="scheduled"))[0],
                      status="running", version=2)  # fmt: skip
    await ledger.apply([ChangeSet("acme", bulk_jobs=(PutBulkJob(started, 1),))])
    assert await ledger.due_bulk_jobs(10_000, 10) == [("globex", "j9"), ("acme", "j2")]
    assert await ledger.load_bulk_job("acme", "j3") == started
