"""People sign in with an email and a password: cookie sessions with CSRF protection for
the browser apps, bearer tokens for programs, refresh tokens that work once."""

from __future__ import annotations

import asyncio
from typing import Any
from urllib.parse import quote

import pytest

from bus.embedded import EmbeddedNats
from bus.messages.people import SetPassword
from edge.config import EdgeConfig
from storage.ports import CatalogueStore, Ledger
from tests.conftest import Cluster, start_cluster
from tests.support import Keys, raw_fetchall

#: Above the ledger (sign-in and sessions are actor and edge logic; the ledger contract suite
#: holds people and sessions): SQLite only (ADR 30).
pytestmark = pytest.mark.ledgers("sqlite")

PASSWORD = "correct horse battery"
PEOPLE = "/api/v1/people"


async def add_person(
    cluster: Cluster,
    person_id: str = "ann",
    roles: list[str] | None = None,
    password: str | None = PASSWORD,
    **extra: Any,
) -> dict[str, Any]:
    body = {
        "id": person_id,
        "email": f"{person_id.title()}@Acme.test",
        "name": person_id.title(),
        "roles": roles or ["end_user"],
        **({"password": password} if password else {}),
        **extra,
    }
    async with cluster.client.post(PEOPLE, json=body, headers=cluster.keys.headers("acme")) as r:
        created = await r.json()
        assert r.status == 201, created
        return dict(created)


async def sign_in(
    cluster: Cluster, email: str, password: str = PASSWORD, mode: str = "cookie"
) -> tuple[int, dict[str, Any], Any]:
    body = {"tenant": "acme", "email": email, "password": password, "mode": mode}
    async with cluster.client.post("/auth/sign-in", json=body) as r:
        return r.status, await r.json(content_type=None), r


async def test_a_person_signs_in_with_a_cookie_session_guarded_against_csrf(
    cluster: Cluster,
) -> None:
    created = await add_person(cluster, roles=["programme_manager"])
    assert created["email"] == "ann@acme.test"  # compared case-insensitively
    assert created["has_password"] is True
    assert "password" not in created
    await cluster.open_budget("acme", "b1", 1000)

    status, body, response = await sign_in(cluster, "ANN@acme.test")
    assert status == 200, body
    assert response.headers["Cache-Control"] == "no-store"
    assert "access_token" not in body  # only in the HttpOnly cookie
    cookies = {c.key: c for c in response.cookies.values()}
    assert set(cookies) == {"pb_access", "pb_refresh", "pb_csrf"}
    assert cookies["pb_access"]["httponly"]
    assert cookies["pb_refresh"]["httponly"]
    assert not cookies["pb_csrf"]["httponly"]  # the app reads it
    assert {c["samesite"] for c in cookies.values()} == {"Strict"}
    assert cookies["pb_refresh"]["path"] == "/auth"
    assert cookies["pb_csrf"].value == body["csrf_token"]

    async with cluster.client.get("/auth/me") as r:  # the cookie jar sends the cookie
        me = await r.json()
        assert r.status == 200, me
    assert (me["tenant"], me["subject"], me["roles"]) == ("acme", "ann", ["programme_manager"])
    assert "budgets:debit" in me["permissions"]
    async with cluster.client.get("/api/v1/budgets/b1") as r:
        assert r.status == 200

    debit = {"amount": {"amount_minor": 5, "currency": "EUR"}}
    async with cluster.client.post("/api/v1/budgets/b1/debits", json=debit) as r:
        refused = await r.json()
        assert (r.status, refused["code"]) == (403, "forbidden")  # no CSRF header
    assert "X-CSRF-Token" in refused["detail"]
    wrong = {"X-CSRF-Token": "forged"}
    async with cluster.client.post("/api/v1/budgets/b1/debits", json=debit, headers=wrong) as r:
        assert r.status == 403
    csrf = {"X-CSRF-Token": body["csrf_token"]}
    async with cluster.client.post("/api/v1/budgets/b1/debits", json=debit, headers=csrf) as r:
        assert r.status == 201
    budget = await cluster.ledger.load_accounts("acme", ["budget:b1"])
    assert budget[0].balance_minor == 995  # only the debit with the CSRF token

    # refresh in cookie mode needs the CSRF header too; it rotates every cookie
    async with cluster.client.post("/auth/refresh") as r:
        assert r.status == 403
    async with cluster.client.post("/auth/refresh", headers=csrf) as r:
        refreshed = await r.json()
        assert r.status == 200, refreshed
    assert refreshed["csrf_token"] != body["csrf_token"]
    async with cluster.client.post(
        "/api/v1/budgets/b1/debits", json=debit, headers=csrf
    ) as r:  # the old CSRF token went with the old access token
        assert r.status == 403

    new_csrf = {"X-CSRF-Token": refreshed["csrf_token"]}
    async with cluster.client.post("/auth/sign-out", headers=new_csrf) as r:
        assert r.status == 204
    async with cluster.client.get("/auth/me") as r:
        assert r.status == 401  # cookies cleared


async def test_bearer_sessions_rotate_refresh_tokens_and_reuse_ends_the_session(
    cluster: Cluster,
) -> None:
    await add_person(cluster)
    status, first, _ = await sign_in(cluster, "ann@acme.test", mode="bearer")
    assert status == 200, first
    assert first["token_type"] == "Bearer"
    assert first["refresh_token"].startswith("pbr_acme.")
    bearer = {"Authorization": f"Bearer {first['access_token']}"}
    async with cluster.client.get("/api/v1/wallets/ann", headers=bearer) as r:
        assert r.status == 200
    async with cluster.client.get("/api/v1/wallets/bob", headers=bearer) as r:
        assert r.status in (403, 404)  # an end user sees their own wallet only

    async def refresh(token: str) -> tuple[int, dict[str, Any]]:
        async with cluster.client.post("/auth/refresh", json={"refresh_token": token}) as r:
            return r.status, await r.json(content_type=None)

    status, second = await refresh(first["refresh_token"])
    assert status == 200, second
    assert second["refresh_token"] != first["refresh_token"]
    # the first token again: someone kept a copy; the whole session ends
    status, reused = await refresh(first["refresh_token"])
    assert (status, reused["code"]) == (401, "unauthenticated")
    status, _ = await refresh(second["refresh_token"])
    assert status == 401  # the legitimate holder's token died with the session

    # the standard way: the token endpoint's refresh_token grant
    _, third, _ = await sign_in(cluster, "ann@acme.test", mode="bearer")
    form = {"grant_type": "refresh_token", "refresh_token": third["refresh_token"]}
    async with cluster.client.post("/oauth/token", data=form) as r:
        issued = await r.json()
        assert r.status == 200, issued
    assert issued["token_type"] == "Bearer"
    assert issued["refresh_token"] != third["refresh_token"]
    async with cluster.client.post("/oauth/token", data=form) as r:
        error = await r.json()
        assert (r.status, error["error"]) == (400, "invalid_grant")

    stored = await raw_fetchall(cluster.ledger, "SELECT token_hash FROM person_sessions")
    tokens = {first["refresh_token"], second["refresh_token"], third["refresh_token"]}
    assert not {row[0] for row in stored} & tokens  # only hashes are kept


async def test_a_refresh_token_used_twice_at_once_ends_the_session(cluster: Cluster) -> None:
    """Two refreshes with one token sent together (the holder and a thief) reach the
    actor in one batch: the second ends the session, and with it the token the first
    was just given, though that token is not stored yet."""
    await add_person(cluster)
    _, session, _ = await sign_in(cluster, "ann@acme.test", mode="bearer")

    async def refresh(token: str) -> tuple[int, dict[str, Any]]:
        async with cluster.client.post("/auth/refresh", json={"refresh_token": token}) as r:
            return r.status, await r.json(content_type=None)

    both = await asyncio.gather(*(refresh(session["refresh_token"]) for _ in range(2)))
    assert sorted(status for status, _ in both) == [200, 401]
    (given,) = [body["refresh_token"] for status, body in both if status == 200]
    status, _ = await refresh(given)
    assert status == 401


async def test_wrong_credentials_are_refused_alike_and_lock_after_ten(cluster: Cluster) -> None:
    await add_person(cluster)
    status, unknown, _ = await sign_in(cluster, "nobody@acme.test")
    status2, wrong, _ = await sign_in(cluster, "ann@acme.test", "not the password")
    assert status == status2 == 401
    assert unknown["detail"] == wrong["detail"]  # no telling which addresses exist
    for _ in range(9):
        assert (await sign_in(cluster, "ann@acme.test", "still wrong!!"))[0] == 401
    status, _, _ = await sign_in(cluster, "ann@acme.test")
    assert status == 401  # locked for 15 minutes, even with the right password
    audit = await raw_fetchall(
        cluster.ledger,
        "SELECT actor, outcome, detail FROM audit_log WHERE action = 'people.sign_in'",
    )
    assert len(audit) == 12  # 1 unknown address, 10 wrong passwords, 1 while locked
    assert {row[0] for row in audit} == {"nobody@acme.test", "ann@acme.test"}
    assert {row[1] for row in audit} == {"unauthenticated"}
    assert not any("wrong" in row[2] or PASSWORD in row[2] for row in audit)  # no passwords


async def test_passwords_change_with_the_current_one_and_end_sessions(cluster: Cluster) -> None:
    await add_person(cluster)
    _, session, _ = await sign_in(cluster, "ann@acme.test", mode="bearer")
    bearer = {"Authorization": f"Bearer {session['access_token']}"}
    url = f"{PEOPLE}/ann/password"
    async with cluster.client.put(
        url, json={"new_password": "a brand new secret", "current_password": "wrong one"},
        headers=bearer,
    ) as r:  # fmt: skip
        assert r.status == 403
    async with cluster.client.put(url, json={"new_password": "short"}, headers=bearer) as r:
        problem = await r.json()
        assert r.status == 422
    assert problem["errors"][0]["pointer"] == "#/new_password"
    async with cluster.client.put(
        url, json={"new_password": "a brand new secret", "current_password": PASSWORD},
        headers=bearer,
    ) as r:  # fmt: skip
        assert r.status == 200
    async with cluster.client.post(
        "/auth/refresh", json={"refresh_token": session["refresh_token"]}
    ) as r:
        assert r.status == 401  # every session ended
    assert (await sign_in(cluster, "ann@acme.test"))[0] == 401
    assert (await sign_in(cluster, "ann@acme.test", "a brand new secret"))[0] == 200
    hashes = await raw_fetchall(cluster.ledger, "SELECT password_hash FROM people")
    assert hashes[0][0].startswith("$argon2id$")


async def test_guessing_the_current_password_locks_as_wrong_sign_ins_do(cluster: Cluster) -> None:
    await add_person(cluster)
    _, session, _ = await sign_in(cluster, "ann@acme.test", mode="bearer")
    bearer = {"Authorization": f"Bearer {session['access_token']}"}
    url = f"{PEOPLE}/ann/password"
    for n in range(10):
        guess = {"new_password": "a brand new secret", "current_password": f"guess {n}!"}
        async with cluster.client.put(url, json=guess, headers=bearer) as r:
            assert r.status == 403
    right = {"new_password": "a brand new secret", "current_password": PASSWORD}
    async with cluster.client.put(url, json=right, headers=bearer) as r:
        problem = await r.json()
        assert r.status == 403  # locked, even with the right one
    assert "try again later" in problem["detail"]
    assert (await sign_in(cluster, "ann@acme.test"))[0] == 401  # sign-in too
    ann = await raw_fetchall(cluster.ledger, "SELECT password_hash FROM people")
    assert len(ann) == 1
    assert (await sign_in(cluster, "ann@acme.test", "a brand new secret"))[0] == 401


async def test_a_persons_id_cannot_take_an_api_clients_form(cluster: Cluster) -> None:
    owner = cluster.keys.headers("acme")
    async with cluster.client.post(
        "/api/v1/clients", json={"name": "Sync", "scopes": ["budgets:read"]}, headers=owner
    ) as r:
        client_id = (await r.json())["id"]
    body = {"id": client_id, "email": "mallory@acme.test", "name": "Mallory"}
    async with cluster.client.post(PEOPLE, json=body, headers=owner) as r:
        problem = await r.json()
        assert (r.status, r.content_type) == (422, "application/problem+json")
    assert "API client" in problem["detail"]
    lookalike = {**body, "id": "acme.jo@acme.test"}  # emails starting with the tenant do
    async with cluster.client.post(PEOPLE, json=lookalike, headers=owner) as r:
        assert r.status == 201


async def test_admins_manage_people_but_only_owners_make_owners(cluster: Cluster) -> None:
    admin = cluster.keys.headers("acme", roles=["admin"])
    body = {"id": "olga", "email": "olga@acme.test", "name": "Olga", "roles": ["owner"]}
    async with cluster.client.post(PEOPLE, json=body, headers=admin) as r:
        assert r.status == 403
    body["roles"] = ["finance"]
    async with cluster.client.post(PEOPLE, json=body, headers=admin) as r:
        assert r.status == 201
    async with cluster.client.post(PEOPLE, json={**body, "id": "olga2"}, headers=admin) as r:
        assert (r.status, (await r.json())["code"]) == (409, "already_exists")  # same email
    async with cluster.client.patch(
        f"{PEOPLE}/olga", json={"roles": ["auditor"], "grants": ["budget:eng"]}, headers=admin
    ) as r:
        changed = await r.json()
        assert r.status == 200, changed
    assert (changed["roles"], changed["grants"]) == (["auditor"], ["budget:eng"])
    async with cluster.client.get(PEOPLE, headers=admin) as r:
        assert [p["id"] for p in (await r.json())["people"]] == ["olga"]
    manager = cluster.keys.headers("acme", roles=["programme_manager"])
    async with cluster.client.get(PEOPLE, headers=manager) as r:
        assert r.status == 403
    async with cluster.client.get(f"{PEOPLE}/olga", headers=cluster.keys.headers("globex")) as r:
        assert r.status == 404  # another tenant's person is not there


async def test_disabled_people_cannot_sign_in_and_lose_their_sessions(cluster: Cluster) -> None:
    await add_person(cluster)
    _, session, _ = await sign_in(cluster, "ann@acme.test", mode="bearer")
    async with cluster.client.patch(
        f"{PEOPLE}/ann", json={"status": "disabled"}, headers=cluster.keys.headers("acme")
    ) as r:
        assert r.status == 200
    assert (await sign_in(cluster, "ann@acme.test"))[0] == 401
    async with cluster.client.post(
        "/auth/refresh", json={"refresh_token": session["refresh_token"]}
    ) as r:
        assert r.status == 401


async def test_the_actor_refuses_a_password_change_for_someone_else(cluster: Cluster) -> None:
    """An end user's request that reaches the bus directly changes no one else."""
    await add_person(cluster)
    await add_person(cluster, "bob")
    from bus.messages import Err, Principal

    reply = await cluster.bus.request(
        "acme", "people", SetPassword("ann", "taken over by bob"), Principal("bob"), 10
    )
    assert isinstance(reply, Err)
    assert (await sign_in(cluster, "ann@acme.test"))[0] == 200


async def test_people_over_graphql(cluster: Cluster) -> None:
    mutation = """mutation($input: CreatePersonInput!) {
      createPerson(input: $input, idempotencyKey: "p-1") {
        __typename
        ... on Person { id email roles grants hasPassword }
        ... on Error { code message }
        ... on InvalidInput { fields { pointer } }
      }
    }"""
    person = {
        "id": "gus",
        "email": "gus@acme.test",
        "name": "Gus",
        "roles": ["programme_manager"],
        "grants": ["budget:eng"],
        "password": PASSWORD,
    }

    async def gql(query: str, variables: dict[str, Any], roles: list[str]) -> dict[str, Any]:
        headers = cluster.keys.headers("acme", roles=roles)
        async with cluster.client.post(
            "/graphql", json={"query": query, "variables": variables}, headers=headers
        ) as r:
            assert r.status == 200
            return dict((await r.json())["data"])

    created = (await gql(mutation, {"input": person}, ["admin"]))["createPerson"]
    assert created == {
        "__typename": "Person",
        "id": "gus",
        "email": "gus@acme.test",
        "roles": ["programme_manager"],
        "grants": ["budget:eng"],
        "hasPassword": True,
    }
    refused = (await gql(mutation, {"input": {**person, "id": "x"}}, ["finance"]))["createPerson"]
    assert (refused["__typename"], refused["code"]) == ("Forbidden", "forbidden")
    bad = {**person, "id": "y", "email": "not an email"}
    invalid = (await gql(mutation, {"input": bad}, ["admin"]))["createPerson"]
    assert invalid["__typename"] == "InvalidInput"
    assert invalid["fields"][0]["pointer"] == "#/input/email"
    listed = await gql("{ people { ... on People { people { id status } } } }", {}, ["owner"])
    assert listed["people"]["people"] == [{"id": "gus", "status": "active"}]
    update = """mutation { updatePerson(id: "gus", input: {status: "disabled"}) {
        ... on Person { status } } }"""
    assert (await gql(update, {}, ["owner"]))["updatePerson"] == {"status": "disabled"}


async def test_people_come_by_email_in_pages_and_are_found_by_words(cluster: Cluster) -> None:
    """A tenant of many people is read a page at a time, over REST and GraphQL alike."""
    for n in range(25):
        await add_person(cluster, f"p{n:02d}", password=None, name=f"Person {n:02d}")
    await add_person(cluster, "zoe", password=None, name="Zoë Brown-Ng")
    owner = cluster.keys.headers("acme", roles=["owner"])

    async def rest(query: str) -> tuple[int, Any]:
        async with cluster.client.get(f"{PEOPLE}?{query}", headers=owner) as r:
            return r.status, await r.json()

    seen: list[str] = []
    status, page = await rest("limit=10")
    while True:
        assert status == 200, page
        assert len(page["people"]) <= 10
        seen += [p["email"] for p in page["people"]]
        if page["next_cursor"] is None:
            break
        status, page = await rest(f"limit=10&cursor={quote(page['next_cursor'])}")
    assert seen == sorted(seen)
    assert len(seen) == len(set(seen)) == 26
    status, default = await rest("")
    assert (status, len(default["people"])) == (200, 20)
    status, found = await rest("q=BROWN")
    assert (status, [p["id"] for p in found["people"]], found["next_cursor"]) == (
        200,
        ["zoe"],
        None,
    )
    status, found = await rest("q=person%201")
    assert [p["id"] for p in found["people"]] == [f"p{n}" for n in range(10, 20)]
    for bad in ("limit=0", "limit=101", "q=", "cursor=garbled", "q=a%0Ab", "colour=blue"):
        status, problem = await rest(bad)
        assert (status, problem["code"]) == (422, "invalid_request"), bad

    query = """query($first: Int!, $after: String, $q: String) {
      people(first: $first, after: $after, q: $q) {
        __typename
        ... on People { nextCursor people { id email } }
        ... on InvalidInput { fields { pointer } }
      }
    }"""

    async def gql(variables: dict[str, Any]) -> dict[str, Any]:
        async with cluster.client.post(
            "/graphql", json={"query": query, "variables": variables}, headers=owner
        ) as r:
            assert r.status == 200
            return dict((await r.json())["data"]["people"])

    first = await gql({"first": 10, "after": None, "q": None})
    _, rest_first = await rest("limit=10")
    assert [p["email"] for p in first["people"]] == [p["email"] for p in rest_first["people"]]
    second = await gql({"first": 10, "after": first["nextCursor"], "q": None})
    assert [p["email"] for p in second["people"]] == seen[10:20]
    assert (await gql({"first": 5, "after": None, "q": "brown"}))["people"] == [
        {"id": "zoe", "email": "zoe@acme.test"}
    ]
    assert (await gql({"first": 0, "after": None, "q": None}))["__typename"] == "InvalidInput"


async def test_single_sign_on_settings_keep_the_secret_sealed(cluster: Cluster) -> None:
    admin = cluster.keys.headers("acme", roles=["admin"])
    owner = cluster.keys.headers("acme", roles=["owner"])  # only an owner sets it
    async with cluster.client.get("/api/v1/sso", headers=admin) as r:
        assert r.status == 404
    body = {
        "issuer": "https://login.acme.test",
        "client_id": "perkbus",
        "client_secret": "very-secret-value",
        "allowed_domains": ["acme.test"],
    }
    async with cluster.client.put(
        "/api/v1/sso", json={**body, "scopes": "email"}, headers=owner
    ) as r:
        assert r.status == 422  # an OpenID Connect login needs the openid scope
    async with cluster.client.put("/api/v1/sso", json=body, headers=owner) as r:
        shown = await r.json()
        assert r.status == 200, shown
    assert shown["issuer"] == "https://login.acme.test"
    assert shown["enabled"] is True
    assert "very-secret-value" not in str(shown)
    stored = await raw_fetchall(cluster.ledger, "SELECT client_secret_sealed FROM sso_providers")
    assert b"very-secret-value" not in bytes(stored[0][0])
    async with cluster.client.get(
        "/api/v1/sso", headers=cluster.keys.headers("acme", roles=["finance"])
    ) as r:
        assert r.status == 403
    async with cluster.client.get("/api/v1/sso", headers=cluster.keys.headers("globex")) as r:
        assert r.status == 404  # another tenant's settings are not there
    async with cluster.client.delete("/api/v1/sso", headers=owner) as r:
        assert (r.status, (await r.json())["enabled"]) == (200, False)
    async with cluster.client.get("/api/v1/sso", headers=admin) as r:
        assert r.status == 404


async def test_behind_a_tls_proxy_session_cookies_are_secure_and_prefixed(
    nats_server: EmbeddedNats, ledger: Ledger, catalogue: CatalogueStore, keys: Keys
) -> None:
    """A proxy in front ends TLS and forwards plain HTTP: the public URL says so, and the
    cookies are still Secure, ``__Host-``/``__Secure-`` prefixed, and HSTS is sent."""
    proxied = EdgeConfig(public_url="https://rewards.example.com")
    async for cluster in start_cluster(nats_server, ledger, catalogue, keys, edge=proxied):
        await add_person(cluster)
        status, _, response = await sign_in(cluster, "ann@acme.test")
        assert status == 200
        cookies = response.headers.getall("Set-Cookie")
        names = sorted(c.split("=")[0] for c in cookies)
        assert names == ["__Host-pb_access", "__Host-pb_csrf", "__Secure-pb_refresh"]
        assert all("Secure" in c for c in cookies)
        assert response.headers["Strict-Transport-Security"] == "max-age=63072000"
