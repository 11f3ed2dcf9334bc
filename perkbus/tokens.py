"""Signing keys and access tokens, until the OAuth2 server takes over issuing them.

The Ed25519 key pair lives in the var directory (private key mode 0600); the edge is
given only the public half.
"""

from __future__ import annotations

import base64
import contextlib
import os
import re
import time
import uuid
from pathlib import Path

from joserfc import jwt
from joserfc.jwk import OKPKey

from bus import subjects
from bus.messages.budget import BUDGET_ID_SYNTAX
from bus.scopes import ALL_SCOPES, ROLE_PERMISSIONS, ROLES
from edge.auth import ALGORITHM

_GRANT = re.compile(f"budget:{BUDGET_ID_SYNTAX}")

#: The subjects of the tokens an operator mints (``perkbus token`` by default, and the
#: demo's owner token) start with this. No person id and no API client id holds a colon,
#: so a person a tenant's admin adds can never share such a token's idempotency keys or
#: have a change to them revoke it (``edge.revocations``).
OPERATOR = "operator:"
CLI_SUBJECT = f"{OPERATOR}cli"
DEMO_SUBJECT = f"{OPERATOR}demo"


def ensure_keypair(private_file: str | Path, public_file: str | Path) -> None:
    private_path, public_path = Path(private_file), Path(public_file)
    if private_path.exists():
        if not public_path.exists():
            key = OKPKey.import_key(private_path.read_bytes())
            public_path.write_bytes(key.as_pem(private=False))
        return
    private_path.parent.mkdir(parents=True, exist_ok=True)
    public_path.parent.mkdir(parents=True, exist_ok=True)
    key = OKPKey.generate_key("Ed25519")
    fd = os.open(private_path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(key.as_pem(private=True))
    public_path.write_bytes(key.as_pem(private=False))


def token_rights(
    tenant: str, roles: list[str], scopes: list[str], grants: list[str]
) -> tuple[list[str], list[str]]:
    """The roles and scopes of a token an operator asks for: owner if no role, and every
    scope the roles allow if none is named (a token without scopes may do nothing).
    ValueError names what the edge would refuse, or what the token could never use."""
    try:
        subjects.check_token(tenant, "tenant")
    except subjects.InvalidToken as e:
        raise ValueError(str(e)) from None
    roles = roles or ["owner"]
    if unknown := [r for r in roles if r not in ROLES]:
        raise ValueError(f"unknown role {' '.join(unknown)} (roles: {', '.join(ROLES)})")
    allowed = frozenset().union(*(ROLE_PERMISSIONS[r] for r in roles))
    if unknown := [s for s in scopes if s not in ALL_SCOPES]:
        raise ValueError(f"unknown scope {' '.join(unknown)} (docs/permissions.md lists them)")
    if beyond := [s for s in scopes if s not in allowed]:
        raise ValueError(f"{', '.join(roles)} may not use {' '.join(beyond)}")
    if bad := [g for g in grants if not _GRANT.fullmatch(g)]:
        raise ValueError(f"a grant is budget:<budget id>, not {' '.join(bad)}")
    return roles, list(dict.fromkeys(scopes)) or sorted(allowed)


def mint(
    private_file: str | Path,
    *,
    tenant: str,
    subject: str,
    scopes: list[str],
    roles: list[str],
    ttl_s: int,
    issuer: str,
    audience: str,
    grants: list[str] | None = None,
) -> str:
    key = OKPKey.import_key(Path(private_file).read_bytes())
    now = int(time.time())
    claims = {
        "iss": issuer,
        "aud": audience,
        "sub": subject,
        "tid": tenant,
        "roles": roles,
        "scope": " ".join(scopes),
        "acl": grants or [],
        "iat": now,
        "exp": now + ttl_s,
        "jti": uuid.uuid4().hex,
    }
    return jwt.encode({"alg": ALGORITHM}, claims, key, algorithms=[ALGORITHM])


class NoMasterKey(Exception):
    """The master key is in neither the settings nor its file, and must not be made here."""


def master_key(inline_base64: str, key_file: str | Path, create: bool = True) -> bytes:
    """The master key from settings, or from its file (created, mode 0600, if missing and
    ``create``; else :class:`NoMasterKey`)."""
    if inline_base64:
        key = base64.b64decode(inline_base64)
    else:
        path = Path(key_file)
        if not path.exists() and not create:
            raise NoMasterKey(
                f"no master key: set PERKBUS_SECURITY_MASTER_KEY, or put it in {path}. Every"
                " actor host of an installation must use the same one (a key made here would"
                " seal data the other hosts cannot open); `perkbus up` makes one on first start"
            )
        if not path.exists():
            path.parent.mkdir(parents=True, exist_ok=True)
            with contextlib.suppress(FileExistsError):
                fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
                with os.fdopen(fd, "wb") as f:
                    f.write(base64.b64encode(os.urandom(32)) + b"\n")
        key = base64.b64decode(path.read_bytes().strip())
    if len(key) != 32:
        raise ValueError("the master key must be 32 bytes, base64-encoded")
    return key
