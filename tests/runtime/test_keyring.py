"""Token signing keys: sealed at rest, rotated, published while tokens they signed live."""

from __future__ import annotations

import os

import pytest
from joserfc import jwt
from joserfc.jwk import OKPKey

from actors.keyring import KeyRing
from actors.sealing import MasterKey, SealError
from storage.ports import Ledger

DAY_MS = 86_400_000


async def test_keys_rotate_and_stay_published_while_their_tokens_live(ledger: Ledger) -> None:
    master = MasterKey(os.urandom(32))
    ring = KeyRing(ledger, master, rotate_after_s=30 * 86_400, token_ttl_s=900)
    await ring.load(now_ms=0)
    (first,) = ring.kids
    await ring.load(now_ms=10 * DAY_MS)  # not due: the same key
    assert ring.kids == [first]
    other_host = KeyRing(ledger, master, rotate_after_s=30 * 86_400, token_ttl_s=900)
    await other_host.load(now_ms=30 * DAY_MS)  # due: another host adds the next key
    await ring.load(now_ms=30 * DAY_MS)
    second = ring.kids[0]
    assert ring.kids == [second, first] == other_host.kids

    token = ring.sign({"sub": "x"})
    published = ring.jwks(now_ms=30 * DAY_MS + 60_000)
    keys = {k["kid"]: k for k in published["keys"]}
    assert set(keys) == {first, second}  # the old key may still have signed live tokens
    assert "d" not in keys[second]  # public halves only
    verified = jwt.decode(token, OKPKey.import_key(keys[second]), algorithms=["Ed25519"])
    assert verified.claims == {"sub": "x"}
    later = ring.jwks(now_ms=30 * DAY_MS + 17 * 60_000)  # its last tokens have expired
    assert [k["kid"] for k in later["keys"]] == [second]

    (stored,) = [k for k in await ledger.signing_keys() if k.kid == second]
    assert b"PRIVATE" not in stored.private_sealed  # sealed under the master key
    stranger = KeyRing(ledger, MasterKey(os.urandom(32)), 30 * 86_400, 900)
    with pytest.raises(SealError):  # another master key cannot open them
        await stranger.load(now_ms=30 * DAY_MS)


async def test_a_host_that_has_not_read_the_ring_since_a_rotation_is_still_believed(
    ledger: Ledger,
) -> None:
    """Hosts read the ring when they wake (hourly): one may sign with the old key for an
    hour after another made the next. Every host publishes the old key until those
    tokens too have expired."""
    master = MasterKey(os.urandom(32))
    hour_s, ttl_s = 3600, 900
    rotating = KeyRing(ledger, master, 30 * 86_400, ttl_s, reload_every_s=hour_s)
    slow = KeyRing(ledger, master, 30 * 86_400, ttl_s, reload_every_s=hour_s)
    await rotating.load(now_ms=0)
    await slow.load(now_ms=0)
    (first,) = slow.kids
    await rotating.load(now_ms=30 * DAY_MS)  # the next key, made by this host
    rotated_at = 30 * DAY_MS
    token = slow.sign({"sub": "x"})  # 59 minutes later, still with the first key
    signed_at = rotated_at + 59 * 60_000
    published = rotating.jwks(now_ms=signed_at + ttl_s * 1000 - 1)  # the token still lives
    keys = {k["kid"]: k for k in published["keys"]}
    assert first in keys
    verified = jwt.decode(token, OKPKey.import_key(keys[first]), algorithms=["Ed25519"])
    assert verified.claims == {"sub": "x"}
    gone = rotating.jwks(now_ms=rotated_at + (hour_s + ttl_s) * 1000 + 61_000)
    assert first not in {k["kid"] for k in gone["keys"]}  # then it goes
