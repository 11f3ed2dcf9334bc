"""OpenID Connect relying party: a tenant's people sign in with the tenant's own provider.

A tenant that keeps its people in an identity provider (Entra ID, Okta, Google
Workspace, Keycloak …) names it with an :class:`OidcProvider`. A login is the
authorization code flow of OpenID Connect Core (section 3.1) with PKCE:

1. :meth:`RelyingParty.begin` reads the provider's discovery document and returns the
   URL to send the browser to, with a fresh random ``state``, ``nonce`` and PKCE (S256)
   challenge. What the second step needs comes back as a :class:`LoginState`, which the
   caller keeps with the browser (``edge.sso`` seals it into a cookie): nothing is
   stored on the server, so any edge replica can finish the login.
2. The provider sends the browser back with ``code`` and ``state``.
   :meth:`RelyingParty.complete` checks ``state``, exchanges the code with the PKCE
   verifier (authlib's client), and verifies the ID token: signature against the
   provider's published keys, ``iss``, ``aud``, ``azp``, ``exp``/``iat``, ``nonce``. It
   then requires a verified email (asking the userinfo endpoint when the ID token has
   none) in one of the tenant's domains, and answers with a :class:`VerifiedLogin`.

This module proves what the provider says about a person; who that person is in perkbus
(and their session) is for whoever receives the :class:`VerifiedLogin`.

Errors (messages name what failed, never a secret)::

    SsoError                 .status and .code, for problem details
    ├── BadSsoRequest        400  not a login this edge started: state, cookie, return_to
    ├── SsoRejected          401  the provider's answer does not prove who signs in
    └── ProviderUnavailable  503  discovery, keys or token endpoint unreachable or invalid
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import ipaddress
import secrets
import ssl
import time
from collections.abc import Mapping
from typing import Any, ClassVar, Generic, TypeVar
from urllib.parse import urlsplit

import httpx2
import msgspec
from authlib.integrations.base_client import OAuthError
from authlib.integrations.httpx_client import AsyncOAuth2Client
from joserfc import jwt
from joserfc.errors import ClaimError, ExpiredTokenError, JoseError, MissingClaimError
from joserfc.jwk import Key, KeySet
from joserfc.jws import extract_compact

T = TypeVar("T")
V = TypeVar("V")

#: Signature algorithms an ID token may use: asymmetric only. ``none`` and the HMAC
#: family are refused outright — with HS256 a provider's *public* key would become the
#: shared secret (the classic key confusion).
ALGORITHMS = frozenset(
    {"RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512", "Ed25519"}
)
_KEY_TYPES = {"RS": "RSA", "PS": "RSA", "ES": "EC", "Ed": "OKP"}
#: How long a login may take between the redirect to the provider and the callback.
LOGIN_TTL_S = 600
#: Longest ``return_to`` accepted (it travels in the state cookie).
MAX_RETURN_TO = 1024


class SsoError(Exception):
    status: ClassVar[int] = 400
    code: ClassVar[str] = "sso_failed"


class BadSsoRequest(SsoError):
    status = 400
    code = "sso_invalid_request"


class SsoRejected(SsoError):
    status = 401
    code = "sso_rejected"


class ProviderUnavailable(SsoError):
    status = 503
    code = "sso_unavailable"


class OidcProvider(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """A tenant's OpenID Connect provider and this platform's registration with it."""

    #: Exactly as the provider names itself (its discovery document's ``issuer``).
    issuer: str
    client_id: str
    client_secret: str
    scopes: str = "openid email profile"
    #: Email domains allowed to sign in (lowercase, exact: ``example.com`` does not
    #: admit ``eu.example.com``); empty admits any verified email.
    allowed_domains: tuple[str, ...] = ()

    def __repr__(self) -> str:  # the secret stays out of logs and tracebacks
        return f"OidcProvider(issuer={self.issuer!r}, client_id={self.client_id!r})"


class LoginState(msgspec.Struct, frozen=True, array_like=True):
    """What a login needs between the redirect and the callback; kept by the browser,
    sealed (``edge.sso.StateSeal``)."""

    tenant: str
    issuer: str
    state: str
    nonce: str
    code_verifier: str
    return_to: str
    #: Unix time after which the callback is refused.
    expires_at: int


class VerifiedLogin(msgspec.Struct, frozen=True):
    """A person the tenant's provider vouches for: a verified email in an allowed domain."""

    tenant: str
    issuer: str
    #: The provider's stable id of the person (``sub``); unique per issuer.
    subject: str
    #: Lowercased.
    email: str
    name: str
    #: Where the person was going: a same-site path (see :func:`safe_return_to`).
    return_to: str


class ProviderMetadata(msgspec.Struct, frozen=True):
    """The parts of an OpenID discovery document this relying party uses."""

    issuer: str
    authorization_endpoint: str
    token_endpoint: str
    jwks_uri: str
    userinfo_endpoint: str = ""
    token_endpoint_auth_methods_supported: tuple[str, ...] = ("client_secret_basic",)
    id_token_signing_alg_values_supported: tuple[str, ...] = ("RS256",)
    authorization_response_iss_parameter_supported: bool = False


def safe_return_to(value: str | None) -> str:
    """``value`` if it is a path on this site, ``/`` if absent; else :class:`BadSsoRequest`.

    Only ``/``-rooted paths pass: no scheme, no host, no ``//`` (protocol-relative) and no
    backslash or control character, which browsers read as ``/`` or drop (``/\\evil``,
    ``/\\t/evil`` would become ``//evil``) — otherwise the login is an open redirect.
    """
    if not value:
        return "/"
    if len(value) > MAX_RETURN_TO:
        raise BadSsoRequest(f"return_to is longer than {MAX_RETURN_TO} characters")
    if (
        not value.startswith("/")
        or value.startswith("//")
        or "\\" in value
        or any(ord(c) < 0x21 or ord(c) == 0x7F for c in value)
    ):
        raise BadSsoRequest("return_to must be a path on this site, such as /wallet")
    parts = urlsplit(value)
    if parts.scheme or parts.netloc:
        raise BadSsoRequest("return_to must be a path on this site, such as /wallet")
    return value


def _check_url(url: str, what: str) -> None:
    """Provider URLs are https; plain http only on the loopback interface (tests, dev)."""
    parts = urlsplit(url)
    if parts.scheme == "https" and parts.hostname:
        return
    if parts.scheme == "http" and parts.hostname:
        host = parts.hostname
        if host == "localhost":
            return
        try:
            if ipaddress.ip_address(host).is_loopback:
                return
        except ValueError:
            pass
    raise ProviderUnavailable(f"the provider's {what} must be an https URL, not {url!r}")


def _half_hash(value: str, alg: str) -> str:
    """``at_hash``: the left half of the access token's hash (OIDC Core 3.1.3.6)."""
    digest = {"256": hashlib.sha256, "384": hashlib.sha384, "512": hashlib.sha512}.get(
        alg[-3:], hashlib.sha512
    )(value.encode()).digest()
    return base64.urlsafe_b64encode(digest[: len(digest) // 2]).rstrip(b"=").decode()


class _Cached(Generic[V]):
    __slots__ = ("at", "value")

    def __init__(self, value: V) -> None:
        self.value = value
        self.at = time.monotonic()

    def age(self) -> float:
        return time.monotonic() - self.at


class RelyingParty:
    """The protocol side of single sign-on, for every tenant's provider.

    Discovery documents and key sets are cached per provider for ``metadata_ttl_s``; an
    ID token naming a key not in the cache fetches the key set again, at most once per
    ``jwks_min_interval_s`` per provider (forged key ids cannot make us flood it).
    """

    def __init__(
        self,
        *,
        timeout_s: float = 5.0,
        leeway_s: int = 60,
        metadata_ttl_s: float = 3600.0,
        jwks_min_interval_s: float = 60.0,
    ) -> None:
        self._timeout = httpx2.Timeout(timeout_s)
        self._leeway_s = leeway_s
        self._metadata_ttl_s = metadata_ttl_s
        self._jwks_min_interval_s = jwks_min_interval_s
        self._tls = ssl.create_default_context()
        self._http = httpx2.AsyncClient(timeout=self._timeout, verify=self._tls)
        self._metadata: dict[str, _Cached[ProviderMetadata]] = {}
        self._keys: dict[str, _Cached[KeySet]] = {}
        self._lock = asyncio.Lock()

    async def aclose(self) -> None:
        await self._http.aclose()

    # -- step 1 ---------------------------------------------------------------------------

    async def begin(
        self, provider: OidcProvider, redirect_uri: str, *, tenant: str, return_to: str = "/"
    ) -> tuple[str, LoginState]:
        """The provider's authorization URL to send the browser to, and the state to keep."""
        metadata = await self.metadata(provider)
        scopes = provider.scopes.split()
        if "openid" not in scopes:
            scopes.insert(0, "openid")
        login = LoginState(
            tenant=tenant,
            issuer=provider.issuer,
            state=secrets.token_urlsafe(32),
            nonce=secrets.token_urlsafe(32),
            code_verifier=secrets.token_urlsafe(48),  # 64 characters (RFC 7636: 43 to 128)
            return_to=safe_return_to(return_to),
            expires_at=int(time.time()) + LOGIN_TTL_S,
        )
        async with self._client(provider, metadata) as client:
            url, _ = client.create_authorization_url(
                metadata.authorization_endpoint,
                state=login.state,
                code_verifier=login.code_verifier,
                nonce=login.nonce,
                redirect_uri=redirect_uri,
                scope=" ".join(scopes),
            )
        return url, login

    # -- step 2 ---------------------------------------------------------------------------

    async def complete(
        self,
        provider: OidcProvider,
        login: LoginState,
        query: Mapping[str, str],
        redirect_uri: str,
    ) -> VerifiedLogin:
        """Check the provider's answer (the callback's query) against ``login``."""
        if login.expires_at <= time.time():
            raise BadSsoRequest(f"the login took longer than {LOGIN_TTL_S // 60} minutes")
        if login.issuer != provider.issuer:
            raise BadSsoRequest("the tenant's provider changed during the login")
        if not hmac.compare_digest(query.get("state", "").encode(), login.state.encode()):
            raise BadSsoRequest("the state does not match the login this browser started")
        metadata = await self.metadata(provider)
        iss = query.get("iss")
        if (iss is not None or metadata.authorization_response_iss_parameter_supported) and (
            iss != provider.issuer
        ):  # RFC 9207: an answer from another provider (mix-up)
            raise BadSsoRequest("the answer comes from another issuer than the login's")
        if "error" in query:
            raise SsoRejected(f"the provider refused the login ({_word(query['error'])})")
        code = query.get("code")
        if not code:
            raise BadSsoRequest("the callback has no code")
        token = await self._exchange(provider, metadata, code, login, redirect_uri)
        id_token = token.get("id_token")
        if not isinstance(id_token, str):
            raise SsoRejected("the provider answered without an ID token")
        access_token = token.get("access_token")
        claims = await self._verify_id_token(
            provider, metadata, id_token, login.nonce, access_token
        )
        subject = str(claims["sub"])
        email, verified = claims.get("email"), claims.get("email_verified")
        name = claims.get("name")
        if not isinstance(email, str) or verified is None:
            if not isinstance(access_token, str):
                raise SsoRejected("the ID token has no email and there is no access token")
            info = await self._userinfo(metadata, access_token, subject)
            email, verified = info.get("email"), info.get("email_verified")
            name = name or info.get("name")
        return VerifiedLogin(
            tenant=login.tenant,
            issuer=provider.issuer,
            subject=subject,
            email=_allowed_email(email, verified, provider.allowed_domains),
            name=name if isinstance(name, str) else "",
            return_to=login.return_to,
        )

    # -- discovery and keys ------------------------------------------------------------------

    async def metadata(self, provider: OidcProvider) -> ProviderMetadata:
        """The provider's discovery document (cached), checked to name the configured issuer."""
        cached = self._metadata.get(provider.issuer)
        if cached is not None and cached.age() < self._metadata_ttl_s:
            return cached.value
        _check_url(provider.issuer, "issuer")
        url = provider.issuer.rstrip("/") + "/.well-known/openid-configuration"
        metadata = await self._get(url, "discovery document", ProviderMetadata)
        if metadata.issuer != provider.issuer:
            raise ProviderUnavailable(
                f"the discovery document names the issuer {metadata.issuer!r},"
                f" not the configured {provider.issuer!r}"
            )
        for what in ("authorization_endpoint", "token_endpoint", "jwks_uri"):
            _check_url(getattr(metadata, what), what)
        if metadata.userinfo_endpoint:
            _check_url(metadata.userinfo_endpoint, "userinfo_endpoint")
        self._metadata[provider.issuer] = _Cached(metadata)
        return metadata

    async def _key(self, metadata: ProviderMetadata, kid: str | None, alg: str) -> Key | None:
        cached = self._keys.get(metadata.jwks_uri)
        if cached is not None and cached.age() < self._metadata_ttl_s:
            key = _pick(cached.value, kid, alg)
            if key is not None or cached.age() < self._jwks_min_interval_s:
                return key
        async with self._lock:
            cached = self._keys.get(metadata.jwks_uri)  # another login may have fetched them
            if cached is None or cached.age() >= self._jwks_min_interval_s:
                document = await self._get(metadata.jwks_uri, "key set", dict[str, Any])
                try:
                    keys = KeySet.import_key_set(
                        {"keys": [k for k in document.get("keys", []) if _for_signing(k)]}
                    )
                except (JoseError, ValueError, TypeError) as e:
                    raise ProviderUnavailable("the provider's key set is not valid") from e
                cached = self._keys[metadata.jwks_uri] = _Cached(keys)
        return _pick(cached.value, kid, alg)

    async def _get(self, url: str, what: str, kind: type[T]) -> T:
        try:
            response = await self._http.get(url, headers={"Accept": "application/json"})
        except httpx2.HTTPError as e:
            raise ProviderUnavailable(f"the provider's {what} could not be fetched") from e
        if response.status_code != 200:
            raise ProviderUnavailable(f"the provider's {what} answered {response.status_code}")
        try:
            return msgspec.json.decode(response.content, type=kind)
        except msgspec.DecodeError as e:  # ValidationError is one
            raise ProviderUnavailable(f"the provider's {what} is not valid: {e}") from e

    # -- the code exchange, the ID token, userinfo -------------------------------------------

    def _client(self, provider: OidcProvider, metadata: ProviderMetadata) -> AsyncOAuth2Client:
        methods = metadata.token_endpoint_auth_methods_supported
        method = next(
            (m for m in ("client_secret_basic", "client_secret_post") if m in methods), None
        )
        if method is None:
            raise ProviderUnavailable(
                "the provider supports neither client_secret_basic nor client_secret_post"
            )
        return AsyncOAuth2Client(
            client_id=provider.client_id,
            client_secret=provider.client_secret,
            token_endpoint_auth_method=method,
            code_challenge_method="S256",
            timeout=self._timeout,
            verify=self._tls,
        )

    async def _exchange(
        self,
        provider: OidcProvider,
        metadata: ProviderMetadata,
        code: str,
        login: LoginState,
        redirect_uri: str,
    ) -> Mapping[str, object]:
        async with self._client(provider, metadata) as client:
            try:
                token = await client.fetch_token(
                    metadata.token_endpoint,
                    grant_type="authorization_code",
                    code=code,
                    redirect_uri=redirect_uri,
                    code_verifier=login.code_verifier,
                )
            except OAuthError as e:
                raise SsoRejected(f"the provider refused the code ({_word(str(e.error))})") from e
            except (httpx2.HTTPError, ValueError) as e:
                raise ProviderUnavailable("the provider's token endpoint did not answer") from e
        if not isinstance(token, Mapping):
            raise ProviderUnavailable("the provider's token endpoint did not answer with JSON")
        return token

    async def _verify_id_token(
        self,
        provider: OidcProvider,
        metadata: ProviderMetadata,
        id_token: str,
        nonce: str,
        access_token: object,
    ) -> dict[str, Any]:
        try:
            header = extract_compact(id_token.encode()).headers()
        except (JoseError, ValueError) as e:
            raise SsoRejected("the ID token is not a signed JWT") from e
        alg = header.get("alg")
        allowed = ALGORITHMS.intersection(metadata.id_token_signing_alg_values_supported)
        if not isinstance(alg, str) or alg not in allowed:
            accepted = ", ".join(sorted(allowed))
            raise SsoRejected(
                f"the ID token is signed with {_word(str(alg))}; accepted: {accepted}"
            )
        kid = header.get("kid")
        key = await self._key(metadata, kid if isinstance(kid, str) else None, alg)
        if key is None:
            raise SsoRejected("no key of the provider's matches the ID token's")
        try:
            claims = jwt.decode(id_token, key, algorithms=[alg]).claims
        except (JoseError, ValueError) as e:
            raise SsoRejected("the ID token's signature does not verify") from e
        registry = jwt.JWTClaimsRegistry(
            leeway=self._leeway_s,
            iss={"essential": True, "value": provider.issuer},
            aud={"essential": True, "value": provider.client_id},
            sub={"essential": True},
            exp={"essential": True},
            iat={"essential": True},
            nonce={"essential": True},
        )
        try:
            registry.validate(claims)
        except ExpiredTokenError as e:
            raise SsoRejected("the ID token has expired") from e
        except MissingClaimError as e:
            raise SsoRejected(f"the ID token lacks {e.claim}") from e
        except ClaimError as e:
            raise SsoRejected(f"the ID token's {e.claim} is not valid for this login") from e
        audiences = claims["aud"] if isinstance(claims["aud"], list) else [claims["aud"]]
        azp = claims.get("azp")
        if (azp is not None or len(audiences) > 1) and azp != provider.client_id:
            raise SsoRejected("the ID token was issued to another party (azp)")
        if not isinstance(claims["nonce"], str) or not hmac.compare_digest(
            claims["nonce"].encode(), nonce.encode()
        ):
            raise SsoRejected("the ID token's nonce is not this login's")
        at_hash = claims.get("at_hash")
        if at_hash is not None and (
            not isinstance(access_token, str) or at_hash != _half_hash(access_token, alg)
        ):
            raise SsoRejected("the ID token's at_hash does not match the access token")
        return claims

    async def _userinfo(
        self, metadata: ProviderMetadata, access_token: str, subject: str
    ) -> dict[str, Any]:
        if not metadata.userinfo_endpoint:
            raise SsoRejected("the ID token has no verified email and the provider no userinfo")
        try:
            response = await self._http.get(
                metadata.userinfo_endpoint,
                headers={"Authorization": f"Bearer {access_token}", "Accept": "application/json"},
            )
        except httpx2.HTTPError as e:
            raise ProviderUnavailable("the provider's userinfo endpoint did not answer") from e
        if response.status_code >= 500:
            raise ProviderUnavailable(f"the provider's userinfo answered {response.status_code}")
        if response.status_code != 200:
            raise SsoRejected(f"the provider's userinfo answered {response.status_code}")
        if response.headers.get("Content-Type", "").split(";")[0].strip() != "application/json":
            raise SsoRejected("the provider's userinfo is not JSON (signed userinfo is not read)")
        try:
            info = msgspec.json.decode(response.content, type=dict[str, Any])
        except msgspec.DecodeError as e:
            raise SsoRejected("the provider's userinfo is not valid JSON") from e
        if info.get("sub") != subject:  # OIDC Core 5.3.2: else it may be someone else's
            raise SsoRejected("the provider's userinfo is about another subject")
        return info


def _pick(keys: KeySet, kid: str | None, alg: str) -> Key | None:
    """The key that verifies ``alg`` under ``kid``; without a kid, the only candidate."""
    kty = _KEY_TYPES[alg[:2]]
    candidates = [
        key
        for key in keys
        if key.key_type == kty and key.get("alg") in (None, alg) and (kid is None or key.kid == kid)
    ]
    return candidates[0] if len(candidates) == 1 or (kid and candidates) else None


def _for_signing(entry: object) -> bool:
    return isinstance(entry, dict) and entry.get("use") in (None, "sig")


def _allowed_email(email: object, verified: object, domains: tuple[str, ...]) -> str:
    if not isinstance(email, str) or email.count("@") != 1:
        raise SsoRejected("the provider gave no email address")
    # A boolean per OIDC Core 5.1; some providers (Cognito) send the string "true".
    if verified is not True and verified != "true":
        raise SsoRejected("the provider has not verified the email address")
    email = email.strip().lower()
    local, domain = email.split("@")
    if not local or not domain:
        raise SsoRejected("the provider gave no email address")
    if domains and domain not in {d.lower() for d in domains}:
        raise SsoRejected(f"email addresses at {domain} may not sign in to this tenant")
    return email


def _word(value: str) -> str:
    """A provider-supplied error code, fit to repeat: short, no markup or control chars."""
    cleaned = "".join(c for c in value[:64] if c.isalnum() or c in "_-.")
    return cleaned or "unspecified"
