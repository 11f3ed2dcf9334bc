"""What the mailer keeps of what it read: one read per key at a time, kept a while, the
least recently used forgotten first."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

import pytest

from actors.recent_reads import RecentReads


async def test_many_asking_at_once_share_one_read_and_later_ones_the_value() -> None:
    reads: list[str] = []
    gate = asyncio.Event()

    async def read() -> str:
        reads.append("acme")
        await gate.wait()
        return "settings"

    kept: RecentReads[str, str] = RecentReads(ttl_s=60, most=10)
    waiting = [asyncio.create_task(kept.get("acme", read)) for _ in range(5)]
    await asyncio.sleep(0)
    gate.set()
    assert await asyncio.gather(*waiting) == ["settings"] * 5
    assert await kept.get("acme", read) == "settings"
    assert reads == ["acme"]


async def test_a_failed_read_is_not_kept_and_each_waiter_hears_of_it() -> None:
    kept: RecentReads[str, int] = RecentReads(ttl_s=60, most=10)

    async def fails() -> int:
        await asyncio.sleep(0)
        raise RuntimeError("actor away")

    both = [asyncio.create_task(kept.get("k", fails)) for _ in range(2)]
    for outcome in await asyncio.gather(*both, return_exceptions=True):
        assert isinstance(outcome, RuntimeError)

    async def works() -> int:
        return 7

    assert await kept.get("k", works) == 7


async def test_values_are_read_again_once_stale_and_the_least_used_go_first() -> None:
    reads: list[str] = []

    def reader(key: str) -> Callable[[], Awaitable[str]]:
        async def read() -> str:
            reads.append(key)
            return key.upper()

        return read

    fresh: RecentReads[str, str] = RecentReads(ttl_s=0, most=10)
    for _ in range(2):
        assert await fresh.get("a", reader("a")) == "A"
    assert reads == ["a", "a"]  # nothing kept for no time

    reads.clear()
    small: RecentReads[str, str] = RecentReads(ttl_s=60, most=2)
    for key in ("a", "b", "a", "c", "a", "b"):
        await small.get(key, reader(key))
    assert reads == ["a", "b", "c", "b"]  # b was the least recently used when c came
    assert len(small) == 2


@pytest.mark.parametrize("most", [1, 3])
async def test_never_more_than_most(most: int) -> None:
    kept: RecentReads[int, int] = RecentReads(ttl_s=60, most=most)
    for n in range(10):

        async def read(n: int = n) -> int:
            return n

        await kept.get(n, read)
    assert len(kept) == most
