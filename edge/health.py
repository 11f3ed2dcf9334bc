"""Liveness (``/healthz``: the process answers) and readiness (``/readyz``: NATS is
connected and an actor host answers with all its essential stores reachable; ``degraded``,
still ready, when a store it can do without, such as search, is not).

The edge's own stores (its cache and rate-limit buckets, in Redis when configured) are
reported under ``edge_stores``, but a degraded one does not make the edge unready: it
answers from its own memory meanwhile, slower or looser, never wrongly (ADR 23);
``status`` says ``degraded``.

The warehouse's store is reported too, but does not make the edge unready: no request
but a report needs it, and its loader catches up when it is back (ADR 26). So is the
webhook relay's: deliveries wait while it is away, and nothing else does (ADR 37)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import msgspec
from aiohttp import web

from bus.errors import BusError
from bus.messages.system import HostHealth
from edge.http import BUS, CACHES, LIMITER, json_response

routes = web.RouteTableDef()


@routes.get("/healthz")
async def healthz(request: web.Request) -> web.Response:
    return json_response({"status": "ok"})


@routes.get("/readyz")
async def readyz(request: web.Request) -> web.Response:
    bus = request.app[BUS]
    report: dict[str, object] = {"nats": "connected" if bus.connected else "disconnected"}
    report["edge_stores"] = {
        "cache": request.app[CACHES].cache.status,
        "rate_limits": request.app[LIMITER].status,
    }
    ready = bus.connected
    if ready:
        try:
            host = await bus.host_health(timeout_s=2.0)
        except BusError as e:
            ready = False
            report["actor_host"] = f"unavailable: {e}"
        else:
            report["actor_host"] = host.host_id
            report["stores"] = msgspec.to_builtins(host.stores)
            ready = host.ok
            if host.degraded:  # serving, without a store it can do without (search)
                report["status"] = "degraded"
        report["warehouse"] = await _side(bus.warehouse_health)
        report["webhooks"] = await _side(bus.webhooks_health)
    edge_stores = report["edge_stores"]
    if (
        ready
        and isinstance(edge_stores, dict)
        and any(str(v).startswith("degraded") for v in edge_stores.values())
    ):
        report["status"] = "degraded"
    report.setdefault("status", "ready" if ready else "not ready")
    return json_response(report, status=200 if ready else 503)


async def _side(ask: Callable[[float], Awaitable[HostHealth]]) -> object:
    """A side process's store (the warehouse's, the webhook relay's), or why not."""
    try:
        health = await ask(1.0)
    except BusError as e:
        return f"unavailable: {e}"
    return msgspec.to_builtins(health.stores)
