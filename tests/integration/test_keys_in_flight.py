"""A request whose Idempotency-Key is still being answered gets 409, over REST and GraphQL.

The actor here is a NATS subscriber the test answers by hand, so that a request stays
in flight for exactly as long as the test needs (the real runtime's own guarantee — one
effect per key — is tested in ``tests/runtime/test_idempotency.py``).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer
from nats.aio.msg import Msg

from bus.barrier import barrier
from bus.client import Bus
from bus.embedded import EmbeddedNats
from bus.messages import Ok, encoder, request_decoder
from bus.messages.common import Money
from bus.messages.wallet import IssuePoints, PointsIssued
from edge.app import create_app
from edge.auth import TokenVerifier
from edge.config import EdgeConfig
from tests.support import AUDIENCE, ISSUER, Keys

REWARD = {"budget_id": "b1", "person_id": "ann", "points": 5}
GRAPHQL_ISSUE = (
    'mutation($key: String) { issuePoints(input: {budgetId: "b1", personId: "ann",'
    " points: 5}, idempotencyKey: $key) { __typename ... on Error { code retryable } } }"
)


class HeldActor:
    """Takes the tenants' treasury requests and answers each only when told to."""

    def __init__(self) -> None:
        self.arrived: asyncio.Queue[Msg] = asyncio.Queue()

    async def take(self, msg: Msg) -> None:
        await self.arrived.put(msg)

    async def next(self) -> Msg:
        return await asyncio.wait_for(self.arrived.get(), 5)

    @staticmethod
    async def answer(msg: Msg) -> None:
        body = request_decoder.decode(msg.data).body
        assert isinstance(body, IssuePoints)
        issued = PointsIssued(
            body.reward_id, body.budget_id, body.person_id, body.points,
            Money(body.points, "EUR"), Money(0, "EUR"), body.points, 0,
        )  # fmt: skip
        await msg.respond(encoder.encode(Ok(issued)))


@pytest.fixture
async def edge(
    nats_server: EmbeddedNats, keys: Keys
) -> AsyncIterator[tuple[TestClient[web.Request, web.Application], HeldActor]]:
    verifier = TokenVerifier(keys.public.read_bytes(), ISSUER, AUDIENCE)
    app = create_app(
        EdgeConfig(request_timeout_s=2.0),
        nats_server.url,
        verifier,
        nats_credentials=nats_server.credentials,
    )
    client: TestClient[web.Request, web.Application] = TestClient(TestServer(app))
    bus = await Bus.connect(nats_server.url, "held-actor", nats_server.credentials)
    actor = HeldActor()
    await bus.nc.subscribe("pb.rpcp.*.*.treasury", cb=actor.take)
    await barrier(bus.nc)
    await client.start_server()
    try:
        yield client, actor
    finally:
        await client.close()
        await bus.close()


async def post_reward(
    client: TestClient[web.Request, web.Application], headers: dict[str, str], key: str
) -> tuple[int, dict[str, Any], str | None]:
    async with client.post(
        "/api/v1/rewards", json=REWARD, headers={**headers, "Idempotency-Key": key}
    ) as r:
        return r.status, await r.json(content_type=None), r.headers.get("Retry-After")


async def test_a_key_in_flight_gets_409_until_its_request_is_answered(
    edge: tuple[TestClient[web.Request, web.Application], HeldActor], keys: Keys
) -> None:
    client, actor = edge
    acme = keys.headers("acme")
    first = asyncio.create_task(post_reward(client, acme, "k-1"))
    held = await actor.next()  # the first request is with the actor now

    status, body, retry_after = await post_reward(client, acme, "k-1")
    assert (status, body["code"], body["retryable"], retry_after) == (
        409,
        "idempotency_key_in_use",
        True,
        "1",
    )
    async with client.post(
        "/graphql", json={"query": GRAPHQL_ISSUE, "variables": {"key": "k-1"}}, headers=acme
    ) as r:
        result = (await r.json())["data"]["issuePoints"]
    assert result == {"__typename": "Conflict", "code": "idempotency_key_in_use", "retryable": True}
    assert actor.arrived.empty()  # neither refused request reached the actor

    # the same key of another tenant, and another key, are not held up
    other = asyncio.create_task(post_reward(client, keys.headers("globex"), "k-1"))
    await actor.answer(await actor.next())
    assert (await other)[0] == 201

    await actor.answer(held)
    assert (await first)[0] == 201
    again = asyncio.create_task(post_reward(client, acme, "k-1"))  # free again: to the actor
    await actor.answer(await actor.next())
    assert (await again)[0] == 201


async def test_a_key_is_free_again_after_its_request_timed_out(
    edge: tuple[TestClient[web.Request, web.Application], HeldActor], keys: Keys
) -> None:
    client, actor = edge
    acme = keys.headers("acme")
    status, body, _ = await post_reward(client, acme, "k-2")  # nobody answers: 504
    assert (status, body["code"]) == (504, "deadline_exceeded")
    await actor.next()
    retry = asyncio.create_task(post_reward(client, acme, "k-2"))
    await actor.answer(await actor.next())
    assert (await retry)[0] == 201
