"""REST resources for orders: place (redeem points or order a gift card), read, and see
the voucher code, list a person's orders (operations in :mod:`edge.operations` and
:mod:`edge.history`, shared with GraphQL)."""

from __future__ import annotations

from aiohttp import web

from bus.messages import Err
from edge import history, operations
from edge.http import answer, caller, read_json, read_optional_json, read_query
from edge.schemas import CancelOrderIn, PlaceOrderIn, ReviewOrderIn

routes = web.RouteTableDef()


@routes.post("/api/v1/orders")
async def place_order(request: web.Request) -> web.Response:
    who = caller(request)
    result = await operations.place_order(who, await read_json(request, PlaceOrderIn))
    # 201 once fulfilled or failed; 202 while an order of an earlier version is carried on.
    status = 202 if not isinstance(result, Err) and result.status in ("accepted", "paid") else 201
    response = answer(request, result, status=status)
    if not isinstance(result, Err):
        response.headers["Location"] = f"/api/v1/orders/{result.id}"
    return response


@routes.get("/api/v1/orders")
async def list_orders(request: web.Request) -> web.Response:
    who = caller(request)
    query = read_query(request, history.OrdersQuery)
    response = answer(request, await history.list_orders(who, query))
    return response


@routes.get("/api/v1/orders/{order_id}")
async def get_order(request: web.Request) -> web.Response:
    result = await operations.get_order(caller(request), request.match_info["order_id"])
    return answer(request, result)


@routes.get("/api/v1/orders/{order_id}/vouchers")
async def order_codes(request: web.Request) -> web.Response:
    result = await operations.order_codes(caller(request), request.match_info["order_id"])
    response = answer(request, result)
    response.headers["Cache-Control"] = "no-store"
    return response


@routes.post("/api/v1/orders/{order_id}/cancel")
async def cancel_order(request: web.Request) -> web.Response:
    who = caller(request)
    body = await read_optional_json(request, CancelOrderIn, CancelOrderIn())
    result = await operations.cancel_order(who, request.match_info["order_id"], body.reason)
    return answer(request, result)


@routes.post("/api/v1/orders/{order_id}/review")
async def review_order(request: web.Request) -> web.Response:
    who = caller(request)
    body = await read_json(request, ReviewOrderIn)
    order_id = request.match_info["order_id"]
    result = await operations.review_order(who, order_id, body.approve, body.note)
    return answer(request, result)


@routes.post("/api/v1/orders/{order_id}/resend")
async def resend_order(request: web.Request) -> web.Response:
    result = await operations.resend_order(caller(request), request.match_info["order_id"])
    return answer(request, result)
