"""Requests over the bus get their own replies on the connection's one inbox subscription:
matched however they interleave, a missing responder said at once, a late reply dropped."""

from __future__ import annotations

import asyncio
import time

import pytest
from nats.aio.msg import Msg

from bus import subjects
from bus.barrier import barrier
from bus.client import Bus, QuietErrors, without_password
from bus.embedded import EmbeddedNats
from bus.errors import BusTimeout, BusUnavailable
from bus.messages import Ok, Principal, Reply, encoder, request_decoder
from bus.messages.budget import DebitReceipt, GetBudget
from bus.messages.common import Money
from tests.servers import free_port

ME = Principal("admin@acme", roles=("admin",))


def answer_to(n: int) -> Reply:
    euros = Money(n, "EUR")
    return Ok(DebitReceipt(f"d{n}", f"b{n}", euros, euros, created_ms=n))


async def responder(bus: Bus, delay_s: float, count: int = 0) -> set[asyncio.Task[None]]:
    """Answer each request on acme's treasury subject for budget ``b<n>`` with
    :func:`answer_to`, after ``delay_s`` times ``n`` (``count - n`` if ``count`` is
    given: the later requests answered first). Returns the answers still to send."""

    async def answer(msg: Msg) -> None:
        request = request_decoder.decode(msg.data)
        assert isinstance(request.body, GetBudget)
        n = int(request.body.budget_id.removeprefix("b"))

        async def later() -> None:
            await asyncio.sleep(delay_s * (count - n if count else n))
            await bus.nc.publish(msg.reply, encoder.encode(answer_to(n)))

        task = asyncio.get_running_loop().create_task(later())
        pending.add(task)
        task.add_done_callback(pending.discard)

    pending: set[asyncio.Task[None]] = set()

    # requests reach their tenant's partition (the server's subject mapping)
    await bus.nc.subscribe(f"{subjects.PARTITIONED_PREFIX}.*.acme.treasury", cb=answer)
    await barrier(bus.nc)
    return pending


async def ask(bus: Bus, n: int, timeout_s: float = 5.0) -> Reply:
    return await bus.request("acme", "treasury", GetBudget(f"b{n}"), ME, timeout_s=timeout_s)


async def test_interleaved_requests_each_get_their_own_reply(
    nats_server: EmbeddedNats, bus: Bus
) -> None:
    server = await Bus.connect(nats_server.url, "responder", nats_server.credentials)
    try:
        await responder(server, delay_s=0.002, count=50)  # the first asked waits longest
        replies = await asyncio.gather(*(ask(bus, n) for n in range(50)))
        assert replies == [answer_to(n) for n in range(50)]
    finally:
        await server.close()


async def test_no_responder_is_said_at_once(bus: Bus) -> None:
    started = time.monotonic()
    with pytest.raises(BusUnavailable, match="no actor host serves treasury"):
        await ask(bus, 1, timeout_s=5.0)
    assert time.monotonic() - started < 2.5  # not the timeout


async def test_a_late_reply_is_dropped_and_the_next_request_gets_its_own(
    nats_server: EmbeddedNats, bus: Bus
) -> None:
    server = await Bus.connect(nats_server.url, "responder", nats_server.credentials)
    try:
        pending = await responder(server, delay_s=0.1)
        with pytest.raises(BusTimeout):
            await ask(bus, 5, timeout_s=0.2)  # answered after 0.5 s
        await asyncio.gather(*pending)  # the late reply arrives with nobody waiting
        assert await ask(bus, 1) == answer_to(1)
    finally:
        await server.close()


async def test_no_nats_at_start_is_said_in_a_line_without_the_password() -> None:
    """The first connection does not wait for ever: a process that cannot reach NATS
    says so and exits (its scheduler restarts it), and the URL it names has no secret."""
    port = free_port()  # nothing listens there
    url = f"nats://perkbus:s3cret@127.0.0.1:{port}"
    with pytest.raises(BusUnavailable) as refused:
        await Bus.connect(url, "test", first_connect_s=0.5)
    assert str(refused.value) == f"no NATS server answered at nats://127.0.0.1:{port} within 0.5 s"


def test_urls_are_logged_without_their_passwords() -> None:
    assert without_password("nats://a:b@h1:4222, nats://h2:4222") == "nats://h1:4222,nats://h2:4222"
    assert without_password("tls://user@h:4443") == "tls://h:4443"


async def test_nats_errors_are_one_line_per_kind_and_interval(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """While a server is away nats-py fails a reconnect four times a second: the log gets
    one line of each kind of error per interval, not a traceback each time."""
    quiet = QuietErrors(interval_s=60)
    with caplog.at_level("WARNING", logger="bus.client"):
        for _ in range(20):
            await quiet.note(ConnectionRefusedError(111, "Connection refused"))
        await quiet.note(TimeoutError("timed out"))
    lines = [r.getMessage() for r in caplog.records if r.name == "bus.client"]
    assert len(lines) == 2, lines
    assert lines[0].startswith("NATS: ConnectionRefusedError:")
    assert lines[1].startswith("NATS: TimeoutError:")
    assert all(r.exc_info is None for r in caplog.records)
