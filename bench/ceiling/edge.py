"""The ceiling's edge: decode the order, one NATS request to the tenant's subject, map
the reply to HTTP. No token, no idempotency key: the tenant comes from ``X-Tenant``."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import msgspec
import nats
from aiohttp import web
from nats.aio.client import Client

from bench.ceiling.messages import Placed, PlaceOrder, Reply, order_subject
from edge.listening import ListenSite


class OrderIn(msgspec.Struct, frozen=True):
    product_id: str
    face_value_minor: int
    recipient: str
    budget_id: str = ""


NATS = web.AppKey("nats", Client)
_decode_body = msgspec.json.Decoder(OrderIn).decode
_decode_reply = msgspec.msgpack.Decoder(Reply).decode
_encode = msgspec.msgpack.Encoder().encode
_json = msgspec.json.Encoder().encode


async def place_order(request: web.Request) -> web.Response:
    try:
        body = _decode_body(await request.read())
    except msgspec.ValidationError as e:
        return web.json_response({"code": "invalid_request", "detail": str(e)}, status=422)
    except msgspec.DecodeError:
        return web.json_response({"code": "malformed_body"}, status=400)
    tenant = request.headers.get("X-Tenant", "default")
    order = PlaceOrder(
        tenant, body.budget_id, body.product_id, body.face_value_minor, body.recipient
    )
    try:
        msg = await request.app[NATS].request(order_subject(tenant), _encode(order), timeout=5)
    except (TimeoutError, nats.errors.NoRespondersError):
        return web.json_response({"code": "unavailable"}, status=503)
    reply = _decode_reply(msg.data)
    if not isinstance(reply, Placed):
        return web.json_response({"code": "commit_failed", "detail": reply.reason}, status=500)
    out = {"id": reply.order_id, "status": "fulfilled"}
    return web.Response(body=_json(out), status=201, content_type="application/json")


def create_app(nats_url: str) -> web.Application:
    async def connect(app: web.Application) -> AsyncIterator[None]:
        app[NATS] = await nats.connect(nats_url, name="ceiling-edge")
        yield
        await app[NATS].drain()

    app = web.Application()
    app.cleanup_ctx.append(connect)
    app.router.add_post("/api/v1/orders", place_order)
    return app


async def run_edge(nats_url: str, host: str, port: int, stop: asyncio.Event) -> None:
    runner = web.AppRunner(create_app(nats_url), access_log=None)
    await runner.setup()
    await ListenSite(runner, host, port).start()  # as perkbus's edge listens
    print(f"ceiling edge on http://{host}:{port}", flush=True)
    try:
        await stop.wait()
    finally:
        await runner.cleanup()
