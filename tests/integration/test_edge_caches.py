"""The edge's cache in use: catalogue pages, fraud velocity, keyed orders in flight, and
Redis going away under them (real NATS, actor host and SQLite ledger; real Redis).

Which requests reach the actors is seen by a plain NATS subscriber on the partitioned
request subjects, which gets a copy of each. The edge publishes its requests in order,
so once the subscriber has seen a later request, it has seen every earlier one: "no
request was sent" is checked by sending a different request afterwards and counting.
"""

from __future__ import annotations

import asyncio
import os
import signal
import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import AsyncExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import redis.asyncio as redis
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer
from nats.aio.msg import Msg

from bus import subjects
from bus.barrier import barrier
from bus.client import Bus
from bus.embedded import EmbeddedNats
from bus.messages import Ok, Principal, request_decoder
from bus.messages.vouchers import CodeRow, ImportCodes
from edge.app import create_app
from edge.auth import TokenVerifier
from edge.cache import Cache
from edge.config import EdgeConfig
from edge.ratelimit import RateLimiter
from storage.redis_cache import RedisCache, open_redis
from storage.redis_limiter import RedisLimiter
from storage.sqlite import SqliteLedger
from storage.sqlite_catalogue import SqliteCatalogue
from tests.conftest import start_host
from tests.servers import ServerFailed, free_port
from tests.servers.redis import redis_server
from tests.support import AUDIENCE, ISSUER, Keys, gift_card, unavailable

REDIS_URL = os.environ.get("PERKBUS_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
ADMIN = Principal("admin@acme", roles=("admin",))
Client = TestClient[web.Request, web.Application]


class Requests:
    """Copies of the requests that reach acme's actors of one kind."""

    def __init__(self) -> None:
        self.seen: list[bytes] = []
        self.arrived = asyncio.Event()

    async def take(self, msg: Msg) -> None:
        self.seen.append(msg.data)
        self.arrived.set()

    @staticmethod
    def _describe(data: bytes) -> str:
        """A request's body type and Idempotency-Key (which of them went missing)."""
        request = request_decoder.decode(data)
        return f"{type(request.body).__name__} key={request.idempotency_key!r}"

    async def until(self, count: int) -> int:
        """Wait until ``count`` requests were seen (a generous bound: only a hang fails,
        never a loaded machine's slowness); how many were."""
        try:
            async with asyncio.timeout(30):
                while len(self.seen) < count:
                    self.arrived.clear()
                    await self.arrived.wait()
        except TimeoutError:  # say what did come (before bus.barrier, a loaded run's
            # watcher could miss the first request: flush() overtook its subscription)
            seen = [self._describe(data) for data in self.seen]
            raise AssertionError(f"{len(seen)} of {count} requests within 30 s: {seen}") from None
        return len(self.seen)


@dataclass
class World:
    bus: Bus
    nats: EmbeddedNats
    keys: Keys
    stack: AsyncExitStack
    catalogue: SqliteCatalogue

    async def edge(
        self,
        config: EdgeConfig | None = None,
        cache: Cache | None = None,
        limiter: RateLimiter | None = None,
    ) -> Client:
        verifier = TokenVerifier(self.keys.public.read_bytes(), ISSUER, AUDIENCE)
        config = config or EdgeConfig(rate_per_s=0)
        app = create_app(
            config, self.nats.url, verifier, limiter, self.nats.credentials, shared_cache=cache
        )
        client: Client = TestClient(TestServer(app))
        await client.start_server()
        self.stack.push_async_callback(client.close)
        return client

    async def watch(self, kind: str) -> Requests:
        requests = Requests()
        await self.bus.nc.subscribe(
            f"{subjects.PARTITIONED_PREFIX}.*.acme.{kind}", cb=requests.take
        )
        await barrier(self.bus.nc)
        return requests

    async def stock(self, codes: int) -> None:
        rows = tuple(CodeRow(f"C-{uuid.uuid4().hex[:12]}") for _ in range(codes))
        imported = await self.bus.request(
            "acme", "vouchers", ImportCodes("card-de", 2500, "EUR", rows), ADMIN, 10
        )
        assert isinstance(imported, Ok)


@pytest.fixture
async def world(nats_server: EmbeddedNats, keys: Keys, tmp_path: Path) -> AsyncIterator[World]:
    async with AsyncExitStack() as stack:
        bus = await Bus.connect(nats_server.url, "test-caches", nats_server.credentials)
        stack.push_async_callback(bus.close)
        ledger = SqliteLedger(str(tmp_path / "ledger.sqlite3"))
        await ledger.migrate()
        stack.push_async_callback(ledger.close)
        catalogue = SqliteCatalogue(tmp_path / "catalogue.sqlite3")
        await catalogue.migrate()
        stack.push_async_callback(catalogue.close)
        await catalogue.put_products([gift_card(), gift_card("card-fr", country="FR")])
        host = await start_host(bus, ledger, catalogue)
        stack.push_async_callback(host.stop)
        world = World(bus, nats_server, keys, stack, catalogue)
        yield world


@pytest.fixture
async def shared_redis() -> AsyncIterator[Callable[[], RedisCache]]:
    """Caches on the machine's Redis under one unique prefix (removed afterwards)."""
    prefix = f"pb:test:{uuid.uuid4().hex[:8]}:"
    client = open_redis(REDIS_URL)
    try:
        await RedisCache(client).ping()
    except Exception as e:
        await client.aclose()
        unavailable(f"Redis at {REDIS_URL} is not reachable: {e}")
    yield lambda: RedisCache(client, prefix=prefix)
    await client.aclose()
    direct = redis.from_url(REDIS_URL)
    keys = [k async for k in direct.scan_iter(f"{prefix}*")]
    if keys:
        await direct.delete(*keys)
    await direct.aclose()


async def ids(client: Client, headers: dict[str, str], **query: str) -> list[str]:
    response = await client.get("/api/v1/catalogue/products", params=query, headers=headers)
    assert response.status == 200, await response.text()
    return [p["id"] for p in (await response.json())["products"]]


async def curate(client: Client, headers: dict[str, str], product: str, enabled: bool) -> None:
    response = await client.put(
        f"/api/v1/catalogue/products/{product}/curation",
        json={"enabled": enabled},
        headers={**headers, "Idempotency-Key": uuid.uuid4().hex},
    )
    assert response.status == 200, await response.text()


async def test_pages_are_cached_per_query_and_a_change_through_the_edge_is_seen_at_once(
    world: World,
) -> None:
    edge = await world.edge()
    acme = world.keys.headers("acme")
    catalogue = await world.watch("catalogue")
    assert await ids(edge, acme, currency="EUR") == ["card-de", "card-fr"]
    assert await ids(edge, acme, currency="EUR") == ["card-de", "card-fr"]  # cached
    assert await ids(edge, acme, currency="EUR", locale="de") == ["card-de", "card-fr"]
    assert await catalogue.until(2) == 2  # the repeat was not sent; the other locale was

    await curate(edge, acme, "card-fr", enabled=False)
    assert await ids(edge, acme, currency="EUR") == ["card-de"]  # never the stale page
    custom = {
        "id": "acme-mug",
        "brand": "Acme",
        "kind": "merchandise",
        "category": "home",
        "currency": "EUR",
        "countries": ["DE"],
        "texts": {"en": {"name": "A mug"}},
        "denominations": [1500],
    }
    response = await edge.post(
        "/api/v1/catalogue/products", json=custom, headers={**acme, "Idempotency-Key": "mug"}
    )
    assert response.status == 201, await response.text()
    assert await ids(edge, acme, currency="EUR") == ["acme-mug", "card-de"]
    globex = world.keys.headers("globex")  # another tenant's pages are its own
    assert await ids(edge, globex, currency="EUR") == ["card-de", "card-fr"]


async def test_another_edge_drops_its_pages_when_the_catalogue_actor_announces_a_change(
    world: World,
) -> None:
    config = EdgeConfig(rate_per_s=0, catalogue_cache_ttl_s=600)  # no expiry helps here
    first, second = await world.edge(config), await world.edge(config)
    acme = world.keys.headers("acme")
    assert await ids(second, acme, country="FR") == ["card-fr"]
    await curate(first, acme, "card-fr", enabled=False)
    for _ in range(250):  # the hint travels on its own (5 s at most)
        if not await ids(second, acme, country="FR"):
            break
        await asyncio.sleep(0.02)
    assert await ids(second, acme, country="FR") == []


@pytest.mark.redis
async def test_edges_sharing_redis_share_pages_and_never_serve_one_older_than_a_change(
    world: World, shared_redis: Callable[[], RedisCache]
) -> None:
    config = EdgeConfig(rate_per_s=0, catalogue_cache_ttl_s=600)
    first = await world.edge(config, cache=shared_redis())
    second = await world.edge(config, cache=shared_redis())
    acme = world.keys.headers("acme")
    catalogue = await world.watch("catalogue")
    assert await ids(first, acme, country="FR") == ["card-fr"]
    assert await ids(second, acme, country="FR") == ["card-fr"]  # the first edge's page
    assert await ids(second, acme, country="DE") == ["card-de"]
    assert await catalogue.until(2) == 2
    await curate(first, acme, "card-fr", enabled=False)
    # No waiting for the hint: the writing edge moved the tenant's shared generation
    # before it answered.
    assert await ids(second, acme, country="FR") == []
    ready = await (await second.get("/readyz")).json()
    assert ready["edge_stores"]["cache"] == "redis ok"


def order(product: str = "card-de") -> dict[str, Any]:
    return {"product_id": product, "face_value_minor": 2500, "recipient": "ann", "budget_id": "b1"}


async def place(
    client: Client, headers: dict[str, str], key: str, product: str = "card-de"
) -> tuple[int, dict[str, Any], dict[str, str]]:
    response = await client.post(
        "/api/v1/orders", json=order(product=product), headers={**headers, "Idempotency-Key": key}
    )
    return response.status, await response.json(), dict(response.headers)


async def open_budget(world: World, amount: int) -> None:
    from bus.messages.budget import CreateBudget
    from bus.messages.common import Money

    reply = await world.bus.request(
        "acme", "treasury", CreateBudget("b1", "B1", Money(amount, "EUR")), ADMIN, 10
    )
    assert isinstance(reply, Ok)


@pytest.mark.parametrize("kept_s", [300.0, 0.0], ids=["replies-kept", "actor-replays"])
async def test_orders_past_the_velocity_limit_are_refused_and_replays_do_not_count(
    world: World, kept_s: float
) -> None:
    await open_budget(world, 100_000)
    await world.stock(10)
    config = EdgeConfig(rate_per_s=0, velocity_orders_per_hour=2, idempotency_reply_ttl_s=kept_s)
    edge = await world.edge(config)
    ann = world.keys.headers("acme", subject="ann@acme")
    first = await place(edge, ann, "o-1")
    assert first[0] == 201
    assert (await place(edge, ann, "o-2"))[0] == 201
    again = await place(edge, ann, "o-1")  # a retry of the first: the same order
    assert again[0] == 201
    assert again[1]["id"] == first[1]["id"]
    status, problem, headers = await place(edge, ann, "o-3")
    assert status == 429
    assert problem["code"] == "velocity_limited"
    assert problem["type"] == "https://perkbus.dev/problems/velocity-limited"
    assert problem["retryable"] is True
    assert int(headers["Retry-After"]) >= 1
    bob = world.keys.headers("acme", subject="bob@acme")  # a count per principal
    assert (await place(edge, bob, "b-0", product="no-such-card"))[0] == 404  # not counted
    assert (await place(edge, bob, "b-1"))[0] == 201
    assert (await place(edge, bob, "b-2"))[0] == 201


async def test_a_retry_is_answered_by_the_edge_and_concurrent_duplicates_make_one_request(
    world: World,
) -> None:
    await open_budget(world, 100_000)
    await world.stock(5)
    edge = await world.edge()
    treasury = await world.watch("treasury")
    acme = world.keys.headers("acme")
    replies = await asyncio.gather(*(place(edge, acme, "dup") for _ in range(5)))
    assert {status for status, _, _ in replies} == {201}
    assert len({body["id"] for _, body, _ in replies}) == 1  # one order
    again = await place(edge, acme, "dup")  # later: from the edge's kept reply
    assert again[1]["id"] == replies[0][1]["id"]
    assert (await place(edge, acme, "other"))[0] == 201
    assert await treasury.until(2) == 2  # "dup" once, "other" once
    reused = await edge.post(
        "/api/v1/orders",
        json={**order(), "recipient": "bob"},
        headers={**acme, "Idempotency-Key": "dup"},
    )  # another body under the key: for the actor to refuse
    assert reused.status == 422
    assert (await reused.json())["code"] == "idempotency_key_reused"


async def test_a_duplicate_that_waits_too_long_gets_409(
    nats_server: EmbeddedNats, keys: Keys
) -> None:
    held: asyncio.Queue[Msg] = asyncio.Queue()

    async def hold(msg: Msg) -> None:
        await held.put(msg)

    # No actor host: this test takes the treasury's requests, and never answers them.
    bus = await Bus.connect(nats_server.url, "held-treasury", nats_server.credentials)
    await bus.nc.subscribe(f"{subjects.PARTITIONED_PREFIX}.*.acme.treasury", cb=hold)
    await barrier(bus.nc)
    verifier = TokenVerifier(keys.public.read_bytes(), ISSUER, AUDIENCE)
    config = EdgeConfig(rate_per_s=0, idempotency_wait_s=0.2, request_timeout_s=1)
    app = create_app(config, nats_server.url, verifier, None, nats_server.credentials)
    edge: Client = TestClient(TestServer(app))
    await edge.start_server()
    try:
        headers = keys.headers("acme")
        first = asyncio.create_task(place(edge, headers, "slow"))
        async with asyncio.timeout(5):
            await held.get()
        status, problem, response_headers = await place(edge, headers, "slow")
        assert status == 409
        assert problem["code"] == "idempotency_key_in_use"
        assert response_headers["Retry-After"] == "1"
        assert (await first)[0] == 504  # nobody answered the first
        assert held.empty()  # the duplicate never reached the bus
    finally:
        await edge.close()
        await bus.close()


@pytest.mark.redis
async def test_killing_redis_during_a_burst_loses_no_order_and_readyz_shows_it(
    world: World, tmp_path: Path
) -> None:
    port = free_port()
    try:
        server = redis_server(port, tmp_path / "redis")
        process = server.__enter__()
    except (ServerFailed, FileNotFoundError) as e:
        unavailable(f"cannot start redis-server: {e}")
    client = open_redis(f"redis://127.0.0.1:{port}/0")
    try:
        await open_budget(world, 1_000_000)
        await world.stock(60)
        config = EdgeConfig(rate_per_s=1000, rate_burst=1000, velocity_orders_per_hour=1000)
        edge = await world.edge(config, cache=RedisCache(client), limiter=RedisLimiter(client))
        acme = world.keys.headers("acme")
        pending = {asyncio.create_task(place(edge, acme, f"burst-{i}")) for i in range(50)}
        done: set[asyncio.Task[tuple[int, dict[str, Any], dict[str, str]]]] = set()
        while len(done) < 10:  # Redis dies mid-burst
            finished, pending = await asyncio.wait(pending, return_when=asyncio.FIRST_COMPLETED)
            done |= finished
        os.killpg(process.pid, signal.SIGKILL)
        server.__exit__(None, None, None)
        if pending:
            finished, _ = await asyncio.wait(pending)
            done |= finished
        placed = [task.result() for task in done]
        assert [status for status, _, _ in placed] == [201] * 50
        assert {body["status"] for _, body, _ in placed} == {"fulfilled"}
        for _, body, _ in placed:  # each is in the ledger
            response = await edge.get(f"/api/v1/orders/{body['id']}", headers=acme)
            assert (await response.json())["status"] == "fulfilled"
        budget = await (await edge.get("/api/v1/budgets/b1", headers=acme)).json()
        assert budget["balance"]["amount_minor"] == 1_000_000 - 50 * 2500
        assert (await place(edge, acme, "during"))[0] == 201  # still serving
        ready = await edge.get("/readyz")
        assert ready.status == 200  # degraded, not unready
        report = await ready.json()
        assert report["edge_stores"]["cache"].startswith("degraded: ")
        assert report["edge_stores"]["rate_limits"].startswith("degraded: ")

        server = redis_server(port, tmp_path / "redis")  # Redis is back
        server.__enter__()
        direct = redis.from_url(f"redis://127.0.0.1:{port}/0")
        try:
            async with asyncio.timeout(10):  # until the edge uses it again
                while (await (await edge.get("/readyz")).json())["edge_stores"]["cache"] != (
                    "redis ok"
                ):
                    await ids(edge, acme, currency="EUR")
                    await asyncio.sleep(0.05)
            assert (await place(edge, acme, "after"))[0] == 201
            assert [k async for k in direct.scan_iter("pb:c:*")]  # the cache is in Redis again
        finally:
            await direct.aclose()
    finally:
        await client.aclose()
        server.__exit__(None, None, None)
