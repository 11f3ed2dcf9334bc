"""Bearer tokens: JWTs signed with Ed25519, verified locally without a bus round trip.

The claims name the tenant (``tid``), the subject, roles, space-separated scopes and the
grants (``acl``) that narrow the roles to named resources (``bus.acl``).
Tokens come from the token endpoint (signed by the actor hosts' rotating keys, ADR 14,
named by ``kid``) or from the operator's own key file (``perkbus token``, the demo
credentials). The verifier knows the file key and the hosts' published keys; a token
naming a key it has not seen makes the edge fetch the keys again (:class:`UnknownKey`).
"""

from __future__ import annotations

import time
from collections import OrderedDict
from pathlib import Path

from joserfc import jwt
from joserfc.errors import JoseError
from joserfc.jwk import OKPKey
from joserfc.jws import extract_compact

from bus import subjects
from bus.messages import Principal
from bus.scopes import permissions

ALGORITHM = "Ed25519"


class Unauthenticated(Exception):
    pass


class UnknownKey(Unauthenticated):
    """The token names a key the verifier does not have (yet): fetch the keys, retry."""

    def __init__(self, kid: str) -> None:
        super().__init__(f"invalid token: unknown key {kid!r}")
        self.kid = kid


class Identity:
    __slots__ = ("issued_at", "permissions", "principal", "session_id", "tenant")

    def __init__(
        self, tenant: str, principal: Principal, issued_at: int = 0, session_id: str = ""
    ) -> None:
        self.tenant = tenant
        self.principal = principal
        #: When the token was issued (``iat``), and the person's session (``sid``).
        self.issued_at = issued_at
        self.session_id = session_id
        #: The token's scopes that one of its roles allows (``bus.scopes``).
        self.permissions = permissions(principal.roles, principal.scopes)

    def has_scope(self, scope: str) -> bool:
        return scope in self.permissions

    def why_not(self, scope: str) -> str:
        if scope not in self.principal.scopes:
            return f"the token lacks the scope {scope}"
        roles = ", ".join(self.principal.roles) or "no role"
        return f"{roles} may not use the scope {scope}"


class TokenVerifier:
    """Verifies bearer tokens; a verified token is remembered until it expires.

    An Ed25519 verification costs tens of microseconds — measured at about half the edge's
    CPU per request — while a client sends the same token many times. The cache is keyed by
    the whole token string, so a hit needs the exact signed token; expiry is re-checked on
    every hit.
    """

    def __init__(
        self, public_key_pem: bytes, issuer: str, audience: str, cache_size: int = 10_000
    ) -> None:
        self._key = OKPKey.import_key(public_key_pem)
        #: The operator's key, under its RFC 7638 thumbprint, and the hosts' keys.
        self.file_kid = self._key.thumbprint()
        self._keys: dict[str, OKPKey] = {self.file_kid: self._key}
        # OrderedDict: dropping the oldest entry is O(1); a dict's next(iter()) walks
        # over every slot deleted before it, and slows down the longer it runs.
        self._cache: OrderedDict[str, tuple[Identity, int]] = OrderedDict()
        self._cache_size = cache_size
        self._claims = jwt.JWTClaimsRegistry(
            iss={"essential": True, "value": issuer},
            aud={"essential": True, "value": audience},
            exp={"essential": True},
            sub={"essential": True},
            tid={"essential": True},
        )

    @classmethod
    def from_file(cls, path: str, issuer: str, audience: str) -> TokenVerifier:
        return cls(Path(path).read_bytes(), issuer, audience)

    def use_published(self, jwks: dict[str, object]) -> None:
        """Trust the hosts' published keys (a JWKS document) besides the file key."""
        keys: dict[str, OKPKey] = {self.file_kid: self._key}
        entries = jwks.get("keys", [])
        for entry in entries if isinstance(entries, list) else []:
            if isinstance(entry, dict) and entry.get("kty") == "OKP" and entry.get("kid"):
                keys[str(entry["kid"])] = OKPKey.import_key(
                    {k: v for k, v in entry.items() if k in ("kty", "crv", "x")}
                )
        self._keys = keys

    def jwks(self) -> dict[str, object]:
        """Every key this edge trusts, public halves only."""
        return {
            "keys": [
                {**key.as_dict(private=False), "kid": kid, "use": "sig", "alg": ALGORITHM}
                for kid, key in self._keys.items()
            ]
        }

    def verify(self, authorization: str | None) -> Identity:
        if not authorization:
            raise Unauthenticated("send Authorization: Bearer <token>")
        scheme, _, token = authorization.partition(" ")
        token = token.strip()
        if scheme.lower() != "bearer" or not token:
            raise Unauthenticated("the Authorization header must be 'Bearer <token>'")
        cached = self._cache.get(token)
        if cached is not None:
            identity, expires = cached
            if time.time() < expires:
                return identity
            del self._cache[token]
        identity, expires = self._verify(token)
        if len(self._cache) >= self._cache_size:
            self._cache.popitem(last=False)  # the oldest entry
        self._cache[token] = (identity, expires)
        return identity

    def _verify(self, token: str) -> tuple[Identity, int]:
        try:
            kid = str(extract_compact(token.encode()).headers().get("kid") or self.file_kid)
        except (JoseError, ValueError) as e:
            raise Unauthenticated(f"invalid token: {e}") from e
        key = self._keys.get(kid)
        if key is None:
            raise UnknownKey(kid)
        try:
            decoded = jwt.decode(token, key, algorithms=[ALGORITHM])
            self._claims.validate(decoded.claims)
        except (JoseError, ValueError) as e:
            raise Unauthenticated(f"invalid token: {e}") from e
        claims = decoded.claims
        tenant = claims["tid"]
        if not isinstance(tenant, str):
            raise Unauthenticated("invalid token: tid is not a string")
        try:
            subjects.check_token(tenant, "tenant")
        except subjects.InvalidToken as e:
            raise Unauthenticated(f"invalid token: {e}") from e
        roles = claims.get("roles", [])
        scope = claims.get("scope", "")
        grants = claims.get("acl", [])
        if not isinstance(grants, list):
            raise Unauthenticated("invalid token: acl is not a list")
        principal = Principal(
            subject=str(claims["sub"]),
            roles=tuple(str(r) for r in roles) if isinstance(roles, list) else (),
            scopes=tuple(str(scope).split()),
            grants=tuple(str(g) for g in grants),
        )
        try:
            expires = int(claims["exp"])
            issued_at = int(claims.get("iat", 0))
        except (TypeError, ValueError) as e:
            raise Unauthenticated("invalid token: exp or iat is not a number") from e
        session_id = str(claims.get("sid", ""))
        return Identity(tenant, principal, issued_at, session_id), expires
