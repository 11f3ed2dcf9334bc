"""Events for integrators over HTTP: the JSON Schema of every event type, and replay of
the tenant's events from any point of the stream (NATS subscribers read the same
stream, ``pb.evt.<tenant>.>``)."""

from __future__ import annotations

import msgspec
from aiohttp import web

from bus.event_types import EVENT_TYPES, schema
from edge import operations
from edge.http import ProblemResponse, answer, caller, json_response, read_query
from edge.problems import problem
from edge.schemas import AuditQuery, ReplayQuery

routes = web.RouteTableDef()


@routes.get("/api/v1/events/schemas")
async def list_schemas(request: web.Request) -> web.Response:
    return json_response({"types": {t: f"/api/v1/events/schemas/{t}" for t in sorted(EVENT_TYPES)}})


@routes.get("/api/v1/events/schemas/{event_type}")
async def get_schema(request: web.Request) -> web.Response:
    found = schema(request.match_info["event_type"])
    if found is None:
        raise ProblemResponse(problem(404, "not_found", "no event has that type"))
    return web.Response(body=msgspec.json.encode(found), content_type="application/schema+json")


@routes.get("/api/v1/audit")
async def read_audit(request: web.Request) -> web.Response:
    """The tenant's audit log (ADR 16): a page of entries after ``after``."""
    who = caller(request)
    query = read_query(request, AuditQuery)
    return answer(request, await operations.read_audit(who, query))


@routes.get("/api/v1/events")
async def replay(request: web.Request) -> web.Response:
    who = caller(request)
    query = read_query(request, ReplayQuery)
    return answer(request, await operations.replay_events(who, query))
