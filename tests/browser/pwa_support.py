"""What the app's browser tests share: the API called directly (to set up people and to
check what the app did) and signing in through the app's own form."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from perkbus import tokens
from tests.browser.conftest import Live


@dataclass(frozen=True)
class Person:
    email: str
    password: str


def call(
    live: Live,
    method: str,
    path: str,
    body: object = None,
    token: str | None = None,
    headers: dict[str, str] | None = None,
) -> tuple[int, Any]:
    """One request to the live system: (status, decoded JSON body)."""
    request = urllib.request.Request(f"{live.base}{path}", method=method)
    for name, value in (headers or {}).items():
        request.add_header(name, value)
    if token:
        request.add_header("Authorization", f"Bearer {token}")
    data = None
    if body is not None:
        data = json.dumps(body).encode()
        request.add_header("Content-Type", "application/json")
    try:
        with urllib.request.urlopen(request, data, timeout=30) as response:
            return int(response.status), json.loads(response.read() or b"null")
    except urllib.error.HTTPError as e:
        return int(e.code), json.loads(e.read() or b"null")


PROGRAMME = "/api/v1/tenant/config/programme"


def owner_token(live: Live, tenant: str) -> str:
    """An owner's token of ``tenant`` (its settings and people), signed with the live
    system's key: for tests that set up a tenant of their own."""
    return tokens.mint(
        live.var / "keys" / "jwt-signing.pem",
        tenant=tenant,
        subject=f"setup@{tenant}",
        scopes=["config:read", "config:write", "people:admin"],
        roles=["owner"],
        ttl_s=600,
        issuer="perkbus",
        audience="perkbus-api",
    )


def as_admin(live: Live, method: str, path: str, body: Any = None, **headers: str) -> Any:
    """(ETag, decoded JSON) of a request as the demo tenant's admin; raises on an error."""
    request = urllib.request.Request(
        f"{live.base}{path}",
        method=method,
        data=None if body is None else json.dumps(body).encode(),
        headers={
            "Authorization": f"Bearer {live.demo['token']}",
            "Content-Type": "application/json",
            **headers,
        },
    )
    with urllib.request.urlopen(request, timeout=10) as r:
        return r.headers.get("ETag"), json.loads(r.read() or b"null")


def edit_programme(live: Live, edit: Callable[[dict[str, Any]], None]) -> None:
    """Change the demo tenant's programme document in place (``{}`` if it has none),
    keeping what else it says, and store it."""
    try:
        etag, programme = as_admin(live, "GET", PROGRAMME)
        precondition = {"If-Match": etag}
    except urllib.error.HTTPError as e:
        if e.code != 404:
            raise
        programme, precondition = {}, {"If-None-Match": "*"}
    edit(programme)
    as_admin(live, "PUT", PROGRAMME, programme, **precondition)


def new_person(live: Live, points: int) -> Person:
    """A fresh end user of the demo tenant with this many points: each test its own, so
    no test sees another's orders or balance."""
    admin = str(live.demo["token"])
    email = f"pwa-{uuid.uuid4().hex[:10]}@demo.example"
    password = "pwa-test-password-1"
    status, body = call(
        live,
        "POST",
        "/api/v1/people",
        {"id": email, "email": email, "name": email.split("@")[0], "password": password},
        admin,
    )
    assert status == 201, body
    reward = {"budget_id": live.demo["budget_id"], "person_id": email, "points": points}
    status, body = call(
        live, "POST", "/api/v1/rewards", reward, admin, {"Idempotency-Key": f"pwa-{email}"}
    )
    assert status in (200, 201), body
    return Person(email, password)


def bearer(live: Live, person: Person) -> str:
    """An access token of the person's own (to check what they may see)."""
    status, body = call(
        live,
        "POST",
        "/auth/sign-in",
        {"tenant": "demo", "email": person.email, "password": person.password, "mode": "bearer"},
    )
    assert status == 200, body
    return str(body["access_token"])


def points(live: Live, person: Person) -> int:
    status, body = call(live, "GET", f"/api/v1/wallets/{person.email}", token=bearer(live, person))
    assert status == 200, body
    return int(body["points"])


def sign_in(page: Any, person: Person, path: str = "/?tenant=demo") -> None:
    page.goto(path)
    page.get_by_label("Email").fill(person.email)
    page.get_by_label("Password").fill(person.password)
    page.get_by_role("button", name="Sign in", exact=True).click()
    page.get_by_role("heading", name="Rewards", exact=True).wait_for()


#: Gift cards the demo stocks with codes (perkbus.demo): EUR, first face value 10.00.
STOCKED = "Filuhu Yoga gift card"


def open_stocked(page: Any) -> None:
    """Find the stocked gift card, open it and tap Redeem (the confirmation shows)."""
    page.get_by_label("Search rewards").fill("filuhu")
    page.get_by_role("button", name="Search", exact=True).click()
    page.get_by_role("link", name=STOCKED).click()
    page.get_by_role("button", name="Redeem").click()


def redeem_stocked(page: Any) -> None:
    """Find the stocked gift card, open it, redeem it and confirm (one tap each)."""
    open_stocked(page)
    page.get_by_role("button", name="Confirm").click()


def losing_the_first_order_answer(keys: list[str]) -> Callable[[Any], None]:
    """A route for ``/api/v1/orders`` that notes each order's Idempotency-Key and loses
    the first answer: the server takes the order, but its answer never arrives."""

    def route_it(route: Any) -> None:
        if route.request.method != "POST":
            route.continue_()
            return
        keys.append(route.request.headers["idempotency-key"])
        if len(keys) == 1:
            route.fetch()
            route.abort("connectionreset")
        else:
            route.continue_()

    return route_it
