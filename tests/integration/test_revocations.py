"""Revoking a client, ending a session, disabling a person or changing a password stops
their access tokens at once, not when the tokens expire."""

from __future__ import annotations

import asyncio
import base64
import os
import random
import signal
from typing import Any

import pytest

from bus.client import Bus
from bus.embedded import EmbeddedNats
from edge.app import VERIFIER
from edge.auth import Identity
from edge.revocations import HEARTBEAT_S, Revocations
from tests.conftest import Cluster
from tests.integration.test_sessions import PASSWORD, add_person, sign_in

#: Above the ledger (revocations are edge and actor logic; the ledger contract suite holds their
#: rows): SQLite only (ADR 30).
pytestmark = pytest.mark.ledgers("sqlite")


async def refused_soon(
    cluster: Cluster, headers: dict[str, str], path: str, within_s: float = 5.0
) -> dict[str, Any]:
    """The edge learns of revocations from the event stream: poll for a moment."""
    for _ in range(int(within_s / 0.05)):
        async with cluster.client.get(path, headers=headers) as r:
            if r.status == 401:
                return dict(await r.json())
        await asyncio.sleep(0.05)
    raise AssertionError(f"{path} still answered after the revocation")


async def client_token(cluster: Cluster) -> tuple[str, str]:
    body = {"name": "HR", "scopes": ["budgets:read"]}
    async with cluster.client.post(
        "/api/v1/clients", json=body, headers=cluster.keys.headers("acme")
    ) as r:
        created = await r.json()
    basic = base64.b64encode(f"{created['id']}:{created['client_secret']}".encode()).decode()
    async with cluster.client.post(
        "/oauth/token",
        data={"grant_type": "client_credentials"},
        headers={"Authorization": f"Basic {basic}"},
    ) as r:
        return created["id"], (await r.json())["access_token"]


async def revoke_a_working_client(cluster: Cluster) -> dict[str, str]:
    """A client's token that reads budget b1, and the client then revoked: its headers."""
    client_id, token = await client_token(cluster)
    bearer = {"Authorization": f"Bearer {token}"}
    async with cluster.client.get("/api/v1/budgets/b1", headers=bearer) as r:
        assert r.status == 200
    async with cluster.client.delete(
        f"/api/v1/clients/{client_id}", headers=cluster.keys.headers("acme")
    ) as r:
        assert r.status == 200
    return bearer


async def test_a_revoked_clients_tokens_stop_working_at_once(cluster: Cluster) -> None:
    await cluster.open_budget("acme", "b1", 100)
    bearer = await revoke_a_working_client(cluster)
    problem = await refused_soon(cluster, bearer, "/api/v1/budgets/b1")
    assert "revoked" in problem["detail"]
    # other principals are untouched
    async with cluster.client.get("/api/v1/budgets/b1", headers=cluster.keys.headers("acme")) as r:
        assert r.status == 200


async def test_signing_out_ends_the_sessions_access_tokens(cluster: Cluster) -> None:
    await add_person(cluster)
    _, first, _ = await sign_in(cluster, "ann@acme.test", mode="bearer")
    _, second, _ = await sign_in(cluster, "ann@acme.test", mode="bearer")
    async with cluster.client.post(
        "/auth/sign-out", json={"refresh_token": first["refresh_token"]}
    ) as r:
        assert r.status == 204
    ended = {"Authorization": f"Bearer {first['access_token']}"}
    problem = await refused_soon(cluster, ended, "/auth/me")
    assert problem["detail"] == "the session has ended"
    other = {"Authorization": f"Bearer {second['access_token']}"}
    async with cluster.client.get("/auth/me", headers=other) as r:
        assert r.status == 200  # another session of the same person goes on


async def test_a_password_change_ends_older_tokens_but_not_newer_ones(cluster: Cluster) -> None:
    await add_person(cluster)
    _, before, _ = await sign_in(cluster, "ann@acme.test", mode="bearer")
    old = {"Authorization": f"Bearer {before['access_token']}"}
    await asyncio.sleep(1.0)  # token times are whole seconds
    body = {"new_password": "another long secret", "current_password": PASSWORD}
    async with cluster.client.put("/api/v1/people/ann/password", json=body, headers=old) as r:
        assert r.status == 200
    await refused_soon(cluster, old, "/auth/me")
    await asyncio.sleep(1.0)
    status, after, _ = await sign_in(cluster, "ann@acme.test", "another long secret", "bearer")
    assert status == 200
    async with cluster.client.get(
        "/auth/me", headers={"Authorization": f"Bearer {after['access_token']}"}
    ) as r:
        assert r.status == 200


async def test_a_person_whose_roles_change_gets_new_tokens_by_refreshing(
    cluster: Cluster,
) -> None:
    """An admin made an end user: the admin token they hold stops at once, and a refresh
    gives a token of an end user."""
    await add_person(cluster, "raj", roles=["admin"])
    _, session, _ = await sign_in(cluster, "raj@acme.test", mode="bearer")
    old = {"Authorization": f"Bearer {session['access_token']}"}
    async with cluster.client.get("/api/v1/people", headers=old) as r:
        assert r.status == 200  # an admin lists people
    await asyncio.sleep(1.0)  # token times are whole seconds
    async with cluster.client.patch(
        "/api/v1/people/raj", json={"roles": ["end_user"]}, headers=cluster.keys.headers("acme")
    ) as r:
        assert r.status == 200
    problem = await refused_soon(cluster, old, "/api/v1/people")
    assert "revoked" in problem["detail"]
    await asyncio.sleep(1.0)
    refresh = {"refresh_token": session["refresh_token"]}
    async with cluster.client.post("/auth/refresh", json=refresh) as r:
        renewed = await r.json()
        assert r.status == 200, renewed
    new = {"Authorization": f"Bearer {renewed['access_token']}"}
    async with cluster.client.get("/api/v1/people", headers=new) as r:
        assert r.status == 403  # an end user now
    async with cluster.client.get("/auth/me", headers=new) as r:
        assert r.status == 200


async def test_an_edge_started_later_reads_past_revocations(cluster: Cluster) -> None:
    client_id, token = await client_token(cluster)
    async with cluster.client.delete(
        f"/api/v1/clients/{client_id}", headers=cluster.keys.headers("acme")
    ) as r:
        assert r.status == 200
    identity = cluster.client.app[VERIFIER].verify(f"Bearer {token}")
    late = Revocations(window_s=3600)
    await late.follow(cluster.bus.js)
    try:
        for _ in range(100):
            if late.refuses(identity):
                break
            await asyncio.sleep(0.05)
        assert late.refuses(identity)
        fresh = Identity("acme", identity.principal, issued_at=identity.issued_at + 3600)
        assert late.refuses(fresh) is None  # a token issued after the revocation
    finally:
        await late.stop()


async def test_an_edge_waiting_for_the_event_stream_stops_whenever_it_is_stopped(
    nats_server: EmbeddedNats,
) -> None:
    # No actor host has made the stream: the edge retries every retry_s. Stopping it in
    # the same turn as a JetStream API reply arrives once left it retrying forever (the
    # 3.11 wait_for race, bus.tasks), so stop it at many moments.
    bus = await Bus.connect(nats_server.url, "edge", nats_server.credentials)
    try:
        for _ in range(150):
            revocations = Revocations()
            revocations.start(bus.js, retry_s=0.005)
            await asyncio.sleep(random.uniform(0, 0.03))
            async with asyncio.timeout(5):
                await revocations.stop()
            assert revocations._following is None
            assert not revocations._subscriptions
    finally:
        await bus.close()


async def test_revocations_are_heard_again_after_nats_stalls(
    cluster: Cluster, nats_server: EmbeddedNats
) -> None:
    """A stall past the ordered consumers' heartbeats (two of ``HEARTBEAT_S``, checked
    every two) makes nats-py make them again. Made again from a start time and a sequence
    at once, the server refused them every time, and a revoked client's tokens kept
    working until the edge restarted."""
    await cluster.open_budget("acme", "b1", 100)
    assert nats_server.process is not None
    pid = nats_server.process.pid
    os.kill(pid, signal.SIGSTOP)
    try:
        await asyncio.sleep(5 * HEARTBEAT_S)  # a whole check's window within it
    finally:
        os.kill(pid, signal.SIGCONT)
    bearer = await revoke_a_working_client(cluster)
    # the consumers are made again within a heartbeat check or two
    problem = await refused_soon(cluster, bearer, "/api/v1/budgets/b1", within_s=30)
    assert "revoked" in problem["detail"]
