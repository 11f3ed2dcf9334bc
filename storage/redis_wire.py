"""One connection to Redis that carries the commands of every concurrent caller (ADR 34).

The edge asks Redis a few small things per request — a keyed order's lock and kept reply,
a rate-limit bucket, velocity counters — from hundreds of requests at once. A pool of
connections (``redis.asyncio``) gives each command a connection of its own, a pool
condition, a timeout context and a write and a read: about 250 µs of the edge's CPU per
command under a burst, so that an order's four commands cost the edge four times what the
rest of the order did.

Here every command is written to one connection as it comes; the commands of one turn of
the event loop leave in one write, and replies, which Redis sends in the order of the
commands, resolve the callers' futures in that order as they are read (hiredis parses
them). A command costs the encoding, a future and a share of a system call.

Failure: a server that cannot be reached, a connection that breaks, or a reply that takes
longer than ``timeout_s`` fails every command in flight with :class:`RedisUnavailable` —
each may or may not have run, and none is retried (a retried ``INCRBY`` could count
twice) — and the next command opens a new connection. An error reply fails only its own
command (:class:`RedisReplyError`).
"""

from __future__ import annotations

import asyncio
import hashlib
import ssl
from collections import deque
from collections.abc import Callable, Sequence
from typing import Any, cast
from urllib.parse import unquote, urlsplit

import hiredis

#: What a command's arguments may be (sent as bulk strings).
Arg = bytes | str | int | float
#: A command in Redis's protocol (hiredis's stub types it as a tuple of one argument).
_pack = cast(Callable[[tuple[Arg, ...]], bytes], hiredis.pack_command)


class RedisUnavailable(ConnectionError):
    """Redis could not be reached, the connection broke, or it did not answer in time;
    the command may or may not have run."""


class RedisReplyError(Exception):
    """Redis answered the command with an error (``ERR …``, ``NOSCRIPT …``)."""


class RedisWire:
    """Commands to the Redis at ``redis://[user:password@]host:port/db`` (``rediss://``
    for TLS), on one connection opened at the first command and again after a failure."""

    def __init__(self, url: str, timeout_s: float = 0.5) -> None:
        parts = urlsplit(url)
        if parts.scheme not in ("redis", "rediss"):
            # not the URL itself: it may hold a password
            raise ValueError(f"a Redis URL is redis:// or rediss:// (got {parts.scheme}://…)")
        self.url = url
        self.timeout_s = timeout_s
        self._host = parts.hostname or "127.0.0.1"
        self._port = parts.port or 6379
        self._tls = parts.scheme == "rediss"
        self._db = int(parts.path.strip("/") or 0)
        self._user = unquote(parts.username) if parts.username else None
        self._password = unquote(parts.password) if parts.password else None
        self._wire: _Wire | None = None
        self._attempt: asyncio.Future[_Wire] | None = None
        self._closed = False
        #: Attempts to connect, connections opened (one, unless one failed), for tests.
        self.attempts = 0
        self.connections = 0

    @property
    def writes(self) -> int:
        return self._wire.writes if self._wire is not None else 0

    async def call(self, *args: Arg) -> Any:
        """Send one command; its reply (bytes, int, a list, or None)."""
        wire = self._wire
        if wire is None or wire.lost:
            wire = await self._connected()
        return await wire.send(_pack(args))

    async def call_many(self, *commands: Sequence[Arg]) -> list[Any]:
        """Send ``commands`` together (one round trip); their replies, in order. An error
        reply raises (the first), once every command has been answered."""
        wire = self._wire
        if wire is None or wire.lost:
            wire = await self._connected()
        return await asyncio.gather(*[wire.send(_pack(tuple(c))) for c in commands])

    def script(self, body: str) -> Script:
        return Script(self, body)

    async def aclose(self) -> None:
        self._closed = True
        if self._wire is not None:
            self._wire.close(RedisUnavailable("the Redis client was closed"))
            self._wire = None

    async def _connected(self) -> _Wire:
        """The connection, opened by one attempt that every caller meanwhile shares: if
        Redis does not answer, they all fail after one ``timeout_s``, not one after the
        other."""
        if self._closed:
            raise RedisUnavailable("the Redis client was closed")
        attempt = self._attempt
        if attempt is None:
            attempt = self._attempt = asyncio.ensure_future(self._connect())
            attempt.add_done_callback(self._attempted)
        return await asyncio.shield(attempt)  # a caller cancelled leaves the attempt be

    def _attempted(self, attempt: asyncio.Future[_Wire]) -> None:
        self._attempt = None
        if not attempt.cancelled() and attempt.exception() is None:
            self._wire = attempt.result()
            self.connections += 1

    async def _connect(self) -> _Wire:
        self.attempts += 1
        loop = asyncio.get_running_loop()
        wire = None
        try:
            async with asyncio.timeout(self.timeout_s):
                _, wire = await loop.create_connection(
                    lambda: _Wire(loop, self.timeout_s),
                    self._host,
                    self._port,
                    ssl=ssl.create_default_context() if self._tls else None,
                )
                hello: list[Sequence[Arg]] = []
                if self._password is not None:
                    user = () if self._user is None else (self._user,)
                    hello.append(("AUTH", *user, self._password))
                if self._db:
                    hello.append(("SELECT", self._db))
                for command in hello:
                    await wire.send(_pack(tuple(command)))
        except RedisReplyError as e:
            assert wire is not None
            wire.close(RedisUnavailable(str(e)))
            raise RedisUnavailable(f"Redis at {self._host}:{self._port} refused: {e}") from e
        except (OSError, TimeoutError) as e:
            if wire is not None:
                wire.close(RedisUnavailable(repr(e)))
            raise RedisUnavailable(f"cannot reach Redis at {self._host}:{self._port}: {e!r}") from e
        if self._closed:  # closed while connecting
            wire.close(RedisUnavailable("the Redis client was closed"))
            raise RedisUnavailable("the Redis client was closed")
        return wire


class Script:
    """A Lua script, sent by its SHA-1 (``EVALSHA``) and whole once Redis does not know
    it (a new or restarted server)."""

    def __init__(self, redis: RedisWire, body: str) -> None:
        self.redis = redis
        self.body = body
        self.sha = hashlib.sha1(body.encode()).hexdigest()

    async def __call__(self, keys: Sequence[str], args: Sequence[Arg]) -> Any:
        try:
            return await self.redis.call(*self.command(keys, args))
        except RedisReplyError as e:
            if not unknown_script(e):
                raise
        return await self.redis.call("EVAL", self.body, len(keys), *keys, *args)

    def command(self, keys: Sequence[str], args: Sequence[Arg]) -> tuple[Arg, ...]:
        """The script as a command by its SHA-1 (for :meth:`RedisWire.call_many`; a
        :func:`unknown_script` error means sending it whole, by calling it)."""
        return ("EVALSHA", self.sha, len(keys), *keys, *args)


def unknown_script(error: RedisReplyError) -> bool:
    return str(error).startswith("NOSCRIPT")


class _Wire(asyncio.Protocol):
    """The connection: commands buffered within a turn of the loop and written together,
    replies matched to their commands in order."""

    def __init__(self, loop: asyncio.AbstractEventLoop, timeout_s: float) -> None:
        self.loop = loop
        self.timeout_s = timeout_s
        self.transport: asyncio.Transport | None = None
        self.lost = False
        self.writes = 0
        self._reader = hiredis.Reader(replyError=RedisReplyError)
        #: Each command sent or buffered: its future and when it must be answered by.
        self._waiting: deque[tuple[asyncio.Future[Any], float]] = deque()
        self._out: list[bytes] = []
        self._watchdog: asyncio.TimerHandle | None = None

    def send(self, command: bytes) -> asyncio.Future[Any]:
        future: asyncio.Future[Any] = self.loop.create_future()
        if self.lost:
            future.set_exception(RedisUnavailable("the connection to Redis was lost"))
            return future
        if not self._out:
            self.loop.call_soon(self._flush)
        self._out.append(command)
        deadline = self.loop.time() + self.timeout_s
        if not self._waiting:
            self._watchdog = self.loop.call_at(deadline, self._check)
        self._waiting.append((future, deadline))
        return future

    def _flush(self) -> None:
        out, self._out = self._out, []
        if out and self.transport is not None and not self.lost:
            self.transport.write(b"".join(out))
            self.writes += 1

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)  # uvloop's is not a subclass

    def data_received(self, data: bytes) -> None:
        reader, waiting = self._reader, self._waiting
        reader.feed(data)
        try:
            while (reply := reader.gets()) is not False:
                future, _ = waiting.popleft()
                if not future.done():  # its caller may have been cancelled
                    if isinstance(reply, RedisReplyError):
                        future.set_exception(reply)
                    else:
                        future.set_result(reply)
        except (IndexError, hiredis.ProtocolError) as e:  # a reply to no command
            self.close(RedisUnavailable(f"Redis sent what was not asked for: {e!r}"))
            return
        if not waiting and self._watchdog is not None:
            self._watchdog.cancel()
            self._watchdog = None

    def connection_lost(self, exc: Exception | None) -> None:
        self._fail(RedisUnavailable(f"the connection to Redis was lost: {exc!r}"))

    def close(self, why: Exception) -> None:
        self._fail(why)
        if self.transport is not None:
            self.transport.abort()

    def _check(self) -> None:
        """The oldest command's deadline has come: if it is still unanswered, the
        connection is given up; otherwise look again at the next one's."""
        self._watchdog = None
        if not self._waiting:
            return
        deadline = self._waiting[0][1]
        if deadline <= self.loop.time():
            self.close(RedisUnavailable(f"Redis did not answer within {self.timeout_s:g} s"))
        else:
            self._watchdog = self.loop.call_at(deadline, self._check)

    def _fail(self, why: Exception) -> None:
        self.lost = True
        self._out = []
        if self._watchdog is not None:
            self._watchdog.cancel()
            self._watchdog = None
        waiting, self._waiting = self._waiting, deque()
        for future, _ in waiting:
            if not future.done():
                future.set_exception(why)
