"""Single sign-on through the whole system: the tenant's settings (``PUT /api/v1/sso``),
a real OpenID Connect provider, and a session for the person with the verified email."""

from __future__ import annotations

from collections.abc import AsyncIterator

import aiohttp
import pytest
from yarl import URL

from edge.sso import CALLBACK_PATH
from tests.conftest import Cluster
from tests.integration.test_sessions import add_person
from tests.oidc_provider import OidcTestProvider, TestUser

#: Above the ledger (the provider, the settings and the session; people and SSO rows are
#: held equal on both ledgers by the contract suite): SQLite only (ADR 30).
pytestmark = pytest.mark.ledgers("sqlite")

USERS = {
    "ann": TestUser("ann-sub", "Ann@Acme.test", "Ann"),
    "eve": TestUser("eve-sub", "eve@acme.test", "Eve"),  # verified, but not a person of acme
}


@pytest.fixture
async def provider() -> AsyncIterator[OidcTestProvider]:
    async with OidcTestProvider(dict(USERS)) as p:
        yield p


async def configure(cluster: Cluster, provider: OidcTestProvider) -> None:
    provider.redirect_uris.add(str(cluster.client.make_url(CALLBACK_PATH)))
    body = {
        "issuer": provider.issuer,
        "client_id": provider.client_id,
        "client_secret": provider.client_secret,
        "allowed_domains": ["acme.test"],
    }
    async with cluster.client.put(
        "/api/v1/sso", json=body, headers=cluster.keys.headers("acme")
    ) as r:
        assert r.status == 200, await r.text()


async def sso(cluster: Cluster, user: str) -> aiohttp.ClientResponse:
    """The browser's round trip: edge → provider (approves ``user``) → edge callback."""
    async with cluster.client.get(
        "/auth/acme/sso/login", params={"return_to": "/rewards"}, allow_redirects=False
    ) as r:
        assert r.status == 302, await r.text()
        authorize = URL(r.headers["Location"]) % {"login_hint": user}
    async with (
        aiohttp.ClientSession() as browser,
        browser.get(authorize, allow_redirects=False) as r,
    ):
        assert r.status == 302, await r.text()
        back = URL(r.headers["Location"])
    async with cluster.client.get(back.path_qs, allow_redirects=False) as r:
        await r.read()
        return r


async def test_a_person_signs_in_with_the_tenants_provider(
    cluster: Cluster, provider: OidcTestProvider
) -> None:
    await configure(cluster, provider)
    await add_person(cluster, "ann", password=None)  # no password: SSO only
    answer = await sso(cluster, "ann")
    assert answer.status == 302
    assert answer.headers["Location"] == "/rewards"
    assert {"pb_access", "pb_refresh", "pb_csrf"} <= {c.key for c in answer.cookies.values()}
    async with cluster.client.get("/auth/me") as r:
        me = await r.json()
        assert r.status == 200, me
    assert (me["tenant"], me["subject"], me["roles"]) == ("acme", "ann", ["end_user"])


async def test_a_verified_stranger_gets_no_session(
    cluster: Cluster, provider: OidcTestProvider
) -> None:
    await configure(cluster, provider)
    answer = await sso(cluster, "eve")
    assert answer.status == 401
    assert answer.content_type == "application/problem+json"
    assert "pb_access" not in {c.key for c in answer.cookies.values()}
    async with cluster.client.get("/auth/me") as r:
        assert r.status == 401


async def test_a_tenant_without_sso_has_no_login(cluster: Cluster) -> None:
    async with cluster.client.get("/auth/acme/sso/login", allow_redirects=False) as r:
        assert (r.status, r.content_type) == (404, "application/problem+json")


async def test_a_provider_that_sign_in_would_refuse_is_refused_when_set(cluster: Cluster) -> None:
    """Plain http reaches only this machine's providers (tests, development); anything else
    is refused when the owner names it, not at each person's sign-in as "unavailable"."""
    owner = cluster.keys.headers("acme")
    for issuer in ("http://idp.example.com", "http://127.0.0.1.example.com/", "https://"):
        body = {"issuer": issuer, "client_id": "mine", "client_secret": "s3cret"}
        async with cluster.client.put("/api/v1/sso", json=body, headers=owner) as r:
            problem = await r.json()
            assert (r.status, r.content_type) == (422, "application/problem+json"), issuer
        assert problem["errors"][0]["pointer"] == "#/issuer"
    async with cluster.client.get("/api/v1/sso", headers=owner) as r:
        assert r.status == 404  # nothing was set


@pytest.mark.parametrize(
    ("roles", "grants"),
    [(["admin"], None), (["owner"], ["budget:eng"]), (["programme_manager"], None)],
    ids=["admin", "owner-narrowed", "manager"],
)
async def test_only_an_owner_for_the_whole_tenant_sets_or_removes_sso(
    cluster: Cluster, provider: OidcTestProvider, roles: list[str], grants: list[str] | None
) -> None:
    """The provider vouches for every email, an owner's too: whoever names it could sign
    in as the owner. Nobody else names it, nor removes the owner's."""
    body = {"issuer": provider.issuer, "client_id": "mine", "client_secret": "s3cret"}
    headers = cluster.keys.headers("acme", roles=roles, grants=grants)
    async with cluster.client.put("/api/v1/sso", json=body, headers=headers) as r:
        assert (r.status, r.content_type) == (403, "application/problem+json"), await r.text()
    async with cluster.client.get("/api/v1/sso", headers=cluster.keys.headers("acme")) as r:
        assert r.status == 404  # nothing was set

    await configure(cluster, provider)  # the owner's
    async with cluster.client.delete("/api/v1/sso", headers=headers) as r:
        assert r.status == 403
    async with cluster.client.get("/api/v1/sso", headers=cluster.keys.headers("acme")) as r:
        assert (r.status, (await r.json())["client_id"]) == (200, provider.client_id)
