"""REST resources for the tenant's exchange rates and points rate (each locked into the
orders that use it)."""

from __future__ import annotations

from aiohttp import web

from edge import operations
from edge.http import answer, caller, read_json
from edge.schemas import FxRateIn, PointsRateIn

routes = web.RouteTableDef()


@routes.get("/api/v1/fx")
async def get_rates(request: web.Request) -> web.Response:
    return answer(request, await operations.get_fx_rates(caller(request)))


@routes.put("/api/v1/fx/{base}/{quote}")
async def set_rate(request: web.Request) -> web.Response:
    who = caller(request)
    body = await read_json(request, FxRateIn)
    info = request.match_info
    return answer(request, await operations.set_fx_rate(who, info["base"], info["quote"], body))


@routes.get("/api/v1/points-rate")
async def get_points_rate(request: web.Request) -> web.Response:
    return answer(request, await operations.get_points_rate(caller(request)))


@routes.put("/api/v1/points-rate")
async def set_points_rate(request: web.Request) -> web.Response:
    who = caller(request)
    body = await read_json(request, PointsRateIn)
    return answer(request, await operations.set_points_rate(who, body))
