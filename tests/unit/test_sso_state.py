"""The SSO login state cookie (sealed, expiring) and the return_to check (no open redirect)."""

from __future__ import annotations

import base64
import os
import time

import pytest

from edge.oidc import BadSsoRequest, LoginState, OidcProvider, safe_return_to
from edge.sso import StateSeal


def login() -> LoginState:
    """A login started now (it expires ten minutes from when the test runs, not from when
    the module was imported: a long suite reaches this test more than ten minutes later)."""
    return LoginState(
        tenant="acme",
        issuer="https://login.example.com",
        state="s" * 43,
        nonce="n" * 43,
        code_verifier="v" * 64,
        return_to="/wallet",
        expires_at=int(time.time()) + 600,
    )


def test_a_sealed_login_opens_with_the_same_key_only() -> None:
    started = login()
    key = os.urandom(32)
    sealed = StateSeal(key).seal(started)
    assert StateSeal(key).open(sealed) == started
    raw = base64.urlsafe_b64decode(sealed + "=" * (-len(sealed) % 4))
    assert b"acme" not in raw  # encrypted, not merely encoded
    assert started.code_verifier.encode() not in raw
    assert StateSeal(key).seal(started) != sealed  # a fresh nonce each time
    with pytest.raises(BadSsoRequest, match="cookie is not valid"):
        StateSeal(os.urandom(32)).open(sealed)


@pytest.mark.parametrize("value", ["", None])
def test_no_cookie_is_no_login(value: str | None) -> None:
    with pytest.raises(BadSsoRequest, match="no state cookie"):
        StateSeal(os.urandom(32)).open(value)


@pytest.mark.parametrize("value", ["x", "!!!", "A" * 40, "A" * 5000])
def test_garbage_is_not_a_login(value: str) -> None:
    with pytest.raises(BadSsoRequest, match="cookie is not valid"):
        StateSeal(os.urandom(32)).open(value)


def test_a_login_expires_after_ten_minutes() -> None:
    seal = StateSeal(os.urandom(32))
    started = login()
    sealed = seal.seal(started)
    assert seal.open(sealed, now=started.expires_at - 1) == started
    with pytest.raises(BadSsoRequest, match="longer than 10 minutes"):
        seal.open(sealed, now=started.expires_at)


def test_the_key_is_256_bits() -> None:
    with pytest.raises(ValueError, match="32 bytes"):
        StateSeal(os.urandom(16))


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (None, "/"),
        ("", "/"),
        ("/", "/"),
        ("/wallet", "/wallet"),
        ("/admin/budgets?tab=2#top", "/admin/budgets?tab=2#top"),
        ("/%2F%2Fevil.example", "/%2F%2Fevil.example"),  # a path, as browsers read it
    ],
)
def test_paths_on_this_site_are_safe(value: str | None, expected: str) -> None:
    assert safe_return_to(value) == expected


@pytest.mark.parametrize(
    "value",
    [
        "//evil.example",
        "///evil.example",
        "https://evil.example/wallet",
        "http:/evil.example",
        "javascript:alert(1)",
        "/\\evil.example",
        "/\t/evil.example",
        "/\n/evil.example",
        "/ /evil.example",
        "wallet",
        "/" + "a" * 1024,
    ],
)
def test_anything_else_is_refused(value: str) -> None:
    with pytest.raises(BadSsoRequest, match="return_to"):
        safe_return_to(value)


def test_the_client_secret_stays_out_of_reprs() -> None:
    provider = OidcProvider("https://login.example.com", "perkbus", "very-secret")
    assert "very-secret" not in repr(provider)
    assert "very-secret" not in str(provider)
