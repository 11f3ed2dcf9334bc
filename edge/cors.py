"""Cross-origin access for embedded storefronts: each tenant lists the origins that may
call the API from a browser (``allowed_origins`` of its ``programme`` document, ADR 25),
and only those get CORS headers (ADR 28).

A response to a cross-origin request gets ``Access-Control-Allow-Origin`` echoing the
origin when **the request's tenant** lists it, and nothing otherwise: the browser then
refuses the page the response. Credentials are never allowed: an embed signs in with
``"mode": "bearer"`` and keeps its tokens in memory; the session cookies stay
``SameSite=Strict`` on the app's own origin.

The request's tenant is, in order of trust:

1. the tenant of the verified bearer token (any authenticated call);
2. the tenant a public path names (``/api/v1/tenants/{tenant}/…``);
3. the tenant the request's body named, noted by its handler (sign-in's ``tenant``, the
   tenant of a refresh token);
4. the ``X-Perkbus-Tenant`` header (any other unauthenticated call).

A header never widens what a token says: with a verified token, the token's tenant
decides. A **preflight** (``OPTIONS`` with ``Access-Control-Request-Method``) carries no
token, no body and no header values, only their names; its tenant is the path's when the
path names one. Otherwise it names none, and the edge approves any origin of the form
``allowed_origins`` accepts (https, or http on localhost): approving a preflight lets
the browser *send* the request, never read its answer — that takes the actual response's
``Access-Control-Allow-Origin``, which only the tenant's listed origins get; and the
request carries only what the calling page itself holds (no cookies: credentials are
not allowed).

Each edge keeps a tenant's allowed origins for ``ttl_s`` (asked of the tenant config
actor through the public profile); a programme written through an edge ends its entry
there at once, other edges see it within ``ttl_s``.
"""

from __future__ import annotations

import asyncio
import logging
import re
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable

from aiohttp import web

from bus.messages.tenant_config import ORIGIN_PATTERN

log = logging.getLogger(__name__)

TENANT_HEADER = "X-Perkbus-Tenant"
#: The tenant a handler learnt from the body (sign-in, refresh), for the CORS decision.
BODY_TENANT = web.RequestKey("cors_tenant", str)

ALLOW_HEADERS = "Authorization, Content-Type, Idempotency-Key, X-CSRF-Token, X-Perkbus-Tenant"
ALLOW_METHODS = "GET, POST, PUT, PATCH, DELETE"
#: Response headers an embedded app may read (beyond the CORS-safelisted ones).
EXPOSE_HEADERS = "ETag, Location, Retry-After, WWW-Authenticate"
#: How long a browser may reuse a preflight's answer.
PREFLIGHT_MAX_AGE_S = 600
#: Most tenants one edge keeps the origins of (least recently used go first).
MAX_TENANTS = 10_000

_TENANT = re.compile(r"^[a-z0-9][a-z0-9_-]{0,62}$")
_ORIGIN = re.compile(ORIGIN_PATTERN)
_PATH_TENANT = re.compile(r"^/(?:api/v1/tenants|embed)/([^/]+)(?:/|$)")

#: The tenant's allowed origins; None when they could not be learnt now (not kept).
Fetch = Callable[[str], Awaitable[tuple[str, ...] | None]]


def is_cross_origin_api(path: str) -> bool:
    """The paths an embedded app calls: the API, GraphQL, sign-in and tokens."""
    return path.startswith(("/api/", "/auth/")) or path in ("/graphql", "/oauth/token")


def is_valid_tenant(tenant: str) -> bool:
    return _TENANT.fullmatch(tenant) is not None


def path_tenant(path: str) -> str | None:
    found = _PATH_TENANT.match(path)
    return found.group(1) if found and is_valid_tenant(found.group(1)) else None


def embeddable(origin: str) -> bool:
    """An origin ``allowed_origins`` could list (https, or http on localhost)."""
    return _ORIGIN.fullmatch(origin) is not None


class EmbedOrigins:
    """Each tenant's allowed origins, kept ``ttl_s``; one question at a time per tenant."""

    def __init__(self, fetch: Fetch, ttl_s: float) -> None:
        self._fetch = fetch
        self._ttl_s = ttl_s
        self._known: OrderedDict[str, tuple[float, frozenset[str]]] = OrderedDict()
        self._asking: dict[str, asyncio.Future[frozenset[str] | None]] = {}

    async def of(self, tenant: str) -> frozenset[str]:
        """The origins ``tenant`` lists (none when they cannot be learnt now)."""
        if not is_valid_tenant(tenant):
            return frozenset()
        kept = self._known.get(tenant)
        if kept is not None and kept[0] > time.monotonic():
            self._known.move_to_end(tenant)
            return kept[1]
        asking = self._asking.get(tenant)
        if asking is None:
            asking = asyncio.ensure_future(self._learn(tenant))
            self._asking[tenant] = asking
            asking.add_done_callback(lambda _: self._asking.pop(tenant, None))
        found = await asyncio.shield(asking)
        return found if found is not None else frozenset()

    async def allows(self, tenant: str, origin: str) -> bool:
        return origin in await self.of(tenant)

    def forget(self, tenant: str) -> None:
        """The tenant's programme changed (through this edge): ask again next time."""
        self._known.pop(tenant, None)

    async def _learn(self, tenant: str) -> frozenset[str] | None:
        try:
            fetched = await self._fetch(tenant)
        except Exception:  # whatever went wrong, the answer is "not now", never a 500
            log.exception("could not learn the allowed origins of %s", tenant)
            return None
        if fetched is None:
            return None
        origins = frozenset(fetched)
        if self._ttl_s > 0:
            self._known[tenant] = (time.monotonic() + self._ttl_s, origins)
            self._known.move_to_end(tenant)
            while len(self._known) > MAX_TENANTS:
                self._known.popitem(last=False)
        return origins


EMBED_ORIGINS = web.AppKey("embed_origins", EmbedOrigins)


def _own_origin(request: web.Request, public_url: str) -> str:
    if public_url:
        return public_url.rstrip("/")
    return f"{request.scheme}://{request.host}"


def vary(response: web.StreamResponse, *names: str) -> None:
    current = response.headers.get("Vary")
    if not current:  # most responses: nothing to merge with
        response.headers["Vary"] = ", ".join(dict.fromkeys(names))
        return
    present = [v.strip() for v in current.split(",") if v.strip()]
    for name in names:
        if name.lower() not in (v.lower() for v in present):
            present.append(name)
    response.headers["Vary"] = ", ".join(present)


def cross_origin(request: web.Request, public_url: str) -> str | None:
    """The calling page's origin, when it is another than the edge's own; else None."""
    origin = request.headers.get("Origin")
    if not origin or not is_cross_origin_api(request.path):
        return None
    return None if origin == _own_origin(request, public_url) else origin


async def preflight(request: web.Request, origins: EmbedOrigins, origin: str) -> web.Response:
    """The answer to a preflight: approved (see the module's docstring) or bare."""
    response = web.Response(status=204)
    vary(response, "Origin", "Access-Control-Request-Method", "Access-Control-Request-Headers")
    tenant = path_tenant(request.path)
    approved = await origins.allows(tenant, origin) if tenant is not None else embeddable(origin)
    if approved:
        response.headers["Access-Control-Allow-Origin"] = origin
        response.headers["Access-Control-Allow-Methods"] = ALLOW_METHODS
        response.headers["Access-Control-Allow-Headers"] = ALLOW_HEADERS
        response.headers["Access-Control-Max-Age"] = str(PREFLIGHT_MAX_AGE_S)
    return response


def request_tenant(request: web.Request, token_tenant: str | None) -> tuple[str | None, bool]:
    """The tenant whose origins decide an actual request (the order in the docstring),
    and whether only the ``X-Perkbus-Tenant`` header named it."""
    if token_tenant:
        return token_tenant, False
    named = path_tenant(request.path) or request.get(BODY_TENANT)
    if named:
        return named, False
    header = request.headers.get(TENANT_HEADER, "").strip()
    return (header, True) if is_valid_tenant(header) else (None, False)


async def allow_if_listed(
    response: web.StreamResponse, origins: EmbedOrigins, origin: str, tenant: str | None
) -> None:
    """Echo the origin on a response its tenant lets the page read; never credentials."""
    vary(response, "Origin")
    if tenant is None or not await origins.allows(tenant, origin):
        return
    response.headers["Access-Control-Allow-Origin"] = origin
    response.headers["Access-Control-Expose-Headers"] = EXPOSE_HEADERS
