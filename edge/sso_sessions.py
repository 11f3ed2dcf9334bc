"""Single sign-on wired to people and sessions: where a tenant's provider comes from, and
what a verified login becomes (ADR 18, ADR 20).

The provider is the tenant's SSO settings (``PUT /api/v1/sso``), asked of its people actor
as the system — the only principal shown the client secret — and kept for a short while.
A verified login becomes a session of the person with that email, in cookies, and the
browser goes on to where it was going; someone the tenant does not have is refused.
"""

from __future__ import annotations

import base64
import contextlib
import os
import time
from pathlib import Path

from aiohttp import web

from bus.errors import BusError, ErrorCode
from bus.messages import Err, Ok
from bus.messages.people import KIND, GetSsoProvider, SsoProviderView
from edge.http import BUS, CONFIG
from edge.oidc import OidcProvider, VerifiedLogin
from edge.people_operations import EDGE_SSO
from edge.problems import from_error
from edge.sessions import anonymous, csrf_token, set_session_cookies

#: How long an edge keeps a tenant's provider before asking again.
CACHE_S = 30.0


class BusSsoDirectory:
    """Each tenant's provider, from its people actor (``SsoDirectory``)."""

    def __init__(self, app: web.Application) -> None:
        self._app = app
        self._cache: dict[str, tuple[float, OidcProvider | None]] = {}

    async def provider(self, tenant: str) -> OidcProvider | None:
        cached = self._cache.get(tenant)
        if cached is not None and time.monotonic() - cached[0] < CACHE_S:
            return cached[1]
        app = self._app
        try:
            reply = await app[BUS].request(
                tenant, KIND, GetSsoProvider(), EDGE_SSO, app[CONFIG].request_timeout_s
            )
        except BusError:
            return cached[1] if cached is not None else None
        if isinstance(reply, Err) and reply.code != ErrorCode.NOT_FOUND:
            # the people actor could not say (failing over, a deadline): not "no SSO"
            return cached[1] if cached is not None else None
        found = None
        if isinstance(reply, Ok) and isinstance(reply.value, SsoProviderView):
            v = reply.value
            found = OidcProvider(
                v.issuer, v.client_id, v.client_secret, v.scopes, v.allowed_domains
            )
        self._cache[tenant] = (time.monotonic(), found)
        return found


async def start_session(request: web.Request, login: VerifiedLogin) -> web.StreamResponse:
    """The person with the verified email signs in: session cookies, then on to
    ``return_to`` (a same-site path, checked before the login began)."""
    session = await anonymous(request).sign_in_external(login.tenant, login.email, login.issuer)
    if isinstance(session, Err):
        return from_error(session.code, session.message, session.retryable, request.path)
    response = web.Response(status=302, headers={"Location": login.return_to})
    set_session_cookies(request, response, session, csrf_token(session.access_token))
    return response


def state_key(path: str) -> bytes:
    """The key sealing SSO login cookies: read from ``path`` (shared by every edge
    replica), made there on first use; without a path, this process's own."""
    if not path:
        return os.urandom(32)
    key_path = Path(path)
    if not key_path.exists():
        key_path.parent.mkdir(parents=True, exist_ok=True)
        try:
            fd = os.open(key_path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:  # another process made it meanwhile
            return key_path.read_bytes()
        with os.fdopen(fd, "wb") as f:
            f.write(os.urandom(32))
    key = key_path.read_bytes()
    if len(key) != 32:  # or as text: base64, as a secrets store renders it
        with contextlib.suppress(ValueError):
            key = base64.b64decode(key.strip(), validate=True)
    if len(key) != 32:
        raise ValueError(f"{path} must hold 32 bytes (raw, or base64)")
    return key
