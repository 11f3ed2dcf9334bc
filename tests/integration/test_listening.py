"""How the edge listens: a burst of new connections waits in the kernel while the edge is
busy (the listen backlog) and is then accepted many at a time, not one per turn of the
event loop as uvloop's own server does. Run on uvloop, as ``perkbus edge`` runs."""

from __future__ import annotations

import asyncio
import selectors
import socket
import ssl
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

import aiohttp
import pytest
import uvloop
from aiohttp import web

from edge import listening
from edge.config import EdgeConfig
from tests.servers import free_port
from tests.support import self_signed

#: More new connections at once than the edge's old backlog (1,024) held.
BURST = 1200


def _connect_burst(port: int, count: int, wait_s: float) -> tuple[list[socket.socket], int]:
    """Start ``count`` connections at once; the sockets, and how many the kernel completed
    within ``wait_s`` — less than the first SYN retransmission (1 s), so a dropped
    handshake stays uncounted. Synchronous on purpose: the caller's event loop accepts
    nothing meanwhile."""
    socks, selector = [], selectors.DefaultSelector()
    try:
        for _ in range(count):
            s = socket.socket()
            s.setblocking(False)
            s.connect_ex(("127.0.0.1", port))
            socks.append(s)
            selector.register(s, selectors.EVENT_WRITE)
        connected, deadline = 0, time.monotonic() + wait_s
        while connected < count and (left := deadline - time.monotonic()) > 0:
            for key, _ in selector.select(left):
                selector.unregister(key.fileobj)
                sock = key.fileobj
                assert isinstance(sock, socket.socket)
                if sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR) == 0:
                    connected += 1
        return socks, connected
    except BaseException:
        for s in socks:
            s.close()
        raise
    finally:
        selector.close()


def _on_uvloop(test: Callable[[], Awaitable[None]]) -> None:
    uvloop.run(test())  # type: ignore[arg-type]


async def _hello(request: web.Request) -> web.Response:
    return web.json_response({"secure": request.secure})


async def _serving(config: EdgeConfig, tls: ssl.SSLContext | None = None) -> web.AppRunner:
    app = web.Application()
    app.router.add_get("/hello", _hello)
    runner = web.AppRunner(app)
    await runner.setup()
    await listening.site(runner, config, tls).start()
    return runner


def test_a_burst_of_new_connections_waits_for_a_busy_edge() -> None:
    cap = listening.kernel_backlog_cap()
    assert cap is not None
    assert cap > BURST, "net.core.somaxconn is too small for this test"

    async def burst() -> None:
        port = free_port()
        runner = await _serving(EdgeConfig(port=port))
        try:
            socks, connected = _connect_burst(port, BURST, wait_s=0.8)
            for s in socks:
                s.close()
        finally:
            await runner.cleanup()
        assert connected == BURST

    _on_uvloop(burst)


def test_waiting_connections_are_accepted_many_per_turn_of_the_loop() -> None:
    count = 300

    async def accept() -> None:
        port = free_port()
        runner = await _serving(EdgeConfig(port=port))
        server = runner.server
        assert server is not None
        socks, connected = _connect_burst(port, count, wait_s=0.8)  # all queued, none taken
        try:
            assert connected == count
            assert len(server.connections) == 0
            turns = 0
            while len(server.connections) < count and turns < 10 * count:
                await asyncio.sleep(0)
                turns += 1
            assert len(server.connections) == count
            # uvloop's own server takes one connection per turn: 300 turns or more
            assert turns <= 30
        finally:
            for s in socks:
                s.close()
            await runner.cleanup()

    _on_uvloop(accept)


def test_https_through_the_acceptor(tmp_path: Path) -> None:
    cert_file, key_file = self_signed(tmp_path)
    served = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    served.load_cert_chain(cert_file, key_file)
    trusted = ssl.create_default_context(cafile=str(cert_file))

    async def https() -> None:
        port = free_port()
        runner = await _serving(EdgeConfig(port=port), served)
        try:
            async with aiohttp.ClientSession() as session:
                async with session.get(f"https://127.0.0.1:{port}/hello", ssl=trusted) as r:
                    assert r.status == 200
                    assert await r.json() == {"secure": True}
                with pytest.raises(aiohttp.ClientError):  # a failed handshake: no answer
                    async with session.get(f"https://127.0.0.1:{port}/hello") as r:
                        await r.read()
                async with session.get(f"https://127.0.0.1:{port}/hello", ssl=trusted) as r:
                    assert r.status == 200  # and the next client is served
        finally:
            await runner.cleanup()

    _on_uvloop(https)


def test_a_stopped_edge_frees_its_port() -> None:
    async def stop() -> None:
        port = free_port()
        runner = await _serving(EdgeConfig(port=port))
        async with (
            aiohttp.ClientSession() as session,
            session.get(f"http://127.0.0.1:{port}/hello") as r,
        ):
            assert await r.json() == {"secure": False}
        await runner.cleanup()
        with socket.socket() as probe:
            assert probe.connect_ex(("127.0.0.1", port)) != 0  # nobody listens
        again = await _serving(EdgeConfig(port=port))  # and the port can be bound again
        await again.cleanup()

    _on_uvloop(stop)


def test_the_kernel_cap_is_read_and_a_lower_cap_is_told(tmp_path: Path) -> None:
    somaxconn = tmp_path / "somaxconn"
    somaxconn.write_text("512\n")
    assert listening.kernel_backlog_cap(somaxconn) == 512
    assert listening.kernel_backlog_cap(tmp_path / "missing") is None
    warning = listening.backlog_warning(4096, 512)
    assert warning is not None
    assert "at 512" in warning
    assert "sysctl -w net.core.somaxconn=4096" in warning
    assert listening.backlog_warning(4096, 4096) is None
    assert listening.backlog_warning(4096, None) is None
