"""Idempotency keys in the runtime: one effect per key, the same reply to every retry."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Sequence

import pytest

from actors.config import ActorsConfig
from actors.runtime.host import ActorHost
from actors.runtime.idempotency import fingerprint, key_hash, legacy_fingerprint
from bus.client import Bus
from bus.embedded import EmbeddedNats
from bus.errors import BusTimeout, ErrorCode
from bus.messages import Err, Ok, Principal, Reply, Request, encoder
from bus.messages.budget import CreateBudget, DebitBudget, DebitReceipt, GetBudget
from bus.messages.common import Money
from bus.time import now_ms
from storage.ports import CatalogueStore, ChangeSet, Ledger, StoredReply
from tests.conftest import start_host

ME = Principal("tester")


@pytest.fixture
async def host(bus: Bus, ledger: Ledger, catalogue: CatalogueStore) -> AsyncIterator[ActorHost]:
    h = await start_host(bus, ledger, catalogue)
    yield h
    await h.stop()


async def debit(
    bus: Bus, amount: int, key: str | None, debit_id: str = "d1", timeout_s: float = 5
) -> Reply:
    body = DebitBudget("b1", debit_id, Money(amount, "EUR"))
    return await bus.request("acme", "treasury", body, ME, timeout_s, idempotency_key=key)


async def open_b1(bus: Bus, amount: int = 100) -> None:
    opened = await bus.request(
        "acme", "treasury", CreateBudget("b1", "B", Money(amount, "EUR")), ME, 5
    )
    assert isinstance(opened, Ok)


async def test_a_retry_gets_the_first_reply_and_has_no_effect(
    bus: Bus, ledger: Ledger, host: ActorHost
) -> None:
    await open_b1(bus)
    first = await debit(bus, 30, "key-1")
    again = await debit(bus, 30, "key-1")
    assert isinstance(first, Ok)
    assert again == first
    assert await ledger.account_balance("acme", "spent:b1") == 30


async def test_a_used_key_with_another_request_is_refused(
    bus: Bus, ledger: Ledger, host: ActorHost
) -> None:
    await open_b1(bus)
    assert isinstance(await debit(bus, 30, "key-1"), Ok)
    other = await debit(bus, 31, "key-1")
    assert isinstance(other, Err)
    assert other.code == ErrorCode.IDEMPOTENCY_KEY_REUSED
    assert not other.retryable
    assert await ledger.account_balance("acme", "spent:b1") == 30


async def test_a_key_of_the_same_subject_with_other_roles_or_grants_is_not_replayed(
    bus: Bus, ledger: Ledger, host: ActorHost
) -> None:
    """A person whose id equals another principal's subject (or whose rights changed)
    does not get what the first was answered: the key counts as used for another request."""
    await open_b1(bus)
    wide = Principal("svc", roles=("admin",))
    first = await bus.request("acme", "treasury", GetBudget("b1"), wide, 5, idempotency_key="k")
    assert isinstance(first, Ok)
    for other in (
        Principal("svc", roles=("admin",), grants=("budget:b2",)),
        Principal("svc", roles=("end_user",)),
    ):
        reply = await bus.request(
            "acme", "treasury", GetBudget("b1"), other, 5, idempotency_key="k"
        )
        assert isinstance(reply, Err), other
        assert reply.code == ErrorCode.IDEMPOTENCY_KEY_REUSED, reply
    again = await bus.request("acme", "treasury", GetBudget("b1"), wide, 5, idempotency_key="k")
    assert again == first


async def test_a_reply_stored_before_roles_counted_is_still_found_by_its_retry(
    bus: Bus, ledger: Ledger, host: ActorHost
) -> None:
    """Replies stored by the release before (fingerprinted by subject and body only) answer
    the retries sent across the deploy; keys stay unusable for another request."""
    await open_b1(bus)
    body = DebitBudget("b1", "dbt_old", Money(7, "EUR"))
    request = Request("acme", ME, "r", 0, body, idempotency_key="old-key")
    receipt = DebitReceipt("dbt_old", "b1", Money(7, "EUR"), Money(93, "EUR"), 1)
    stored = StoredReply(
        key_hash=key_hash(ME.subject, "old-key"),
        fingerprint=legacy_fingerprint(request),
        reply=encoder.encode(Ok(receipt)),
        created_ms=now_ms(),
        expires_ms=now_ms() + 3_600_000,
    )
    await ledger.apply([ChangeSet("acme", replies=(stored,))])
    assert await debit(bus, 7, "old-key", "dbt_new") == Ok(receipt)  # not debited again
    other = await debit(bus, 8, "old-key", "dbt_new")
    assert isinstance(other, Err)
    assert other.code == ErrorCode.IDEMPOTENCY_KEY_REUSED
    assert await ledger.account_balance("acme", "spent:b1") == 0


def test_roles_and_grants_count_in_any_order() -> None:
    body = DebitBudget("b1", "dbt_1", Money(5, "EUR"))
    one = Request("acme", Principal("p", ("admin", "finance"), (), ("budget:a", "budget:b")),
                  "r", 0, body, idempotency_key="k")  # fmt: skip
    other = Request("acme", Principal("p", ("finance", "admin"), (), ("budget:b", "budget:a")),
                    "r", 0, body, idempotency_key="k")  # fmt: skip
    assert fingerprint(one) == fingerprint(other)


async def test_refusals_are_replayed_too(bus: Bus, ledger: Ledger, host: ActorHost) -> None:
    await open_b1(bus, 10)
    refused = await debit(bus, 50, "big")
    assert isinstance(refused, Err)
    assert refused.code == ErrorCode.INSUFFICIENT_FUNDS
    assert isinstance(await debit(bus, 5, "small", debit_id="d2"), Ok)
    assert await debit(bus, 50, "big") == refused  # even though 5 left still is too little


async def test_the_same_key_twice_in_one_batch_is_decided_once(
    bus: Bus, ledger: Ledger, host: ActorHost
) -> None:
    await open_b1(bus)
    replies = await asyncio.gather(*(debit(bus, 10, "burst-key") for _ in range(50)))
    assert all(r == replies[0] for r in replies)
    assert isinstance(replies[0], Ok)
    assert await ledger.account_balance("acme", "spent:b1") == 10


async def test_replies_outlive_passivation_and_restarts(
    nats_server: EmbeddedNats, bus: Bus, ledger: Ledger, catalogue: CatalogueStore
) -> None:
    host = await start_host(bus, ledger, catalogue, idle_timeout_s=0.1)
    try:
        await open_b1(bus)
        first = await debit(bus, 30, "key-1")
        await asyncio.sleep(0.4)
        assert host.activations == {}  # passivated: memory is gone
        assert await debit(bus, 30, "key-1") == first  # from the ledger
    finally:
        await host.stop()
    restarted = await start_host(bus, ledger, catalogue)
    try:
        assert await debit(bus, 30, "key-1") == first
    finally:
        await restarted.stop()
    assert await ledger.account_balance("acme", "spent:b1") == 30


class SlowLedger:
    """A real ledger whose commits take ``delay_s`` (a slow disk, a busy database)."""

    def __init__(self, inner: Ledger, delay_s: float) -> None:
        self.inner = inner
        self.delay_s = delay_s

    def __getattr__(self, name: str) -> object:
        return getattr(self.inner, name)

    async def apply(self, change_sets: Sequence[ChangeSet]) -> None:
        await asyncio.sleep(self.delay_s)
        await self.inner.apply(change_sets)


async def test_a_retry_after_a_timeout_does_not_debit_twice(
    bus: Bus, ledger: Ledger, catalogue: CatalogueStore
) -> None:
    slow = SlowLedger(ledger, delay_s=0.6)
    host = await start_host(bus, slow, catalogue)  # type: ignore[arg-type]
    try:
        await open_b1(bus)
        with pytest.raises(BusTimeout):  # the client gives up; the commit still lands
            await debit(bus, 30, "key-1", timeout_s=0.3)
        await asyncio.sleep(0.6)
        retry = await debit(bus, 30, "key-1")
        assert isinstance(retry, Ok)
        assert isinstance(retry.value, DebitReceipt)
        assert retry.value.balance_after == Money(70, "EUR")
    finally:
        await host.stop()
    assert await ledger.account_balance("acme", "spent:b1") == 30


async def test_an_expired_key_means_a_new_request_even_to_a_live_actor(
    bus: Bus, ledger: Ledger, catalogue: CatalogueStore
) -> None:
    host = await start_host(bus, ledger, catalogue, config=ActorsConfig(idempotency_ttl_s=0.3))
    try:
        await open_b1(bus)
        first = await debit(bus, 30, "key-1")
        assert await debit(bus, 30, "key-1") == first
        await asyncio.sleep(0.5)
        later = await debit(bus, 30, "key-1", debit_id="d2")
        assert isinstance(later, Ok)
        assert later != first
    finally:
        await host.stop()
    assert await ledger.account_balance("acme", "spent:b1") == 60


async def test_a_stored_reply_does_not_wait_for_the_batchs_commit(
    bus: Bus, ledger: Ledger, catalogue: CatalogueStore
) -> None:
    slow = SlowLedger(ledger, delay_s=0.0)
    host = await start_host(bus, slow, catalogue)  # type: ignore[arg-type]
    try:
        await open_b1(bus)
        first = await debit(bus, 10, "key-1")
        slow.delay_s = 1.0
        # Sent together, so they normally share a batch whose commit takes a second.
        retry = asyncio.create_task(debit(bus, 10, "key-1", timeout_s=0.5))
        new = asyncio.create_task(debit(bus, 10, "key-2", debit_id="d2"))
        assert await retry == first
        assert isinstance(await new, Ok)
    finally:
        await host.stop()


async def test_not_found_is_not_remembered(bus: Bus, ledger: Ledger, host: ActorHost) -> None:
    early = await debit(bus, 10, "key-1")
    assert isinstance(early, Err)
    assert early.code == ErrorCode.NOT_FOUND
    await open_b1(bus)
    assert isinstance(await debit(bus, 10, "key-1"), Ok)


def envelope(body: DebitBudget, subject: str = "svc-a") -> Request:
    return Request("acme", Principal(subject), "r", 0, body, idempotency_key="k")


def test_fingerprint_is_what_is_asked_and_by_whom() -> None:
    base = envelope(DebitBudget("b1", "dbt_1", Money(5, "EUR")))
    assert fingerprint(base) == fingerprint(envelope(DebitBudget("b1", "dbt_2", Money(5, "EUR"))))
    assert fingerprint(base) == fingerprint(
        envelope(DebitBudget("b1", "dbt_1", Money(5, "EUR"), memo=""))
    )
    assert fingerprint(base) != fingerprint(envelope(DebitBudget("b1", "dbt_1", Money(6, "EUR"))))
    assert fingerprint(base) != fingerprint(
        envelope(DebitBudget("b1", "dbt_1", Money(5, "EUR"), memo="x"))
    )
    assert fingerprint(base) != fingerprint(envelope(DebitBudget("b2", "dbt_1", Money(5, "EUR"))))
    assert fingerprint(base) != fingerprint(
        envelope(DebitBudget("b1", "dbt_1", Money(5, "EUR")), subject="svc-b")
    )
