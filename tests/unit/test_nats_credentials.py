"""nkeys, NATS JWTs and minted users (ADR 17), checked against nats-io's own ``nkeys``."""

from __future__ import annotations

import base64
import hashlib
import os
import stat
import time
from pathlib import Path

import msgspec
import nkeys
import pytest
from hypothesis import given
from hypothesis import strategies as st

from bus import nats_jwt, nkey
from bus.nats_auth import NatsAuthority, creds_file, user_jwt_of
from bus.nats_jwt import AccountNats, Claims, InvalidJwt, OperatorNats, UserNats
from bus.nkey import InvalidNKey, NKey, Role
from bus.subjects import InvalidToken

ROLES = st.sampled_from(list(Role))


@given(ROLES, st.binary(min_size=32, max_size=32))
def test_seeds_are_encoded_as_nkeys_encodes_them(role: Role, raw: bytes) -> None:
    theirs = nkeys.encode_seed(raw, int(role)).decode()
    assert nkey.encode_seed(role, raw) == theirs
    assert nkey.decode_seed(theirs) == (role, raw)


@pytest.mark.parametrize("role", list(Role))
def test_a_generated_key_is_the_same_key_to_nkeys(role: Role) -> None:
    ours = NKey.generate(role)
    theirs = nkeys.from_seed(ours.seed.encode())
    assert theirs.public_key.decode() == ours.public
    assert ours.public[0] == {Role.OPERATOR: "O", Role.ACCOUNT: "A", Role.USER: "U"}[role]
    assert ours.seed.startswith("S" + ours.public[0])
    assert nkey.verify(ours.public, b"nonce", theirs.sign(b"nonce"))
    assert theirs.verify(b"nonce", ours.sign(b"nonce"))
    assert not nkey.verify(ours.public, b"nonce", NKey.generate(role).sign(b"nonce"))
    assert NKey.from_seed(ours.seed).public == ours.public


def test_malformed_keys_are_refused() -> None:
    key = NKey.generate(Role.USER)
    flipped = key.public[:10] + ("A" if key.public[10] != "A" else "B") + key.public[11:]
    with pytest.raises(InvalidNKey, match="checksum"):
        nkey.decode_public(flipped)
    with pytest.raises(InvalidNKey, match="expected an account key"):
        nkey.decode_public(key.public, Role.ACCOUNT)
    with pytest.raises(InvalidNKey, match="expected an operator seed"):
        NKey.from_seed(key.seed, Role.OPERATOR)
    with pytest.raises(InvalidNKey):
        nkey.decode_seed(key.public)


def _claims_json(token: str) -> bytes:
    body = token.split(".")[1]
    return base64.urlsafe_b64decode(body + "=" * (-len(body) % 4))


def test_a_user_jwt_has_the_shape_the_server_reads() -> None:
    account, user = NKey.generate(Role.ACCOUNT), NKey.generate(Role.USER)
    rules = nats_jwt.SubjectRules(allow=["pb.evt.acme.>"])
    claims = Claims(sub=user.public, name="u", nats=UserNats(sub=rules), exp=2_000_000_000)
    token = nats_jwt.encode(claims, account, issued_at=1_700_000_000)
    head, body, signature = token.split(".")

    header = base64.urlsafe_b64decode(head + "=" * (-len(head) % 4))
    assert msgspec.json.decode(header) == {"typ": "JWT", "alg": "ed25519-nkey"}
    decoded = msgspec.json.decode(_claims_json(token))
    assert decoded["iss"] == account.public
    assert decoded["sub"] == user.public
    assert (decoded["iat"], decoded["exp"]) == (1_700_000_000, 2_000_000_000)
    assert decoded["nats"] == {
        "type": "user",
        "version": 2,
        "pub": {},
        "sub": {"allow": ["pb.evt.acme.>"]},
        "subs": -1,
        "data": -1,
        "payload": -1,
    }
    # jti: base32 SHA-512/256 of the claims without it, as nats-io/jwt v2 computes it
    without_jti = msgspec.json.encode(
        msgspec.structs.replace(nats_jwt.decode(token, UserNats), jti="")
    )
    digest = hashlib.new("sha512_256", without_jti).digest()
    assert decoded["jti"] == base64.b32encode(digest).decode().rstrip("=")
    # nats-io's nkeys verifies the signature with the account's key
    signer = nkeys.from_seed(account.seed.encode())
    padded = signature + "=" * (-len(signature) % 4)
    assert signer.verify(f"{head}.{body}".encode(), base64.urlsafe_b64decode(padded))
    assert nats_jwt.decode(token, UserNats) == msgspec.structs.replace(
        claims, iss=account.public, iat=1_700_000_000, jti=decoded["jti"]
    )


def test_forged_or_misfiled_jwts_are_refused() -> None:
    operator, account = NKey.generate(Role.OPERATOR), NKey.generate(Role.ACCOUNT)
    user = NKey.generate(Role.USER)
    token = nats_jwt.encode(Claims(sub=user.public, name="u", nats=UserNats()), account, 1)
    head, _, signature = token.split(".")
    widened = _claims_json(token).replace(b'"pub":{}', b'"pub":{"allow":[">"]}')
    assert widened != _claims_json(token)
    forged = base64.urlsafe_b64encode(widened).decode().rstrip("=")
    with pytest.raises(InvalidJwt, match="signature"):
        nats_jwt.decode(f"{head}.{forged}.{signature}", UserNats)
    with pytest.raises(InvalidJwt):
        nats_jwt.decode(token, AccountNats)  # a user JWT is not an account JWT
    with pytest.raises(InvalidJwt, match="account key must sign"):
        nats_jwt.encode(Claims(sub=user.public, name="u", nats=UserNats()), operator, 1)
    with pytest.raises(InvalidNKey):  # an account's claims must name an account
        nats_jwt.encode(Claims(sub=user.public, name="a", nats=AccountNats()), operator, 1)
    with pytest.raises(InvalidJwt):
        nats_jwt.decode("not.a.jwt", UserNats)


def test_the_authority_keeps_its_keys_and_chains_its_jwts(tmp_path: Path) -> None:
    authority = NatsAuthority.load_or_create(tmp_path / "auth")
    again = NatsAuthority.load_or_create(tmp_path / "auth")
    assert again.operator.public == authority.operator.public
    assert again.account.public == authority.account.public
    for name in ("operator.nk", "account.nk", "system-account.nk"):
        assert stat.S_IMODE(os.stat(tmp_path / "auth" / name).st_mode) == 0o600

    now = int(time.time())
    operator = nats_jwt.decode(authority.operator_jwt(now), OperatorNats)
    assert operator.iss == operator.sub == authority.operator.public
    assert operator.nats.system_account == authority.system_account.public
    account = nats_jwt.decode(authority.account_jwt(8, now), AccountNats)
    assert (account.iss, account.sub) == (authority.operator.public, authority.account.public)
    assert account.nats.limits.disk_storage == nats_jwt.NO_LIMIT  # JetStream on
    [(source, [mapping])] = account.nats.mappings.items()
    assert source == "pb.rpc.*.*"
    assert "partition(8,1)" in mapping.subject


def test_tenant_credentials_subscribe_to_the_tenants_events_only_and_expire(
    tmp_path: Path,
) -> None:
    authority = NatsAuthority.load_or_create(tmp_path)
    creds = authority.tenant_credentials("acme", now=1_000, ttl_s=3_600)
    user = nats_jwt.decode(user_jwt_of(creds), UserNats)
    assert user.iss == authority.account.public
    assert user.name == "integrator@acme"
    assert user.nats.sub.allow == ["pb.evt.acme.>"]
    assert user.nats.sub.deny == [
        "pb.evt.acme.funding.>",
        "pb.evt.acme.identity.>",
        "pb.evt.acme.people.>",
    ]
    assert (user.nats.pub.allow, user.nats.pub.deny) == ([], [">"])
    assert user.exp == 4_600
    seed = next(line for line in creds.splitlines() if line.startswith("SU"))
    assert NKey.from_seed(seed, Role.USER).public == user.sub

    service = nats_jwt.decode(user_jwt_of(authority.service_credentials(1_000)), UserNats)
    assert service.exp is None
    assert service.nats.pub == service.nats.sub == nats_jwt.SubjectRules()

    with pytest.raises(ValueError, match="must expire"):
        authority.tenant_credentials("acme", now=1_000, ttl_s=0)
    with pytest.raises(InvalidToken):
        authority.tenant_credentials("acme.>", now=1_000, ttl_s=60)


def test_creds_files_read_back() -> None:
    assert user_jwt_of(creds_file("eyJ.x.y", "SUABC")) == "eyJ.x.y"
    with pytest.raises(InvalidJwt):
        user_jwt_of("nothing here")
