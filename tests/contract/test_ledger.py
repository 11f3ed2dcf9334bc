"""The Ledger contract: every adapter (SQLite, MySQL/MariaDB) must pass all of it."""

from __future__ import annotations

import asyncio

import msgspec
import pytest
from msgspec.structs import replace

from storage.errors import StaleWrite
from storage.ports import (
    AccountRecord,
    Allocation,
    AuditEntry,
    BulkJobRecord,
    BulkRowRecord,
    ChangeSet,
    ClientRecord,
    Entry,
    FxRate,
    Ledger,
    PersonRecord,
    PutAccount,
    PutBulkJob,
    PutClient,
    PutOrder,
    PutPerson,
    PutSession,
    PutSso,
    SessionRecord,
    SigningKeyRecord,
    SsoRecord,
    StoredReply,
    TenantKey,
    VoucherCode,
)
from tests.conftest import open_test_ledger
from tests.support import budget_record, order_record, sample_event, transactions


def budget(
    balance: int, version: int, tenant: str = "acme", budget_id: str = "b1"
) -> AccountRecord:
    return AccountRecord(tenant, f"budget:{budget_id}", "budget", "Budget", "EUR", balance, version)


def opening(record: AccountRecord) -> ChangeSet:
    txn = f"open:{record.account_id}"
    return ChangeSet(
        tenant=record.tenant,
        puts=(PutAccount(record, expected_version=0),),
        entries=(
            Entry(txn, "funding", -record.balance_minor, "EUR", 1),
            Entry(txn, record.account_id, record.balance_minor, "EUR", 1),
        ),
    )


async def test_migrate_is_idempotent_and_starts_empty(ledger: Ledger, ledger_url: str) -> None:
    await ledger.migrate()
    again = open_test_ledger(ledger_url)
    await again.migrate()
    await again.close()
    assert await budget_record(ledger, "acme", "b1") is None
    assert await ledger.pending_events(10) == []
    await ledger.ping()


async def test_open_then_fenced_update(ledger: Ledger) -> None:
    await ledger.apply([opening(budget(500, 1))])
    assert await budget_record(ledger, "acme", "b1") == budget(500, 1)

    await ledger.apply([ChangeSet("acme", puts=(PutAccount(budget(400, 2), expected_version=1),))])
    assert await budget_record(ledger, "acme", "b1") == budget(400, 2)


async def test_stale_write_is_refused_and_changes_nothing(ledger: Ledger) -> None:
    await ledger.apply([opening(budget(500, 1))])
    await ledger.apply([ChangeSet("acme", puts=(PutAccount(budget(400, 2), expected_version=1),))])

    stale = ChangeSet(
        "acme",
        puts=(PutAccount(budget(100, 2), expected_version=1),),
        entries=(Entry("t-stale", "budget:b1", -400, "EUR", 2),),
    )
    with pytest.raises(StaleWrite):
        await ledger.apply([stale])
    assert await budget_record(ledger, "acme", "b1") == budget(400, 2)
    assert "t-stale" not in await transactions(ledger, "acme")


async def test_opening_an_existing_budget_is_a_stale_write(ledger: Ledger) -> None:
    await ledger.apply([opening(budget(500, 1))])
    with pytest.raises(StaleWrite):
        await ledger.apply([opening(budget(900, 1))])
    assert await budget_record(ledger, "acme", "b1") == budget(500, 1)


async def test_group_is_one_transaction_all_or_nothing(ledger: Ledger) -> None:
    before = ledger.stats.transactions
    await ledger.apply([opening(budget(100, 1, budget_id=f"g{i}")) for i in range(25)])
    assert ledger.stats.transactions == before + 1
    assert ledger.stats.change_sets >= 25

    good = ChangeSet("acme", puts=(PutAccount(budget(50, 2, budget_id="g0"), expected_version=1),))
    bad = ChangeSet("acme", puts=(PutAccount(budget(50, 9, budget_id="g1"), expected_version=8),))
    with pytest.raises(StaleWrite):
        await ledger.apply([good, bad])
    assert (await budget_record(ledger, "acme", "g0")) == budget(100, 1, budget_id="g0")
    assert ledger.stats.rollbacks >= 1


async def test_a_large_group_is_written_whole_and_a_late_conflict_undoes_all_of_it(
    ledger: Ledger,
) -> None:
    # More statements, rows and bytes than one packet or one multi-row insert holds
    # (storage.mysql_writes): everything lands; a duplicate at the very end undoes it all.
    sets = [opening(budget(100 + i, 1, budget_id=f"l{i}")) for i in range(450)]
    sets = [replace(cs, replies=(stored(f"{i:064d}", b"x" * 6000),)) for i, cs in enumerate(sets)]
    await ledger.apply(sets)
    assert await ledger.account_balance("acme", "budget:l449") == 549
    assert await ledger.entries_total("acme") == 0
    assert len(await ledger.load_replies("acme", [f"{i:064d}" for i in range(450)])) == 450

    more = [opening(budget(1, 1, budget_id=f"m{i}")) for i in range(300)]
    again = ChangeSet("acme", replies=(stored(f"{7:064d}"),))  # stored above
    with pytest.raises(StaleWrite):
        await ledger.apply([*more, again])
    assert await budget_record(ledger, "acme", "m0") is None
    assert await budget_record(ledger, "acme", "m299") is None


async def test_entries_balance_per_account_and_sum_to_zero(ledger: Ledger) -> None:
    await ledger.apply([opening(budget(1000, 1))])
    debit = ChangeSet(
        "acme",
        puts=(PutAccount(budget(700, 2), expected_version=1),),
        entries=(
            Entry("d1", "budget:b1", -300, "EUR", 2),
            Entry("d1", "spent:b1", 300, "EUR", 2),
        ),
    )
    await ledger.apply([debit])
    assert await ledger.account_balance("acme", "budget:b1") == 700
    assert await ledger.account_balance("acme", "spent:b1") == 300
    assert await ledger.entries_total("acme") == 0
    assert "d1" in await transactions(ledger, "acme")


async def test_queries_are_scoped_by_tenant(ledger: Ledger) -> None:
    await ledger.apply([opening(budget(1000, 1, tenant="acme"))])
    await ledger.apply([opening(budget(7, 1, tenant="globex"))])
    assert (await budget_record(ledger, "globex", "b1")) == budget(7, 1, tenant="globex")
    assert await ledger.account_balance("globex", "budget:b1") == 7
    assert await ledger.account_balance("acme", "budget:b1") == 1000
    assert await budget_record(ledger, "initech", "b1") is None
    assert "open:budget:nope" not in await transactions(ledger, "globex")


async def test_outbox_events_commit_with_the_change_and_clear_once_published(
    ledger: Ledger,
) -> None:
    events = tuple(sample_event(i) for i in range(3))
    change = opening(budget(10, 1))
    await ledger.apply([ChangeSet("acme", change.puts, change.entries, events)])
    # a later transaction's event: a millisecond later at least (same-ms rows go by id)
    alone = msgspec.structs.replace(sample_event(7), created_ms=events[-1].created_ms + 1)
    await ledger.apply([ChangeSet("acme", events=(alone,))])
    pending = await ledger.pending_events(10)
    assert pending == [*events, alone]  # each transaction's events whole, in order
    assert await ledger.pending_events(1) == list(events)  # one transaction's

    await ledger.mark_published([alone.event_id])
    assert await ledger.pending_events(10) == list(events)
    await ledger.mark_published([e.event_id for e in events])
    assert await ledger.pending_events(10) == []


async def test_a_group_with_megabytes_of_events_is_written_whole(ledger: Ledger) -> None:
    # ~5 MB of events (their outbox row is one value: 10 MB as hex to MariaDB, in a
    # packet of its own) and the group's other rows
    big = [
        msgspec.structs.replace(sample_event(i), payload=bytes(range(256)) * 4_000)
        for i in range(5)
    ]
    change = opening(budget(10, 1))
    await ledger.apply(
        [
            ChangeSet("acme", change.puts, change.entries, tuple(big[:1])),
            *(ChangeSet("acme", events=(e,)) for e in big[1:]),
        ]
    )
    pending = await ledger.pending_events(20)
    assert [e.event_id for e in pending] == [e.event_id for e in big]
    assert all(e.payload == bytes(range(256)) * 4_000 for e in pending)
    assert await budget_record(ledger, "acme", "b1") == budget(10, 1)


async def test_the_events_of_one_transaction_are_forgotten_together(ledger: Ledger) -> None:
    first = tuple(sample_event(i) for i in range(2))
    second = tuple(sample_event(i) for i in range(2, 5))
    await ledger.apply([ChangeSet("acme", events=first), ChangeSet("globex", events=second)])
    assert await ledger.pending_events(10) == [*first, *second]
    await ledger.mark_published([first[0].event_id, "no-such-event"])
    assert await ledger.pending_events(10) == []


async def test_events_of_a_failed_transaction_are_not_in_the_outbox(ledger: Ledger) -> None:
    await ledger.apply([opening(budget(10, 1))])
    event = sample_event()
    with pytest.raises(StaleWrite):
        await ledger.apply(
            [ChangeSet("acme", (PutAccount(budget(5, 5), expected_version=4),), (), (event,))]
        )
    assert await ledger.pending_events(10) == []


async def test_pending_events_can_be_limited_to_older_ones(ledger: Ledger) -> None:
    old = sample_event()
    young = sample_event()
    old = msgspec.structs.replace(old, created_ms=1_000)
    young = msgspec.structs.replace(young, created_ms=5_000)
    await ledger.apply([ChangeSet("acme", events=(old,))])
    await ledger.apply([ChangeSet("acme", events=(young,))])
    assert [e.event_id for e in await ledger.pending_events(10, created_before_ms=2_000)] == [
        old.event_id
    ]
    assert len(await ledger.pending_events(10)) == 2


def stored(key_hash: str, reply: bytes = b"r", expires_ms: int = 10_000) -> StoredReply:
    return StoredReply(key_hash, "f" * 64, reply, created_ms=1, expires_ms=expires_ms)


async def test_replies_are_stored_with_the_change_and_loaded_by_key(ledger: Ledger) -> None:
    a, b = "a" * 64, "b" * 64
    await ledger.apply([ChangeSet("acme", replies=(stored(a, b"ra"), stored(b, b"rb")))])
    await ledger.apply([ChangeSet("globex", replies=(stored(a, b"other tenant"),))])
    found = {r.key_hash: r for r in await ledger.load_replies("acme", [a, b, "c" * 64])}
    assert set(found) == {a, b}
    assert found[a] == stored(a, b"ra")
    assert [r.reply for r in await ledger.load_replies("globex", [a, b])] == [b"other tenant"]
    assert await ledger.load_replies("acme", []) == []


async def test_replies_keep_every_byte_value(ledger: Ledger) -> None:
    every = bytes(range(256)) * 3 + b"'\\\"%s"  # quotes, backslash, NUL, high bytes
    await ledger.apply(
        [ChangeSet("acme", replies=(stored("a" * 64, every), stored("b" * 64, b"")))]
    )
    found = {r.key_hash: r.reply for r in await ledger.load_replies("acme", ["a" * 64, "b" * 64])}
    assert found == {"a" * 64: every, "b" * 64: b""}


async def test_lookups_of_several_tenants_at_once_each_get_their_own(ledger: Ledger) -> None:
    # Asked together, as the treasuries of many tenants ask in one turn of the event
    # loop (the MySQL ledger sends such lookups as one query): each tenant gets its own
    # rows, never another's under the same key or id, and keys it does not have are left out.
    a, b = "a" * 64, "b" * 64
    await ledger.apply([ChangeSet("acme", replies=(stored(a, b"acme a"),))])
    await ledger.apply([ChangeSet("globex", replies=(stored(a, b"globex a"), stored(b, b"g b")))])
    await ledger.apply([ChangeSet("acme", orders=(PutOrder(order_record("o1"), 0),))])
    globex_o1 = msgspec.structs.replace(order_record("o1"), tenant="globex", recipient="g@x.io")
    await ledger.apply([ChangeSet("globex", orders=(PutOrder(globex_o1, 0),))])
    replies = await asyncio.gather(
        ledger.load_replies("acme", [a, b]),
        ledger.load_replies("globex", [a, b]),
        ledger.load_replies("initech", [a]),
        ledger.load_replies("acme", [a]),
    )
    assert [sorted(r.reply for r in found) for found in replies] == [
        [b"acme a"],
        [b"g b", b"globex a"],
        [],
        [b"acme a"],
    ]
    orders = await asyncio.gather(
        ledger.load_orders("acme", ["o1", "o2"]),
        ledger.load_orders("globex", ["o1"]),
        ledger.load_orders("initech", ["o1"]),
    )
    assert [[(o.tenant, o.recipient) for o in found] for found in orders] == [
        [("acme", order_record("o1").recipient)],
        [("globex", "g@x.io")],
        [],
    ]


async def test_a_key_cannot_be_stored_twice(ledger: Ledger) -> None:
    await ledger.apply([ChangeSet("acme", replies=(stored("a" * 64, b"first"),))])
    second = ChangeSet(
        "acme",
        entries=(Entry("t2", "x", 1, "EUR", 1), Entry("t2", "y", -1, "EUR", 1)),
        replies=(stored("a" * 64, b"second"),),
    )
    with pytest.raises(StaleWrite):
        await ledger.apply([second])
    assert [r.reply for r in await ledger.load_replies("acme", ["a" * 64])] == [b"first"]
    assert "t2" not in await transactions(ledger, "acme")


async def test_an_expired_reply_can_be_replaced(ledger: Ledger) -> None:
    await ledger.apply([ChangeSet("acme", replies=(stored("a" * 64, b"old", expires_ms=5),))])
    fresh = stored("a" * 64, b"new", expires_ms=2**60)
    await ledger.apply([ChangeSet("acme", replies=(fresh,), expired_replies=("a" * 64,))])
    assert [r.reply for r in await ledger.load_replies("acme", ["a" * 64])] == [b"new"]
    # An unexpired reply is not removed by a stale claim that it expired.
    with pytest.raises(StaleWrite):
        await ledger.apply(
            [ChangeSet("acme", replies=(stored("a" * 64, b"x"),), expired_replies=("a" * 64,))]
        )


async def test_accounts_load_together_and_missing_ones_are_left_out(ledger: Ledger) -> None:
    wallet = AccountRecord("acme", "wallet:ann@acme.example", "wallet", "ann", "PTS", 250, 1)
    await ledger.apply(
        [ChangeSet("acme", puts=(PutAccount(budget(10, 1), 0), PutAccount(wallet, 0)))]
    )
    found = await ledger.load_accounts("acme", ["budget:b1", "wallet:ann@acme.example", "x"])
    assert sorted(found, key=lambda a: a.account_id) == [budget(10, 1), wallet]
    assert await ledger.load_accounts("globex", ["budget:b1"]) == []
    assert await ledger.load_accounts("acme", []) == []


async def test_budgets_are_listed_by_id_after_a_position(ledger: Ledger) -> None:
    ids = ["b", "A", "a.1", "0", "a-1"]  # in byte order: 0 A a-1 a.1 b
    others = (
        AccountRecord("acme", "wallet:ann", "wallet", "ann", "PTS", 250, 1),
        AccountRecord("acme", "funding:f1", "funding", "Main", "EUR", 0, 1),
    )
    puts = [PutAccount(budget(10 * n, 1, budget_id=b), 0) for n, b in enumerate(ids)]
    puts += [PutAccount(r, 0) for r in others]
    await ledger.apply([ChangeSet("acme", puts=tuple(puts))])
    zz = budget(1, 1, tenant="globex", budget_id="zz")
    await ledger.apply([ChangeSet("globex", puts=(PutAccount(zz, 0),))])

    def listed(records: list[AccountRecord]) -> list[str]:
        return [r.account_id.removeprefix("budget:") for r in records]

    everything = await ledger.list_budgets("acme", 10)
    assert listed(everything) == ["0", "A", "a-1", "a.1", "b"]
    assert everything[1] == budget(10, 1, budget_id="A")
    assert listed(await ledger.list_budgets("acme", 2)) == ["0", "A"]
    assert listed(await ledger.list_budgets("acme", 2, after="A")) == ["a-1", "a.1"]
    assert listed(await ledger.list_budgets("acme", 10, after="b")) == []
    only = ["b", "0", "zz"]
    assert listed(await ledger.list_budgets("acme", 10, budget_ids=only)) == ["0", "b"]
    assert listed(await ledger.list_budgets("acme", 10, "0", budget_ids=only)) == ["b"]
    assert await ledger.list_budgets("acme", 10, budget_ids=[]) == []
    assert await ledger.list_budgets("globex", 10) == [zz]


async def test_funding_accounts_are_listed_by_id_after_a_position(ledger: Ledger) -> None:
    def funding(account_id: str, balance: int, tenant: str = "acme") -> AccountRecord:
        return AccountRecord(
            tenant, f"funding:{account_id}", "funding", account_id, "EUR", balance, 1
        )

    puts = [PutAccount(funding(f, n), 0) for n, f in enumerate(["main", "A", "ops.2"])]
    puts.append(PutAccount(budget(10, 1, budget_id="main"), 0))
    await ledger.apply([ChangeSet("acme", puts=tuple(puts))])
    await ledger.apply([ChangeSet("globex", puts=(PutAccount(funding("g", 7, "globex"), 0),))])

    def listed(records: list[AccountRecord]) -> list[str]:
        return [r.account_id for r in records]

    everything = await ledger.list_funding_accounts("acme", 10)
    assert listed(everything) == ["funding:A", "funding:main", "funding:ops.2"]
    assert everything[1] == funding("main", 0)
    assert listed(await ledger.list_funding_accounts("acme", 1, after="A")) == ["funding:main"]
    assert await ledger.list_funding_accounts("acme", 10, after="ops.2") == []
    assert await ledger.list_funding_accounts("globex", 10) == [funding("g", 7, "globex")]
    assert await ledger.list_funding_accounts("initech", 10) == []


def code(
    code_id: str, code_hash: str, expires_ms: int = 0, product: str = "p1", tenant: str = "acme"
) -> VoucherCode:
    return VoucherCode(
        tenant,
        code_id,
        product,
        2500,
        "EUR",
        code_hash,
        b"sealed-" + code_id.encode(),
        b"",
        b"",
        expires_ms,
        "imported",
        "available",
        "",
        1,
    )


async def test_available_codes_come_soonest_expiry_first_up_to_the_limit(
    ledger: Ledger,
) -> None:
    far = 2**60
    codes = (
        code("c5", "h5", 0),
        code("c1", "h1", far),
        code("c2", "h2", 0),
        code("c9", "h9", 1),  # expired long ago: never offered
        code("c3", "h3", far - 1),
        code("c4", "h4", far - 1),
    )
    await ledger.apply([ChangeSet("acme", new_codes=codes)])
    expected = [("c3", far - 1), ("c4", far - 1), ("c1", far), ("c2", 0), ("c5", 0)]
    for limit in range(1, 7):
        assert await ledger.available_codes("acme", "p1", 2500, limit) == expected[:limit]
    assert await ledger.available_codes("acme", "p2", 2500, 5) == []


async def test_pools_are_listed_by_product_and_face_value_after_a_position(
    ledger: Ledger,
) -> None:
    def stock(code_id: str, product: str, face: int, tenant: str = "acme") -> VoucherCode:
        stocked = code(code_id, f"h-{code_id}", product=product, tenant=tenant)
        return replace(stocked, face_value_minor=face)

    codes = (
        stock("c1", "p2", 500),
        stock("c2", "p1", 10_000),
        stock("c3", "p1", 2500),
        stock("c4", "p1", 2500),
        stock("c5", "p1", 500),
    )
    await ledger.apply([ChangeSet("acme", new_codes=codes)])
    # a pool whose every code was given is listed still
    await ledger.apply([ChangeSet("acme", allocations=(Allocation("c1", "ord-1"),))])
    await ledger.apply([ChangeSet("globex", new_codes=(stock("g1", "p0", 100, "globex"),))])
    pools = [("p1", 500), ("p1", 2500), ("p1", 10_000), ("p2", 500)]  # face values as numbers
    for limit in range(1, 6):
        assert await ledger.list_pools("acme", limit) == pools[:limit]
    for n, after in enumerate(pools):
        assert await ledger.list_pools("acme", 10, after) == pools[n + 1 :]
    assert await ledger.list_pools("acme", 10, ("p1", 700)) == pools[1:]  # between two
    assert await ledger.list_pools("acme", 10, ("p0", 2**40)) == pools
    assert await ledger.list_pools("globex", 10) == [("p0", 100)]


async def test_voucher_codes_are_unique_and_allocated_once(ledger: Ledger) -> None:
    far = 2**60
    codes = (code("c1", "h1", far), code("c2", "h2", 0), code("c3", "h3", far - 1))
    await ledger.apply([ChangeSet("acme", new_codes=codes)])
    assert await ledger.known_code_hashes("acme", ["h1", "h9"]) == {"h1"}
    assert await ledger.known_code_hashes("globex", ["h1"]) == set()
    # Soonest expiry first; codes without expiry last.
    assert await ledger.available_codes("acme", "p1", 2500, 10) == [
        ("c3", far - 1),
        ("c1", far),
        ("c2", 0),
    ]
    assert await ledger.pool_counts("acme", "p1", 2500) == {"available": 3}

    with pytest.raises(StaleWrite):  # the same code again, even under another id
        await ledger.apply([ChangeSet("acme", new_codes=(code("c9", "h1"),))])

    await ledger.apply([ChangeSet("acme", allocations=(Allocation("c3", "ord-1"),))])
    with pytest.raises(StaleWrite):  # never twice
        await ledger.apply([ChangeSet("acme", allocations=(Allocation("c3", "ord-2"),))])
    assert await ledger.pool_counts("acme", "p1", 2500) == {"available": 2, "allocated": 1}
    assert await ledger.pool_count("acme", "p1", 2500, "available") == 2
    assert await ledger.pool_count("acme", "p1", 2500, "allocated") == 1
    assert await ledger.pool_count("acme", "p1", 2500, "leased") == 0
    assert await ledger.pool_count("acme", "p1", 5000, "available") == 0  # another pool
    assert await ledger.pool_count("globex", "p1", 2500, "available") == 0
    (loaded,) = await ledger.load_codes("acme", ["c3"])
    assert (loaded.status, loaded.order_id) == ("allocated", "ord-1")
    assert loaded.code_sealed == b"sealed-c3"
    assert await ledger.load_codes("globex", ["c3"]) == []

    # taken back from its order: counted as void, no longer as given
    await ledger.apply([ChangeSet("acme", voids=(Allocation("c3", "ord-1"),))])
    assert await ledger.pool_counts("acme", "p1", 2500) == {"available": 2, "void": 1}
    assert await ledger.pool_count("acme", "p1", 2500, "allocated") == 0
    assert await ledger.pool_count("acme", "p1", 2500, "void") == 1


async def test_leased_codes_are_set_aside_then_allocated_once(ledger: Ledger) -> None:
    far = 2**60
    codes = (code("c1", "h1", far), code("c2", "h2", 0), code("c3", "h3", far - 1))
    other = code("c1", "h1", tenant="globex")
    await ledger.apply(
        [ChangeSet("acme", new_codes=codes), ChangeSet("globex", new_codes=(other,))]
    )
    await ledger.apply([ChangeSet("acme", leased=("c1", "c2"))])
    with pytest.raises(StaleWrite):  # a leased code is not available to lease again
        await ledger.apply([ChangeSet("acme", leased=("c2",))])
    assert await ledger.available_codes("acme", "p1", 2500, 10) == [("c3", far - 1)]
    assert await ledger.leased_codes("acme") == [("p1", 2500, "c1", far), ("p1", 2500, "c2", 0)]
    assert await ledger.leased_codes("globex") == []
    assert await ledger.pool_counts("acme", "p1", 2500) == {"available": 1, "leased": 2}
    assert await ledger.pool_count("acme", "p1", 2500, "leased") == 2
    assert await ledger.pool_count("globex", "p1", 2500, "available") == 1

    await ledger.apply([ChangeSet("acme", allocations=(Allocation("c2", "ord-1"),))])
    with pytest.raises(StaleWrite):  # allocated once, leased or not
        await ledger.apply([ChangeSet("acme", allocations=(Allocation("c2", "ord-2"),))])
    assert await ledger.leased_codes("acme") == [("p1", 2500, "c1", far)]
    (loaded,) = await ledger.load_codes("acme", ["c2"])
    assert (loaded.status, loaded.order_id) == ("allocated", "ord-1")
    # a leased code is stock not given yet: its coming expiry is still counted
    found = await ledger.expiring_codes("acme", 0, far, 10)
    assert [c.code_id for c in found] == ["c3", "c1"]


async def test_leased_codes_are_found_in_every_pool_past_the_allocated_ones(
    ledger: Ledger,
) -> None:
    def pool_code(code_id: str, product: str, face: int, expires_ms: int = 0) -> VoucherCode:
        c = code(code_id, f"h-{code_id}", expires_ms, product)
        return msgspec.structs.replace(c, face_value_minor=face)

    codes = [
        pool_code("a1", "alpha", 500),
        pool_code("a2", "alpha", 500, 7_000),
        pool_code("a3", "alpha", 1000),
        pool_code("b1", "beta", 500),
        pool_code("b2", "beta", 500),
        pool_code("z1", "zulu", 100),
    ]
    await ledger.apply([ChangeSet("acme", new_codes=tuple(codes))])
    await ledger.apply([ChangeSet("acme", leased=("a1", "a2", "a3", "b1", "b2", "z1"))])
    await ledger.apply(  # a pool's given codes come before its leased ones in the index
        [ChangeSet("acme", allocations=(Allocation("a1", "o1"), Allocation("b1", "o2")))]
    )
    assert await ledger.leased_codes("acme") == [
        ("alpha", 500, "a2", 7_000),  # soonest expiry first, never-expiring last
        ("alpha", 1000, "a3", 0),
        ("beta", 500, "b2", 0),
        ("zulu", 100, "z1", 0),
    ]
    assert await ledger.leased_codes("globex") == []


async def test_expired_codes_are_not_available(ledger: Ledger) -> None:
    await ledger.apply([ChangeSet("acme", new_codes=(code("old", "h-old", expires_ms=5),))])
    assert await ledger.available_codes("acme", "p1", 2500, 10) == []


async def test_codes_expiring_soon_are_found_until_a_warning_counts_them(
    ledger: Ledger,
) -> None:
    codes = (
        code("c-soon", "h1", expires_ms=1_000),
        code("c-sooner", "h2", expires_ms=500),
        code("c-later", "h3", expires_ms=5_000),
        code("c-never", "h4"),
        code("c-gone", "h5", expires_ms=50),
        replace(code("c-told", "h6", expires_ms=900), expiry_warned_ms=1),
    )
    other = code("c-other", "h1", tenant="globex", expires_ms=700)
    await ledger.apply(
        [ChangeSet("acme", new_codes=codes), ChangeSet("globex", new_codes=(other,))]
    )
    await ledger.apply([ChangeSet("acme", allocations=(Allocation("c-sooner", "o1"),))])
    found = await ledger.expiring_codes("acme", 100, 2_000, 10)
    assert [(c.code_id, c.product_id, c.face_value_minor, c.expires_ms) for c in found] == [
        ("c-soon", "p1", 2500, 1_000)
    ]
    assert await ledger.tenants_with_expiring_codes(100, 2_000, 10) == ["acme", "globex"]
    await ledger.apply([ChangeSet("acme", expiry_warned=("c-soon",))])
    assert await ledger.expiring_codes("acme", 100, 2_000, 10) == []
    assert await ledger.tenants_with_expiring_codes(100, 2_000, 10) == ["globex"]
    (stored,) = await ledger.load_codes("acme", ["c-soon"])
    assert stored.expiry_warned_ms > 0


async def test_a_tenant_key_is_written_once(ledger: Ledger) -> None:
    assert await ledger.load_tenant_key("acme") is None
    await ledger.apply([ChangeSet("acme", tenant_key=TenantKey("acme", b"wrapped-1"))])
    assert await ledger.load_tenant_key("acme") == b"wrapped-1"
    with pytest.raises(StaleWrite):
        await ledger.apply([ChangeSet("acme", tenant_key=TenantKey("acme", b"wrapped-2"))])
    assert await ledger.load_tenant_key("acme") == b"wrapped-1"


async def test_orders_are_fenced_and_found_by_external_id(ledger: Ledger) -> None:
    await ledger.apply(
        [ChangeSet("acme", orders=(PutOrder(order_record("o1", external="crm-7"), 0),))]
    )
    await ledger.apply([ChangeSet("acme", orders=(PutOrder(order_record("o2"), 0),))])
    with pytest.raises(StaleWrite):  # the same external id twice
        await ledger.apply(
            [ChangeSet("acme", orders=(PutOrder(order_record("o3", external="crm-7"), 0),))]
        )
    found = await ledger.order_by_external_id("acme", "crm-7")
    assert found is not None
    assert found.order_id == "o1"
    assert await ledger.order_by_external_id("globex", "crm-7") is None

    done = msgspec.structs.replace(
        order_record("o1", external="crm-7"), status="fulfilled", version=2
    )
    await ledger.apply([ChangeSet("acme", orders=(PutOrder(done, 1),))])
    with pytest.raises(StaleWrite):
        await ledger.apply([ChangeSet("acme", orders=(PutOrder(done, 1),))])
    assert [o.order_id for o in await ledger.unfinished_orders("acme", 10)] == ["o2"]
    (loaded,) = await ledger.load_orders("acme", ["o1"])
    assert (loaded.status, loaded.version) == ("fulfilled", 2)


async def test_new_orders_of_a_group_are_written_together_or_not_at_all(ledger: Ledger) -> None:
    await ledger.apply(
        [
            ChangeSet(
                "acme", orders=(PutOrder(order_record("o1"), 0), PutOrder(order_record("o2"), 0))
            ),
            ChangeSet("acme", orders=(PutOrder(order_record("o3", external="crm-1"), 0),)),
        ]
    )
    loaded = await ledger.load_orders("acme", ["o1", "o2", "o3"])
    assert sorted((o.order_id, o.external_id) for o in loaded) == [
        ("o1", ""),
        ("o2", ""),
        ("o3", "crm-1"),
    ]
    with pytest.raises(StaleWrite):  # o4 is new, o2 exists: neither is written
        await ledger.apply(
            [
                ChangeSet("acme", orders=(PutOrder(order_record("o4"), 0),)),
                ChangeSet("acme", orders=(PutOrder(order_record("o2"), 0),)),
            ]
        )
    assert await ledger.load_orders("acme", ["o4"]) == []


async def test_an_order_inserted_and_updated_in_one_change_set_ends_updated(
    ledger: Ledger,
) -> None:
    done = msgspec.structs.replace(order_record("o1"), status="fulfilled", version=2)
    await ledger.apply(
        [
            ChangeSet("acme", orders=(PutOrder(order_record("o1"), 0), PutOrder(done, 1))),
            ChangeSet("acme", orders=(PutOrder(order_record("o2"), 0),)),
        ]
    )
    loaded = {o.order_id: o for o in await ledger.load_orders("acme", ["o1", "o2"])}
    assert (loaded["o1"].status, loaded["o1"].version) == ("fulfilled", 2)
    assert (loaded["o2"].status, loaded["o2"].version) == ("accepted", 1)


async def test_a_persons_redemptions_are_found_by_when_they_were_placed(ledger: Ledger) -> None:
    def redeemed(
        order_id: str, status: str, created_ms: int, payer: str = "wallet:ann", tenant: str = "acme"
    ) -> PutOrder:
        record = msgspec.structs.replace(
            order_record(order_id, status), tenant=tenant, payer=payer, created_ms=created_ms
        )
        return PutOrder(record, 0)

    orders = (
        redeemed("r1", "fulfilled", 1_000),
        redeemed("r2", "fulfilled", 2_000),
        redeemed("r3", "failed", 3_000),  # failed orders do not count
        redeemed("r4", "paid", 4_000),
        redeemed("r5", "cancelled", 5_000),
        redeemed("g1", "fulfilled", 6_000, payer="budget:b1"),  # a gift, not ann's points
    )
    await ledger.apply([ChangeSet("acme", orders=orders)])
    await ledger.apply(
        [ChangeSet("globex", orders=(redeemed("x1", "fulfilled", 7_000, tenant="globex"),))]
    )
    since = ledger.redemptions_since
    assert sorted(await since("acme", "ann", 0)) == [
        ("r1", 1_000),
        ("r2", 2_000),
        ("r4", 4_000),
        ("r5", 5_000),
    ]
    assert sorted(await since("acme", "ann", 2_000)) == [
        ("r2", 2_000),
        ("r4", 4_000),
        ("r5", 5_000),
    ]
    assert await since("acme", "bob", 0) == []
    assert await since("globex", "ann", 0) == [("x1", 7_000)]


async def test_fx_rates_are_set_and_replaced_per_tenant(ledger: Ledger) -> None:
    await ledger.apply([ChangeSet("acme", fx_rates=(FxRate("acme", "INR", "EUR", "0.0105", 1),))])
    await ledger.apply([ChangeSet("acme", fx_rates=(FxRate("acme", "INR", "EUR", "0.011", 2),))])
    await ledger.apply([ChangeSet("globex", fx_rates=(FxRate("globex", "INR", "EUR", "9", 1),))])
    assert await ledger.load_fx_rates("acme") == [FxRate("acme", "INR", "EUR", "0.011", 2)]
    assert [r.rate for r in await ledger.load_fx_rates("globex")] == ["9"]


def client(client_id: str, tenant: str = "acme", version: int = 1, **changes: str) -> ClientRecord:
    record = ClientRecord(
        tenant,
        client_id,
        "HR sync",
        "0" * 64,
        "rewards:issue",
        "integrator",
        "active",
        5,
        5,
        version,
    )
    return replace(record, **changes)


async def test_clients_are_fenced_listed_and_scoped_by_tenant(ledger: Ledger) -> None:
    first, second = client("acme.c1"), client("acme.c2", grants="budget:eng budget:ops")
    other = client("globex.c1", tenant="globex")
    await ledger.apply(
        [
            ChangeSet("acme", clients=(PutClient(first, 0), PutClient(second, 0))),
            ChangeSet("globex", clients=(PutClient(other, 0),)),
        ]
    )
    assert await ledger.load_clients("acme", []) == [first, second]
    assert await ledger.load_clients("acme", ["acme.c2", "globex.c1"]) == [second]
    revoked = replace(first, status="revoked", version=2, updated_ms=9, grants="budget:x")
    await ledger.apply([ChangeSet("acme", clients=(PutClient(revoked, 1),))])
    assert await ledger.load_clients("acme", ["acme.c1"]) == [revoked]
    with pytest.raises(StaleWrite):  # written at version 1 again: stale
        await ledger.apply([ChangeSet("acme", clients=(PutClient(replace(first, version=2), 1),))])
    with pytest.raises(StaleWrite):  # created twice
        await ledger.apply([ChangeSet("acme", clients=(PutClient(second, 0),))])


def person(person_id: str, email: str, tenant: str = "acme", version: int = 1) -> PersonRecord:
    return PersonRecord(
        tenant, person_id, email, "Ann", "$argon2id$x", "end_user", "", "active", 0, 0, 5, 5,
        version,
    )  # fmt: skip


async def test_people_are_fenced_unique_by_email_and_scoped_by_tenant(ledger: Ledger) -> None:
    ann, bob = person("ann", "ann@acme.test"), person("bob", "bob@acme.test")
    other = person("ann", "ann@acme.test", tenant="globex")
    await ledger.apply(
        [
            ChangeSet("acme", people=(PutPerson(ann, 0), PutPerson(bob, 0))),
            ChangeSet("globex", people=(PutPerson(other, 0),)),
        ]
    )
    assert await ledger.load_people("acme") == [ann, bob]
    assert await ledger.load_people("acme", ["bob", "carl"]) == [bob]
    assert await ledger.load_people("acme", email="bob@acme.test") == [bob]
    assert await ledger.load_people("globex", email="bob@acme.test") == []
    locked = replace(ann, failed_signins=5, locked_until_ms=99, grants="budget:eng", version=2)
    await ledger.apply([ChangeSet("acme", people=(PutPerson(locked, 1),))])
    assert await ledger.load_people("acme", ["ann"]) == [locked]
    with pytest.raises(StaleWrite):  # written at version 1 again: stale
        await ledger.apply([ChangeSet("acme", people=(PutPerson(replace(ann, version=2), 1),))])
    with pytest.raises(StaleWrite):  # another person with ann's email
        await ledger.apply([ChangeSet("acme", people=(PutPerson(person("x", ann.email), 0),))])


async def test_people_are_listed_by_email_after_a_position_and_found_by_words(
    ledger: Ledger,
) -> None:
    people = [
        replace(person("p1", "zed@acme.test"), name="Zed Brown"),
        replace(person("p2", "ann@acme.test"), name="Ann O'Hara"),
        replace(person("p3", "bob_100%@acme.test"), name="Bob"),
        replace(person("p4", "bobby@acme.test"), name="Robert BROWNING"),
    ]
    await ledger.apply([ChangeSet("acme", people=tuple(PutPerson(p, 0) for p in people))])
    elsewhere = replace(person("p9", "anna@globex.test", tenant="globex"), name="Anna Brown")
    await ledger.apply([ChangeSet("globex", people=(PutPerson(elsewhere, 0),))])

    def emails(found: list[PersonRecord]) -> list[str]:
        return [p.email for p in found]

    everyone = await ledger.list_people("acme", 10)
    assert emails(everyone) == [
        "ann@acme.test",
        "bob_100%@acme.test",
        "bobby@acme.test",
        "zed@acme.test",
    ]
    assert everyone[0] == people[1]
    assert emails(await ledger.list_people("acme", 2)) == ["ann@acme.test", "bob_100%@acme.test"]
    after = await ledger.list_people("acme", 2, after_email="bob_100%@acme.test")
    assert emails(after) == ["bobby@acme.test", "zed@acme.test"]
    assert await ledger.list_people("acme", 2, after_email="zed@acme.test") == []
    # words anywhere in the email or the name, in any case; % and _ are only themselves
    assert emails(await ledger.list_people("acme", 10, q="BROWN")) == [
        "bobby@acme.test",
        "zed@acme.test",
    ]
    assert emails(await ledger.list_people("acme", 10, q="100%")) == ["bob_100%@acme.test"]
    assert emails(await ledger.list_people("acme", 10, q="b_1")) == ["bob_100%@acme.test"]
    assert await ledger.list_people("acme", 10, q="b%y") == []
    assert emails(await ledger.list_people("acme", 10, q="o'h")) == ["ann@acme.test"]
    found = await ledger.list_people("acme", 1, after_email="ann@acme.test", q="b")
    assert emails(found) == ["bob_100%@acme.test"]
    assert await ledger.list_people("globex", 10) == [elsewhere]
    assert await ledger.list_people("initech", 10) == []


async def test_session_tokens_load_by_hash_session_and_person(ledger: Ledger) -> None:
    first = SessionRecord("acme", "h1", "f1", "ann", "used", 1, 100, 2)
    second = SessionRecord("acme", "h2", "f1", "ann", "active", 2, 100, 1)
    elsewhere = SessionRecord("acme", "h3", "f2", "bob", "active", 3, 100, 1)
    await ledger.apply(
        [
            ChangeSet(
                "acme",
                sessions=(
                    PutSession(replace(first, status="active", version=1), 0),
                    PutSession(second, 0),
                    PutSession(elsewhere, 0),
                ),
            )
        ]
    )
    await ledger.apply([ChangeSet("acme", sessions=(PutSession(first, 1),))])
    assert await ledger.load_sessions("acme", ["h1", "h3"]) == [first, elsewhere]
    assert await ledger.load_sessions("acme", family_id="f1") == [first, second]
    assert await ledger.load_sessions("acme", person_id="ann") == [second]
    assert await ledger.load_sessions("globex", ["h1"]) == []
    with pytest.raises(StaleWrite):  # a token is used once
        await ledger.apply([ChangeSet("acme", sessions=(PutSession(first, 1),))])


async def test_signing_keys_are_added_once_and_listed_newest_first(ledger: Ledger) -> None:
    old = SigningKeyRecord("k-old", "Ed25519", b"sealed-1", b"pem-1", 100)
    new = SigningKeyRecord("k-new", "Ed25519", b"sealed-2", b"pem-2", 200)
    await ledger.add_signing_key(old)
    await ledger.add_signing_key(new)
    assert await ledger.signing_keys() == [new, old]
    with pytest.raises(StaleWrite):
        await ledger.add_signing_key(old)


async def test_bulk_results_are_stored_as_given_in_runs_or_apart(ledger: Ledger) -> None:
    # Runs of rows that succeeded with the usual reward id are written one statement a
    # run; a failure, an unusual reward id or another job's rows break the run.
    job = BulkJobRecord("acme", "j1", "b1", "running", 12, 0, 0, 0, 1, 1, 0)
    other = replace(job, job_id="j2")
    rows = [BulkRowRecord("j1", i, f"p{i}", 10) for i in range(12)]
    rows_j2 = [BulkRowRecord("j2", i, f"q{i}", 10) for i in range(3)]
    jobs = (PutBulkJob(job, 0), PutBulkJob(other, 0))
    await ledger.apply([ChangeSet("acme", bulk_jobs=jobs, bulk_rows=(*rows, *rows_j2))])

    def outcome(row: BulkRowRecord) -> BulkRowRecord:
        if row.row in (3, 7):
            return replace(row, status="failed", reason="budget_exhausted")
        if row.row == 5:
            return replace(row, status="ok", reward_id="elsewhere")
        return replace(row, status="ok", reward_id=f"{row.job_id}:{row.row}")

    results = [outcome(r) for r in rows[:10]]  # rows 10 and 11 stay pending
    first, second = results[:6], results[6:]
    j2 = [outcome(r) for r in rows_j2]
    sets = [
        ChangeSet("acme", bulk_results=(*first, *j2)),
        ChangeSet("acme", bulk_results=(*second,)),
    ]
    await ledger.apply(sets)
    assert await ledger.bulk_rows("acme", "j1", 0, 20) == [*results, *rows[10:]]
    assert await ledger.bulk_rows("acme", "j2", 0, 20) == j2


async def test_values_as_long_as_the_api_allows_are_stored_whole(ledger: Ledger) -> None:
    """The longest values the API takes: 100 grants of 71 characters (7,199 with the
    spaces), a sign-in email of 254 as an audit actor, 50 allowed domains of 60. MariaDB's
    columns were narrower, and refused the whole change set."""
    grants = " ".join(f"budget:{i:02d}{'x' * 62}" for i in range(100))
    assert len(grants) == 7_199
    email = f"{'a' * 64}@{'b' * 185}.com"
    assert len(email) == 254
    domains = " ".join(f"{i:02d}{'d' * 54}.com" for i in range(50))
    wide = replace(person("ann", "ann@acme.test"), grants=grants)
    sso = SsoRecord("acme", "https://idp.example", "perkbus", b"sealed", "openid", domains,
                    "active", 5, 1)  # fmt: skip
    await ledger.apply(
        [
            ChangeSet(
                "acme",
                people=(PutPerson(wide, 0),),
                clients=(PutClient(client("acme.c1", grants=grants), 0),),
                audit=(AuditEntry(5, email, "people.sign_in", email, "unauthenticated", "{}"),),
                sso=(PutSso(sso, 0),),
            )
        ]
    )
    assert await ledger.load_people("acme", ["ann"]) == [wide]
    assert (await ledger.load_clients("acme", ["acme.c1"]))[0].grants == grants
    (entry,) = await ledger.audit_log("acme", 0, 10)
    assert entry.actor == email
    assert await ledger.load_sso("acme") == sso
