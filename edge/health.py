"""Liveness (``/healthz``: the process answers) and readiness (``/readyz``: NATS is
connected and an actor host answers with all its essential stores reachable; ``degraded``,
still ready, when a store it can do without, such as search, is not)."""

from __future__ import annotations

import msgspec
from aiohttp import web

from bus.errors import BusError
from edge.http import BUS, json_response

routes = web.RouteTableDef()


@routes.get("/healthz")
async def healthz(request: web.Request) -> web.Response:
    return json_response({"status": "ok"})


@routes.get("/readyz")
async def readyz(request: web.Request) -> web.Response:
    bus = request.app[BUS]
    report: dict[str, object] = {"nats": "connected" if bus.connected else "disconnected"}
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
    report.setdefault("status", "ready" if ready else "not ready")
    return json_response(report, status=200 if ready else 503)
