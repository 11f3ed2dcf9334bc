"""A Redis server of a test's own (to kill and start again), on a port of its own; the
machine's Redis on 6379 serves the tests that only need one."""

from __future__ import annotations

import contextlib
import subprocess
from pathlib import Path

from tests.servers import serve


def redis_server(
    port: int, directory: Path
) -> contextlib.AbstractContextManager[subprocess.Popen[bytes]]:
    """``redis-server`` on ``port`` keeping nothing on disk: a restart starts empty."""
    directory.mkdir(exist_ok=True)
    command = ["redis-server", "--port", str(port), "--bind", "127.0.0.1"]
    command += ["--save", "", "--appendonly", "no", "--dir", str(directory)]
    return serve(command, port, directory / "redis.log")
