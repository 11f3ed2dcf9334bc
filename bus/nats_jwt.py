"""NATS JWTs: the signed claims of NATS's decentralised (operator mode) auth.

A NATS server in operator mode trusts one **operator** key. The operator signs
**account** JWTs (an account is a subject namespace with limits, here: JetStream on, the
tenant partition mapping); an account signs **user** JWTs, which name the user's public
key, what it may publish and subscribe to, and when it expires. A client proves it holds
the user's private key by signing the server's nonce, so the server needs only the
operator's and the accounts' JWTs, never a list of users: a user minted later, by anyone
holding the account's seed, is accepted without touching the server.

A JWT here is ``base64url(header).base64url(claims).base64url(signature)``, the header
``{"typ":"JWT","alg":"ed25519-nkey"}``, the signature Ed25519 by the issuer's nkey over
the first two parts, and ``jti`` the unpadded base32 SHA-512/256 of the claims (as
nats-io/jwt v2 computes it). The claim shapes follow nats-io/jwt v2; only the fields
perkbus uses are modelled, and decoding ignores the rest.
"""

from __future__ import annotations

import base64
import hashlib
from typing import Any, Generic, TypeVar

import msgspec

from bus import nkey

ALGORITHM = "ed25519-nkey"
NO_LIMIT = -1


class InvalidJwt(ValueError):
    """A token that is malformed, not of the expected kind, or not signed by its issuer."""


class Header(msgspec.Struct, frozen=True):
    typ: str = "JWT"
    alg: str = ALGORITHM


class SubjectRules(msgspec.Struct, frozen=True, omit_defaults=True):
    """Subjects allowed and denied (wildcards allowed); empty allow means all."""

    allow: list[str] = []
    deny: list[str] = []


class UserNats(msgspec.Struct, frozen=True, tag_field="type", tag="user"):
    pub: SubjectRules = SubjectRules()
    sub: SubjectRules = SubjectRules()
    #: Limits of the user; -1 is "the account's". Always written: a missing one reads as 0.
    subs: int = NO_LIMIT
    data: int = NO_LIMIT
    payload: int = NO_LIMIT
    version: int = 2


class AccountLimits(msgspec.Struct, frozen=True):
    subs: int = NO_LIMIT
    data: int = NO_LIMIT
    payload: int = NO_LIMIT
    imports: int = NO_LIMIT
    exports: int = NO_LIMIT
    wildcards: bool = True
    conn: int = NO_LIMIT
    leaf: int = NO_LIMIT
    #: JetStream is on for an account whose memory or disk storage is not 0.
    mem_storage: int = 0
    disk_storage: int = 0
    streams: int = 0
    consumer: int = 0


#: An account with JetStream and no limit of its own (the server's limits still hold).
UNLIMITED_WITH_JETSTREAM = AccountLimits(
    mem_storage=NO_LIMIT, disk_storage=NO_LIMIT, streams=NO_LIMIT, consumer=NO_LIMIT
)


class WeightedMapping(msgspec.Struct, frozen=True):
    subject: str
    weight: int = 100


class AccountNats(msgspec.Struct, frozen=True, tag_field="type", tag="account"):
    limits: AccountLimits = AccountLimits()
    #: Subject mappings of the account (operator mode ignores the server config's).
    mappings: dict[str, list[WeightedMapping]] = {}
    version: int = 2


class OperatorNats(msgspec.Struct, frozen=True, tag_field="type", tag="operator"):
    system_account: str = ""
    version: int = 2


N = TypeVar("N", UserNats, AccountNats, OperatorNats)


class Claims(msgspec.Struct, Generic[N], frozen=True, omit_defaults=True):
    """The registered claims every NATS JWT carries, and its kind's ``nats`` section."""

    sub: str
    name: str
    nats: N
    iss: str = ""
    iat: int = 0
    exp: int | None = None
    jti: str = ""


_ROLE_OF: dict[type[msgspec.Struct], tuple[nkey.Role, nkey.Role]] = {
    # kind of claims: (role of its subject, role of its issuer)
    UserNats: (nkey.Role.USER, nkey.Role.ACCOUNT),
    AccountNats: (nkey.Role.ACCOUNT, nkey.Role.OPERATOR),
    OperatorNats: (nkey.Role.OPERATOR, nkey.Role.OPERATOR),
}


_DECODERS: dict[type[msgspec.Struct], msgspec.json.Decoder[Any]] = {
    UserNats: msgspec.json.Decoder(Claims[UserNats]),
    AccountNats: msgspec.json.Decoder(Claims[AccountNats]),
    OperatorNats: msgspec.json.Decoder(Claims[OperatorNats]),
}


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def encode(claims: Claims[N], issuer: nkey.NKey, issued_at: int) -> str:
    """Sign ``claims`` with ``issuer``, which must be of the kind that issues them."""
    subject_role, issuer_role = _ROLE_OF[type(claims.nats)]
    nkey.decode_public(claims.sub, subject_role)
    if issuer.role != issuer_role:
        raise InvalidJwt(f"an {issuer_role.name.lower()} key must sign these claims")
    unsigned = msgspec.structs.replace(claims, iss=issuer.public, iat=issued_at, jti="")
    digest = hashlib.new("sha512_256", msgspec.json.encode(unsigned)).digest()
    jti = base64.b32encode(digest).decode().rstrip("=")
    signed = msgspec.structs.replace(unsigned, jti=jti)
    head = _b64(msgspec.json.encode(Header())) + "." + _b64(msgspec.json.encode(signed))
    return head + "." + _b64(issuer.sign(head.encode()))


def decode(token: str, kind: type[N]) -> Claims[N]:
    """The claims of ``token``, checked to be of ``kind`` and signed by their issuer.

    Expiry is the server's business, and is not checked here.
    """
    try:
        head, body, signature = token.strip().split(".")
        header = msgspec.json.decode(_unb64(head), type=Header)
        claims: Claims[N] = _DECODERS[kind].decode(_unb64(body))
        raw_signature = _unb64(signature)
    except (ValueError, msgspec.ValidationError) as e:
        raise InvalidJwt(f"not a NATS {kind.__name__.removesuffix('Nats').lower()} JWT: {e}") from e
    if header.alg != ALGORITHM:
        raise InvalidJwt(f"unexpected algorithm {header.alg!r}")
    _, issuer_role = _ROLE_OF[kind]
    try:
        nkey.decode_public(claims.iss, issuer_role)
    except nkey.InvalidNKey as e:
        raise InvalidJwt(f"bad issuer: {e}") from e
    if not nkey.verify(claims.iss, f"{head}.{body}".encode(), raw_signature):
        raise InvalidJwt("the signature is not the issuer's")
    return claims
