"""Sign-in for people: sessions in cookies for the browser apps, in tokens for programs.

``POST /auth/sign-in`` takes a tenant, an email and a password. In ``cookie`` mode (the
default) the answer sets three cookies — the access token (``HttpOnly``, ``SameSite=
Strict``, ``Path=/``), the refresh token (``HttpOnly``, ``Path=/auth``) and a CSRF token
the app can read — and carries the CSRF token in its body too. In ``bearer`` mode it
carries the tokens instead, for programs that send ``Authorization: Bearer``.

CSRF: a request authenticated by the access cookie that may change something (any method
but GET, HEAD, OPTIONS) must send ``X-CSRF-Token`` equal to the CSRF token, which is
derived from the access token itself (so it changes with every refresh and cannot be
guessed without reading the cookie, which another site cannot). Cookie-mode refresh and
sign-out check it against the CSRF cookie. On TLS the cookies are ``Secure`` and named
with the ``__Host-``/``__Secure-`` prefixes.
"""

from __future__ import annotations

import base64
import hashlib
import hmac

from aiohttp import web

from bus.messages import Err
from bus.messages.people import Session, tenant_of_refresh
from edge.cors import BODY_TENANT
from edge.http import BUS, CONFIG, IDENTITY, ProblemResponse, json_response, read_json
from edge.people_operations import Anonymous, person_out
from edge.problems import from_error, problem
from edge.schemas import RefreshIn, SessionOut, SignInIn

routes = web.RouteTableDef()

SIGN_IN_PATH = "/auth/sign-in"
REFRESH_PATH = "/auth/refresh"
SIGN_OUT_PATH = "/auth/sign-out"
ME_PATH = "/auth/me"
#: Links to set a password (ADR 42, ``edge.password_links``): asked for, then used.
PASSWORD_LINK_PATH = "/auth/password-reset/request"
PASSWORD_RESET_PATH = "/auth/password-reset"
#: Paths that need no token (they make one), and are rate limited per address.
SESSION_PUBLIC = frozenset(
    {SIGN_IN_PATH, REFRESH_PATH, SIGN_OUT_PATH, PASSWORD_LINK_PATH, PASSWORD_RESET_PATH}
)
CSRF_HEADER = "X-CSRF-Token"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


def signs_in(path: str) -> bool:
    """A path that makes sessions (password or single sign-on): rate limited per address."""
    return path in SESSION_PUBLIC or (path.startswith("/auth/") and "/sso/" in path)


def csrf_token(access_token: str) -> str:
    digest = hashlib.sha256(b"perkbus-csrf\n" + access_token.encode()).digest()
    return base64.urlsafe_b64encode(digest[:24]).decode()


def cookie_names(secure: bool) -> tuple[str, str, str]:
    """(access, refresh, csrf) cookie names; prefixed on TLS so that no subdomain nor
    plain-HTTP page can set them."""
    if secure:
        return "__Host-pb_access", "__Secure-pb_refresh", "__Host-pb_csrf"
    return "pb_access", "pb_refresh", "pb_csrf"


def over_tls(request: web.Request) -> bool:
    """Whether the browser reached us over TLS: this edge serves it, or the public URL
    says a proxy in front of it does (it ends TLS and forwards plain HTTP here)."""
    return request.secure or request.app[CONFIG].public_url.startswith("https://")


def access_cookie(request: web.Request) -> str | None:
    return request.cookies.get(cookie_names(over_tls(request))[0])


def csrf_refusal(request: web.Request, access_token: str) -> web.Response | None:
    """403 for an unsafe request on a cookie session without the right CSRF token."""
    if request.method in SAFE_METHODS:
        return None
    sent = request.headers.get(CSRF_HEADER, "")
    if sent and hmac.compare_digest(sent, csrf_token(access_token)):
        return None
    return problem(
        403,
        "forbidden",
        f"a request on a cookie session must send the {CSRF_HEADER} header it was given",
        instance=request.path,
    )


def anonymous(request: web.Request) -> Anonymous:
    config = request.app[CONFIG]
    return Anonymous(
        request.app[BUS], config.request_timeout_s, config.jwt_issuer, config.jwt_audience
    )


def _refused(request: web.Request, err: Err) -> ProblemResponse:
    return ProblemResponse(from_error(err.code, err.message, err.retryable, request.path))


def session_answer(request: web.Request, session: Session, mode: str) -> web.Response:
    """A new session, in cookies (``cookie``) or in the body (``bearer``)."""
    person = person_out(session.person)
    if mode == "bearer":
        body = SessionOut(
            person,
            session.expires_in,
            access_token=session.access_token,
            refresh_token=session.refresh_token,
            token_type="Bearer",
        )
        response = json_response(body)
    else:
        csrf = csrf_token(session.access_token)
        response = json_response(SessionOut(person, session.expires_in, csrf_token=csrf))
        set_session_cookies(request, response, session, csrf)
    response.headers["Cache-Control"] = "no-store"
    return response


def set_session_cookies(
    request: web.Request, response: web.Response, session: Session, csrf: str
) -> None:
    secure = over_tls(request)
    access, refresh, csrf_name = cookie_names(secure)
    cookies = (
        (access, session.access_token, session.expires_in, "/", True),
        (refresh, session.refresh_token, session.refresh_expires_in, "/auth", True),
        (csrf_name, csrf, session.refresh_expires_in, "/", False),  # the app reads it
    )
    for name, value, max_age, path, http_only in cookies:
        response.set_cookie(
            name,
            value,
            max_age=max_age,
            path=path,
            secure=secure,
            httponly=http_only,
            samesite="Strict",
        )


def _clear_cookies(request: web.Request, response: web.Response) -> None:
    access, refresh, csrf = cookie_names(over_tls(request))
    response.del_cookie(access, path="/")
    response.del_cookie(refresh, path="/auth")
    response.del_cookie(csrf, path="/")


def _cookie_refresh_token(request: web.Request) -> str:
    """The refresh cookie, for a request that proves it comes from the app (its CSRF
    header equals the CSRF cookie, which another site can neither read nor set)."""
    _, refresh, csrf = cookie_names(over_tls(request))
    token, expected = request.cookies.get(refresh, ""), request.cookies.get(csrf, "")
    sent = request.headers.get(CSRF_HEADER, "")
    if not token:
        raise ProblemResponse(
            problem(401, "unauthenticated", "no session: sign in", instance=request.path)
        )
    if not (sent and expected and hmac.compare_digest(sent, expected)):
        raise ProblemResponse(
            problem(403, "forbidden", f"send the {CSRF_HEADER} header", instance=request.path)
        )
    return token


async def _optional_json(request: web.Request) -> RefreshIn:
    if not request.can_read_body:
        return RefreshIn()
    return await read_json(request, RefreshIn)


@routes.post(SIGN_IN_PATH)
async def sign_in(request: web.Request) -> web.Response:
    data = await read_json(request, SignInIn)
    request[BODY_TENANT] = data.tenant  # whose allowed origins may read the answer
    result = await anonymous(request).sign_in(data.tenant, data.email, data.password)
    if isinstance(result, Err):
        raise _refused(request, result)
    return session_answer(request, result, data.mode)


@routes.post(REFRESH_PATH)
async def refresh(request: web.Request) -> web.Response:
    data = await _optional_json(request)
    mode = "bearer" if data.refresh_token else "cookie"
    token = data.refresh_token or _cookie_refresh_token(request)
    request[BODY_TENANT] = tenant_of_refresh(token)
    result = await anonymous(request).refresh(token)
    if isinstance(result, Err):
        response = from_error(result.code, result.message, result.retryable, request.path)
        if mode == "cookie":
            _clear_cookies(request, response)
        return response
    return session_answer(request, result, mode)


@routes.post(SIGN_OUT_PATH)
async def sign_out(request: web.Request) -> web.Response:
    data = await _optional_json(request)
    token = data.refresh_token or _cookie_refresh_token(request)
    result = await anonymous(request).sign_out(token)
    if isinstance(result, Err):
        raise _refused(request, result)
    response = web.Response(status=204)
    _clear_cookies(request, response)
    return response


@routes.get(ME_PATH)
async def me(request: web.Request) -> web.Response:
    """Who the token or the session cookie says the caller is."""
    identity = request[IDENTITY]
    principal = identity.principal
    return json_response(
        {
            "tenant": identity.tenant,
            "subject": principal.subject,
            "roles": list(principal.roles),
            "permissions": sorted(identity.permissions),
            "grants": list(principal.grants),
        }
    )
