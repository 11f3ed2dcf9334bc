"""The classic service's HTTP side: ``POST /api/v1/orders``, nothing else.

It does what perkbus's edge and orders actor check before an order is placed — the JWT
(perkbus's own :class:`~edge.auth.TokenVerifier`, with its cache of verified tokens), the
scopes ``orders:write`` and ``budgets:debit`` as the token's roles allow them, a role that
may spend budgets, the token's budget grants, the Idempotency-Key's form, the JSON body
(perkbus's ``PlaceOrderIn``) — then hands the order to the store's one transaction and
answers with perkbus's ``OrderOut`` or problem details.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Awaitable, Callable

import msgspec
from aiohttp import web

from actors.orders import BUDGET_SPENDERS
from bench.classic.orders import Placed, draft
from bench.classic.stores import OrderStore
from bus import acl
from bus.scopes import SCOPE_DEBIT, SCOPE_ORDERS
from edge.auth import TokenVerifier, Unauthenticated
from edge.problems import problem
from edge.schemas import PlaceOrderIn
from edge.validation import Invalid, check_idempotency_key, explain

log = logging.getLogger(__name__)

STORE = web.AppKey("store", OrderStore)
VERIFIER = web.AppKey("verifier", TokenVerifier)
ORDERS_PATH = "/api/v1/orders"
#: perkbus's edge refuses bodies over 1 MiB; an order is a few hundred bytes.
MAX_BODY_BYTES = 1024 * 1024

_decode_order = msgspec.json.Decoder(PlaceOrderIn).decode


async def place_order(request: web.Request) -> web.Response:
    try:
        identity = request.app[VERIFIER].verify(request.headers.get("Authorization"))
    except Unauthenticated as e:
        return problem(
            401,
            "unauthenticated",
            str(e),
            instance=ORDERS_PATH,
            headers={"WWW-Authenticate": 'Bearer realm="perkbus"'},
        )
    for scope in (SCOPE_ORDERS, SCOPE_DEBIT):
        if not identity.has_scope(scope):
            return problem(403, "forbidden", identity.why_not(scope), instance=ORDERS_PATH)
    principal = identity.principal
    if not BUDGET_SPENDERS.intersection(principal.roles):
        needs = "ordering from a budget needs a spending role"
        return problem(403, "forbidden", needs, instance=ORDERS_PATH)
    try:
        key = check_idempotency_key(request.headers.get("Idempotency-Key"))
    except Invalid as e:
        errors = [{"header": "Idempotency-Key", "detail": e.detail}]
        return problem(400, "invalid_request", e.detail, errors=errors)
    content_type = request.content_type
    if content_type != "application/json" and not content_type.endswith("+json"):
        return problem(415, "unsupported_media_type", f"got {content_type or 'no content type'}")
    try:
        body = _decode_order(await request.read())
    except msgspec.ValidationError as e:
        invalid = explain(e)
        errors = [{"pointer": invalid.pointer, "detail": invalid.detail}]
        return problem(
            422, "invalid_request", f"{invalid.detail} at {invalid.pointer}", errors=errors
        )
    except msgspec.DecodeError as e:
        return problem(400, "malformed_body", f"invalid JSON: {e}")
    if body.budget_id is None:
        detail = "this service orders gift cards paid from a budget: send budget_id"
        errors = [{"pointer": "#/budget_id", "detail": "required"}]
        return problem(422, "invalid_request", detail, errors=errors)
    if why := acl.refusal(principal, body):
        return problem(403, "forbidden", why, instance=ORDERS_PATH)
    order = draft(
        identity.tenant,
        principal.subject,
        key,
        body.product_id,
        body.face_value_minor,
        body.recipient,
        body.budget_id,
        body.external_id,
    )
    outcome = await request.app[STORE].place(order)
    if isinstance(outcome, Placed):
        return web.Response(
            body=outcome.body,
            status=outcome.status,
            content_type="application/json",
            headers={"Location": f"{ORDERS_PATH}/{outcome.order_id}"},
        )
    return problem(outcome.status, outcome.code, outcome.detail, instance=ORDERS_PATH)


Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@web.middleware
async def problems_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Every error leaves as problem+json, as from perkbus's edge."""
    try:
        return await handler(request)
    except web.HTTPException as e:
        if e.status < 400:
            raise
        code = {404: "not_found", 405: "method_not_allowed", 413: "payload_too_large"}
        return problem(e.status, code.get(e.status, "invalid_request"), e.reason)
    except Exception:
        log.exception("unhandled error on %s %s", request.method, request.path)
        return problem(500, "internal", "an internal error occurred", instance=request.path)


def create_app(
    store: OrderStore, verifier: TokenVerifier, create_schema: bool = True
) -> web.Application:
    """The service around ``store`` (opened here, closed on cleanup); the schema is created
    when missing unless ``create_schema`` is off."""
    app = web.Application(client_max_size=MAX_BODY_BYTES, middlewares=[problems_middleware])
    app[STORE] = store
    app[VERIFIER] = verifier

    async def store_context(app: web.Application) -> AsyncIterator[None]:
        await store.open()
        if create_schema:
            await store.create_schema()
        yield
        await store.close()

    app.cleanup_ctx.append(store_context)
    app.router.add_post(ORDERS_PATH, place_order)
    return app
