"""The OAuth2 endpoints: the token endpoint, the published keys, discovery metadata.

``POST /oauth/token`` is a relay: the client id (in the form, or in HTTP Basic
credentials) names the tenant, whose identity actor runs authlib's token endpoint and
answers with the response to send (ADR 14). Errors keep RFC 6749's members (``error``,
``error_description``) and are problem details too.
"""

from __future__ import annotations

import asyncio
import json
import re
import time
from typing import Any

from aiohttp import web

from bus import subjects
from bus.client import Bus
from bus.errors import BusError
from bus.messages import Err, Ok, Principal
from bus.messages.identity import (
    CLIENT_ID_PATTERN,
    KIND,
    TokenReply,
    TokenRequest,
    client_named,
    tenant_of_client,
)
from bus.messages.people import tenant_of_refresh
from bus.scopes import ALL_SCOPES, permissions
from edge.auth import TokenVerifier
from edge.config import EdgeConfig
from edge.cors import BODY_TENANT
from edge.http import BUS, CONFIG
from edge.people_operations import Anonymous
from edge.problems import PROBLEM_JSON, TITLES, problem

routes = web.RouteTableDef()

TOKEN_PATH = "/oauth/token"
JWKS_PATH = "/.well-known/jwks.json"
#: Paths anyone may call: no bearer token.
OAUTH_PUBLIC = frozenset(
    {
        TOKEN_PATH,
        JWKS_PATH,
        "/.well-known/openid-configuration",
        "/.well-known/oauth-authorization-server",
    }
)
ANONYMOUS = Principal("anonymous")
FORM = "application/x-www-form-urlencoded"


class PublishedKeys:
    """Keeps the verifier's copy of the hosts' signing keys fresh: fetched when the
    edge starts, and again when a token names a key not seen yet (at most once a
    second, so that forged ``kid`` values cannot flood the hosts)."""

    def __init__(self, verifier: TokenVerifier, min_interval_s: float = 1.0) -> None:
        self.verifier = verifier
        self._min_interval_s = min_interval_s
        self._last = 0.0
        self._lock = asyncio.Lock()

    async def refresh(self, bus: Bus, kid: str = "") -> bool:
        async with self._lock:
            if time.monotonic() - self._last < self._min_interval_s:
                return False
            self._last = time.monotonic()
            try:
                self.verifier.use_published(await bus.published_keys(kid, timeout_s=2.0))
            except BusError:
                return False
            return True


KEYS = web.AppKey("published_keys", PublishedKeys)


CLIENT_REFUSED = "the client id or secret is wrong, or the client was revoked"


def _oauth_error(status: int, error: str, description: str) -> web.Response:
    body = {
        "error": error,
        "error_description": description,
        "type": f"https://perkbus.dev/problems/{error.replace('_', '-')}",
        "title": TITLES.get(error, error.replace("_", " ").capitalize()),
        "status": status,
        "detail": description,
        "code": error,
    }
    headers = {"Cache-Control": "no-store", "Pragma": "no-cache"}
    if error == "invalid_client":
        headers["WWW-Authenticate"] = 'Basic realm="perkbus"'
    return web.Response(
        text=json.dumps(body), status=status, content_type=PROBLEM_JSON, headers=headers
    )


@routes.post(TOKEN_PATH)
async def token(request: web.Request) -> web.Response:
    if request.content_type != FORM:
        return _oauth_error(400, "invalid_request", f"send the parameters as {FORM}")
    try:
        posted = await request.post()
    except (LookupError, UnicodeDecodeError) as e:  # an unknown charset, or not in it
        return _oauth_error(400, "invalid_request", f"the form cannot be read: {e}")
    form = {k: v for k, v in posted.items() if isinstance(v, str)}
    if len(form) != len(posted) or len(set(posted.keys())) != len(list(posted.keys())):
        return _oauth_error(400, "invalid_request", "each parameter once, as text")
    if form.get("grant_type") == "refresh_token":
        return await _refresh_grant(request, form.get("refresh_token", ""))
    authorization = request.headers.get("Authorization", "")
    client_id = client_named(form, authorization)
    tenant = tenant_of_client(client_id)
    try:
        subjects.check_token(tenant, "tenant")
    except subjects.InvalidToken:
        return _oauth_error(401, "invalid_client", "unknown client")
    if client_id and not re.search(CLIENT_ID_PATTERN, client_id):
        # never an id this API gave: refused here, so that it is not written as the
        # actor of an entry in the tenant's audit log (CR/LF, markup, a made-up admin)
        return _oauth_error(401, "invalid_client", "unknown client")
    config = request.app[CONFIG]
    body = TokenRequest(
        form, authorization, str(request.url), config.jwt_issuer, config.jwt_audience
    )
    try:
        reply = await request.app[BUS].request(
            tenant, KIND, body, ANONYMOUS, timeout_s=config.request_timeout_s
        )
    except BusError as e:
        return problem(503, "unavailable", str(e), retryable=True)
    if isinstance(reply, Err) or not (
        isinstance(reply, Ok) and isinstance(reply.value, TokenReply)
    ):
        return problem(503, "unavailable", "the token endpoint could not answer", retryable=True)
    answer = reply.value
    headers = dict(answer.headers)
    if answer.status >= 400:
        error = json.loads(answer.body)
        code = error["error"]
        # authlib's own words name its methods ("cannot authenticate with methods: …")
        said = CLIENT_REFUSED if code == "invalid_client" else error.get("error_description", "")
        return _oauth_error(answer.status, code, said)
    headers.pop("Content-Type", None)
    return web.Response(
        text=answer.body, status=answer.status, content_type="application/json", headers=headers
    )


async def _refresh_grant(request: web.Request, refresh_token: str) -> web.Response:
    """A person's session refreshed the standard way (RFC 6749 §6): a new access token
    and a new refresh token; the one sent is spent."""
    request[BODY_TENANT] = tenant_of_refresh(refresh_token)  # for CORS (edge.cors)
    config = request.app[CONFIG]
    people = Anonymous(
        request.app[BUS], config.request_timeout_s, config.jwt_issuer, config.jwt_audience
    )
    result = await people.refresh(refresh_token)
    if isinstance(result, Err):
        if result.retryable:
            return problem(503, "unavailable", result.message, retryable=True)
        return _oauth_error(400, "invalid_grant", result.message)
    body = {
        "access_token": result.access_token,
        "token_type": "Bearer",
        "expires_in": result.expires_in,
        "refresh_token": result.refresh_token,
        "scope": " ".join(sorted(permissions(result.person.roles, ALL_SCOPES))),
    }
    headers = {"Cache-Control": "no-store", "Pragma": "no-cache"}
    return web.json_response(body, headers=headers)


@routes.get(JWKS_PATH)
async def jwks(request: web.Request) -> web.Response:
    keys = request.app[KEYS]
    await keys.refresh(request.app[BUS])
    return web.json_response(keys.verifier.jwks(), headers={"Cache-Control": "public, max-age=300"})


def metadata(config: EdgeConfig, base: str) -> dict[str, Any]:
    """RFC 8414 authorization server metadata (also served as OpenID discovery)."""
    return {
        "issuer": config.jwt_issuer,
        "token_endpoint": f"{base}{TOKEN_PATH}",
        "jwks_uri": f"{base}{JWKS_PATH}",
        "grant_types_supported": ["client_credentials", "refresh_token"],
        "token_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post"],
        "response_types_supported": ["token"],
        "scopes_supported": list(ALL_SCOPES),
        "subject_types_supported": ["public"],
        "id_token_signing_alg_values_supported": ["Ed25519"],
        "token_endpoint_auth_signing_alg_values_supported": ["Ed25519"],
        "service_documentation": f"{base}/api/v1/openapi.json",
    }


@routes.get("/.well-known/openid-configuration")
@routes.get("/.well-known/oauth-authorization-server")
async def discovery(request: web.Request) -> web.Response:
    base = f"{request.scheme}://{request.host}"
    return web.json_response(
        metadata(request.app[CONFIG], base), headers={"Cache-Control": "public, max-age=300"}
    )
