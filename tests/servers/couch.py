"""A CouchDB-API server for the tests: pouchdb-server (npm), once per test session.

``make couch-server`` installs it (``npm ci`` in ``tests/servers/couch``, pinned by that
folder's package-lock.json). The server keeps its databases, its ``/_config`` file and its
log in a temporary directory; each test works in databases of its own (a unique prefix)
and removes them afterwards (see :func:`drop_databases`).
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from aiocouch import CouchDB

from tests.servers import ServerFailed, free_port, serve
from tests.support import unavailable

POUCHDB_SERVER = Path(__file__).parent / "couch" / "node_modules" / ".bin" / "pouchdb-server"


@pytest.fixture(scope="session", name="couch_url")
def couch_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The URL of a pouchdb-server started for this session."""
    if not POUCHDB_SERVER.exists():
        unavailable(f"pouchdb-server is not installed ({POUCHDB_SERVER}): run `make couch-server`")
    data = tmp_path_factory.mktemp("couch")
    config = data / "config.json"
    config.write_text(json.dumps({"log": {"file": str(data / "log.txt")}}))
    port = free_port()
    command = [
        str(POUCHDB_SERVER),
        *("-o", "127.0.0.1", "-p", str(port), "-d", f"{data}/", "-c", str(config)),
        *("--no-color", "--no-stdout-logs"),
    ]
    try:
        with serve(command, port, data / "server.log"):
            yield f"http://127.0.0.1:{port}"
    except ServerFailed as e:
        unavailable(f"pouchdb-server did not start: {e}")


def unique_prefix() -> str:
    """A database name prefix no other test uses (CouchDB names start with a letter)."""
    return f"pbtest{uuid.uuid4().hex[:10]}-"


async def drop_databases(url: str, prefix: str) -> None:
    """Remove every database whose name starts with ``prefix``."""
    from storage.couch_tenant_docs import couch_headers

    async with CouchDB(url, middlewares=(couch_headers,)) as couch:
        for name in await couch.keys():
            if name.startswith(prefix):
                await (await couch[name]).delete()
