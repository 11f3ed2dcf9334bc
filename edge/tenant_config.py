"""REST resources for a tenant's configuration documents (operations in
:mod:`edge.config_operations`, shared with GraphQL).

``GET /api/v1/tenant/config/<name>`` answers the document with its revision as a strong
``ETag``; ``PUT`` replaces it only with ``If-Match: "<revision read>"`` (or creates it with
``If-None-Match: *``): a write without either is refused with 428, one over a revision that
is no longer current with 412 — and changes nothing. The public profile of a tenant
(``GET /api/v1/tenants/<tenant>/branding``) needs no token.
"""

from __future__ import annotations

import hashlib
import re

import msgspec
from aiohttp import web

from bus.messages import Err
from bus.messages.tenant_config import DOCUMENT_NAMES, DOCUMENT_TYPES, DocumentName, DocumentView
from edge import config_operations as ops
from edge.cors import EMBED_ORIGINS
from edge.http import BUS, CONFIG, ProblemResponse, answer, caller, invalid, read_json
from edge.problems import from_error, problem
from edge.validation import Invalid

routes = web.RouteTableDef()

CONFIG_PATH = "/api/v1/tenant/config/{name}"
PUBLIC_PATH = "/api/v1/tenants/{tenant}/branding"
_PUBLIC = re.compile(r"/api/v1/tenants/[^/]+/branding")


def config_path(name: str) -> str:
    return CONFIG_PATH.format(name=name)


def is_public(path: str) -> bool:
    """The public profile needs no token (the auth middleware asks)."""
    return _PUBLIC.fullmatch(path) is not None


def etag(revision: str) -> str:
    return f'"{revision}"'


def _unquote(tag: str) -> str:
    tag = tag.strip().removeprefix("W/")
    return tag[1:-1] if len(tag) >= 2 and tag[0] == tag[-1] == '"' else tag


def expected_revision(request: web.Request) -> str | None:
    """The revision a write replaces (``If-Match``), or None to create (``If-None-Match:
    *``); a write that names neither is refused: it would overwrite blindly."""
    if_match = request.headers.get("If-Match", "").strip()
    if_none_match = request.headers.get("If-None-Match")
    if if_none_match is not None and (if_match or if_none_match.strip() != "*"):
        detail = "a write sends If-Match with one revision, or If-None-Match: * to create"
        raise ProblemResponse(
            problem(
                400,
                "invalid_request",
                detail,
                instance=request.path,
                errors=[{"header": "If-None-Match", "detail": detail}],
            )
        )
    if if_match and if_match != "*" and "," not in if_match:
        return _unquote(if_match)
    if if_none_match is not None:
        return None
    raise ProblemResponse(
        problem(
            428,
            "precondition_required",
            'send If-Match: "<revision>" with the ETag you read, or If-None-Match: * to '
            "create the document",
            instance=request.path,
        )
    )


def _document(request: web.Request, view: DocumentView, status: int = 200) -> web.Response:
    response = web.Response(body=view.body, status=status, content_type="application/json")
    response.headers["ETag"] = etag(view.revision)
    if status == 201:
        response.headers["Location"] = request.path
    return response


def _failed(request: web.Request, err: Err) -> ProblemResponse:
    return ProblemResponse(from_error(err.code, err.message, err.retryable, request.path))


def _handlers(name: DocumentName) -> None:
    kind = DOCUMENT_TYPES[name]
    path = config_path(name)

    @routes.get(path)
    async def get_document(request: web.Request) -> web.Response:
        revision = request.query.get("revision") or None
        result = await ops.get_document(caller(request), name, revision)
        if isinstance(result, Err):
            raise _failed(request, result)
        if _unquote(request.headers.get("If-None-Match", "")) == result.revision:
            return web.Response(status=304, headers={"ETag": etag(result.revision)})
        return _document(request, result)

    @routes.put(path)
    async def put_document(request: web.Request) -> web.Response:
        who = caller(request)
        expected = expected_revision(request)
        document = await read_json(request, kind)
        try:
            ops.readable(document)
        except Invalid as e:
            raise ProblemResponse(invalid(e)) from e
        body = msgspec.json.encode(document)
        result = await ops.put_document(who, name, body, expected)
        if name == "programme":  # its allowed origins may have changed (after an error too)
            request.app[EMBED_ORIGINS].forget(who.identity.tenant)
        if isinstance(result, Err):
            raise _failed(request, result)
        return _document(request, result, 201 if expected is None else 200)

    @routes.get(f"{path}/revisions")
    async def list_revisions(request: web.Request) -> web.Response:
        return answer(request, await ops.list_revisions(caller(request), name))


for _name in DOCUMENT_NAMES:
    _handlers(_name)


@routes.get(PUBLIC_PATH)
async def public_profile(request: web.Request) -> web.Response:
    config = request.app[CONFIG]
    tenant = request.match_info["tenant"]
    result = await ops.public_profile(request.app[BUS], config.request_timeout_s, tenant)
    if isinstance(result, Err):
        raise _failed(request, result)
    body = msgspec.json.encode(result)
    tag = etag(hashlib.sha256(body).hexdigest()[:32])
    headers = {
        "ETag": tag,
        # public data; a minute stale at most. Pages of other origins read it only if
        # the tenant lists them (edge.cors): an embed on another site fails here first.
        "Cache-Control": "public, max-age=60",
    }
    if request.headers.get("If-None-Match", "").strip() == tag:
        return web.Response(status=304, headers=headers)
    return web.Response(body=body, content_type="application/json", headers=headers)
