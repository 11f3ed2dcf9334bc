"""TLS on the NATS connection: the bus connects to a server that requires TLS, verifying
its certificate; a server it does not trust is refused."""

from __future__ import annotations

import asyncio
import socket
import ssl
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import nats
import pytest

from bus.client import Bus
from bus.embedded import nats_server_binary, terminate
from bus.tls import client_context
from tests.servers import free_port
from tests.support import self_signed


@pytest.fixture
def tls_server(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    """A real nats-server that requires TLS, with a certificate for 127.0.0.1."""
    cert, key = self_signed(tmp_path, "nats")
    port = free_port()
    config = tmp_path / "nats.conf"
    config.write_text(
        f'listen: "127.0.0.1:{port}"\n'
        f'tls {{\n  cert_file: "{cert}"\n  key_file: "{key}"\n  timeout: 2\n}}\n'
    )
    process = subprocess.Popen(
        [nats_server_binary(), "-c", str(config)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        for _ in range(100):
            with socket.socket() as s:
                if s.connect_ex(("127.0.0.1", port)) == 0:
                    break
            if process.poll() is not None:
                pytest.fail("nats-server with TLS did not start")
            time.sleep(0.05)
        yield f"tls://127.0.0.1:{port}", cert
    finally:
        terminate(process, 5)


async def test_the_bus_talks_to_a_tls_server_it_trusts(tls_server: tuple[str, Path]) -> None:
    url, cert = tls_server
    bus = await Bus.connect(url, "tls-test", tls=client_context(str(cert)))
    try:
        got: asyncio.Queue[bytes] = asyncio.Queue()

        async def on_message(msg: object) -> None:
            await got.put(msg.data)  # type: ignore[attr-defined]

        await bus.nc.subscribe("pb.tls.check", cb=on_message)
        await bus.nc.publish("pb.tls.check", b"over tls")
        assert await asyncio.wait_for(got.get(), 5) == b"over tls"
        assert bus.nc.connected_url is not None
        assert bus.nc.connected_url.scheme == "tls"
    finally:
        await bus.close()


async def test_a_server_whose_certificate_is_not_trusted_is_refused(
    tls_server: tuple[str, Path], tmp_path: Path
) -> None:
    """The context verifies: a certificate from a CA it was not given fails the handshake
    (connecting once, without the bus's endless reconnects, to see the error itself)."""
    url, _ = tls_server
    stranger, _ = self_signed(tmp_path, "stranger")  # some other CA
    with pytest.raises(ssl.SSLCertVerificationError):
        await nats.connect(
            url,
            tls=client_context(str(stranger)),
            allow_reconnect=False,
            max_reconnect_attempts=0,
            connect_timeout=5,
        )


def test_a_half_configured_client_certificate_is_an_error() -> None:
    with pytest.raises(ValueError, match="needs its key"):
        client_context("", "client.pem", "")
    assert client_context() is None
