"""``bus.barrier``: what a connection queued reaches the server before the barrier's PING
(real nats-server)."""

from __future__ import annotations

import asyncio

import pytest
from nats.aio.msg import Msg

from bus.barrier import barrier
from bus.client import Bus
from bus.embedded import EmbeddedNats


class Wire:
    """The bytes a connection writes to its socket, in order."""

    def __init__(self, bus: Bus, monkeypatch: pytest.MonkeyPatch) -> None:
        self.bytes = bytearray()
        transport = bus.nc._transport
        assert transport is not None
        write, writelines = transport.write, transport.writelines

        def record(payload: bytes) -> None:
            self.bytes += payload
            write(payload)

        def record_lines(payload: list[bytes]) -> None:
            for line in payload:
                self.bytes += line
            writelines(payload)

        monkeypatch.setattr(transport, "write", record)
        monkeypatch.setattr(transport, "writelines", record_lines)


async def test_a_queued_subscription_is_written_before_the_barrier_s_ping(
    bus: Bus, monkeypatch: pytest.MonkeyPatch
) -> None:
    wire = Wire(bus, monkeypatch)
    await bus.nc.subscribe("barrier.test")
    await barrier(bus.nc)
    written = bytes(wire.bytes)
    assert b"SUB barrier.test" in written
    assert b"PING" in written
    assert written.index(b"SUB barrier.test") < written.index(b"PING")


async def test_after_the_barrier_another_connection_s_message_is_delivered(
    nats_server: EmbeddedNats, bus: Bus
) -> None:
    other = await Bus.connect(nats_server.url, "test-other", nats_server.credentials)
    try:
        for i in range(50):
            got: asyncio.Queue[bytes] = asyncio.Queue()

            async def take(msg: Msg, got: asyncio.Queue[bytes] = got) -> None:
                await got.put(msg.data)

            sub = await bus.nc.subscribe(f"barrier.round.{i}", cb=take)
            await barrier(bus.nc)
            await other.nc.publish(f"barrier.round.{i}", str(i).encode())
            await other.nc.flush()
            assert await asyncio.wait_for(got.get(), 10) == str(i).encode()
            await sub.unsubscribe()
    finally:
        await other.close()
