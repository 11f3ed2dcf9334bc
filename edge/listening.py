"""The edge's listening sockets: new connections held by the kernel, and accepted many at
a time.

When clients connect faster than the edge accepts them — a campaign opens, a load
balancer reconnects its pool — three limits decide how long they wait (ADR 21's
amendment on connection bursts):

- **The backlog.** The kernel completes handshakes and queues them, up to the socket's
  backlog. Past it, Linux drops the handshake's last step, the client's first request is
  lost with it, and TCP sends it again only after a retransmission timeout: a request
  served in milliseconds waits one, three or more seconds. The edge listens with as many
  as the kernel allows (``net.core.somaxconn``), or its setting, and says so when the
  kernel caps the setting lower.
- **The accept rate.** libuv, under uvloop, accepts one connection per turn of the event
  loop (libuv#3696: the common case is one waiting connection). A busy edge's turn runs
  every callback that is ready, tens of milliseconds under a burst, so 2,000 new
  clients took seconds to be accepted while the connections already open were served:
  at 2,048 connections the bench's p95 was 2.7 s against a p50 of 0.38 s. The edge's
  own :class:`Acceptor` takes every waiting connection (up to the backlog, as asyncio's
  own server does) each time a listening socket is ready, and hands each to the loop as
  uvloop's server would. Taking at most 128 at a time was not enough: at 8,192
  connections the last were still accepted seconds later.
- **Open files.** Each connection is a file, and a process started by systemd or a shell
  usually may open 1,024 (its soft limit) under a far higher hard limit. The edge raises
  its soft limit to the hard one, and warns when even that is short of its backlog.
"""

from __future__ import annotations

import asyncio
import logging
import resource
import socket
import ssl
from collections.abc import Callable, Sequence
from pathlib import Path

from aiohttp import web

from edge.config import EdgeConfig

log = logging.getLogger(__name__)

SOMAXCONN = Path("/proc/sys/net/core/somaxconn")
NR_OPEN = Path("/proc/sys/fs/nr_open")
#: Linux's default ``fs.nr_open``: the most files any process may open.
LINUX_NR_OPEN = 1_048_576
#: The backlog where the kernel's cap cannot be read (Linux's default ``somaxconn``).
DEFAULT_BACKLOG = 4096
#: How long accepting pauses when it fails (out of file descriptors, say, as asyncio's
#: own server does): the waiting connections stay queued in the kernel meanwhile.
PAUSE_ON_EXHAUSTION_S = 1.0
#: Files the edge holds besides its clients' connections, about: NATS, Redis, logs,
#: modules, the listening sockets.
OTHER_FILES = 256


def kernel_backlog_cap(path: Path = SOMAXCONN) -> int | None:
    """The largest backlog the kernel grants a listening socket; None where it cannot
    be read (not Linux, a sandbox without ``/proc``)."""
    return _kernel_setting(path)


def _kernel_setting(path: Path) -> int | None:
    """A number from ``/proc/sys``, or None where it cannot be read."""
    try:
        return int(path.read_text().strip())
    except (OSError, ValueError):
        return None


def backlog(wanted: int, cap: int | None) -> tuple[int, str | None]:
    """The backlog to listen with for a setting of ``wanted`` (0: the kernel's ``cap``),
    and what to tell the operator when the kernel grants less than was asked for."""
    if wanted == 0:
        return (cap if cap is not None else DEFAULT_BACKLOG), None
    if cap is None or cap >= wanted:
        return wanted, None
    return wanted, (
        f"the kernel caps the edge's listen backlog at {cap} (net.core.somaxconn), below "
        f"the {wanted} asked for: a burst of more new connections loses handshakes, and "
        f"their clients wait a TCP retransmission; raise it with "
        f"`sysctl -w net.core.somaxconn={wanted}`"
    )


class Acceptor(asyncio.AbstractServer):
    """Listening sockets whose waiting connections are all accepted (up to
    ``per_turn``, the backlog: all the kernel can hold) whenever one is ready — the part
    of an asyncio server aiohttp uses."""

    def __init__(
        self,
        listeners: Sequence[socket.socket],
        protocol_factory: Callable[[], asyncio.Protocol],
        tls: ssl.SSLContext | None,
        per_turn: int,
    ) -> None:
        self._loop = asyncio.get_running_loop()
        self._listeners = tuple(listeners)
        self._factory = protocol_factory
        self._tls = tls
        self._per_turn = per_turn
        self._serving = False
        #: Connections being set up (a TLS handshake takes a few turns).
        self._connecting: set[asyncio.Task[None]] = set()

    @property
    def sockets(self) -> tuple[socket.socket, ...]:
        return self._listeners

    def get_loop(self) -> asyncio.AbstractEventLoop:
        return self._loop

    def is_serving(self) -> bool:
        return self._serving

    async def start_serving(self) -> None:
        if self._serving:
            return
        self._serving = True
        for listener in self._listeners:
            listener.setblocking(False)
            self._loop.add_reader(listener.fileno(), self._accept, listener)

    def close(self) -> None:
        if not self._listeners or self._listeners[0].fileno() < 0:
            return
        self._serving = False
        for listener in self._listeners:
            self._loop.remove_reader(listener.fileno())
            listener.close()
        for task in self._connecting:
            task.cancel()

    async def wait_closed(self) -> None:
        if self._connecting:
            await asyncio.gather(*self._connecting, return_exceptions=True)

    async def serve_forever(self) -> None:
        await self.start_serving()
        await asyncio.Event().wait()

    def _accept(self, listener: socket.socket) -> None:
        for _ in range(self._per_turn):
            try:
                conn, _ = listener.accept()
            except (BlockingIOError, InterruptedError):
                return  # none left waiting
            except ConnectionAbortedError:
                continue  # the client gave up while it waited
            except OSError as e:  # out of descriptors or memory, or worse: do not spin
                log.warning(
                    "cannot accept connections (%s); pausing %.0f s", e, PAUSE_ON_EXHAUSTION_S
                )
                self._loop.remove_reader(listener.fileno())
                self._loop.call_later(PAUSE_ON_EXHAUSTION_S, self._resume, listener)
                return
            conn.setblocking(False)  # TCP_NODELAY: uvloop's transport and aiohttp set it
            task = self._loop.create_task(self._connect(conn))
            self._connecting.add(task)
            task.add_done_callback(self._connecting.discard)

    def _resume(self, listener: socket.socket) -> None:
        if self._serving and listener.fileno() >= 0:
            self._loop.add_reader(listener.fileno(), self._accept, listener)

    async def _connect(self, conn: socket.socket) -> None:
        try:
            await self._loop.connect_accepted_socket(self._factory, conn, ssl=self._tls)
        except (OSError, ssl.SSLError, TimeoutError) as e:  # a TLS handshake that failed
            log.debug("a connection ended before it was set up: %r", e)
            conn.close()


def listeners(host: str, port: int, backlog: int, reuse_port: bool) -> list[socket.socket]:
    """Sockets bound and listening at every address ``host`` names (all, if empty), as
    asyncio's ``create_server`` would make them."""
    infos = socket.getaddrinfo(host or None, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    made: list[socket.socket] = []
    try:
        for family, _, _, _, address in dict.fromkeys(infos):
            made.append(
                socket.create_server(
                    address[:2],
                    family=family,
                    backlog=backlog,
                    reuse_port=reuse_port,
                )
            )
    except OSError:
        for s in made:
            s.close()
        raise
    return made


class ListenSite(web.BaseSite):
    """aiohttp's ``TCPSite``, accepting through an :class:`Acceptor`, with ``backlog``
    (0: as many as the kernel allows). The benchmark's other two systems listen with it
    too."""

    __slots__ = ("_host", "_port", "_reuse_port")

    def __init__(
        self,
        runner: web.AppRunner,
        host: str,
        port: int,
        *,
        backlog: int = 0,
        reuse_port: bool = False,
        tls: ssl.SSLContext | None = None,
    ) -> None:
        super().__init__(runner, ssl_context=tls, backlog=listen_backlog(backlog)[0])
        self._host = host
        self._port = port
        self._reuse_port = reuse_port

    @property
    def name(self) -> str:
        scheme = "https" if self._ssl_context else "http"
        return f"{scheme}://{self._host or '0.0.0.0'}:{self._port}"

    async def start(self) -> None:
        await super().start()
        factory = self._runner.server
        assert factory is not None
        bound = listeners(self._host, self._port, self._backlog, self._reuse_port)
        acceptor = Acceptor(bound, factory, self._ssl_context, per_turn=self._backlog)
        await acceptor.start_serving()
        self._server = acceptor


def raise_open_files_limit(wanted: int) -> tuple[int, str | None]:
    """Raise this process's soft limit of open files to its hard limit, as far as an
    unprivileged process may; the limit now, and a warning if it is below ``wanted``.

    Each connection is a file. systemd and many shells start a process with a soft limit
    of 1,024 under a far higher hard one, and past the soft limit accepting fails: the
    acceptor then pauses for a second at a time while clients wait."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    ceiling = hard
    if hard == resource.RLIM_INFINITY:  # as far as the kernel lets any process go
        ceiling = _kernel_setting(NR_OPEN) or LINUX_NR_OPEN
    if soft == resource.RLIM_INFINITY or soft >= ceiling:
        limit = soft
    else:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (ceiling, hard))
            limit = ceiling
        except (ValueError, OSError):
            limit = soft
    if limit != resource.RLIM_INFINITY and limit < wanted:
        return limit, (
            f"the edge may hold at most {limit} open files (RLIMIT_NOFILE), each connection "
            f"one: past that many clients it stops accepting for a second at a time; raise "
            f"the hard limit to {wanted} or more (ulimit -Hn, systemd's LimitNOFILE=)"
        )
    return limit, None


def listen_backlog(wanted: int) -> tuple[int, str | None]:
    """:func:`backlog` with this kernel's cap."""
    return backlog(wanted, kernel_backlog_cap())


def site(runner: web.AppRunner, config: EdgeConfig, tls: ssl.SSLContext | None) -> ListenSite:
    """The edge's site: ``config.listen_backlog``, every waiting connection accepted, and
    as many open files as the process may have."""
    granted, warning = listen_backlog(config.listen_backlog)
    if warning is not None:
        log.warning("%s", warning)
    _, warning = raise_open_files_limit(granted + OTHER_FILES)
    if warning is not None:
        log.warning("%s", warning)
    return ListenSite(
        runner,
        config.host,
        config.port,
        backlog=granted,
        reuse_port=config.reuse_port,
        tls=tls,
    )
