"""REST resources for a tenant's OAuth2 clients and its integrators' NATS credentials
(owner and admin, scope ``clients:admin``).

A client's secret appears once, in the answer that creates or rotates it, and so do NATS
credentials; those answers are marked ``Cache-Control: no-store``."""

from __future__ import annotations

from aiohttp import web

from bus.messages import Err
from edge import operations
from edge.http import answer, caller, read_json
from edge.schemas import ClientOut, CreateClientIn, NatsCredentialsIn, NatsCredentialsOut

routes = web.RouteTableDef()


def _secret_answer(
    request: web.Request, result: ClientOut | NatsCredentialsOut | Err, status: int
) -> web.Response:
    response = answer(request, result, status=status)
    response.headers["Cache-Control"] = "no-store"
    return response


@routes.post("/api/v1/clients")
async def create_client(request: web.Request) -> web.Response:
    who = caller(request)
    result = await operations.create_client(who, await read_json(request, CreateClientIn))
    response = _secret_answer(request, result, 201)
    if not isinstance(result, Err):
        response.headers["Location"] = f"/api/v1/clients/{result.id}"
    return response


@routes.get("/api/v1/clients")
async def list_clients(request: web.Request) -> web.Response:
    return answer(request, await operations.list_clients(caller(request)))


@routes.post("/api/v1/clients/{client_id}/secret")
async def rotate_secret(request: web.Request) -> web.Response:
    client_id = request.match_info["client_id"]
    result = await operations.rotate_client_secret(caller(request), client_id)
    return _secret_answer(request, result, 200)


@routes.delete("/api/v1/clients/{client_id}")
async def revoke(request: web.Request) -> web.Response:
    client_id = request.match_info["client_id"]
    return answer(request, await operations.revoke_client(caller(request), client_id))


@routes.post("/api/v1/nats-credentials")
async def issue_nats_credentials(request: web.Request) -> web.Response:
    data = await read_json(request, NatsCredentialsIn)
    result = await operations.issue_nats_credentials(caller(request), data)
    return _secret_answer(request, result, 201)
