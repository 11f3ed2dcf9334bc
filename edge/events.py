"""Events for integrators over HTTP: the JSON Schema of every event type, and replay of
the tenant's events from any point of the stream (NATS subscribers read the same
stream, ``pb.evt.<tenant>.>``)."""

from __future__ import annotations

from typing import Annotated

import msgspec
from aiohttp import web

from bus.errors import ErrorCode
from bus.event_types import EVENT_TYPES, schema
from bus.events import read_events
from bus.messages import Err
from edge.http import BUS, IDENTITY, ProblemResponse, answer, caller, invalid, json_response
from edge.operations import SCOPE_EVENTS, missing_scope
from edge.problems import problem
from edge.validation import Invalid, convert

routes = web.RouteTableDef()


class ReplayQuery(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    #: The stream sequence to start after (0: from the beginning); a page's ``next_after``.
    after: Annotated[int, msgspec.Meta(ge=0)] = 0
    limit: Annotated[int, msgspec.Meta(ge=1, le=1000)] = 100


class ReplayPage(msgspec.Struct, frozen=True):
    events: list[msgspec.Raw]
    sequences: list[int]
    next_after: int


@routes.get("/api/v1/events/schemas")
async def list_schemas(request: web.Request) -> web.Response:
    return json_response({"types": {t: f"/api/v1/events/schemas/{t}" for t in sorted(EVENT_TYPES)}})


@routes.get("/api/v1/events/schemas/{event_type}")
async def get_schema(request: web.Request) -> web.Response:
    found = schema(request.match_info["event_type"])
    if found is None:
        raise ProblemResponse(problem(404, "not_found", "no event has that type"))
    return web.Response(body=msgspec.json.encode(found), content_type="application/schema+json")


@routes.get("/api/v1/events")
async def replay(request: web.Request) -> web.Response:
    who = caller(request)
    if denied := missing_scope(who, SCOPE_EVENTS):
        return answer(request, denied)
    try:
        query = convert(dict(request.query), ReplayQuery, strict=False)
    except Invalid as e:
        raise ProblemResponse(invalid(e)) from e
    tenant = request[IDENTITY].tenant
    try:
        stored = await read_events(request.app[BUS].js, tenant, query.after, query.limit)
    except Exception as e:  # the stream is not reachable: retry later
        return answer(request, Err.of(ErrorCode.UNAVAILABLE, f"events unavailable: {e}"))
    next_after = stored[-1].sequence if stored else query.after
    page = ReplayPage([e.payload for e in stored], [e.sequence for e in stored], next_after)
    return json_response(page)
