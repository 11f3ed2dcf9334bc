"""The edge's token verifier: verified tokens are cached, but never past their expiry."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from edge.auth import TokenVerifier, Unauthenticated
from tests.support import AUDIENCE, ISSUER, Keys


@pytest.fixture
def verifier(keys: Keys) -> TokenVerifier:
    return TokenVerifier(keys.public.read_bytes(), ISSUER, AUDIENCE, cache_size=2)


def test_verified_identity_carries_tenant_and_scopes(keys: Keys, verifier: TokenVerifier) -> None:
    identity = verifier.verify(f"Bearer {keys.token('acme', ['budgets:read'])}")
    assert identity.tenant == "acme"
    assert identity.principal.subject == "user@acme"
    assert identity.has_scope("budgets:read")
    assert not identity.has_scope("budgets:debit")


def test_a_cached_token_is_refused_once_expired(
    keys: Keys, verifier: TokenVerifier, monkeypatch: pytest.MonkeyPatch
) -> None:
    header = f"Bearer {keys.token('acme', ttl_s=60)}"
    first = verifier.verify(header)
    assert verifier.verify(header) is first  # served from the cache
    later = time.time() + 120
    monkeypatch.setattr(time, "time", lambda: later)
    with pytest.raises(Unauthenticated, match="expired"):
        verifier.verify(header)


def test_cache_is_bounded_and_evicts_the_oldest(keys: Keys, verifier: TokenVerifier) -> None:
    headers = [f"Bearer {keys.token(t)}" for t in ("a1", "b2", "c3")]
    identities = [verifier.verify(h) for h in headers]
    assert verifier.verify(headers[2]) is identities[2]
    assert verifier.verify(headers[0]) is not identities[0]  # evicted, verified again
    assert verifier.verify(headers[0]).tenant == "a1"


def test_another_key_is_refused_even_for_a_cached_tenant(
    keys: Keys, verifier: TokenVerifier, tmp_path: Path
) -> None:
    verifier.verify(f"Bearer {keys.token('acme')}")
    other = Keys(tmp_path / "other")
    with pytest.raises(Unauthenticated):
        verifier.verify(f"Bearer {other.token('acme')}")
