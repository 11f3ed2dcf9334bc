"""How the edge listens: a burst of new connections waits in the kernel while the edge is
busy (the listen backlog) and is then accepted many at a time, not one per turn of the
event loop as uvloop's own server does. Run on uvloop, as ``perkbus edge`` runs."""

from __future__ import annotations

import asyncio
import os
import selectors
import socket
import ssl
import subprocess
import sys
import textwrap
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
    granted, warning = listening.backlog(4096, 512)
    assert granted == 4096  # asked for; the kernel gives 512
    assert warning is not None
    assert "at 512" in warning
    assert "sysctl -w net.core.somaxconn=4096" in warning
    assert listening.backlog(4096, 4096) == (4096, None)
    assert listening.backlog(4096, None) == (4096, None)
    assert listening.backlog(0, 65_535) == (65_535, None)  # by default, what the kernel allows
    assert listening.backlog(0, None) == (listening.DEFAULT_BACKLOG, None)


ROOT = str(Path(__file__).resolve().parents[2])


def _child(code: str) -> subprocess.Popen[str]:
    """A Python process running ``code`` from this checkout."""
    return subprocess.Popen(
        [sys.executable, "-c", textwrap.dedent(code)],
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": ROOT},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _limits_after_raising(soft: int, hard: int, wanted: int) -> list[str]:
    child = _child(f"""
        import resource
        resource.setrlimit(resource.RLIMIT_NOFILE, ({soft}, {hard}))
        from edge.listening import raise_open_files_limit
        limit, warning = raise_open_files_limit({wanted})
        print(limit, resource.getrlimit(resource.RLIMIT_NOFILE)[0])
        print(warning)
    """)
    out, err = child.communicate(timeout=60)
    assert child.returncode == 0, err
    return out.splitlines()


def test_the_edge_may_open_as_many_files_as_its_hard_limit_allows() -> None:
    assert _limits_after_raising(256, 4096, wanted=1000) == ["4096 4096", "None"]
    limit, warning = _limits_after_raising(256, 512, wanted=5000)
    assert limit == "512 512"
    assert "at most 512 open files" in warning
    assert "to 5000 or more" in warning


def test_out_of_files_the_edge_pauses_accepting_without_spinning_then_serves() -> None:
    server = _child("""
        import asyncio, resource, uvloop
        from aiohttp import web
        from edge.listening import ListenSite
        from tests.servers import free_port

        resource.setrlimit(resource.RLIMIT_NOFILE, (64, 64))

        async def hello(request):
            return web.Response(text="hello")

        async def main():
            app = web.Application()
            app.router.add_get("/hello", hello)
            runner = web.AppRunner(app)
            await runner.setup()
            port = free_port()
            await ListenSite(runner, "127.0.0.1", port).start()
            print(port, flush=True)
            await asyncio.Event().wait()

        uvloop.run(main())
    """)
    held: list[socket.socket] = []
    waiting: list[socket.socket] = []
    try:
        assert server.stdout is not None
        port = int(server.stdout.readline())
        for _ in range(80):  # more than the server may open: it runs out of files
            held.append(socket.create_connection(("127.0.0.1", port)))
        request = b"GET /hello HTTP/1.1\r\nHost: edge\r\nConnection: close\r\n\r\n"
        for _ in range(10):
            s = socket.create_connection(("127.0.0.1", port))
            s.sendall(request)
            s.settimeout(30)
            waiting.append(s)
        before = _cpu_s(server.pid)
        time.sleep(1.5)  # out of files all along
        assert _cpu_s(server.pid) - before < 0.5  # paused, not retrying in a loop
        for s in held:
            s.close()
        answers = [_read_all(s) for s in waiting]
        assert all(a.startswith(b"HTTP/1.1 200") for a in answers)
    finally:
        for s in [*held, *waiting]:
            s.close()
        server.terminate()
        _, err = server.communicate(timeout=30)
    assert "cannot accept connections" in err


def _cpu_s(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _read_all(s: socket.socket) -> bytes:
    chunks = []
    while chunk := s.recv(65536):
        chunks.append(chunk)
    return b"".join(chunks)
