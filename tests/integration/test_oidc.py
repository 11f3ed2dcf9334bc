"""Single sign-on with OpenID Connect, end to end over HTTP: an edge app with the SSO routes,
a real provider (``tests/oidc_provider.py``), and a browser that follows the redirects by
hand. Every refused login answers with problem details, clears the state cookie and never
reaches ``on_login``."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from dataclasses import dataclass
from http.cookies import SimpleCookie
from typing import Any

import aiohttp
import msgspec
import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer
from yarl import URL

from edge.oidc import OidcProvider, RelyingParty, VerifiedLogin
from edge.sso import CALLBACK_PATH, PLAIN_COOKIE, SECURE_COOKIE, add_sso_routes
from tests.oidc_provider import CLIENT_ID, OidcTestProvider, TestUser

ALICE = TestUser("alice-sub", "Alice@Example.com", "Alice Liddell")
BOB = TestUser("bob-sub", "bob@example.com", "Bob Unverified", email_verified=False)
MALLORY = TestUser("mallory-sub", "mallory@elsewhere.test", "Mallory")
USERS = {"alice": ALICE, "bob": BOB, "mallory": MALLORY}


class Directory:
    """Tenants' SSO settings, in a dict."""

    def __init__(self, providers: dict[str, OidcProvider]) -> None:
        self.providers = providers

    async def provider(self, tenant: str) -> OidcProvider | None:
        return self.providers.get(tenant)


@dataclass
class Edge:
    client: TestClient[web.Request, web.Application]
    provider: OidcTestProvider
    directory: Directory
    #: What ``on_login`` was handed, in order.
    logins: list[VerifiedLogin]
    #: The browser's visits to the provider (the edge's test client only reaches the edge).
    browser: aiohttp.ClientSession


@dataclass
class Answer:
    status: int
    body: dict[str, Any]
    headers: dict[str, str]

    def cookie_cleared(self) -> bool:
        cookie = SimpleCookie(self.headers.get("Set-Cookie", ""))
        return PLAIN_COOKIE in cookie and cookie[PLAIN_COOKIE]["max-age"] == "0"


@pytest.fixture
async def provider() -> AsyncIterator[OidcTestProvider]:
    async with OidcTestProvider(dict(USERS)) as p:
        yield p


async def start_edge(
    provider: OidcTestProvider,
    relying_party: RelyingParty | None = None,
    public_url: str | None = None,
) -> Edge:
    logins: list[VerifiedLogin] = []

    async def on_login(request: web.Request, login: VerifiedLogin) -> web.StreamResponse:
        logins.append(login)
        return web.Response(body=msgspec.json.encode(login), content_type="application/json")

    tenant_sso = OidcProvider(
        issuer=provider.issuer,
        client_id=provider.client_id,
        client_secret=provider.client_secret,
        allowed_domains=("example.com",),
    )
    app = web.Application()
    directory = Directory({"acme": tenant_sso})
    add_sso_routes(
        app,
        directory,
        on_login,
        state_key=os.urandom(32),
        public_url=public_url,
        relying_party=relying_party,
    )
    client: TestClient[web.Request, web.Application] = TestClient(TestServer(app, host="127.0.0.1"))
    await client.start_server()
    provider.redirect_uris.add(str(client.make_url(CALLBACK_PATH)))
    return Edge(client, provider, directory, logins, aiohttp.ClientSession())


@pytest.fixture
async def edge(provider: OidcTestProvider) -> AsyncIterator[Edge]:
    e = await start_edge(provider)
    yield e
    await e.browser.close()
    await e.client.close()


async def to_provider(edge: Edge, return_to: str = "/wallet", tenant: str = "acme") -> URL:
    """The browser asks the edge to sign in: the provider's authorization URL."""
    async with edge.client.get(
        f"/auth/{tenant}/sso/login", params={"return_to": return_to}, allow_redirects=False
    ) as r:
        assert r.status == 302, await r.text()
        assert r.headers["Cache-Control"] == "no-store"
        return URL(r.headers["Location"])


async def back_from_provider(edge: Edge, authorize: URL) -> URL:
    """The provider approves and sends the browser back: the callback URL."""
    async with edge.browser.get(authorize, allow_redirects=False) as r:
        assert r.status == 302, await r.text()
        callback = URL(r.headers["Location"])
    assert str(callback.with_query(None)) == str(edge.client.make_url(CALLBACK_PATH))
    return callback


async def callback(edge: Edge, url: URL) -> Answer:
    async with edge.client.get(url.path_qs, allow_redirects=False) as r:
        return Answer(r.status, await r.json(content_type=None), dict(r.headers))


async def sign_in(edge: Edge, user: str = "alice", return_to: str = "/wallet") -> Answer:
    authorize = await to_provider(edge, return_to)
    return await callback(edge, await back_from_provider(edge, authorize % {"login_hint": user}))


def state_cookie(edge: Edge) -> str:
    return edge.client.session.cookie_jar.filter_cookies(edge.client.make_url("/"))[
        PLAIN_COOKIE
    ].value


def set_state_cookie(edge: Edge, value: str) -> None:
    jar = edge.client.session.cookie_jar
    jar.clear()
    jar.update_cookies({PLAIN_COOKIE: value}, response_url=edge.client.make_url("/"))


def refused(answer: Answer, status: int, code: str, detail: str) -> None:
    assert answer.status == status, answer
    assert answer.headers["Content-Type"] == "application/problem+json"
    assert (answer.body["code"], answer.body["status"]) == (code, status)
    assert detail in answer.body["detail"], answer.body["detail"]
    assert answer.cookie_cleared(), answer.headers.get("Set-Cookie")


# -- the happy paths ---------------------------------------------------------------------


async def test_a_person_signs_in_with_the_tenants_provider(edge: Edge) -> None:
    authorize = await to_provider(edge, return_to="/wallet?tab=codes")
    assert set(authorize.query) >= {"state", "nonce", "code_challenge", "redirect_uri"}
    assert authorize.query["code_challenge_method"] == "S256"
    assert authorize.query["response_type"] == "code"
    assert authorize.query["client_id"] == edge.provider.client_id
    assert authorize.query["scope"] == "openid email profile"
    assert authorize.query["redirect_uri"] == str(edge.client.make_url(CALLBACK_PATH))

    answer = await callback(edge, await back_from_provider(edge, authorize))

    assert answer.status == 200, answer.body
    assert answer.body == {
        "tenant": "acme",
        "issuer": edge.provider.issuer,
        "subject": "alice-sub",
        "email": "alice@example.com",  # lowercased
        "name": "Alice Liddell",
        "return_to": "/wallet?tab=codes",
    }
    assert answer.cookie_cleared()  # the login is spent
    assert edge.provider.token_requests == ["client_secret_basic"]
    assert len(edge.logins) == 1


async def test_the_state_cookie_is_sealed_httponly_lax_and_short_lived(edge: Edge) -> None:
    async with edge.client.get("/auth/acme/sso/login", allow_redirects=False) as r:
        assert r.status == 302
        cookie = SimpleCookie(r.headers["Set-Cookie"])[PLAIN_COOKIE]
        authorize = URL(r.headers["Location"])
    assert cookie["httponly"] is True
    assert cookie["samesite"] == "Lax"
    assert (cookie["max-age"], cookie["path"]) == ("600", "/")
    assert not cookie["secure"]  # plain http here: a Secure cookie would never come back
    # Nothing readable in it: the state and nonce are not in clear.
    assert authorize.query["state"] not in cookie.value
    assert authorize.query["nonce"] not in cookie.value


async def test_over_tls_the_state_cookie_is_secure_and_host_prefixed(
    provider: OidcTestProvider,
) -> None:
    edge = await start_edge(provider, public_url="https://rewards.example.com/")
    try:
        async with edge.client.get("/auth/acme/sso/login", allow_redirects=False) as r:
            assert r.status == 302
            cookie = SimpleCookie(r.headers["Set-Cookie"])[SECURE_COOKIE]
            redirect_uri = URL(r.headers["Location"]).query["redirect_uri"]
        assert cookie["secure"] is True
        assert cookie["httponly"] is True
        assert redirect_uri == "https://rewards.example.com/auth/sso/callback"
    finally:
        await edge.browser.close()
        await edge.client.close()


async def test_es256_tokens_are_accepted(edge: Edge) -> None:
    edge.provider.misbehave.algorithm = "ES256"
    answer = await sign_in(edge)
    assert (answer.status, answer.body["email"]) == (200, "alice@example.com")


async def test_an_email_missing_from_the_id_token_is_read_from_userinfo(edge: Edge) -> None:
    edge.provider.misbehave.email_in_id_token = False
    answer = await sign_in(edge)
    assert (answer.status, answer.body["email"]) == (200, "alice@example.com")
    assert edge.logins[0].subject == "alice-sub"


async def test_client_secret_post_when_the_provider_only_takes_that(
    provider: OidcTestProvider,
) -> None:
    provider.auth_methods = ("client_secret_post",)
    edge = await start_edge(provider)
    try:
        answer = await sign_in(edge)
        assert answer.status == 200, answer.body
        assert provider.token_requests == ["client_secret_post"]
    finally:
        await edge.browser.close()
        await edge.client.close()


async def test_a_rotated_provider_key_is_fetched_when_a_token_names_it(
    provider: OidcTestProvider,
) -> None:
    relying_party = RelyingParty(jwks_min_interval_s=0)
    edge = await start_edge(provider, relying_party=relying_party)
    try:
        assert (await sign_in(edge)).status == 200
        assert provider.jwks_fetches == 1
        assert (await sign_in(edge)).status == 200
        assert provider.jwks_fetches == 1  # cached
        provider.rotate_key()
        assert (await sign_in(edge)).status == 200
        assert provider.jwks_fetches == 2  # the new kid was not in the cache
    finally:
        await relying_party.aclose()
        await edge.browser.close()
        await edge.client.close()


async def test_unknown_key_ids_refetch_the_keys_at_most_once_a_minute(edge: Edge) -> None:
    assert (await sign_in(edge)).status == 200
    edge.provider.rotate_key()
    answer = await sign_in(edge)
    refused(answer, 401, "sso_rejected", "no key of the provider's matches")
    assert edge.provider.jwks_fetches == 1  # fetched less than a minute ago: not again
    assert len(edge.logins) == 1


# -- refused: the login is not one this browser started ---------------------------------------


async def test_a_state_that_does_not_match_is_refused(edge: Edge) -> None:
    back = await back_from_provider(edge, await to_provider(edge))
    answer = await callback(edge, back.update_query(state="forged"))
    refused(answer, 400, "sso_invalid_request", "state does not match")
    assert edge.logins == []


async def test_a_code_from_another_browsers_login_is_refused(edge: Edge) -> None:
    """Login CSRF: an attacker's code and state, delivered into a victim's browser."""
    attacker = await back_from_provider(edge, await to_provider(edge))
    edge.client.session.cookie_jar.clear()
    await to_provider(edge)  # the victim's own login, with its own state cookie
    answer = await callback(edge, attacker)
    refused(answer, 400, "sso_invalid_request", "state does not match")
    assert edge.logins == []


async def test_a_callback_without_the_state_cookie_is_refused(edge: Edge) -> None:
    back = await back_from_provider(edge, await to_provider(edge))
    edge.client.session.cookie_jar.clear()
    answer = await callback(edge, back)
    refused(answer, 400, "sso_invalid_request", "no state cookie")
    assert edge.logins == []


async def test_a_tampered_state_cookie_is_refused(edge: Edge) -> None:
    back = await back_from_provider(edge, await to_provider(edge))
    value = state_cookie(edge)
    flipped = value[:20] + ("A" if value[20] != "A" else "B") + value[21:]
    set_state_cookie(edge, flipped)
    answer = await callback(edge, back)
    refused(answer, 400, "sso_invalid_request", "cookie is not valid")
    assert edge.logins == []


async def test_a_replayed_code_is_refused(edge: Edge) -> None:
    back = await back_from_provider(edge, await to_provider(edge))
    cookie = state_cookie(edge)
    assert (await callback(edge, back)).status == 200
    set_state_cookie(edge, cookie)  # captured, and sent again
    answer = await callback(edge, back)
    refused(answer, 401, "sso_rejected", "refused the code (invalid_grant)")
    assert len(edge.logins) == 1


@pytest.mark.parametrize(
    "return_to",
    [
        "//evil.example/phish",
        "https://evil.example/",
        "/\\evil.example",
        "/\t/evil.example",
        "javascript:alert(1)",
        "wallet",
    ],
)
async def test_a_return_to_off_this_site_is_refused_before_the_provider(
    edge: Edge, return_to: str
) -> None:
    async with edge.client.get(
        "/auth/acme/sso/login", params={"return_to": return_to}, allow_redirects=False
    ) as r:
        assert r.status == 400
        body = await r.json(content_type=None)
        assert "Location" not in r.headers
    assert (body["code"], body["detail"]) == (
        "sso_invalid_request",
        "return_to must be a path on this site, such as /wallet",
    )
    assert edge.provider.token_requests == []


async def test_a_tenant_without_sso_is_not_found(edge: Edge) -> None:
    for tenant in ("globex", "Not.A.Tenant"):
        async with edge.client.get(f"/auth/{tenant}/sso/login", allow_redirects=False) as r:
            assert r.status == 404
            assert r.content_type == "application/problem+json"
            assert (await r.json(content_type=None))["code"] == "not_found"


# -- refused: the provider's answer does not prove who signs in --------------------------------


async def test_a_denied_authorization_is_refused(edge: Edge) -> None:
    edge.provider.misbehave.deny = True
    refused(await sign_in(edge), 401, "sso_rejected", "refused the login (access_denied)")
    assert edge.logins == []


@pytest.mark.parametrize(
    ("misbehaviour", "detail"),
    [
        ({"nonce": "wrong"}, "nonce is not this login's"),
        ({"nonce": "missing"}, "lacks nonce"),
        ({"foreign_key": True}, "signature does not verify"),
        ({"algorithm": "none"}, "signed with none"),
        ({"algorithm": "HS256-public"}, "signed with HS256"),
        ({"audience": "someone-else"}, "aud is not valid"),
        ({"issuer": "http://127.0.0.1:1"}, "iss is not valid"),
        ({"expired": True}, "has expired"),
        ({"audience": [CLIENT_ID, "another-app"]}, "issued to another party (azp)"),
        ({"audience": [CLIENT_ID, "another-app"], "azp": "another-app"}, "another party"),
        ({"azp": "another-app"}, "issued to another party (azp)"),
        ({"wrong_at_hash": True}, "at_hash does not match"),
    ],
)
async def test_a_bad_id_token_is_refused(
    edge: Edge, misbehaviour: dict[str, Any], detail: str
) -> None:
    for name, value in misbehaviour.items():
        setattr(edge.provider.misbehave, name, value)
    refused(await sign_in(edge), 401, "sso_rejected", detail)
    assert edge.logins == []
    assert edge.provider.token_requests == ["client_secret_basic"]  # it did get a token


async def test_several_audiences_are_accepted_when_azp_names_this_client(edge: Edge) -> None:
    edge.provider.misbehave.audience = [CLIENT_ID, "another-app"]
    edge.provider.misbehave.azp = CLIENT_ID
    answer = await sign_in(edge)
    assert (answer.status, answer.body["subject"]) == (200, "alice-sub")


async def test_a_tenant_that_drops_sso_during_a_login_is_refused(edge: Edge) -> None:
    back = await back_from_provider(edge, await to_provider(edge))
    edge.directory.providers.clear()
    refused(await callback(edge, back), 401, "sso_rejected", "no longer signs in")
    assert edge.logins == []


async def test_an_unverified_email_is_refused(edge: Edge) -> None:
    refused(await sign_in(edge, "bob"), 401, "sso_rejected", "not verified the email")
    edge.provider.misbehave.email_in_id_token = False  # nor when userinfo says so
    refused(await sign_in(edge, "bob"), 401, "sso_rejected", "not verified the email")
    assert edge.logins == []


async def test_an_email_outside_the_tenants_domains_is_refused(edge: Edge) -> None:
    refused(
        await sign_in(edge, "mallory"),
        401,
        "sso_rejected",
        "addresses at elsewhere.test may not sign in",
    )
    assert edge.logins == []


async def test_a_provider_that_names_another_issuer_is_unavailable(edge: Edge) -> None:
    edge.provider.misbehave.discovery_issuer = "https://login.example.org"
    async with edge.client.get("/auth/acme/sso/login", allow_redirects=False) as r:
        assert r.status == 503
        body = await r.json(content_type=None)
    assert (body["code"], body["retryable"]) == ("sso_unavailable", True)
    assert "names the issuer 'https://login.example.org'" in body["detail"]
    assert edge.provider.client_secret not in body["detail"]
