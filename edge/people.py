"""REST resources for a tenant's people (owner and admin, scope ``people:admin``), and
for each person's own record and password."""

from __future__ import annotations

from aiohttp import web

from bus.messages import Err
from edge import people_operations as ops
from edge.http import answer, caller, read_json, read_query
from edge.schemas import CreatePersonIn, PasswordIn, PeopleQuery, SsoIn, UpdatePersonIn

routes = web.RouteTableDef()


@routes.post("/api/v1/people")
async def create_person(request: web.Request) -> web.Response:
    who = caller(request)
    result = await ops.create_person(who, await read_json(request, CreatePersonIn))
    response = answer(request, result, status=201)
    if not isinstance(result, Err):
        response.headers["Location"] = f"/api/v1/people/{result.id}"
    return response


@routes.get("/api/v1/people")
async def list_people(request: web.Request) -> web.Response:
    query = read_query(request, PeopleQuery)
    response = answer(request, await ops.list_people(caller(request), query))
    return response


@routes.get("/api/v1/people/{person_id}")
async def get_person(request: web.Request) -> web.Response:
    return answer(request, await ops.get_person(caller(request), request.match_info["person_id"]))


@routes.patch("/api/v1/people/{person_id}")
async def update_person(request: web.Request) -> web.Response:
    who = caller(request)
    data = await read_json(request, UpdatePersonIn)
    return answer(request, await ops.update_person(who, request.match_info["person_id"], data))


@routes.put("/api/v1/people/{person_id}/password")
async def set_password(request: web.Request) -> web.Response:
    who = caller(request)
    data = await read_json(request, PasswordIn)
    return answer(request, await ops.set_password(who, request.match_info["person_id"], data))


@routes.post("/api/v1/people/{person_id}/password-reset")
async def send_password_link(request: web.Request) -> web.Response:
    """Email the person a link to set their password (ADR 42): 202, it is on its way."""
    result = await ops.send_password_link(caller(request), request.match_info["person_id"])
    return answer(request, result, status=202)


@routes.put("/api/v1/sso")
async def set_sso(request: web.Request) -> web.Response:
    who = caller(request)
    return answer(request, await ops.set_sso(who, await read_json(request, SsoIn)))


@routes.get("/api/v1/sso")
async def get_sso(request: web.Request) -> web.Response:
    return answer(request, await ops.get_sso(caller(request)))


@routes.delete("/api/v1/sso")
async def remove_sso(request: web.Request) -> web.Response:
    return answer(request, await ops.remove_sso(caller(request)))
