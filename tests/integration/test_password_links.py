"""Forgot your password, and invitations (ADR 42): a link emailed by the mailer (to a
real SMTP server), whose token works once, ends the person's other sessions, lifts the
lockout and signs them in; nobody learns from the answers which addresses are people's,
and no token travels in the event stream or reaches the audit log."""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import AsyncIterator
from email.message import EmailMessage
from typing import Any

import pytest

from actors.mail_transport import SmtpTransport
from bus import subjects
from bus.embedded import EmbeddedNats
from edge.config import EdgeConfig
from storage.ports import CatalogueStore, Ledger
from tests.conftest import Cluster, start_cluster
from tests.integration.test_sessions import PASSWORD, PEOPLE, add_person, sign_in
from tests.smtp_server import MailServer, mail_server, quick_mailer
from tests.support import Keys, raw_execute, raw_fetchall, stream_messages, until

pytestmark = pytest.mark.ledgers("sqlite")

ASK = "/auth/password-reset/request"
RESET = "/auth/password-reset"
NEW_PASSWORD = "a fresh and long secret"
_LINK = re.compile(r"https://rewards\.acme\.example/\?tenant=acme#reset=([A-Za-z0-9_-]+)")


@pytest.fixture
async def mail(cluster: Cluster) -> AsyncIterator[MailServer]:
    """The mailer of ``perkbus webhooks``, writing to a real SMTP server."""
    async with mail_server() as server:
        mailer = quick_mailer(cluster.bus, SmtpTransport(server.url, timeout_s=5))
        mailer.start()
        try:
            yield server
        finally:
            await mailer.stop()


async def ask(cluster: Cluster, email: str, tenant: str = "acme") -> tuple[int, Any, Any]:
    async with cluster.client.post(ASK, json={"tenant": tenant, "email": email}) as r:
        return r.status, await r.json(content_type=None), r.headers


async def reset(
    cluster: Cluster, token: str, password: str = NEW_PASSWORD, tenant: str = "acme"
) -> tuple[int, Any, Any]:
    body = {"tenant": tenant, "token": token, "password": password}
    async with cluster.client.post(RESET, json=body) as r:
        return r.status, await r.json(content_type=None), r


def token_of(message: EmailMessage) -> str:
    found = _LINK.search(message.get_content())
    assert found, message.get_content()
    return found.group(1)


def links_to(server: MailServer, address: str) -> list[EmailMessage]:
    """The emails with a link to set a password to ``address`` (people with a password
    get a welcome besides)."""
    return [m for m in server.to(address) if "#reset=" in m.get_content()]


async def emails_to(server: MailServer, address: str, count: int) -> list[EmailMessage]:
    async def arrived() -> bool:
        return len(links_to(server, address)) >= count

    await until(arrived, f"{count} links to {address}")
    return links_to(server, address)


async def events(cluster: Cluster, subject: str) -> list[Any]:
    return list(await stream_messages(cluster.bus, subject))


async def asked_events(cluster: Cluster) -> list[Any]:
    return await events(cluster, subjects.event_of_every_tenant("people", "password_reset_asked"))


async def test_a_forgotten_password_is_set_once_by_the_emailed_link(
    cluster: Cluster, mail: MailServer
) -> None:
    await add_person(cluster)
    await add_person(cluster, "dan")
    async with cluster.client.patch(
        f"{PEOPLE}/dan", json={"status": "disabled"}, headers=cluster.keys.headers("acme")
    ) as r:
        assert r.status == 200
    _, old, _ = await sign_in(cluster, "ann@acme.test", mode="bearer")
    for _ in range(10):  # locked out
        assert (await sign_in(cluster, "ann@acme.test", "not the password"))[0] == 401

    answers = []
    for email in ("Ann@acme.test", "nobody@acme.test", "dan@acme.test"):
        started = time.monotonic()
        status, body, headers = await ask(cluster, email)
        answers.append((status, body, headers["Content-Type"], headers["Cache-Control"]))
        assert time.monotonic() - started >= 0.25  # a write takes no longer to see
    assert answers[0] == answers[1] == answers[2]  # nobody learns who is a person here
    assert answers[0][0] == 202
    assert "If an account exists" in answers[0][1]["detail"]

    [message] = await emails_to(mail, "ann@acme.test", 1)
    assert message["Subject"] == "Choose a new password for acme"
    assert "works once, for an hour" in message.get_content()
    token = token_of(message)
    await asyncio.sleep(0.3)
    assert [m["To"] for m in mail.taken if "#reset=" in m.get_content()] == ["Ann <ann@acme.test>"]

    status, short, _ = await reset(cluster, token, "short")
    assert (status, short["errors"][0]["pointer"]) == (422, "#/password")
    status, session, response = await reset(cluster, token)
    assert status == 200, session
    assert session["person"]["id"] == "ann"
    assert {"pb_access", "pb_refresh", "pb_csrf"} <= {c.key for c in response.cookies.values()}
    async with cluster.client.get("/auth/me") as r:  # signed in, by cookie
        assert (r.status, (await r.json())["subject"]) == (200, "ann")

    # the session from before ends, refresh token and access token alike
    async with cluster.client.post(
        "/auth/refresh", json={"refresh_token": old["refresh_token"]}
    ) as r:
        assert r.status == 401
    old_bearer = {"Authorization": f"Bearer {old['access_token']}"}

    async def old_token_refused() -> bool:
        async with cluster.client.get("/api/v1/wallets/ann", headers=old_bearer) as r:
            return r.status == 401

    await until(old_token_refused, "the edge refuses the old access token")
    # the lockout is lifted; the old password is gone
    assert (await sign_in(cluster, "ann@acme.test", PASSWORD))[0] == 401
    assert (await sign_in(cluster, "ann@acme.test", NEW_PASSWORD))[0] == 200

    again, used, _ = await reset(cluster, token, "yet another long secret")
    unknown, bad, _ = await reset(cluster, "x" * 43)
    assert again == unknown == 422
    assert used["detail"] == bad["detail"]  # it does not say which
    assert (await sign_in(cluster, "ann@acme.test", NEW_PASSWORD))[0] == 200


async def test_links_expire_are_replaced_by_newer_ones_and_stay_in_their_tenant(
    cluster: Cluster, mail: MailServer
) -> None:
    await add_person(cluster)
    async with cluster.client.post(
        PEOPLE,
        json={"id": "ann", "email": "ann@acme.test", "name": "Ann", "password": PASSWORD},
        headers=cluster.keys.headers("globex"),
    ) as r:
        assert r.status == 201  # another tenant's Ann

    assert (await ask(cluster, "ann@acme.test"))[0] == 202
    first = token_of((await emails_to(mail, "ann@acme.test", 1))[0])
    assert (await ask(cluster, "ann@acme.test"))[0] == 202
    second = token_of((await emails_to(mail, "ann@acme.test", 2))[1])
    assert first != second
    assert (await reset(cluster, first))[0] == 422  # replaced by the newer link
    assert (await reset(cluster, second, tenant="globex"))[0] == 422  # not globex's
    assert (await sign_in(cluster, "ann@acme.test"))[0] == 200  # nothing changed

    await raw_execute(
        cluster.ledger,
        "UPDATE person_sessions SET expires_ms = ? WHERE status = 'reset_link'",
        (int(time.time() * 1000) - 1,),
    )
    assert (await reset(cluster, second))[0] == 422  # its hour is over
    assert (await sign_in(cluster, "ann@acme.test"))[0] == 200


async def test_admins_send_invitations_within_their_grants(
    cluster: Cluster, mail: MailServer
) -> None:
    owner = cluster.keys.headers("acme")
    await add_person(cluster, "olga", password=None, grants=["budget:eng"])
    await add_person(cluster, "bob", password=None)
    await add_person(cluster, "oscar", roles=["owner"])
    narrowed = cluster.keys.headers("acme", roles=["admin"], grants=["budget:eng"])

    async def send(person_id: str, headers: dict[str, str]) -> tuple[int, Any]:
        async with cluster.client.post(
            f"{PEOPLE}/{person_id}/password-reset", headers=headers
        ) as r:
            return r.status, await r.json()

    assert (await send("bob", narrowed))[0] == 403  # bob acts on the whole tenant
    admin = cluster.keys.headers("acme", roles=["admin"])
    assert (await send("oscar", admin))[0] == 403  # only an owner for an owner
    manager = cluster.keys.headers("acme", roles=["programme_manager"], scopes=["budgets:read"])
    assert (await send("olga", manager))[0] == 403
    assert (await send("nobody", owner))[0] == 404
    keyed = {**narrowed, "Idempotency-Key": "invite-olga-1"}
    status, sent = await send("olga", keyed)
    assert (status, sent) == (202, {"id": "olga", "email": "olga@acme.test", "kind": "invitation"})
    assert (await send("olga", keyed)) == (202, sent)  # the same key: one email
    status, _ = await send("oscar", owner)
    assert status == 202

    [invitation] = await emails_to(mail, "olga@acme.test", 1)
    assert invitation["Subject"] == "You are invited to acme"
    assert "for a week" in invitation.get_content()
    [reset_email] = await emails_to(mail, "oscar@acme.test", 1)
    assert reset_email["Subject"] == "Choose a new password for acme"
    await asyncio.sleep(0.3)
    assert len(links_to(mail, "olga@acme.test")) == 1
    assert not links_to(mail, "bob@acme.test")
    assert [e["data"]["person_id"] for e in await asked_events(cluster)] == ["olga", "oscar"]

    status, session, _ = await reset(cluster, token_of(invitation))
    assert status == 200, session
    assert session["person"]["has_password"] is True
    assert (await sign_in(cluster, "olga@acme.test", NEW_PASSWORD))[0] == 200

    async def gql(key: str, headers: dict[str, str]) -> Any:
        mutation = f"""mutation {{
          sendPasswordLink(id: "bob", idempotencyKey: "{key}") {{
            __typename
            ... on PasswordLinkSent {{ kind }}
            ... on Error {{ code }}
          }}
        }}"""
        async with cluster.client.post("/graphql", json={"query": mutation}, headers=headers) as r:
            return (await r.json())["data"]["sendPasswordLink"]

    refused = await gql("gql-bob-1", narrowed)
    assert refused == {"__typename": "Forbidden", "code": "forbidden"}
    sent_over_graphql = await gql("gql-bob-2", owner)
    assert sent_over_graphql == {"__typename": "PasswordLinkSent", "kind": "invitation"}
    await emails_to(mail, "bob@acme.test", 1)


async def test_people_of_single_sign_on_with_no_password_get_no_link_by_asking(
    cluster: Cluster, mail: MailServer
) -> None:
    owner = cluster.keys.headers("acme")
    sso = {"issuer": "https://login.acme.test", "client_id": "perkbus", "client_secret": "s3"}
    async with cluster.client.put("/api/v1/sso", json=sso, headers=owner) as r:
        assert r.status == 200
    await add_person(cluster, "sam", password=None)
    await add_person(cluster)
    assert (await ask(cluster, "sam@acme.test"))[0] == 202
    assert (await ask(cluster, "ann@acme.test"))[0] == 202
    await emails_to(mail, "ann@acme.test", 1)
    await asyncio.sleep(0.3)
    assert not links_to(mail, "sam@acme.test")
    assert [e["data"]["person_id"] for e in await asked_events(cluster)] == ["ann"]


async def test_no_token_nor_password_reaches_the_events_the_audit_log_or_the_ledger(
    cluster: Cluster, mail: MailServer
) -> None:
    await add_person(cluster)
    assert (await ask(cluster, "ann@acme.test"))[0] == 202
    token = token_of((await emails_to(mail, "ann@acme.test", 1))[0])
    assert (await reset(cluster, token))[0] == 200
    assert (await reset(cluster, token))[0] == 422

    published = await events(cluster, subjects.all_events())
    [asked] = [e for e in published if e["type"] == "perkbus.people.password_reset_asked"]
    assert set(asked["data"]) == {"person_id", "request_id", "invitation"}
    assert "perkbus.people.password_changed" in {e["type"] for e in published}
    stream = str(published)
    assert token not in stream
    assert NEW_PASSWORD not in stream

    audit = await raw_fetchall(
        cluster.ledger, "SELECT actor, action, target, outcome, detail FROM audit_log"
    )
    actions = {(row[1], row[2], row[3]) for row in audit}
    assert ("people.password_link.ask", "ann@acme.test", "ok") in actions
    assert ("people.password_link.issue", "ann", "ok") in actions
    assert ("people.password_link.use", "ann", "ok") in actions  # who set it
    assert ("people.password_link.use", "password link", "invalid_request") in actions
    assert ("ann", "people.password_link.use") in {(row[0], row[1]) for row in audit}
    assert token not in str(audit)
    assert NEW_PASSWORD not in str(audit)

    stored = await raw_fetchall(cluster.ledger, "SELECT * FROM person_sessions")
    assert token not in str(stored)  # its SHA-256 only
    kept = await raw_fetchall(cluster.ledger, "SELECT * FROM idempotency_replies")
    assert token not in str(kept)


async def test_asking_is_limited_per_address_and_per_email(
    nats_server: EmbeddedNats, ledger: Ledger, catalogue: CatalogueStore, keys: Keys
) -> None:
    limited = EdgeConfig(
        rate_per_s=0, token_rate_per_s=0.01, token_rate_burst=5, password_links_per_email_per_h=2
    )
    async for cluster in start_cluster(nats_server, ledger, catalogue, keys, edge=limited):
        await add_person(cluster)
        statuses = [(await ask(cluster, "ann@acme.test"))[0] for _ in range(4)]
        assert statuses == [202] * 4  # answered alike past the address's limit
        assert len(await asked_events(cluster)) == 2  # but two links an hour at most
        status, _, _ = await ask(cluster, "bob@acme.test")
        status2, _, _ = await ask(cluster, "cy@acme.test")
        assert [status, status2] == [202, 429]  # five a burst from this address
        assert (await reset(cluster, "x" * 43))[0] == 429  # using a link is limited too
