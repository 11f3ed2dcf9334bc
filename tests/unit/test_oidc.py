"""Relying-party checks that need no provider: provider URLs must be https."""

from __future__ import annotations

import pytest

from edge.oidc import OidcProvider, ProviderUnavailable, RelyingParty


@pytest.mark.parametrize(
    "issuer", ["http://login.example.com", "ftp://login.example.com", "https://", "login"]
)
async def test_an_issuer_off_https_is_refused_before_any_request(issuer: str) -> None:
    relying_party = RelyingParty()
    try:
        with pytest.raises(ProviderUnavailable, match="must be an https URL"):
            await relying_party.metadata(OidcProvider(issuer, "perkbus", "secret"))
    finally:
        await relying_party.aclose()
