"""A small, real OpenID Connect provider that the tests start (aiohttp, 127.0.0.1, a free
port): discovery, ``/authorize``, ``/token``, ``/jwks``, ``/userinfo``.

``/authorize`` approves at once, as the user named by ``login_hint`` (or
:attr:`OidcTestProvider.next_user`), and insists on PKCE S256. ``/token`` authenticates
the client (``client_secret_basic`` or ``client_secret_post``, as its discovery document
says), and redeems a code once, only for the client, redirect URI and code verifier it
was issued for. ID tokens are JWTs signed with joserfc (RS256 by default, or ES256).

:class:`Misbehaviour` makes the provider answer the way a broken or hostile provider
would, so that tests can check the relying party refuses: a key it does not publish,
``alg: none``, HS256 keyed with its public key, another audience or issuer, an expired
token, a missing or wrong nonce, an unverified email.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
import socket
import time
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any, Literal
from urllib.parse import unquote, urlencode

from aiohttp import web
from joserfc import jwt
from joserfc.jwk import ECKey, RSAKey

CLIENT_ID = "perkbus-test"


@dataclass(frozen=True)
class TestUser:
    __test__ = False  # not a pytest test class

    sub: str
    email: str
    name: str
    email_verified: bool = True


@dataclass
class Misbehaviour:
    #: ``RS256``/``ES256`` sign properly; ``none`` sends an unsigned token; ``HS256-public``
    #: signs with HMAC keyed by the RSA public key (PEM), as a key-confusion attack would.
    algorithm: Literal["RS256", "ES256", "none", "HS256-public"] = "RS256"
    #: Sign with an RSA key that is not in the JWKS, under the published key's kid.
    foreign_key: bool = False
    audience: str | list[str] | None = None
    #: The ``azp`` claim (left out when None).
    azp: str | None = None
    #: An ``at_hash`` of another access token.
    wrong_at_hash: bool = False
    issuer: str | None = None
    #: In the discovery document only.
    discovery_issuer: str | None = None
    expired: bool = False
    nonce: Literal["echo", "missing", "wrong"] = "echo"
    #: Leave email and email_verified out of the ID token (userinfo still has them).
    email_in_id_token: bool = True
    #: Answer the authorization request with ``error=access_denied``.
    deny: bool = False


@dataclass
class _Grant:
    client_id: str
    redirect_uri: str
    code_challenge: str
    nonce: str | None
    user: TestUser
    expires_at: float


@dataclass
class OidcTestProvider:
    users: dict[str, TestUser]
    client_id: str = CLIENT_ID
    client_secret: str = field(default_factory=lambda: secrets.token_urlsafe(24))
    auth_methods: tuple[str, ...] = ("client_secret_basic", "client_secret_post")
    redirect_uris: set[str] = field(default_factory=set)
    misbehave: Misbehaviour = field(default_factory=Misbehaviour)
    #: Who ``/authorize`` signs in when the request has no ``login_hint``.
    next_user: str = ""
    #: The client authentication method of each token request, in order.
    token_requests: list[str] = field(default_factory=list)
    jwks_fetches: int = 0

    def __post_init__(self) -> None:
        self.rsa = RSAKey.generate_key(2048, auto_kid=True)
        self.ec = ECKey.generate_key("P-256", auto_kid=True)
        self.foreign = RSAKey.generate_key(2048, auto_kid=True)
        self.next_user = self.next_user or next(iter(self.users))
        self._codes: dict[str, _Grant] = {}
        self._access: dict[str, TestUser] = {}
        self._runner: web.AppRunner | None = None
        self.port = 0

    @property
    def issuer(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def rotate_key(self) -> None:
        """A new RSA signing key (a new kid); the old one is no longer published."""
        self.rsa = RSAKey.generate_key(2048, auto_kid=True)

    async def __aenter__(self) -> OidcTestProvider:
        app = web.Application()
        app.router.add_get("/.well-known/openid-configuration", self._discovery)
        app.router.add_get("/authorize", self._authorize)
        app.router.add_post("/token", self._token)
        app.router.add_get("/jwks", self._jwks)
        app.router.add_get("/userinfo", self._userinfo)
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.bind(("127.0.0.1", 0))
        self.port = sock.getsockname()[1]
        self._runner = web.AppRunner(app)
        await self._runner.setup()
        await web.SockSite(self._runner, sock).start()
        return self

    async def __aexit__(
        self, kind: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> None:
        if self._runner is not None:
            await self._runner.cleanup()

    # -- endpoints ---------------------------------------------------------------------------

    async def _discovery(self, request: web.Request) -> web.Response:
        return web.json_response(
            {
                "issuer": self.misbehave.discovery_issuer or self.issuer,
                "authorization_endpoint": f"{self.issuer}/authorize",
                "token_endpoint": f"{self.issuer}/token",
                "jwks_uri": f"{self.issuer}/jwks",
                "userinfo_endpoint": f"{self.issuer}/userinfo",
                "response_types_supported": ["code"],
                "subject_types_supported": ["public"],
                "id_token_signing_alg_values_supported": ["RS256", "ES256"],
                "token_endpoint_auth_methods_supported": list(self.auth_methods),
                "code_challenge_methods_supported": ["S256"],
                "scopes_supported": ["openid", "email", "profile"],
                "authorization_response_iss_parameter_supported": True,
            }
        )

    async def _authorize(self, request: web.Request) -> web.Response:
        q = request.query
        if q.get("client_id") != self.client_id or q.get("redirect_uri") not in self.redirect_uris:
            # RFC 6749 4.1.2.1: never redirect to an unregistered URI
            return web.Response(status=400, text="unknown client or redirect_uri")
        redirect_uri = q["redirect_uri"]
        answer: dict[str, str] = {"state": q.get("state", ""), "iss": self.issuer}
        if (
            q.get("response_type") != "code"
            or "openid" not in q.get("scope", "").split()
            or q.get("code_challenge_method") != "S256"
            or not q.get("code_challenge")
        ):
            answer["error"] = "invalid_request"
        elif self.misbehave.deny:
            answer["error"] = "access_denied"
        else:
            code = secrets.token_urlsafe(24)
            self._codes[code] = _Grant(
                client_id=self.client_id,
                redirect_uri=redirect_uri,
                code_challenge=q["code_challenge"],
                nonce=q.get("nonce"),
                user=self.users[q.get("login_hint") or self.next_user],
                expires_at=time.time() + 60,
            )
            answer["code"] = code
        raise web.HTTPFound(f"{redirect_uri}?{urlencode(answer)}")

    async def _token(self, request: web.Request) -> web.Response:
        form = {k: v for k, v in (await request.post()).items() if isinstance(v, str)}
        client = self._client(request, form)
        if client is None:
            return _error(401, "invalid_client")
        if form.get("grant_type") != "authorization_code":
            return _error(400, "unsupported_grant_type")
        grant = self._codes.pop(form.get("code", ""), None)  # once, whatever follows
        if (
            grant is None
            or grant.client_id != client
            or grant.redirect_uri != form.get("redirect_uri")
            or grant.expires_at < time.time()
            or _s256(form.get("code_verifier", "")) != grant.code_challenge
        ):
            return _error(400, "invalid_grant")
        access_token = secrets.token_urlsafe(24)
        self._access[access_token] = grant.user
        return web.json_response(
            {
                "access_token": access_token,
                "token_type": "Bearer",
                "expires_in": 300,
                "scope": "openid email profile",
                "id_token": self._id_token(grant, access_token),
            },
            headers={"Cache-Control": "no-store"},
        )

    async def _jwks(self, request: web.Request) -> web.Response:
        self.jwks_fetches += 1
        keys = [
            {**self.rsa.as_dict(private=False), "use": "sig", "alg": "RS256"},
            {**self.ec.as_dict(private=False), "use": "sig", "alg": "ES256"},
        ]
        return web.json_response({"keys": keys})

    async def _userinfo(self, request: web.Request) -> web.Response:
        scheme, _, token = request.headers.get("Authorization", "").partition(" ")
        user = self._access.get(token) if scheme == "Bearer" else None
        if user is None:
            return web.Response(
                status=401, headers={"WWW-Authenticate": 'Bearer error="invalid_token"'}
            )
        return web.json_response(
            {
                "sub": user.sub,
                "email": user.email,
                "email_verified": user.email_verified,
                "name": user.name,
            }
        )

    # -- helpers -----------------------------------------------------------------------------

    def _client(self, request: web.Request, form: dict[str, str]) -> str | None:
        """The authenticated client id, or None."""
        authorization = request.headers.get("Authorization", "")
        if authorization.startswith("Basic "):
            method = "client_secret_basic"
            decoded = base64.b64decode(authorization[6:]).decode()
            client_id, _, secret = (unquote(p) for p in decoded.partition(":"))
        else:
            method = "client_secret_post"
            client_id, secret = form.get("client_id", ""), form.get("client_secret", "")
        self.token_requests.append(method)
        if (
            method not in self.auth_methods
            or client_id != self.client_id
            or not hmac.compare_digest(secret, self.client_secret)
        ):
            return None
        return client_id

    def _id_token(self, grant: _Grant, access_token: str) -> str:
        bad = self.misbehave
        now = int(time.time()) - (3600 if bad.expired else 0)
        claims: dict[str, Any] = {
            "iss": bad.issuer or self.issuer,
            "sub": grant.user.sub,
            "aud": bad.audience or self.client_id,
            "iat": now,
            "exp": now + 300,
            "auth_time": now,
            "at_hash": _half_sha256("another" if bad.wrong_at_hash else access_token),
            "name": grant.user.name,
        }
        if bad.azp is not None:
            claims["azp"] = bad.azp
        if bad.nonce == "echo" and grant.nonce is not None:
            claims["nonce"] = grant.nonce
        elif bad.nonce == "wrong":
            claims["nonce"] = secrets.token_urlsafe(32)
        if bad.email_in_id_token:
            claims["email"] = grant.user.email
            claims["email_verified"] = grant.user.email_verified
        if bad.algorithm == "none":
            return _unsigned({"alg": "none", "typ": "JWT"}, claims)
        if bad.algorithm == "HS256-public":
            header = {"alg": "HS256", "typ": "JWT", "kid": self.rsa.kid}
            return _hmac_signed(header, claims, self.rsa.as_pem(private=False))
        if bad.algorithm == "ES256":
            return jwt.encode({"alg": "ES256", "kid": self.ec.kid}, claims, self.ec, ["ES256"])
        key = self.foreign if bad.foreign_key else self.rsa
        return jwt.encode({"alg": "RS256", "kid": self.rsa.kid}, claims, key, ["RS256"])


def _error(status: int, error: str) -> web.Response:
    return web.json_response({"error": error}, status=status, headers={"Cache-Control": "no-store"})


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _s256(verifier: str) -> str:
    return _b64(hashlib.sha256(verifier.encode()).digest())


def _half_sha256(value: str) -> str:
    return _b64(hashlib.sha256(value.encode()).digest()[:16])


def _json(value: dict[str, Any]) -> bytes:
    return json.dumps(value, separators=(",", ":")).encode()


def _unsigned(header: dict[str, Any], claims: dict[str, Any]) -> str:
    return f"{_b64(_json(header))}.{_b64(_json(claims))}."


def _hmac_signed(header: dict[str, Any], claims: dict[str, Any], secret: bytes) -> str:
    signing_input = f"{_b64(_json(header))}.{_b64(_json(claims))}"
    signature = hmac.new(secret, signing_input.encode(), hashlib.sha256).digest()
    return f"{signing_input}.{_b64(signature)}"
