"""An Elasticsearch-API server for the search tests: ``osmem-server`` (an in-memory
OpenSearch-API server from the PyPI package of that name), started once per test
session on a free port; each test uses indices of its own prefix and deletes them."""

from __future__ import annotations

import contextlib
import importlib.util
from collections.abc import Iterator
from pathlib import Path

from tests.servers import ServerFailed, free_port, serve


def binary() -> Path | None:
    """The server binary the ``osmem-server`` wheel installs, if it is installed."""
    spec = importlib.util.find_spec("osmem_server")
    if spec is None or spec.origin is None:
        return None
    found = Path(spec.origin).parent / "bin" / "osmem-server"
    return found if found.exists() else None


@contextlib.contextmanager
def osmem(directory: Path, port: int | None = None) -> Iterator[str]:
    """Run an osmem-server (on ``port``, or a free one); yields its URL. Raises
    :class:`ServerFailed` if there is no binary or it does not start."""
    program = binary()
    if program is None:
        raise ServerFailed("osmem-server is not installed (pip install osmem-server)")
    port = port or free_port()
    # It exits when its stdin closes unless told not to (the test owns its lifetime).
    command = [str(program), "-addr", f"127.0.0.1:{port}", "-no-stdin-watch"]
    with serve(command, port, directory / "osmem.log"):
        yield f"http://127.0.0.1:{port}"
