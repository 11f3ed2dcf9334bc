"""The edge's Redis connection (ADR 34) on a real Redis: the machine's on 6379 (keys under
a unique prefix, removed afterwards), and one this test starts with a password."""

from __future__ import annotations

import asyncio
import os
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import redis.asyncio as redis
import uvloop

from storage.redis_wire import RedisReplyError, RedisUnavailable, RedisWire
from tests.servers import ServerFailed, free_port, serve
from tests.support import unavailable

REDIS_URL = os.environ.get("PERKBUS_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")

pytestmark = pytest.mark.redis


@pytest.fixture
def prefix() -> str:
    return f"pb:test:{uuid.uuid4().hex[:8]}:"


@pytest.fixture
async def wire(prefix: str) -> AsyncIterator[RedisWire]:
    client = RedisWire(REDIS_URL)
    try:
        await client.call("PING")
    except RedisUnavailable as e:
        unavailable(f"Redis at {REDIS_URL} is not reachable: {e}")
    yield client
    await client.aclose()
    await _drop(prefix)


async def _drop(prefix: str) -> None:
    direct = redis.from_url(REDIS_URL)
    keys = [k async for k in direct.scan_iter(f"{prefix}*")]
    if keys:
        await direct.delete(*keys)
    await direct.aclose()


async def test_concurrent_commands_share_writes_and_each_gets_its_own_reply(
    wire: RedisWire, prefix: str
) -> None:
    await asyncio.gather(*(wire.call("SET", f"{prefix}{i}", f"v{i}") for i in range(200)))
    writes = wire.writes
    values = await asyncio.gather(*(wire.call("GET", f"{prefix}{i}") for i in range(200)))
    assert values == [f"v{i}".encode() for i in range(200)]
    assert wire.writes - writes < 10  # 200 commands, sent together
    assert await wire.call("GET", f"{prefix}none") is None
    assert await wire.call("MGET", f"{prefix}1", f"{prefix}none") == [b"v1", None]
    assert await wire.call("INCRBY", f"{prefix}n", 5) == 5
    assert wire.connections == 1


async def test_an_error_reply_fails_only_its_own_command(wire: RedisWire, prefix: str) -> None:
    await wire.call("SET", f"{prefix}text", "not a number")
    results: list[object] = await asyncio.gather(
        wire.call("GET", f"{prefix}text"),
        wire.call("INCR", f"{prefix}text"),
        wire.call("ECHO", "still in step"),
        return_exceptions=True,
    )
    before, failed, after = results
    assert before == b"not a number"
    assert isinstance(failed, RedisReplyError)
    assert "not an integer" in str(failed)
    assert after == b"still in step"
    assert wire.connections == 1


async def test_commands_sent_together_answer_together(wire: RedisWire, prefix: str) -> None:
    writes = wire.writes
    assert await wire.call_many(("SET", f"{prefix}k", "v", "NX"), ("GET", f"{prefix}k")) == [
        b"OK",
        b"v",
    ]
    assert wire.writes == writes + 1
    with pytest.raises(RedisReplyError, match="not an integer"):
        await wire.call_many(("INCR", f"{prefix}k"), ("SET", f"{prefix}after", "set"))
    assert await wire.call("GET", f"{prefix}after") == b"set"  # the next ran all the same


async def test_a_cancelled_caller_leaves_the_replies_in_step(wire: RedisWire, prefix: str) -> None:
    await wire.call("SET", f"{prefix}a", "A")
    await wire.call("SET", f"{prefix}b", "B")
    first = asyncio.ensure_future(wire.call("GET", f"{prefix}a"))
    await asyncio.sleep(0)  # sent (or about to be)
    first.cancel()
    assert await wire.call("GET", f"{prefix}b") == b"B"
    assert await wire.call("GET", f"{prefix}a") == b"A"


async def test_a_script_redis_forgot_is_sent_again_whole(wire: RedisWire, prefix: str) -> None:
    script = wire.script("return redis.call('INCRBY', KEYS[1], ARGV[1])")
    assert await script([f"{prefix}n"], [2]) == 2
    direct = redis.from_url(REDIS_URL)
    assert await direct.script_exists(script.sha) == [True]
    await direct.script_flush()  # as a restarted server would have
    await direct.aclose()
    assert await script([f"{prefix}n"], [3]) == 5


async def test_a_killed_connection_fails_what_it_carried_and_the_next_command_reconnects(
    wire: RedisWire, prefix: str
) -> None:
    await wire.call("SET", f"{prefix}k", "v")
    own_id = await wire.call("CLIENT", "ID")
    assert await wire.call("CLIENT", "KILL", "ID", own_id, "SKIPME", "no") == 1  # itself
    for _ in range(40):
        try:
            assert await wire.call("GET", f"{prefix}k") == b"v"
            break
        except RedisUnavailable:  # the command sent before the loss was seen
            await asyncio.sleep(0.05)
    assert wire.connections == 2


async def test_a_server_that_does_not_answer_fails_the_commands_in_flight() -> None:
    async def silent(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.read()  # takes every command, answers none
        writer.close()

    server = await asyncio.start_server(silent, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    client = RedisWire(f"redis://127.0.0.1:{port}/0", timeout_s=0.2)
    results = await asyncio.gather(
        *(client.call("GET", f"k{i}") for i in range(5)), return_exceptions=True
    )
    assert all(isinstance(r, RedisUnavailable) for r in results)
    assert "did not answer within 0.2 s" in str(results[0])
    await client.aclose()
    # Connecting hangs too (the password is never answered): the callers meanwhile share
    # one attempt and fail together, not one timeout after another.
    hanging = RedisWire(f"redis://:pw@127.0.0.1:{port}/0", timeout_s=0.2)
    results = await asyncio.gather(
        *(hanging.call("GET", f"k{i}") for i in range(20)), return_exceptions=True
    )
    assert all(isinstance(r, RedisUnavailable) for r in results)
    assert "cannot reach Redis" in str(results[0])
    assert hanging.attempts == 1
    await hanging.aclose()
    server.close()
    await server.wait_closed()
    nobody = RedisWire(f"redis://127.0.0.1:{port}/0", timeout_s=0.2)
    with pytest.raises(RedisUnavailable, match="cannot reach Redis"):
        await nobody.call("PING")


def test_the_cases_above_on_uvloop_which_the_edge_runs_on(prefix: str) -> None:
    cases = [
        test_concurrent_commands_share_writes_and_each_gets_its_own_reply,
        test_an_error_reply_fails_only_its_own_command,
        test_commands_sent_together_answer_together,
        test_a_cancelled_caller_leaves_the_replies_in_step,
        test_a_script_redis_forgot_is_sent_again_whole,
        test_a_killed_connection_fails_what_it_carried_and_the_next_command_reconnects,
    ]

    async def run_all() -> None:
        try:
            for i, case in enumerate(cases):
                client = RedisWire(REDIS_URL)
                await case(client, f"{prefix}{i}:")
                await client.aclose()
            await test_a_server_that_does_not_answer_fails_the_commands_in_flight()
        finally:
            await _drop(prefix)

    uvloop.run(run_all())


async def test_the_url_gives_the_database_and_the_password(tmp_path: Path) -> None:
    port = free_port()
    command = ["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", ""]
    command += ["--appendonly", "no", "--dir", str(tmp_path), "--requirepass", "s3cr:t"]
    try:
        server = serve(command, port, tmp_path / "redis.log")
        server.__enter__()
    except (ServerFailed, FileNotFoundError) as e:
        unavailable(f"cannot start redis-server: {e}")
    try:
        wrong = RedisWire(f"redis://:nope@127.0.0.1:{port}/0")
        with pytest.raises(RedisUnavailable, match="refused"):
            await wrong.call("PING")
        client = RedisWire(f"redis://:s3cr%3At@127.0.0.1:{port}/5")
        await client.call("SET", "k", "in five")
        await client.aclose()
        for db, expected in ((5, b"in five"), (0, None)):
            direct = redis.from_url(f"redis://:s3cr%3At@127.0.0.1:{port}/{db}")
            assert await direct.get("k") == expected
            await direct.aclose()
        with pytest.raises(RedisUnavailable, match="closed"):
            await client.call("PING")
    finally:
        server.__exit__(None, None, None)
