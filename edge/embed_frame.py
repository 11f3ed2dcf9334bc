"""The storefront as a page to frame: ``/embed/{tenant}``, for hosts that would rather
use an ``<iframe>`` than the ``<perkbus-store>`` element (ADR 28).

The page is the element on a page of the edge's own: ``embed.js`` places a
``<perkbus-store>`` for the tenant and mounts the app in it, in embedded mode (bearer
tokens in memory: a framed page of another site gets no cookies of its own). Every other
page of the app refuses to be framed (``frame-ancestors 'none'``); this one may be framed
by exactly the origins the tenant lists in its programme, and by no page when it lists
none.
"""

from __future__ import annotations

from aiohttp import web

from edge.cors import EMBED_ORIGINS, is_valid_tenant

PATH = "/embed/{tenant}"
#: Every path of the framed storefront starts so (the edge limits them by address).
PREFIX = "/embed/"

_CSP = (
    "default-src 'self'; img-src 'self' data: https:; style-src 'self' 'unsafe-inline';"
    " connect-src 'self'; base-uri 'self'; form-action 'self'; frame-ancestors {ancestors}"
)

_PAGE = """<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="referrer" content="no-referrer">
<title>Rewards</title>
<style>html, body {{ margin: 0; }}</style>
</head>
<body>
<script src="/embed.js" data-tenant="{tenant}"></script>
</body>
</html>
"""

routes = web.RouteTableDef()


def frame_ancestors(origins: frozenset[str]) -> str:
    """The CSP source list of the pages that may frame the storefront."""
    return " ".join(sorted(origins)) if origins else "'none'"


@routes.get(PATH)
async def framed_storefront(request: web.Request) -> web.Response:
    tenant = request.match_info["tenant"]
    if not is_valid_tenant(tenant):  # also all the page writes of it: no escaping needed
        raise web.HTTPNotFound()
    origins = await request.app[EMBED_ORIGINS].of(tenant)
    headers = {
        "Content-Security-Policy": _CSP.format(ancestors=frame_ancestors(origins)),
        # the origins may change: ask again on every load
        "Cache-Control": "private, no-cache",
    }
    return web.Response(
        text=_PAGE.format(tenant=tenant),
        content_type="text/html",
        charset="utf-8",
        headers=headers,
    )
