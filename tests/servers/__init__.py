"""Real servers the tests start for themselves, each on a free port of 127.0.0.1.

The machine's own services hold the standard ports; a server a test starts takes a port
of its own (:func:`free_port`) and is stopped, and waited for, when the test is done
(:func:`serve`).
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import time
from collections.abc import Iterator, Sequence
from pathlib import Path


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def port_open(port: int) -> bool:
    with socket.socket() as s:
        s.settimeout(0.2)
        return s.connect_ex(("127.0.0.1", port)) == 0


class ServerFailed(RuntimeError):
    pass


@contextlib.contextmanager
def serve(
    command: Sequence[str],
    port: int,
    log_file: Path,
    timeout_s: float = 30.0,
    env: dict[str, str] | None = None,
) -> Iterator[subprocess.Popen[bytes]]:
    """Start ``command`` (which listens on ``port``), wait until the port accepts
    connections, yield the process; then stop it (SIGTERM, then SIGKILL) and wait for it
    to exit, so that the next start on the same data directory finds it free."""
    with log_file.open("ab") as log:
        process = subprocess.Popen(
            list(command),
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            env={**os.environ, **(env or {})},
            start_new_session=True,
        )
    try:
        deadline = time.monotonic() + timeout_s
        while not port_open(port):
            if process.poll() is not None:
                raise ServerFailed(
                    f"{command[0]} exited with {process.returncode}: "
                    f"{log_file.read_text(errors='replace')[-2000:]}"
                )
            if time.monotonic() > deadline:
                raise ServerFailed(f"{command[0]} did not listen on {port} in {timeout_s:.0f}s")
            time.sleep(0.05)
        yield process
    finally:
        stop(process)


def stop(process: subprocess.Popen[bytes], timeout_s: float = 10.0) -> None:
    if process.poll() is not None:
        return
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGTERM)
    try:
        process.wait(timeout_s)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait()
