"""``GET /metrics``: every process's metrics in the Prometheus text format (ADR 40).

The edge counts its requests (by method, route and status) and times them (by route); it
answers ``pb.sys.metrics`` with them, as the actor hosts and the webhook relay do with
theirs. ``/metrics`` asks them all and writes what arrives within a quarter of a second,
each sample labelled with its ``process`` and ``role``: one scrape of any edge covers the
installation (scraping several edges gets the same figures from each).

It answers requests made on this machine straight to the edge (a loopback peer and no
forwarding header: a proxy on the same machine forwards the public's requests from
loopback too); any other only with the bearer token set as ``PERKBUS_EDGE_METRICS_TOKEN``
(a path the public reaches must not show the installation's insides), and to others it is
not there (404).
"""

from __future__ import annotations

import hmac
import ipaddress
import logging
import os
import socket
import time

from aiohttp import web
from aiohttp.typedefs import Handler

from bus.metrics import Counter, Family, Histogram, MetricsSnapshot, render
from edge.http import BUS, CONFIG
from edge.problems import problem

routes = web.RouteTableDef()
log = logging.getLogger(__name__)

#: How long ``/metrics`` waits for the processes' answers.
GATHER_S = 0.25
PROCESS = f"edge-{socket.gethostname()}-{os.getpid()}"


class EdgeMetrics:
    def __init__(self) -> None:
        self.requests = Counter(
            "perkbus_http_requests", "HTTP requests answered.", ("method", "route", "status")
        )
        self.seconds = Histogram(
            "perkbus_http_request_seconds", "Time to answer an HTTP request.", ("route",)
        )

    def families(self) -> list[Family]:
        return [self.requests.family(), self.seconds.family()]

    def snapshot(self) -> MetricsSnapshot:
        return MetricsSnapshot(PROCESS, "edge", tuple(self.families()))


METRICS = web.AppKey("metrics", EdgeMetrics)


def _route(request: web.Request) -> str:
    """The route's template (``/api/v1/orders/{order_id}``), never the path itself: a
    path per order would make a series per order."""
    resource = request.match_info.route.resource
    return resource.canonical if resource is not None else "unmatched"


#: Methods counted by name; any other (aiohttp's parser passes some) as ``OTHER``, so that
#: no client makes series at will.
METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})


@web.middleware
async def metrics_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    started = time.perf_counter()
    status = 500
    try:
        response = await handler(request)
        status = response.status
        return response
    except web.HTTPException as e:
        status = e.status
        raise
    finally:
        route = _route(request)
        metrics = request.app[METRICS]
        method = request.method if request.method in METHODS else "OTHER"
        metrics.requests.inc(method, route, str(status))
        metrics.seconds.observe(time.perf_counter() - started, route)


#: Headers a proxy adds to what it forwards: with one, the request is not this machine's.
FORWARDED = ("X-Forwarded-For", "Forwarded", "X-Real-IP")


def _allowed(request: web.Request) -> bool:
    token = request.app[CONFIG].metrics_token
    if token:
        given = request.headers.get("Authorization", "").encode("utf-8", "surrogateescape")
        if hmac.compare_digest(given, f"Bearer {token}".encode()):
            return True
    if any(h in request.headers for h in FORWARDED):
        return False  # whoever it names, a proxy (on this machine or not) forwarded it
    peer = request.transport.get_extra_info("peername") if request.transport else None
    try:
        return peer is not None and ipaddress.ip_address(peer[0]).is_loopback
    except ValueError:
        return False


@routes.get("/metrics")
async def metrics(request: web.Request) -> web.Response:
    if not _allowed(request):
        return problem(404, "not_found", "Not Found", instance=request.path)
    own = request.app[METRICS].snapshot()  # its own, even when the bus is away
    try:
        others = await request.app[BUS].gather_metrics(GATHER_S)
    except Exception as e:  # what it knows, and that the rest is missing
        log.warning("metrics not gathered: %s", e)
        others = []
    snapshots = [own, *(s for s in others if s.process != PROCESS)]
    return web.Response(
        text=render(sorted(snapshots, key=lambda s: (s.role, s.process))),
        content_type="text/plain",
        charset="utf-8",
        headers={"Cache-Control": "no-store"},
    )
