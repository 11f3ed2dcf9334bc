"""The actor runtime: one handler at a time, batches in one transaction, failures
isolated and retryable, passivation, deadlines, and tenant checks on the subject."""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator, Sequence
from typing import Any, cast

import msgspec
import pytest
from msgspec.structs import replace

from actors.config import ActorsConfig
from actors.runtime.activation import Activation, Mail, Runtime
from actors.runtime.actor import ActorKey, ActorKind, Decision
from actors.runtime.committer import CommitExpired, GroupCommitter
from actors.runtime.host import ActorHost, PartitionMappingError
from actors.runtime.outbox import OutboxRelay
from actors.treasury import TreasuryActor
from bus import subjects
from bus.barrier import barrier
from bus.client import Bus
from bus.embedded import EmbeddedNats
from bus.errors import BusError, ErrorCode
from bus.events import EventPublisher, OutboxEvent, make_event
from bus.messages import Err, Ok, Reply, Request, encoder, reply_decoder
from bus.messages.budget import (
    BudgetDebited,
    BudgetView,
    CreateBudget,
    DebitBudget,
    DebitReceipt,
    GetBudget,
)
from bus.messages.common import Money, Principal
from bus.time import now_ms
from storage.errors import StaleWrite, StoreUnavailable
from storage.ports import AccountRecord, CatalogueStore, ChangeSet, Ledger, PutAccount
from tests.conftest import PARTITIONS, context, start_host
from tests.support import budget_record, sample_event, transactions, unavailable, until

ME = Principal("tester")


class ProbeBudget(TreasuryActor):
    """A budget actor that records how many of its handlers run at once, and can fail."""

    running = 0
    most_at_once = 0
    batch_sizes: list[int] = []
    deactivations: list[str] = []

    async def handle(self, batch: Sequence[Request]) -> Decision:
        cls = ProbeBudget
        cls.running += 1
        cls.most_at_once = max(cls.most_at_once, cls.running)
        cls.batch_sizes.append(len(batch))
        try:
            await asyncio.sleep(0.001)  # give the loop every chance to interleave
            for r in batch:
                if isinstance(r.body, DebitBudget) and r.body.memo == "explode":
                    raise RuntimeError("boom")
            return await super().handle(batch)
        finally:
            cls.running -= 1

    async def on_deactivate(self, reason: str) -> None:
        ProbeBudget.deactivations.append(reason)
        await super().on_deactivate(reason)


@pytest.fixture(autouse=True)
def _reset_probe() -> None:
    ProbeBudget.running = ProbeBudget.most_at_once = 0
    ProbeBudget.batch_sizes = []
    ProbeBudget.deactivations = []


PROBE = ActorKind("treasury", ProbeBudget, accepts=(GetBudget, CreateBudget, DebitBudget))


async def make_host(
    bus: Bus, ledger: Ledger, catalogue: CatalogueStore, idle_timeout_s: float = 30
) -> ActorHost:
    return await start_host(bus, ledger, catalogue, [PROBE], idle_timeout_s)


@pytest.fixture
async def host(bus: Bus, ledger: Ledger, catalogue: CatalogueStore) -> AsyncIterator[ActorHost]:
    h = await make_host(bus, ledger, catalogue)
    yield h
    await h.stop()


async def ask(
    bus: Bus, body: CreateBudget | DebitBudget | GetBudget, tenant: str = "acme"
) -> Reply:
    return await bus.request(tenant, "treasury", body, ME, timeout_s=5)


def debit(n: int, budget_id: str = "b1", memo: str = "") -> DebitBudget:
    return DebitBudget(budget_id, f"d{n}", Money(1, "EUR"), memo)


async def test_one_actor_never_runs_two_handlers_at_once(bus: Bus, host: ActorHost) -> None:
    assert isinstance(await ask(bus, CreateBudget("b1", "B", Money(10_000, "EUR"))), Ok)
    replies = await asyncio.gather(*(ask(bus, debit(i)) for i in range(400)))
    assert all(isinstance(r, Ok) for r in replies)
    assert ProbeBudget.most_at_once == 1
    assert max(ProbeBudget.batch_sizes) > 1, "concurrent requests should have been batched"
    view = await ask(bus, GetBudget("b1"))
    assert isinstance(view, Ok)
    assert isinstance(view.value, BudgetView)
    assert view.value.balance == Money(10_000 - 400, "EUR")


class Replies:
    def __init__(self) -> None:
        self.by_subject: dict[str, Reply] = {}

    async def send(self, reply_to: str, reply: Reply) -> None:
        self.by_subject[reply_to] = reply


def request(
    body: DebitBudget | GetBudget | CreateBudget, deadline_ms: int | None = None
) -> Request:
    return Request(
        tenant="acme",
        principal=ME,
        request_id="r",
        deadline_ms=deadline_ms or now_ms() + 5000,
        body=body,
    )


async def open_budget(ledger: Ledger, amount: int, budget_id: str = "b1") -> None:
    actor = TreasuryActor(context(ledger), ActorKey("acme", "treasury", "all"))
    await actor.on_activate()
    decision = await actor.handle([request(CreateBudget(budget_id, "B", Money(amount, "EUR")))])
    assert decision.changes is not None
    await ledger.apply([decision.changes])


def bare_activation(
    ledger: Ledger, pipelined: bool = False, commits_to: Ledger | None = None
) -> tuple[Activation, GroupCommitter, Replies]:
    """A budget actor's activation with a real committer, but no NATS: replies are kept."""
    committer = GroupCommitter(commits_to or ledger)
    committer.start()
    replies = Replies()
    key = ActorKey("acme", "treasury", "all")
    runtime = Runtime(ledger, committer, replies.send, lambda a: None, idle_timeout_s=30)
    activation = Activation(key, TreasuryActor(context(ledger), key), runtime, pipelined)
    return activation, committer, replies


class SlowFirstCommit:
    """The ledger, but its first group commit takes a while and then fails."""

    def __init__(self, ledger: Ledger) -> None:
        self._ledger = ledger
        self.failed = False

    def __getattr__(self, name: str) -> object:
        return getattr(self._ledger, name)

    async def apply(self, change_sets: Sequence[ChangeSet]) -> None:
        if not self.failed:
            self.failed = True
            await asyncio.sleep(0.3)
            raise StoreUnavailable("the disk went away for a moment")
        await self._ledger.apply(change_sets)


async def test_a_pipelined_batch_decided_on_a_failed_commit_is_refused_and_reloaded(
    ledger: Ledger,
) -> None:
    await open_budget(ledger, 1000)
    flaky = SlowFirstCommit(ledger)
    activation, committer, replies = bare_activation(
        ledger, pipelined=True, commits_to=cast(Ledger, flaky)
    )
    activation.post(Mail(request(debit(1)), "reply.1"))
    activation.start()
    await asyncio.sleep(0.1)  # the first batch is committing (slowly) …
    activation.post(Mail(request(debit(2)), "reply.2"))  # … when this one is decided
    await asyncio.sleep(0.5)
    activation.post(Mail(request(debit(3)), "reply.3"))
    await activation.close()
    await committer.stop()

    for first_two in ("reply.1", "reply.2"):  # nothing was written: retry
        reply = replies.by_subject[first_two]
        assert isinstance(reply, Err)
        assert reply.retryable
    third = replies.by_subject["reply.3"]
    assert isinstance(third, Ok)
    assert isinstance(third.value, DebitReceipt)
    assert third.value.balance_after == Money(999, "EUR")  # decided on the reloaded state
    assert "d1" not in await transactions(ledger, "acme")
    assert "d2" not in await transactions(ledger, "acme")
    assert await ledger.account_balance("acme", "budget:b1") == 999


async def test_pipelined_batches_are_each_answered_after_their_own_commit(
    ledger: Ledger,
) -> None:
    await open_budget(ledger, 1000)
    activation, committer, replies = bare_activation(ledger, pipelined=True)
    activation.start()
    for i in range(300):
        activation.post(Mail(request(debit(i)), f"reply.{i}"))
        if i % 50 == 0:
            await asyncio.sleep(0)  # let batches form while others commit
    await activation.close()
    await committer.stop()

    assert activation.batches > 1
    assert len(replies.by_subject) == 300
    after = [
        r.value.balance_after.amount_minor
        for r in replies.by_subject.values()
        if isinstance(r, Ok) and isinstance(r.value, DebitReceipt)
    ]
    assert sorted(after) == list(range(700, 1000))
    assert await ledger.account_balance("acme", "budget:b1") == 700
    assert await ledger.entries_total("acme") == 0


async def test_a_batch_of_n_debits_is_one_transaction(ledger: Ledger) -> None:
    await open_budget(ledger, 1000)
    activation, committer, replies = bare_activation(ledger)
    n = 120
    for i in range(n):  # all queued before the loop first runs
        activation.post(Mail(request(debit(i)), f"reply.{i}"))
    before = ledger.stats.transactions
    activation.start()
    await activation.close()
    await committer.stop()

    assert ledger.stats.transactions - before == 1
    assert activation.batches == 1
    assert len(replies.by_subject) == n
    assert all(isinstance(r, Ok) for r in replies.by_subject.values())
    record = await budget_record(ledger, "acme", "b1")
    assert record is not None
    assert record.balance_minor == 1000 - n
    assert record.version == 2
    assert await ledger.account_balance("acme", "budget:b1") == 1000 - n


async def test_expired_requests_are_answered_without_effect(ledger: Ledger) -> None:
    await open_budget(ledger, 10)
    activation, committer, replies = bare_activation(ledger)
    activation.post(Mail(request(debit(1), deadline_ms=now_ms() - 1), "late"))
    activation.post(Mail(request(debit(2)), "on-time"))
    activation.start()
    await activation.close()
    await committer.stop()
    late = replies.by_subject["late"]
    assert isinstance(late, Err)
    assert late.code == ErrorCode.DEADLINE_EXCEEDED
    assert late.retryable
    assert isinstance(replies.by_subject["on-time"], Ok)
    assert "d1" not in await transactions(ledger, "acme")
    assert "d2" in await transactions(ledger, "acme")


def change_set(budget_id: str, balance: int, expected: int) -> ChangeSet:
    record = AccountRecord(
        "acme", f"budget:{budget_id}", "budget", "B", "EUR", balance, expected + 1
    )
    return ChangeSet("acme", puts=(PutAccount(record, expected_version=expected),))


def debited(budget_id: str, amount: int, after: int) -> BudgetDebited:
    return BudgetDebited(budget_id, f"d-{amount}", Money(amount, "EUR"), Money(after, "EUR"))


async def test_published_events_are_cleared_with_the_next_commit_or_after_a_while(
    ledger: Ledger,
) -> None:
    for b in ("a", "b"):
        await open_budget(ledger, 100, budget_id=b)
    counted = DownLedger(ledger)  # never down here: it counts the transactions
    committer = GroupCommitter(cast(Ledger, counted), clear_after_s=0.3)
    committer.start()
    event = make_event("acme", "budget", "debited", "a", debited("a", 10, 90))
    await committer.commit(replace(change_set("a", 90, 1), events=(event,)))
    published = [e.event_id for e in await ledger.pending_events(10)]  # with the budgets'
    assert event.event_id in published
    assert committer.clear_published(published)
    await asyncio.sleep(0.1)
    assert counted.apply_calls == 1  # no transaction only to delete an outbox row …
    await committer.commit(change_set("b", 80, 1))  # … it rides with the next one
    assert counted.apply_calls == 2
    assert await ledger.pending_events(10) == []
    later = make_event("acme", "budget", "debited", "a", debited("a", 20, 70))
    await committer.commit(replace(change_set("a", 70, 2), events=(later,)))
    committer.clear_published([later.event_id])
    for _ in range(100):  # nothing else comes: cleared on its own after clear_after_s
        if not await ledger.pending_events(10):
            break
        await asyncio.sleep(0.02)
    assert await ledger.pending_events(10) == []
    assert counted.apply_calls == 4
    await committer.stop()


class RecordingPublisher:
    """Stands for JetStream: what the relay published, in order."""

    def __init__(self) -> None:
        self.sent: list[OutboxEvent] = []

    async def publish(self, events: Sequence[OutboxEvent]) -> None:
        self.sent.extend(events)


async def test_the_relay_clears_each_transactions_row_by_its_first_events_id(
    ledger: Ledger,
) -> None:
    """A transaction's events are one outbox row, named by its first event: that id is
    all the relay hands back to clear (the others name no row)."""
    publisher = RecordingPublisher()
    relay = OutboxRelay(ledger, cast(EventPublisher, publisher))
    committer = GroupCommitter(ledger, on_committed=relay.committed, clear_after_s=0.05)
    cleared: list[str] = []

    def clear(ids: Sequence[str]) -> bool:
        cleared.extend(ids)
        return committer.clear_published(ids)

    relay.clear = clear
    committer.start()
    relay.start()
    first = sample_event()  # past the relay's first sweep of the table (empty here)
    await committer.commit(ChangeSet("acme", events=(first,)))
    await until(lambda: published_and_cleared(ledger, publisher, 1), "the first event")
    publisher.sent.clear()
    cleared.clear()
    pack = tuple(sample_event() for _ in range(3))
    apart = sample_event()
    await committer.commit(ChangeSet("acme", events=pack))  # one row of three events
    await committer.commit(ChangeSet("acme", events=(apart,)))
    await until(lambda: published_and_cleared(ledger, publisher, 4), "the four events")
    # the first may go out twice, harmlessly (same Nats-Msg-Id): committed while the
    # relay's start-up scan read the table, it is both read there and queued
    again = first.event_id
    assert [e for e in publisher.sent if e.event_id != again] == [*pack, apart]
    assert [i for i in cleared if i != again] == [pack[0].event_id, apart.event_id]
    await relay.stop()
    await committer.stop()


async def published_and_cleared(ledger: Ledger, publisher: RecordingPublisher, n: int) -> bool:
    return len(publisher.sent) >= n and not await ledger.pending_events(10)


async def test_a_committer_started_again_keeps_committing(ledger: Ledger) -> None:
    """A host stopped and started again (its committer with it) serves every commit."""
    for b in ("a", "b"):
        await open_budget(ledger, 100, budget_id=b)
    committer = GroupCommitter(ledger)
    committer.start()
    await committer.stop()
    with pytest.raises(RuntimeError):
        await committer.commit(change_set("a", 90, 1))
    committer.start()
    await asyncio.wait_for(committer.commit(change_set("a", 90, 1)), 5)
    await asyncio.wait_for(committer.commit(change_set("b", 80, 1)), 5)  # not just the first
    await committer.stop()
    records = await ledger.load_accounts("acme", ["budget:a", "budget:b"])
    assert sorted((r.account_id, r.balance_minor) for r in records) == [
        ("budget:a", 90),
        ("budget:b", 80),
    ]


class OverlapLedger:
    """Wraps a real ledger; counts how many ``apply`` calls are under way at once (each
    held a moment)."""

    def __init__(self, inner: Ledger) -> None:
        self.inner = inner
        self.under_way = 0
        self.most = 0

    def __getattr__(self, name: str) -> object:
        return getattr(self.inner, name)

    async def apply(self, change_sets: Sequence[ChangeSet]) -> None:
        self.under_way += 1
        self.most = max(self.most, self.under_way)
        try:
            await asyncio.sleep(0.05)
            await self.inner.apply(change_sets)
        finally:
            self.under_way -= 1


async def test_a_second_group_is_written_while_the_first_commits_when_the_store_allows(
    ledger: Ledger,
) -> None:
    for b in ("a", "b", "c"):
        await open_budget(ledger, 100, budget_id=b)
    overlap = OverlapLedger(ledger)
    committer = GroupCommitter(cast(Ledger, overlap), in_flight=2)
    committer.start()
    first = asyncio.ensure_future(committer.commit(change_set("a", 90, 1)))
    await asyncio.sleep(0.01)  # the first group is under way …
    second = asyncio.ensure_future(committer.commit(change_set("b", 80, 1)))
    await asyncio.sleep(0.01)  # … and so is the second; a third waits for a slot
    third = asyncio.ensure_future(committer.commit(change_set("c", 70, 1)))
    await committer.stop()  # after everything handed to it is written
    assert (first.done(), second.done(), third.done()) == (True, True, True)
    assert overlap.most == 2
    for b, balance in (("a", 90), ("b", 80), ("c", 70)):
        record = await budget_record(ledger, "acme", b)
        assert record is not None
        assert record.balance_minor == balance

    one = OverlapLedger(ledger)
    committer = GroupCommitter(cast(Ledger, one))  # one at a time, as for SQLite
    committer.start()
    await asyncio.gather(*(committer.commit(change_set(b, 60, 2)) for b in ("a", "b")))
    await committer.stop()
    assert one.most == 1


class GroupSizes:
    """Wraps a real ledger; records how many change sets each ``apply`` wrote."""

    def __init__(self, inner: Ledger) -> None:
        self.inner = inner
        self.groups: list[int] = []

    def __getattr__(self, name: str) -> object:
        return getattr(self.inner, name)

    async def apply(self, change_sets: Sequence[ChangeSet]) -> None:
        await self.inner.apply(change_sets)
        self.groups.append(len(change_sets))


async def test_a_group_stops_taking_change_sets_at_megabytes_of_events(ledger: Ledger) -> None:
    sizes = GroupSizes(ledger)
    committer = GroupCommitter(cast(Ledger, sizes), max_event_bytes=2_500_000)
    payload = bytes(range(256)) * 4_000  # ~1 MB an event
    big = [msgspec.structs.replace(sample_event(i), payload=payload) for i in range(7)]
    committer.start()
    waiting = [committer.submit(ChangeSet("acme", events=(e,))) for e in big]  # before it runs
    await asyncio.gather(*waiting)
    await committer.stop()
    assert sizes.groups == [2, 2, 2, 1]  # a third would pass 2.5 MB
    stored = await ledger.pending_events(20)
    assert sorted(e.event_id for e in stored) == sorted(e.event_id for e in big)


async def test_a_stale_batch_fails_alone_in_a_shared_group(ledger: Ledger) -> None:
    for b in ("a", "b", "c"):
        await open_budget(ledger, 100, budget_id=b)
    committer = GroupCommitter(ledger)
    committer.start()

    results = await asyncio.gather(
        committer.commit(change_set("a", 90, 1)),
        committer.commit(change_set("b", 90, 7)),  # stale: b is at version 1
        committer.commit(change_set("c", 90, 1)),
        return_exceptions=True,
    )
    await committer.stop()
    assert results[0] is None
    assert results[2] is None
    assert isinstance(results[1], StaleWrite)
    assert committer.stats.split_retries == 1
    for b, balance in (("a", 90), ("b", 100), ("c", 90)):
        record = await budget_record(ledger, "acme", b)
        assert record is not None
        assert record.balance_minor == balance


async def test_stale_actor_gets_retryable_error_reloads_and_serves(
    bus: Bus, ledger: Ledger, host: ActorHost
) -> None:
    assert isinstance(await ask(bus, CreateBudget("b1", "B", Money(100, "EUR"))), Ok)
    # Another writer moves the budget on behind the actor's back (a split brain).
    record = await budget_record(ledger, "acme", "b1")
    assert record is not None
    newer = msgspec.structs.replace(record, balance_minor=50, version=record.version + 1)
    await ledger.apply([ChangeSet("acme", puts=(PutAccount(newer, record.version),))])

    first = await ask(bus, debit(1))
    assert isinstance(first, Err)
    assert first.code == ErrorCode.UNAVAILABLE
    assert first.retryable
    second = await ask(bus, debit(2))
    assert isinstance(second, Ok)
    assert isinstance(second.value, DebitReceipt)
    assert second.value.balance_after == Money(49, "EUR")  # built on the newer state
    assert "d1" not in await transactions(ledger, "acme")


async def test_exception_in_handler_fails_batch_retryably_and_actor_keeps_serving(
    bus: Bus, ledger: Ledger, host: ActorHost
) -> None:
    assert isinstance(await ask(bus, CreateBudget("b1", "B", Money(100, "EUR"))), Ok)
    boom = await ask(bus, debit(1, memo="explode"))
    assert isinstance(boom, Err)
    assert boom.retryable
    ok = await ask(bus, debit(2))
    assert isinstance(ok, Ok)
    assert isinstance(ok.value, DebitReceipt)
    assert ok.value.balance_after == Money(99, "EUR")
    assert "d1" not in await transactions(ledger, "acme")


async def test_idle_actor_is_passivated_and_reactivates_from_storage(
    bus: Bus, ledger: Ledger, catalogue: CatalogueStore
) -> None:
    host = await make_host(bus, ledger, catalogue, idle_timeout_s=0.2)
    try:
        assert isinstance(await ask(bus, CreateBudget("b1", "B", Money(100, "EUR"))), Ok)
        assert isinstance(await ask(bus, debit(1)), Ok)
        assert len(host.activations) == 1
        for _ in range(50):
            await asyncio.sleep(0.05)
            if not host.activations:
                break
        assert host.activations == {}
        assert ProbeBudget.deactivations == ["idle"]
        view = await ask(bus, GetBudget("b1"))
        assert isinstance(view, Ok)
        assert isinstance(view.value, BudgetView)
        assert view.value.balance == Money(99, "EUR")
    finally:
        await host.stop()
    assert ProbeBudget.deactivations == ["idle", "shutdown"]


def envelope(tenant: str, body: GetBudget) -> bytes:
    """A request as it travels, sent by hand (past ``Bus.request``'s checks)."""
    request = Request(
        tenant=tenant, principal=ME, request_id="x", deadline_ms=now_ms() + 5000, body=body
    )
    return encoder.encode(request)


async def refusal(bus: Bus, kind: str, payload: bytes) -> Err:
    """What the host answers ``payload`` sent to acme's actors of ``kind``."""
    msg = await bus.nc.request(subjects.rpc("acme", kind), payload, timeout=5)
    reply = reply_decoder.decode(msg.data)
    assert isinstance(reply, Err)
    return reply


async def test_requests_whose_envelope_names_another_tenant_are_refused(
    bus: Bus, host: ActorHost
) -> None:
    assert isinstance(await ask(bus, CreateBudget("b1", "B", Money(100, "EUR")), "globex"), Ok)
    forged = envelope("globex", GetBudget("b1"))
    assert (await refusal(bus, "treasury", forged)).code == ErrorCode.FORBIDDEN


async def test_requests_the_host_cannot_read_or_route_are_refused_and_it_serves_on(
    bus: Bus, host: ActorHost
) -> None:
    garbled = await refusal(bus, "treasury", b"\x93not msgpack")
    assert garbled.code == ErrorCode.INVALID_REQUEST
    unknown = await refusal(bus, "nobody", envelope("acme", GetBudget("b1")))
    assert unknown.code == ErrorCode.INVALID_REQUEST
    assert "nobody" in unknown.message
    assert isinstance(await ask(bus, CreateBudget("b1", "B", Money(100, "EUR"))), Ok)


async def test_requests_arrive_by_tenant_partition(bus: Bus, ledger: Ledger) -> None:
    """A host that serves some partitions gets exactly the tenants hashed onto them."""
    seen: list[str] = []

    async def spy(msg: object) -> None:
        seen.append(getattr(msg, "subject", ""))

    sub = await bus.nc.subscribe(subjects.partition_subscription(3), cb=spy)
    tenants = [f"t{i}" for i in range(40)]
    for t in tenants:
        await bus.nc.publish(subjects.rpc(t, "budget"), b"")
    await barrier(bus.nc)
    await asyncio.sleep(0.2)
    await sub.unsubscribe()
    assert seen, "some of 40 tenants should hash onto partition 3 of 8"
    assert len(seen) < len(tenants)
    for subject in seen:
        partition, tenant, kind = subjects.parse_partitioned(subject)
        assert (partition, kind) == (3, "budget")
        assert tenant in tenants


async def test_one_commit_gathers_the_batches_of_many_actors(
    bus: Bus, ledger: Ledger, host: ActorHost
) -> None:
    """Spread over 100 tenants, debits still share transactions (group commit)."""
    tenants = [f"t{i}" for i in range(100)]
    await asyncio.gather(
        *(ask(bus, CreateBudget("b1", "B", Money(100, "EUR")), t) for t in tenants)
    )
    before_tx, before_sets = ledger.stats.transactions, ledger.stats.change_sets
    replies = await asyncio.gather(*(ask(bus, debit(i), t) for t in tenants for i in range(5)))
    assert all(isinstance(r, Ok) for r in replies)
    transactions = ledger.stats.transactions - before_tx
    change_sets = ledger.stats.change_sets - before_sets
    assert change_sets >= 100  # at least one batch per tenant
    assert transactions * 4 <= change_sets, (transactions, change_sets)
    for t in tenants[:10]:
        assert await ledger.account_balance(t, "budget:b1") == 95


def test_partition_of_matches_the_servers_hash() -> None:
    # Seen on a real nats-server with partition(64,1): t1 → 22, t2 → 3, demo → 54.
    assert [subjects.partition_of(t, 64) for t in ("t1", "t2", "demo")] == [22, 3, 54]


async def test_host_refuses_a_server_whose_partition_count_differs(
    nats_server: object, ledger: Ledger, catalogue: CatalogueStore, bus: Bus
) -> None:
    host = ActorHost(
        bus, context(ledger, catalogue), [PROBE], ActorsConfig(), partitions=PARTITIONS * 2
    )
    with pytest.raises(PartitionMappingError, match="disagree"):
        await host.start()


async def test_host_refuses_a_server_without_the_partition_mapping(
    ledger: Ledger, catalogue: CatalogueStore
) -> None:
    """The machine's own NATS (port 4222) has no perkbus mapping."""
    url = os.environ.get("PERKBUS_TEST_NATS_URL", "nats://127.0.0.1:4222")
    try:
        plain = await Bus.connect(url, name="test-plain")
    except Exception as e:
        unavailable(f"NATS at {url} is not reachable: {e}")
    try:
        host = ActorHost(plain, context(ledger, catalogue), [PROBE], ActorsConfig(), PARTITIONS)
        with pytest.raises(PartitionMappingError, match="does not map"):
            await host.check_partition_mapping(timeout_s=0.5)
    finally:
        await plain.close()


async def test_a_failed_reply_does_not_stop_the_actor(
    nats_server: EmbeddedNats, bus: Bus, host: ActorHost, monkeypatch: pytest.MonkeyPatch
) -> None:
    # the host keeps ``bus``
    client = await Bus.connect(nats_server.url, "client", nats_server.credentials)
    try:
        assert isinstance(await ask(client, CreateBudget("b1", "B", Money(100, "EUR"))), Ok)
        publish = bus.nc.publish
        calls = {"n": 0}

        async def flaky_publish(subject: str, payload: bytes = b"", **kwargs: Any) -> None:
            if subject.startswith("_INBOX."):  # a reply, not an event publish
                calls["n"] += 1
                if calls["n"] == 1:
                    raise ConnectionError("publish failed once")
            await publish(subject, payload, **kwargs)

        monkeypatch.setattr(bus.nc, "publish", flaky_publish)
        with pytest.raises(BusError):  # its reply was lost: the client times out
            await client.request("acme", "treasury", debit(1), ME, timeout_s=0.5)
        second = await ask(client, debit(2))
        assert isinstance(second, Ok)
        assert isinstance(second.value, DebitReceipt)
        assert second.value.balance_after == Money(98, "EUR")  # the lost reply's debit held
        assert calls["n"] >= 2
    finally:
        await client.close()


class DownLedger:
    """Wraps a real ledger; while ``down`` its writes fail as an unreachable store's do."""

    def __init__(self, inner: Ledger) -> None:
        self.inner = inner
        self.down = False
        self.apply_calls = 0

    def __getattr__(self, name: str) -> object:
        return getattr(self.inner, name)

    async def apply(self, change_sets: Sequence[ChangeSet]) -> None:
        self.apply_calls += 1
        if self.down:
            raise StoreUnavailable("connection refused")
        await self.inner.apply(change_sets)


async def test_an_unavailable_store_fails_the_whole_group_at_once(ledger: Ledger) -> None:
    for b in ("a", "b", "c"):
        await open_budget(ledger, 100, budget_id=b)
    store = DownLedger(ledger)
    store.down = True
    committer = GroupCommitter(store)  # type: ignore[arg-type]
    committer.start()
    results = await asyncio.gather(
        *(committer.commit(change_set(b, 90, 1)) for b in ("a", "b", "c")),
        return_exceptions=True,
    )
    await committer.stop()
    assert all(isinstance(r, StoreUnavailable) for r in results)
    assert store.apply_calls == 1  # not once more per change set
    assert committer.stats.split_retries == 0


async def test_change_sets_whose_requests_all_expired_are_not_written(ledger: Ledger) -> None:
    await open_budget(ledger, 100, budget_id="a")
    committer = GroupCommitter(ledger)
    committer.start()
    with pytest.raises(CommitExpired):
        await committer.commit(change_set("a", 90, 1), deadline_ms=now_ms() - 1)
    await committer.commit(change_set("a", 80, 1), deadline_ms=now_ms() + 5000)
    await committer.stop()
    record = await budget_record(ledger, "acme", "a")
    assert record is not None
    assert record.balance_minor == 80
    assert committer.stats.expired_change_sets == 1


async def test_a_budget_opened_elsewhere_is_found_by_an_actor_that_saw_none(
    ledger: Ledger,
) -> None:
    key = ActorKey("acme", "treasury", "all")
    actor = TreasuryActor(context(ledger), key)
    await actor.on_activate()
    missing = await actor.handle([request(GetBudget("b1"))])
    assert isinstance(missing.replies[0], Err)
    assert missing.replies[0].code == ErrorCode.NOT_FOUND
    await open_budget(ledger, 50)  # by another actor instance
    found = await actor.handle([request(debit(1))])
    assert isinstance(found.replies[0], Ok)
    assert found.changes is not None
    await ledger.apply([found.changes])
    record = await budget_record(ledger, "acme", "b1")
    assert record is not None
    assert record.balance_minor == 49
