"""The edge application: routes, middleware, and the bus connection's lifetime.

Resources live under ``web.AppKey`` and are opened in ``cleanup_ctx``; nothing is global.
"""

from __future__ import annotations

import logging
import math
import ssl
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

from aiohttp import web
from nats.aio.msg import Msg

from bus import subjects
from bus.barrier import barrier
from bus.client import Bus
from bus.messages import Err
from edge import (
    budgets,
    bulk,
    catalogue,
    clients,
    config_operations,
    cors,
    embed_frame,
    events,
    funding,
    fx,
    graphql,
    health,
    metrics,
    oauth,
    openapi,
    orders,
    orders_export,
    password_links,
    people,
    reports,
    rewards,
    sessions,
    sso,
    sso_sessions,
    static,
    tenant_config,
    vouchers,
    webhooks,
)
from edge.auth import Identity, TokenVerifier, Unauthenticated, UnknownKey
from edge.cache import Cache
from edge.caches import EdgeCaches
from edge.client_address import Network, client_address, trusted_networks
from edge.config import EdgeConfig
from edge.http import (
    BUS,
    CACHES,
    CONFIG,
    IDENTITY,
    IN_FLIGHT,
    LIMITER,
    REFUSALS,
    TRUSTED_PROXIES,
    ProblemResponse,
)
from edge.openapi_paths import required_scopes
from edge.operations import KeysInFlight
from edge.problems import problem
from edge.ratelimit import RateLimiter, ResilientLimiter
from edge.refusals import RefusalRecorder
from edge.revocations import Revocations

log = logging.getLogger(__name__)

VERIFIER = web.AppKey("verifier", TokenVerifier)
SCOPES = web.AppKey("scopes", dict[tuple[str, str], str])
REVOCATIONS = web.AppKey("revocations", Revocations)
PUBLIC_PATHS = frozenset({"/healthz", "/readyz", "/api/v1/openapi.json"}) | oauth.OAUTH_PUBLIC

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@web.middleware
async def problems_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Every error leaves as problem+json; nothing internal leaks into it.

    Bytes that aiohttp's HTTP parser cannot read as a request at all (a header line
    without a colon, a line over 8 KiB, a broken chunk size) never reach the app:
    aiohttp answers them with a plain-text 400 and closes the connection. There is no
    request to give problem details for, and changing that answer would mean replacing
    aiohttp's connection handler, which is not a public API."""
    try:
        return await handler(request)
    except ProblemResponse as e:
        return e.response
    except web.HTTPException as e:
        if e.status < 400:
            raise
        code = {
            404: "not_found",
            405: "method_not_allowed",
            413: "payload_too_large",
        }.get(e.status, "invalid_request")
        headers = {"Allow": e.headers["Allow"]} if "Allow" in e.headers else None
        return problem(e.status, code, e.reason, instance=request.path, headers=headers)
    except Exception:
        log.exception("unhandled error on %s %s", request.method, request.path)
        return problem(500, "internal", "an internal error occurred", instance=request.path)


@web.middleware
async def preflight_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """CORS preflights of the API are answered here, before any token is asked for (a
    browser sends none with them): ``edge.cors``."""
    if request.method == "OPTIONS" and "Access-Control-Request-Method" in request.headers:
        origin = cors.cross_origin(request, request.app[CONFIG].public_url)
        if origin is not None:
            # one naming a tenant may wake that tenant's actor: limited by address
            if cors.path_tenant(request.path) is not None and (
                limited := await _limit(request, f"ip:{_address(request)}")
            ):
                return limited
            return await cors.preflight(request, request.app[cors.EMBED_ORIGINS], origin)
    return await handler(request)


async def _cors_headers(request: web.Request, response: web.StreamResponse) -> None:
    """Let an embedding page read the response if the request's tenant lists it."""
    if request.method == "OPTIONS" and "Access-Control-Request-Method" in request.headers:
        return  # a preflight: answered whole by the preflight middleware
    config = request.app[CONFIG]
    origin = cors.cross_origin(request, config.public_url)
    if origin is None:
        if cors.is_cross_origin_api(request.path):
            cors.vary(response, "Origin")
        return
    identity = request.get(IDENTITY)
    tenant, by_header = cors.request_tenant(request, identity.tenant if identity else None)
    if by_header and config.rate_per_s > 0:
        # Only a header named it, on a request nothing else limits (no token): each new
        # name may cost a question to the tenant's actor, so it counts against the
        # address's bucket, and past it the answer simply stays unreadable.
        key = f"ip:{_address(request)}"
        if await request.app[LIMITER].take(key, config.rate_per_s, config.rate_burst) > 0:
            tenant = None
    await cors.allow_if_listed(response, request.app[cors.EMBED_ORIGINS], origin, tenant)


def _needs_token(path: str) -> bool:
    return (path.startswith("/api/") or path in ("/graphql", sessions.ME_PATH)) and (
        path not in PUBLIC_PATHS and not tenant_config.is_public(path)
    )


@web.middleware
async def auth_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    if _needs_token(request.path):
        authorization = request.headers.get("Authorization")
        cookie = None if authorization else sessions.access_cookie(request)
        if cookie is not None:
            authorization = f"Bearer {cookie}"
        try:
            try:
                request[IDENTITY] = request.app[VERIFIER].verify(authorization)
            except UnknownKey as e:  # a key the hosts made since this edge last looked
                if not await request.app[oauth.KEYS].refresh(request.app[BUS], e.kid):
                    raise
                request[IDENTITY] = request.app[VERIFIER].verify(authorization)
        except Unauthenticated as e:
            return problem(
                401,
                "unauthenticated",
                str(e),
                instance=request.path,
                headers={"WWW-Authenticate": 'Bearer realm="perkbus"'},
            )
        identity = request[IDENTITY]
        if revoked := request.app[REVOCATIONS].refuses(identity):
            return problem(
                401,
                "unauthenticated",
                revoked,
                instance=request.path,
                headers={"WWW-Authenticate": 'Bearer realm="perkbus", error="invalid_token"'},
            )
        if cookie is not None and (refused := sessions.csrf_refusal(request, cookie)):
            _record(request, identity, "no CSRF token on a cookie session")
            return refused
        limited = await _limit(request, f"p:{identity.tenant}:{identity.principal.subject}")
        if limited is not None:
            return limited
        resource = request.match_info.route.resource
        path = resource.canonical if resource is not None else request.path
        scope = request.app[SCOPES].get((request.method, path))
        if scope is not None and not identity.has_scope(scope):  # before the body is read
            _record(request, identity, identity.why_not(scope))
            return problem(403, "forbidden", identity.why_not(scope), instance=request.path)
    elif request.path == oauth.TOKEN_PATH or sessions.signs_in(request.path):
        # a bucket of its own: one shared with the general limit would be refilled at
        # that limit's rate by a public read before each guess
        limited = await _limit(request, f"ip-auth:{_address(request)}", token_endpoint=True)
    elif tenant_config.is_public(request.path) or request.path.startswith(embed_frame.PREFIX):
        # no token, a tenant named in the path: each new name may wake an actor
        limited = await _limit(request, f"ip:{_address(request)}")
    else:
        limited = None
    if limited is not None:
        return limited
    return await handler(request)


def _address(request: web.Request) -> str:
    """The client's address, behind the proxies the operator trusts."""
    trusted: tuple[Network, ...] = request.app[TRUSTED_PROXIES]
    return client_address(request, trusted)


def _record(request: web.Request, identity: Identity, why: str) -> None:
    request.app[REFUSALS].record(
        request.app[BUS],
        identity.tenant,
        identity.principal.subject,
        f"{request.method} {request.path}",
        why,
    )


async def _limit(
    request: web.Request, key: str, token_endpoint: bool = False
) -> web.Response | None:
    """429 with Retry-After once the caller's bucket is empty (ADR 15)."""
    config = request.app[CONFIG]
    rate, burst = (
        (config.token_rate_per_s, config.token_rate_burst)
        if token_endpoint
        else (config.rate_per_s, config.rate_burst)
    )
    if rate <= 0:
        return None
    wait = await request.app[LIMITER].take(key, rate, burst)
    if wait <= 0:
        return None
    return problem(
        429,
        "rate_limited",
        f"more than {rate:g} requests per second (bursts of {burst}); retry later",
        retryable=True,
        instance=request.path,
        headers={"Retry-After": str(max(1, math.ceil(wait)))},
    )


_SECURITY_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cross-Origin-Opener-Policy": "same-origin",
    "Permissions-Policy": "camera=(), microphone=(), geolocation=(), payment=()",
}
_API_CSP = "default-src 'none'; frame-ancestors 'none'"
_APP_CSP = (
    "default-src 'self'; img-src 'self' data: https:; style-src 'self' 'unsafe-inline';"
    " connect-src 'self'; frame-ancestors 'none'; base-uri 'self'; form-action 'self'"
)


async def _security_headers(request: web.Request, response: web.StreamResponse) -> None:
    """On every response, errors included: no sniffing, no framing, no referrers, no
    software versions (aiohttp would name itself and Python's); HSTS when the browser
    reached us over TLS (this edge's, or a proxy's in front of it: ``sessions.over_tls``)."""
    response.headers["Server"] = "perkbus"
    for name, value in _SECURITY_HEADERS.items():
        response.headers.setdefault(name, value)
    is_api = request.path.startswith(("/api/", "/graphql", "/oauth/", "/.well-known/", "/auth/"))
    response.headers.setdefault("Content-Security-Policy", _API_CSP if is_api else _APP_CSP)
    if is_api and IDENTITY in request:
        # what a token or a session was needed for is kept by no cache, the browser's own
        # included: after sign-out, nobody at the same device reads it back
        response.headers.setdefault("Cache-Control", "no-store")
    if sessions.over_tls(request):
        response.headers.setdefault("Strict-Transport-Security", "max-age=63072000")


def tls_context(config: EdgeConfig) -> ssl.SSLContext | None:
    """The server TLS context when a certificate is configured (TLS 1.2 at least)."""
    if not (config.tls_cert_file and config.tls_key_file):
        return None
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.load_cert_chain(config.tls_cert_file, config.tls_key_file)
    return context


def create_app(
    config: EdgeConfig,
    nats_url: str,
    verifier: TokenVerifier,
    shared_limiter: RateLimiter | None = None,
    nats_credentials: str | Path | None = None,
    nats_tls: ssl.SSLContext | None = None,
    shared_cache: Cache | None = None,
) -> web.Application:
    """The edge; ``shared_limiter`` and ``shared_cache`` are Redis's (given by the
    composition root) or None for this process's own."""
    app = web.Application(
        client_max_size=config.max_body_bytes,
        middlewares=[
            metrics.metrics_middleware,
            preflight_middleware,
            problems_middleware,
            auth_middleware,
        ],
    )
    app.on_response_prepare.append(_security_headers)
    app.on_response_prepare.append(_cors_headers)
    app[CONFIG] = config
    app[metrics.METRICS] = metrics.EdgeMetrics()
    app[LIMITER] = ResilientLimiter(shared_limiter)
    app[CACHES] = EdgeCaches.build(config, shared_cache)
    app[SCOPES] = required_scopes()
    app[VERIFIER] = verifier
    app[IN_FLIGHT] = KeysInFlight()
    app[REFUSALS] = RefusalRecorder(config.request_timeout_s)
    app[REVOCATIONS] = Revocations(config.revocation_window_s)
    app[TRUSTED_PROXIES] = trusted_networks(config.trusted_proxies)
    app[oauth.KEYS] = oauth.PublishedKeys(verifier)

    async def allowed_origins(tenant: str) -> tuple[str, ...] | None:
        """A tenant's embed origins, from its public profile (None: ask again later)."""
        found = await config_operations.public_profile(app[BUS], config.request_timeout_s, tenant)
        if isinstance(found, Err):
            return None if found.retryable else ()
        return tuple(found.allowed_origins)

    app[cors.EMBED_ORIGINS] = cors.EmbedOrigins(allowed_origins, config.embed_origins_ttl_s)

    async def bus_context(app: web.Application) -> AsyncIterator[None]:
        app[BUS] = await Bus.connect(nats_url, "perkbus-edge", nats_credentials, nats_tls)
        await app[oauth.KEYS].refresh(app[BUS])  # no host yet: fetched on first need
        pages = app[CACHES].pages

        async def catalogue_changed(msg: Msg) -> None:
            await pages.heard(msg.data)

        await app[BUS].nc.subscribe(subjects.CATALOGUE_CHANGED, cb=catalogue_changed)
        await app[BUS].answer_metrics("edge", metrics.PROCESS, app[metrics.METRICS].families)
        await barrier(app[BUS].nc)  # before the first request: no change goes unheard
        app[REVOCATIONS].start(app[BUS].js)
        yield
        await app[REVOCATIONS].stop()
        await app[REFUSALS].drain()
        await app[BUS].close()
        await app[CACHES].cache.close()

    app.cleanup_ctx.append(bus_context)
    app.add_routes(health.routes)
    app.add_routes(metrics.routes)
    app.add_routes(openapi.routes)
    app.add_routes(budgets.routes)
    app.add_routes(rewards.routes)
    app.add_routes(catalogue.routes)
    app.add_routes(vouchers.routes)
    app.add_routes(orders_export.routes)  # before orders': "export" is not an order's id
    app.add_routes(orders.routes)
    app.add_routes(events.routes)
    app.add_routes(bulk.routes)
    app.add_routes(fx.routes)
    app.add_routes(funding.routes)
    app.add_routes(reports.routes)
    app.add_routes(oauth.routes)
    app.add_routes(clients.routes)
    app.add_routes(people.routes)
    app.add_routes(sessions.routes)
    app.add_routes(password_links.routes)
    app.add_routes(tenant_config.routes)
    app.add_routes(webhooks.routes)
    sso.add_sso_routes(
        app,
        sso_sessions.BusSsoDirectory(app),
        sso_sessions.start_session,
        state_key=sso_sessions.state_key(config.sso_state_key_file),
        public_url=config.public_url or None,
    )
    app.router.add_route("POST", "/graphql", graphql.view())
    app.add_routes(embed_frame.routes)
    static.add_routes(app)
    return app
