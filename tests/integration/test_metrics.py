"""``/metrics`` (ADR 40): the edge's requests and every process's figures, read with
Prometheus's own parser; for this machine, or with the metrics token, and not there for
anyone else."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from prometheus_client.parser import text_string_to_metric_families

from bus.embedded import EmbeddedNats
from edge.config import EdgeConfig
from storage.ports import CatalogueStore, Ledger
from storage.sqlite_webhooks import SqliteWebhookStore
from tests.conftest import Cluster, start_cluster
from tests.support import Keys, webhook_relay

#: Above the ledger (the committer's figures are the same whatever it writes to): SQLite
#: only (ADR 30).
pytestmark = pytest.mark.ledgers("sqlite")


async def scrape(cluster: Cluster, headers: dict[str, str] | None = None) -> dict[str, Any]:
    async with cluster.client.get("/metrics", headers=headers or {}) as r:
        assert r.status == 200, await r.text()
        assert r.content_type == "text/plain"
        return {f.name: f for f in text_string_to_metric_families(await r.text())}


def value(family: Any, sample: str, **labels: str) -> float:
    return sum(
        float(s.value)
        for s in family.samples
        if s.name == sample and all(s.labels.get(k) == v for k, v in labels.items())
    )


async def test_requests_and_every_process_figures_are_there(
    cluster: Cluster, tmp_path: Path
) -> None:
    acme = cluster.keys.headers("acme")
    await cluster.open_budget("acme", "b1", 1_000)
    before = await scrape(cluster)
    route = "/api/v1/budgets/{budget_id}"
    earlier = before.get("perkbus_http_requests")
    seen = value(earlier, "perkbus_http_requests_total", route=route) if earlier else 0.0
    for budget in ("b1", "b1", "nope"):
        async with cluster.client.get(f"/api/v1/budgets/{budget}", headers=acme) as r:
            assert r.status in (200, 404)
    store = SqliteWebhookStore(str(tmp_path / "webhooks.sqlite3"))
    async with webhook_relay(cluster.bus, store):
        after = await scrape(cluster)
    await store.close()
    requests = after["perkbus_http_requests"]
    ok = value(requests, "perkbus_http_requests_total", route=route, method="GET", status="200")
    missing = value(requests, "perkbus_http_requests_total", route=route, status="404")
    assert (ok, missing) == (2.0, 1.0)
    assert ok + missing == value(requests, "perkbus_http_requests_total", route=route) - seen
    seconds = after["perkbus_http_request_seconds"]
    assert value(seconds, "perkbus_http_request_seconds_count", route=route) == 3.0
    # one series per route, never per path: the ids asked for name no series
    assert not [s for s in requests.samples if "nope" in s.labels["route"]]
    # the actor host and the relay answered too, each as itself
    roles = {s.labels["role"] for f in after.values() for s in f.samples}
    assert roles == {"edge", "actor-host", "webhooks"}
    commits = after["perkbus_group_commits"]
    assert value(commits, "perkbus_group_commits_total", role="actor-host") >= 1
    assert value(after["perkbus_actors_active"], "perkbus_actors_active") >= 1
    assert value(after["perkbus_group_commit_seconds"], "perkbus_group_commit_seconds_count") >= 1
    assert "perkbus_webhook_attempts" in after


async def test_from_elsewhere_only_with_the_token(
    nats_server: EmbeddedNats, ledger: Ledger, catalogue: CatalogueStore, keys: Keys
) -> None:
    # the test client is on this machine: as a proxy in front of the edge (on this machine
    # too, so its peer address is loopback) it forwards the public's requests
    config = EdgeConfig(rate_per_s=0, trusted_proxies="127.0.0.1", metrics_token="m-secret")
    async for cluster in start_cluster(nats_server, ledger, catalogue, keys, edge=config):
        elsewhere = {"X-Forwarded-For": "203.0.113.9"}
        for headers in (
            elsewhere,
            {**elsewhere, "Authorization": "Bearer wrong"},
            {"X-Forwarded-For": "127.0.0.1"},  # naming this machine changes nothing
            {"Forwarded": "for=127.0.0.1"},
            {"X-Real-IP": "::1"},
        ):
            async with cluster.client.get("/metrics", headers=headers) as r:
                assert r.status == 404
                assert r.content_type == "application/problem+json"
        token = {**elsewhere, "Authorization": "Bearer m-secret"}
        assert "perkbus_actors_active" in await scrape(cluster, token)
        assert "perkbus_actors_active" in await scrape(cluster)  # this machine: as before
