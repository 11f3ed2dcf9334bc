"""Issue 6's check: ``perkbus up`` with every store on its own server — ledger on
MariaDB, catalogue on a MongoDB-wire server, tenant documents on a CouchDB-API server,
search on an Elasticsearch-API server, cache and counters on Redis, the warehouse on
PostgreSQL — and the redemption-core burst runs through it unchanged, while Redis and
the search server are killed and brought back: no acknowledged order or ledger entry is
lost, ``/readyz`` says what is degraded, search finds a misspelt product soon after its
change, and the warehouse counts what the ledger holds."""

from __future__ import annotations

import asyncio
import contextlib
import datetime
import os
import re
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from bus.client import Bus
from bus.embedded import EmbeddedNats
from storage.mongo_catalogue import MongoCatalogue
from storage.mysql import MysqlLedger
from tests.conftest import PARTITIONS
from tests.integration import burst
from tests.integration.burst import Client
from tests.servers import free_port, serve
from tests.servers import search as search_server
from tests.servers.couch import drop_databases
from tests.servers.mongo import MongoServer, mongo_database
from tests.servers.redis import redis_server
from tests.support import (
    Keys,
    gift_card,
    mysql_database,
    postgres_database,
    unavailable,
)

pytestmark = [
    pytest.mark.slow,
    pytest.mark.mysql,
    pytest.mark.redis,
    pytest.mark.postgres,
    pytest.mark.mongo,
    pytest.mark.couch,
    pytest.mark.search,
]


#: What an edge logs when it goes over to its own memory (``edge.fallback``).
FALLBACK = re.compile(r"shared .* unavailable")


class Restartable:
    """A server of the test's own that it kills (SIGKILL) and starts again on its port."""

    def __init__(self, start: Callable[[], contextlib.AbstractContextManager[Any]]) -> None:
        self._start = start
        self._running: contextlib.AbstractContextManager[Any] | None = None
        self._process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        running = self._start()
        self._process = running.__enter__()
        self._running = running

    def kill(self) -> None:
        running, self._running = self._running, None
        if running is not None and self._process is not None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self._process.pid, signal.SIGKILL)
            running.__exit__(None, None, None)


@contextlib.contextmanager
def started(server: Restartable) -> Iterator[Restartable]:
    try:
        server.start()
    except Exception as e:
        unavailable(f"cannot start a server for the test: {e}")
    try:
        yield server
    finally:
        server.kill()


class Up:
    """``perkbus up`` in a child process with ``settings`` (and nothing else of this
    process's PERKBUS_ variables), its output going to a file."""

    def __init__(self, workdir: Path, settings: dict[str, str]) -> None:
        env = {k: v for k, v in os.environ.items() if not k.startswith("PERKBUS_")}
        self.log = workdir / "up.log"
        with self.log.open("wb") as out:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "perkbus", "up"],
                cwd=workdir,
                env={**env, **settings},
                stdout=out,
                stderr=subprocess.STDOUT,
            )

    @property
    def output(self) -> str:
        return self.log.read_text(errors="replace")

    async def ready(self) -> None:
        """Until the banner is printed (after the edge's ``/readyz`` answered 200)."""
        async with asyncio.timeout(90):
            while "perkbus is up" not in self.output:
                assert self.process.poll() is None, self.output
                await asyncio.sleep(0.1)

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            self.process.wait(60)


async def readiness(client: Client) -> dict[str, Any]:
    async with client.get("/readyz") as r:
        report: dict[str, Any] = await r.json()
        report["http_status"] = r.status
        return report


async def search(client: Client, headers: dict[str, str], q: str) -> dict[str, Any]:
    async with client.get("/api/v1/catalogue/products", params={"q": q}, headers=headers) as r:
        assert r.status == 200, await r.text()
        page: dict[str, Any] = await r.json()
        return page


async def test_the_burst_runs_on_every_server_through_redis_and_search_outages(
    nats_server: EmbeddedNats,
    bus: Bus,
    keys: Keys,
    mongo_server: MongoServer,
    couch_url: str,
    tmp_path: Path,
) -> None:
    tenant = f"poly{uuid.uuid4().hex[:8]}"
    headers = keys.headers(tenant)
    binary = search_server.binary()
    if binary is None:
        unavailable("osmem-server is not installed")
    redis_port, search_port = free_port(), free_port()
    redis = Restartable(lambda: redis_server(redis_port, tmp_path / "redis"))
    osmem_command = [str(binary), "-addr", f"127.0.0.1:{search_port}", "-no-stdin-watch"]
    index = Restartable(lambda: serve(osmem_command, search_port, tmp_path / "osmem.log"))
    async with contextlib.AsyncExitStack() as stack:
        ledger_url = await stack.enter_async_context(mysql_database())
        catalogue_url = await stack.enter_async_context(mongo_database(mongo_server))
        warehouse_url = await stack.enter_async_context(postgres_database())
        stack.enter_context(started(redis))
        stack.enter_context(started(index))
        stack.push_async_callback(drop_databases, couch_url, f"perkbus-config-{tenant}")

        products = MongoCatalogue(catalogue_url)
        await products.migrate()
        await products.put_products([gift_card(denominations=(1000,))])
        await products.close()
        port = free_port()
        up = Up(
            tmp_path,
            {
                "PERKBUS_VAR_DIR": str(tmp_path / "var"),
                "PERKBUS_EDGE_PORT": str(port),
                "PERKBUS_EDGE_RATE_PER_S": "0",  # one token places the whole burst
                "PERKBUS_AUTH_SIGNING_KEY_FILE": str(keys.private),
                "PERKBUS_EDGE_JWT_PUBLIC_KEY_FILE": str(keys.public),
                "PERKBUS_NATS_URL": nats_server.url,
                "PERKBUS_NATS_CREDENTIALS_FILE": str(nats_server.credentials),
                "PERKBUS_NATS_PARTITIONS": str(PARTITIONS),
                "PERKBUS_MYSQL_URL": ledger_url,
                "PERKBUS_CATALOGUE_URL": catalogue_url,
                "PERKBUS_SEARCH_URL": f"http://127.0.0.1:{search_port}",
                "PERKBUS_TENANTDOCS_URL": couch_url,
                "PERKBUS_REDIS_URL": f"redis://127.0.0.1:{redis_port}/0",
                "PERKBUS_WAREHOUSE_URL": warehouse_url,
            },
        )
        stack.callback(up.stop)
        client = aiohttp.ClientSession(
            f"http://127.0.0.1:{port}", connector=aiohttp.TCPConnector(limit=0)
        )
        stack.push_async_callback(client.close)
        await up.ready()
        before = await readiness(client)
        for _ in range(150):  # the warehouse process may answer a little after the edge
            if not isinstance(before["warehouse"], str):
                break
            await asyncio.sleep(0.2)
            before = await readiness(client)
        assert before["http_status"] == 200
        assert before["status"] == "ready", before
        names = {s["name"] for s in before["stores"]}
        assert {"catalogue:mongodb", "search:elasticsearch", "tenantdocs:couchdb"} <= names
        assert before["edge_stores"]["cache"] == "redis ok"
        assert all(s["ok"] for s in before["warehouse"])

        seen_down: dict[str, Any] = {}

        async def outage() -> None:
            await asyncio.sleep(0.8)  # mid-burst
            # Until Redis is killed the burst is served by Redis: a pool that refused
            # connections under load would have sent the edge to its fallback already.
            assert FALLBACK.search(up.output) is None, up.output
            redis.kill()
            index.kill()
            async with asyncio.timeout(20):  # until /readyz has noticed both
                while True:
                    report = await readiness(client)
                    stores = {s["name"]: s for s in report.get("stores", ())}
                    if (
                        report["edge_stores"]["cache"].startswith("degraded")
                        and not stores["search:elasticsearch"]["ok"]
                    ):
                        break
                    await search(client, headers, "card")  # the cache notices on use
                    await asyncio.sleep(0.1)
            seen_down.update(report)
            seen_down["search_page"] = await search(client, headers, "crad")
            await asyncio.sleep(0.5)
            redis.start()
            index.start()

        await burst.prepare(bus, tenant, "card-de")
        answers = await burst.redeem_all(client, headers, "card-de", outage)

        # While they were down: still serving (200), and saying what is degraded.
        assert seen_down["http_status"] == 200
        assert seen_down["status"] == "degraded"
        assert seen_down["search_page"]["degraded"] is True  # listed from memory
        assert [p["id"] for p in seen_down["search_page"]["products"]] == []  # prefix only

        ledger = MysqlLedger(ledger_url, pool_size=2)
        stack.push_async_callback(ledger.close)
        fulfilled = await burst.check_invariants(ledger, tenant, "card-de", answers)

        async with asyncio.timeout(30):  # both are used again
            while (report := await readiness(client))["status"] != "ready":
                await search(client, headers, "card")
                await asyncio.sleep(0.2)
        assert report["edge_stores"]["cache"] == "redis ok"

        # Search finds a misspelt product soon after it is added (the index came back
        # empty and was rebuilt meanwhile).
        own = {
            "id": "cups",
            "brand": "Porcelana",
            "kind": "merchandise",
            "category": "home",
            "currency": "EUR",
            "countries": ["DE"],
            "texts": {"en": {"name": "Porcelain espresso cups"}},
            "denominations": [1500],
        }
        async with client.post("/api/v1/catalogue/products", json=own, headers=headers) as r:
            assert r.status == 201, await r.text()
        added = time.monotonic()
        async with asyncio.timeout(10):
            while True:
                page = await search(client, headers, "porcelian")
                if [p["id"] for p in page["products"]] == ["cups"]:
                    break
                await asyncio.sleep(0.02)
        print(f"found misspelt {time.monotonic() - added:.3f} s after the change")
        assert page["degraded"] is False

        # The warehouse holds what the ledger holds.
        today = datetime.datetime.now(datetime.UTC).date().isoformat()
        async with asyncio.timeout(60):
            while True:
                async with client.get(
                    "/api/v1/reports/daily", params={"from": today, "to": today}, headers=headers
                ) as r:
                    assert r.status == 200, await r.text()
                    days = (await r.json())["days"]
                counted = sum(
                    o["orders"] for d in days for o in d["orders"] if o["status"] == "fulfilled"
                )
                if counted == fulfilled:
                    break
                assert counted < fulfilled
                await asyncio.sleep(0.5)

        # Tenant documents live in CouchDB, revisions and all.
        branding = {"display_name": "Poly", "colours": {"primary": "#0b5fff"}}
        async with client.put(
            "/api/v1/tenant/config/branding",
            json=branding,
            headers={**headers, "If-None-Match": "*"},
        ) as r:
            assert r.status in (200, 201), await r.text()
            etag = r.headers["ETag"]
        async with client.get("/api/v1/tenant/config/branding", headers=headers) as r:
            assert r.status == 200
            assert r.headers["ETag"] == etag
            assert (await r.json())["display_name"] == "Poly"
