"""A MongoDB-wire server for the tests: ``secantusd-py`` from the ``secantusdb`` package.

One server is started per test session (starting one takes about a second); each test
gets a database of its own, dropped after it (:func:`mongo_url`).
"""

from __future__ import annotations

import contextlib
import shutil
import sys
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from motor.motor_asyncio import AsyncIOMotorClient

from tests.servers import ServerFailed, free_port, serve
from tests.support import unavailable


@dataclass(frozen=True)
class MongoServer:
    port: int
    storage: Path

    def url(self, database: str) -> str:
        return f"mongodb://127.0.0.1:{self.port}/{database}"


def secantusd() -> str | None:
    beside = Path(sys.executable).parent / "secantusd-py"
    return str(beside) if beside.exists() else shutil.which("secantusd-py")


@contextlib.contextmanager
def run_mongo(storage: Path, port: int | None = None) -> Iterator[MongoServer]:
    """Serve ``storage`` until the block ends, then wait for the server to exit (so the
    same directory can be served again)."""
    binary = secantusd()
    if binary is None:
        unavailable("secantusd-py (PyPI secantusdb) is not installed")
    storage.mkdir(parents=True, exist_ok=True)
    port = port or free_port()
    command = [binary, "--host", "127.0.0.1", "--port", str(port), "--storage-path", str(storage)]
    try:
        with serve(command, port, storage.parent / f"{storage.name}.log"):
            yield MongoServer(port, storage)
    except ServerFailed as e:
        unavailable(f"the MongoDB-wire server did not start: {e}")


@pytest.fixture(scope="session")
def mongo_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[MongoServer]:
    with run_mongo(tmp_path_factory.mktemp("mongo") / "data") as server:
        yield server


@contextlib.asynccontextmanager
async def mongo_database(server: MongoServer) -> AsyncIterator[str]:
    """The URL of a fresh database on ``server``, dropped afterwards."""
    name = f"pb_test_{uuid.uuid4().hex[:12]}"
    try:
        yield server.url(name)
    finally:
        client: AsyncIOMotorClient[dict[str, object]] = AsyncIOMotorClient(
            server.url(name), serverSelectionTimeoutMS=5000
        )
        try:
            await client.drop_database(name)
        finally:
            client.close()


@pytest.fixture
async def mongo_url(mongo_server: MongoServer) -> AsyncIterator[str]:
    """The URL of a database of this test's own, dropped after it."""
    async with mongo_database(mongo_server) as url:
        yield url
