"""REST resources for webhooks (scope ``webhooks:admin``, the whole tenant; ADR 37).

An endpoint's secret appears once, in the answer that creates or rotates it: those
answers are marked ``Cache-Control: no-store``. A delivery is read, and sent again,
under its endpoint's path."""

from __future__ import annotations

from aiohttp import web

from bus.errors import ErrorCode
from bus.messages import Err
from edge import webhook_operations as ops
from edge.http import ProblemResponse, answer, caller, read_json, read_optional_json, read_query
from edge.problems import from_error

routes = web.RouteTableDef()


def _delivery_id(request: web.Request) -> int:
    raw = request.match_info["delivery_id"]
    if not (raw.isascii() and raw.isdigit()) or len(raw) > 18 or int(raw) < 1:
        raise ProblemResponse(
            from_error(ErrorCode.NOT_FOUND, "no webhook delivery has that id", False, request.path)
        )
    return int(raw)


def _secret_answer(request: web.Request, result: ops.WebhookOut | Err, status: int) -> web.Response:
    response = answer(request, result, status=status)
    response.headers["Cache-Control"] = "no-store"
    return response


@routes.post("/api/v1/webhooks")
async def create(request: web.Request) -> web.Response:
    who = caller(request)
    result = await ops.create_webhook(who, await read_json(request, ops.WebhookIn))
    response = _secret_answer(request, result, 201)
    if not isinstance(result, Err):
        response.headers["Location"] = f"/api/v1/webhooks/{result.id}"
    return response


@routes.get("/api/v1/webhooks")
async def list_all(request: web.Request) -> web.Response:
    return answer(request, await ops.list_webhooks(caller(request)))


@routes.get("/api/v1/webhooks/{webhook_id}")
async def get_one(request: web.Request) -> web.Response:
    return answer(request, await ops.get_webhook(caller(request), request.match_info["webhook_id"]))


@routes.patch("/api/v1/webhooks/{webhook_id}")
async def update(request: web.Request) -> web.Response:
    who = caller(request)
    data = await read_json(request, ops.WebhookPatchIn)
    return answer(request, await ops.update_webhook(who, request.match_info["webhook_id"], data))


@routes.delete("/api/v1/webhooks/{webhook_id}")
async def delete(request: web.Request) -> web.Response:
    who = caller(request)
    return answer(request, await ops.delete_webhook(who, request.match_info["webhook_id"]))


@routes.post("/api/v1/webhooks/{webhook_id}/secret")
async def rotate_secret(request: web.Request) -> web.Response:
    who = caller(request)
    # the body is optional: no body keeps the old secret signing for a day
    data = await read_optional_json(request, ops.RotateSecretIn, ops.RotateSecretIn())
    result = await ops.rotate_webhook_secret(who, request.match_info["webhook_id"], data)
    return _secret_answer(request, result, 200)


@routes.post("/api/v1/webhooks/{webhook_id}/test")
async def send_test(request: web.Request) -> web.Response:
    who = caller(request)
    result = await ops.send_test_event(who, request.match_info["webhook_id"])
    return answer(request, result, status=202)


@routes.get("/api/v1/webhooks/{webhook_id}/deliveries")
async def deliveries(request: web.Request) -> web.Response:
    who = caller(request)
    query = read_query(request, ops.DeliveriesQuery)
    return answer(request, await ops.list_deliveries(who, request.match_info["webhook_id"], query))


@routes.get("/api/v1/webhooks/{webhook_id}/deliveries/{delivery_id}")
async def delivery(request: web.Request) -> web.Response:
    who = caller(request)
    endpoint_id, delivery_id = request.match_info["webhook_id"], _delivery_id(request)
    return answer(request, await ops.get_delivery(who, endpoint_id, delivery_id))


@routes.post("/api/v1/webhooks/{webhook_id}/deliveries/{delivery_id}/redeliver")
async def redeliver(request: web.Request) -> web.Response:
    who = caller(request)
    endpoint_id, delivery_id = request.match_info["webhook_id"], _delivery_id(request)
    return answer(request, await ops.redeliver(who, endpoint_id, delivery_id), status=202)
