"""``bus.inline_subscriptions``: messages handed to a plain function as the client reads
them, and callbacks where that does not work (real nats-server)."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

import pytest
from nats.aio.msg import Msg

from bus import inline_subscriptions
from bus.barrier import barrier
from bus.client import Bus
from bus.embedded import EmbeddedNats
from bus.inline_subscriptions import subscribe_inline


class Got(list[bytes]):
    """The messages' data, in the order handed over."""

    def __init__(self) -> None:
        super().__init__()
        self.more = asyncio.Event()

    def take(self, msg: Msg) -> None:
        self.append(msg.data)
        self.more.set()

    async def until(self, count: int) -> None:
        async with asyncio.timeout(10):
            while len(self) < count:
                self.more.clear()
                await self.more.wait()


async def test_messages_are_handed_over_in_order_by_the_time_the_client_has_read_them(
    bus: Bus,
) -> None:
    got: list[bytes] = []
    await subscribe_inline(bus.nc, "inline.own", lambda msg: got.append(msg.data))
    for i in range(300):
        await bus.nc.publish("inline.own", str(i).encode())
    await barrier(bus.nc)  # the PONG comes after the messages: read, so handed over
    assert got == [str(i).encode() for i in range(300)]


async def test_no_message_is_dropped_as_a_slow_consumer_s_past_the_byte_limit(
    nats_server: EmbeddedNats, bus: Bus
) -> None:
    got = Got()
    errors: list[Exception] = []
    sender = await Bus.connect(nats_server.url, "test-sender", nats_server.credentials)
    try:
        sub = await subscribe_inline(bus.nc, "inline.bytes", got.take, pending_bytes_limit=1_000)
        bus.nc._error_cb = _record(errors)
        await barrier(bus.nc)  # subscribed before the other connection publishes
        for _ in range(100):  # 10 kB in all: ten times the limit
            await sender.nc.publish("inline.bytes", b"x" * 100)
        await barrier(sender.nc)
        await got.until(100)
        assert sub.pending_bytes == 0
        assert errors == []
    finally:
        await sender.close()


async def test_a_handler_that_raises_loses_that_message_only(bus: Bus) -> None:
    got: list[bytes] = []

    def handle(msg: Msg) -> None:
        if msg.data == b"bad":
            raise ValueError("a handler's bug")
        got.append(msg.data)

    await subscribe_inline(bus.nc, "inline.raises", handle)
    for data in (b"1", b"bad", b"2"):
        await bus.nc.publish("inline.raises", data)
    await barrier(bus.nc)
    assert got == [b"1", b"2"]
    assert bus.nc.is_connected


async def test_where_the_hand_over_does_not_work_messages_come_by_callback(
    nats_server: EmbeddedNats, monkeypatch: pytest.MonkeyPatch
) -> None:
    # a nats-py whose reader no longer feeds the subscription's queue this way
    monkeypatch.setattr(inline_subscriptions._HandOver, "put_nowait", lambda self, msg: None)
    other = await Bus.connect(nats_server.url, "test-old-client", nats_server.credentials)
    try:
        got = Got()
        await subscribe_inline(other.nc, "inline.fallback", got.take)
        assert inline_subscriptions._works[other.nc] is False
        for i in range(5):
            await other.nc.publish("inline.fallback", str(i).encode())
        await got.until(5)
        assert got == [str(i).encode() for i in range(5)]
    finally:
        await other.close()


def _record(errors: list[Exception]) -> Callable[[Exception], Awaitable[None]]:
    async def error_cb(e: Exception) -> None:
        errors.append(e)

    return error_cb
