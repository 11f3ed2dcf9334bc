"""Single sign-on routes: a tenant's people sign in with the tenant's OpenID Connect provider.

``GET /auth/{tenant}/sso/login?return_to=/path``
    302 to the tenant's provider (``edge.oidc`` builds the URL). The login's secrets —
    state, nonce, PKCE verifier, tenant, return_to — go with the browser in a cookie
    sealed with AES-256-GCM under a key every edge replica shares: HttpOnly, SameSite=Lax
    (the provider sends the browser back with a top-level GET, which Strict would strip
    the cookie from), Secure and ``__Host-`` prefixed over TLS, 10 minutes. Nothing is
    stored server side, so any replica can take the callback.
``GET /auth/sso/callback?code=…&state=…``
    Opens the cookie, completes the login (``edge.oidc``), clears the cookie and hands
    the :class:`~edge.oidc.VerifiedLogin` to ``on_login``, whose response is the answer
    (typically: find the person by email, set the session cookies, 302 to
    ``login.return_to``). Every failure is problem details (400, 401, 404 or 503) with the
    cookie cleared, and ``on_login`` is not called.

Both paths are under ``/auth/``, outside what the bearer-token middleware guards
(``/api/`` and ``/graphql``, ``edge.app.auth_middleware``): they need no entry in
``PUBLIC_PATHS``. Wiring, in the composition root or ``create_app``::

    add_sso_routes(
        app,
        directory,        # SsoDirectory: the tenant's OidcProvider, or None
        sign_in,          # OnLogin: VerifiedLogin -> person, session cookies, 302
        state_key=key,    # 32 random bytes, the same on every edge replica
        public_url="https://rewards.example.com",  # behind a TLS-terminating proxy
    )

Register ``{public_url}/auth/sso/callback`` as the redirect URI with each provider.
"""

from __future__ import annotations

import base64
import os
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Protocol

import msgspec
from aiohttp import web
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from bus import subjects
from edge.oidc import (
    LOGIN_TTL_S,
    BadSsoRequest,
    LoginState,
    OidcProvider,
    ProviderUnavailable,
    RelyingParty,
    SsoError,
    SsoRejected,
    VerifiedLogin,
)
from edge.problems import problem

SSO_PREFIX = "/auth/"
LOGIN_PATH = "/auth/{tenant}/sso/login"
CALLBACK_PATH = "/auth/sso/callback"
#: ``__Host-``: only over TLS, never for a parent domain, path ``/`` (RFC 6265bis 4.1.3.2).
SECURE_COOKIE = "__Host-pb_sso"
PLAIN_COOKIE = "pb_sso"
_MAX_COOKIE = 4096


class SsoDirectory(Protocol):
    """Which provider a tenant signs in with (its SSO settings); ``None``: no SSO."""

    async def provider(self, tenant: str) -> OidcProvider | None: ...


#: Turns a verified login into a session: the response the browser gets.
OnLogin = Callable[[web.Request, VerifiedLogin], Awaitable[web.StreamResponse]]


class StateSeal:
    """Seals a :class:`LoginState` into a cookie value the browser can neither read nor
    alter (AES-256-GCM, random 96-bit nonce, fixed associated data naming the purpose)."""

    _AAD = b"perkbus sso login state v1"

    def __init__(self, key: bytes) -> None:
        if len(key) != 32:
            raise ValueError("the SSO state key must be 32 bytes")
        self._aead = AESGCM(key)
        self._decoder = msgspec.msgpack.Decoder(LoginState)

    def seal(self, login: LoginState) -> str:
        nonce = os.urandom(12)
        sealed = nonce + self._aead.encrypt(nonce, msgspec.msgpack.encode(login), self._AAD)
        return base64.urlsafe_b64encode(sealed).rstrip(b"=").decode()

    def open(self, value: str | None, now: float | None = None) -> LoginState:
        if not value:
            raise BadSsoRequest("no login was started in this browser (no state cookie)")
        try:
            if len(value) > _MAX_COOKIE:
                raise ValueError("too long")
            raw = base64.urlsafe_b64decode(value + "=" * (-len(value) % 4))
            login = self._decoder.decode(self._aead.decrypt(raw[:12], raw[12:], self._AAD))
        except (ValueError, InvalidTag, msgspec.DecodeError) as e:
            raise BadSsoRequest("the login state cookie is not valid") from e
        if login.expires_at <= (time.time() if now is None else now):
            raise BadSsoRequest(f"the login took longer than {LOGIN_TTL_S // 60} minutes")
        return login


class Sso:
    """What the SSO routes share (under :data:`SSO`)."""

    def __init__(
        self,
        providers: SsoDirectory,
        on_login: OnLogin,
        relying_party: RelyingParty,
        seal: StateSeal,
        public_url: str | None,
    ) -> None:
        self.providers = providers
        self.on_login = on_login
        self.relying_party = relying_party
        self.seal = seal
        self.public_url = public_url.rstrip("/") if public_url else None

    def redirect_uri(self, request: web.Request) -> str:
        base = self.public_url or f"{request.scheme}://{request.host}"
        return base + CALLBACK_PATH

    def secure(self, request: web.Request) -> bool:
        return request.secure or (self.public_url or "").startswith("https://")


SSO = web.AppKey("sso", Sso)


def add_sso_routes(
    app: web.Application,
    providers: SsoDirectory,
    on_login: OnLogin,
    *,
    state_key: bytes,
    public_url: str | None = None,
    relying_party: RelyingParty | None = None,
) -> None:
    """Serve ``/auth/{tenant}/sso/login`` and ``/auth/sso/callback`` on ``app``.

    ``state_key`` seals the login cookie: 32 random bytes shared by every edge replica
    (a callback may reach another replica than the login did). ``public_url`` is the
    site's origin as browsers see it; without it, the request's scheme and host are
    used (fine when the edge serves TLS itself). A ``relying_party`` passed in is the
    caller's to close; otherwise one is made and closed with the app.
    """
    seal = StateSeal(state_key)
    sso = Sso(providers, on_login, relying_party or RelyingParty(), seal, public_url)
    app[SSO] = sso
    if relying_party is None:

        async def close(app: web.Application) -> AsyncIterator[None]:
            yield
            await sso.relying_party.aclose()

        app.cleanup_ctx.append(close)
    app.router.add_get(LOGIN_PATH, login)
    app.router.add_get(CALLBACK_PATH, callback)


async def login(request: web.Request) -> web.Response:
    sso = request.app[SSO]
    tenant = request.match_info["tenant"]
    try:
        subjects.check_token(tenant, "tenant")
    except subjects.InvalidToken:
        return _no_sso(request)
    provider = await sso.providers.provider(tenant)
    if provider is None:
        return _no_sso(request)
    try:
        url, state = await sso.relying_party.begin(
            provider,
            sso.redirect_uri(request),
            tenant=tenant,
            return_to=request.query.get("return_to", "/"),
        )
    except SsoError as e:
        return _failed(request, e)
    response = web.Response(status=302, headers={"Location": url, "Cache-Control": "no-store"})
    secure = sso.secure(request)
    response.set_cookie(
        SECURE_COOKIE if secure else PLAIN_COOKIE,
        sso.seal.seal(state),
        max_age=LOGIN_TTL_S,
        path="/",
        secure=secure,
        httponly=True,
        samesite="Lax",
    )
    return response


async def callback(request: web.Request) -> web.StreamResponse:
    sso = request.app[SSO]
    try:
        state = sso.seal.open(request.cookies.get(_cookie_name(request)))
        provider = await sso.providers.provider(state.tenant)
        if provider is None:
            raise SsoRejected("the tenant no longer signs in with single sign-on")
        verified = await sso.relying_party.complete(
            provider, state, request.query, sso.redirect_uri(request)
        )
    except SsoError as e:
        return _failed(request, e)
    response = await sso.on_login(request, verified)
    if not response.prepared:  # the login is spent: its cookie goes
        _clear(request, response)
    return response


def _cookie_name(request: web.Request) -> str:
    return SECURE_COOKIE if request.app[SSO].secure(request) else PLAIN_COOKIE


def _clear(request: web.Request, response: web.StreamResponse) -> None:
    secure = request.app[SSO].secure(request)
    response.del_cookie(
        _cookie_name(request), path="/", secure=secure, httponly=True, samesite="Lax"
    )


def _failed(request: web.Request, error: SsoError) -> web.Response:
    response = problem(
        error.status,
        error.code,
        str(error),
        retryable=isinstance(error, ProviderUnavailable),
        instance=request.path,
        headers={"Cache-Control": "no-store"},
    )
    _clear(request, response)
    return response


def _no_sso(request: web.Request) -> web.Response:
    return problem(
        404,
        "not_found",
        "this tenant does not sign in with single sign-on",
        instance=request.path,
        headers={"Cache-Control": "no-store"},
    )
