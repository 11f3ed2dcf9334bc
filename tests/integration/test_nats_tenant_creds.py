"""Integrators on NATS (ADR 17): a tenant's credentials reach its own events and nothing
else, on the real embedded nats-server, with events published by a real actor host; an
operator mints them with the CLI, a tenant admin through the API."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import nats
import pytest
from nats.aio.client import Client as NatsClient
from nats.aio.msg import Msg
from nats.errors import Error as NatsError

from bus import subjects
from bus.barrier import barrier
from bus.client import Bus
from bus.embedded import EmbeddedNats
from bus.errors import ErrorCode
from bus.messages.budget import CreateBudget
from bus.messages.common import Err, Money, Ok, Principal
from bus.messages.identity import IssueNatsCredentials
from bus.messages.people import CreatePerson
from bus.nats_auth import NatsAuthority, integrator_permissions, user_jwt_of, write_secret
from bus.nats_jwt import UserNats
from bus.nats_jwt import decode as decode_jwt
from perkbus import cli
from storage.sqlite import SqliteLedger
from storage.sqlite_catalogue import SqliteCatalogue
from tests.conftest import Cluster, start_host

#: Subjects a tenant's integrator must not subscribe to: another tenant's events, all
#: events, everything, requests to actors, replies, the tenant's own audit subject.
FORBIDDEN = [
    "pb.evt.globex.>",
    "pb.evt.*.budget.created",
    "pb.evt.>",
    ">",
    "pb.rpc.>",
    "pb.rpcp.>",
    "_INBOX.>",
    "pb.audit.acme",
]


class Integrator:
    """A NATS connection with a tenant's credentials, recording the server's refusals."""

    def __init__(self) -> None:
        self.errors: list[Exception] = []
        self.nc = NatsClient()

    async def connect(self, url: str, creds: Path) -> None:
        async def record(e: Exception) -> None:
            self.errors.append(e)

        await self.nc.connect(
            url, user_credentials=str(creds), error_cb=record, allow_reconnect=False
        )

    def violations(self) -> list[str]:
        return [str(e) for e in self.errors if "permissions violation" in str(e)]


async def refused_connect(url: str, creds: Path | None) -> str:
    """Connect, expecting the server to refuse; the error it gave."""
    nc = NatsClient()
    try:
        with pytest.raises(NatsError) as refused:
            await nc.connect(
                url, user_credentials=str(creds) if creds else None, allow_reconnect=False
            )
    finally:
        await nc.close()  # the refused socket too
    return str(refused.value)


@pytest.fixture
def authority(nats_server: EmbeddedNats) -> NatsAuthority:
    """The keys the embedded server trusts (as ``perkbus nats-creds`` loads them)."""
    return NatsAuthority.load_or_create(nats_server.auth_dir)


@pytest.fixture
def acme_creds(authority: NatsAuthority, tmp_path: Path) -> Path:
    return write_secret(
        tmp_path / "acme.creds", authority.tenant_credentials("acme", int(time.time()), 3600)
    )


@pytest.fixture
async def acme(nats_server: EmbeddedNats, acme_creds: Path) -> AsyncIterator[Integrator]:
    integrator = Integrator()
    await integrator.connect(nats_server.url, acme_creds)
    yield integrator
    await integrator.nc.close()


@asynccontextmanager
async def sqlite_host(bus: Bus, tmp_path: Path) -> AsyncIterator[None]:
    """A real actor host on an SQLite ledger, holding no NATS account key."""
    ledger = SqliteLedger(tmp_path / "ledger.sqlite3")
    catalogue = SqliteCatalogue(tmp_path / "catalogue.sqlite3")
    await ledger.migrate()
    await catalogue.migrate()
    host = await start_host(bus, ledger, catalogue)
    try:
        yield
    finally:
        await host.stop()
        await ledger.close()
        await catalogue.close()


async def test_an_integrator_gets_its_tenants_events_and_no_other_subject(
    bus: Bus, acme: Integrator, tmp_path: Path
) -> None:
    own: asyncio.Queue[Msg] = asyncio.Queue()

    async def receive(msg: Msg) -> None:
        await own.put(msg)

    await acme.nc.subscribe(subjects.events_of_tenant("acme"), cb=receive)
    leaked: list[Msg] = []

    async def leak(msg: Msg) -> None:
        leaked.append(msg)

    for subject in FORBIDDEN:
        await acme.nc.subscribe(subject, cb=leak)
    await barrier(acme.nc)

    async with sqlite_host(bus, tmp_path):
        for tenant in ("globex", "acme"):  # the system publishes both tenants' events
            reply = await bus.request(
                tenant,
                "treasury",
                CreateBudget("b1", "Budget", Money(100, "EUR")),
                Principal("admin", roles=("admin",)),
                timeout_s=5,
            )
            assert isinstance(reply, Ok), reply
        msg = await asyncio.wait_for(own.get(), 5)

    assert msg.subject == subjects.event("acme", "budget", "created")
    event = json.loads(msg.data)
    assert (event["type"], event["tenant"]) == ("perkbus.budget.created", "acme")
    await barrier(acme.nc)
    await asyncio.sleep(0.2)  # globex's event, had any subscription been allowed
    assert leaked == []
    assert own.empty()
    refused = acme.violations()
    assert len(refused) == len(FORBIDDEN), acme.errors
    for subject in FORBIDDEN:
        assert f'permissions violation for subscription to "{subject.lower()}"' in " ".join(refused)
    assert acme.nc.is_connected, "a refused subscription does not cost the connection"


async def test_an_integrator_may_publish_nothing(bus: Bus, acme: Integrator) -> None:
    seen: list[Msg] = []

    async def record(msg: Msg) -> None:
        seen.append(msg)

    await bus.nc.subscribe(">", cb=record)  # the service user sees every subject
    await barrier(bus.nc)
    spoofs = [
        subjects.event("acme", "budget", "debited"),  # a forged event of its own tenant
        subjects.rpc("acme", "treasury"),  # a command straight to an actor
        subjects.HEALTH,
    ]
    for subject in spoofs:
        await acme.nc.publish(subject, b"{}")
    await barrier(acme.nc)
    await asyncio.sleep(0.2)
    await barrier(bus.nc)
    assert seen == []
    assert len(acme.violations()) == len(spoofs), acme.errors
    assert all("permissions violation for publish" in v for v in acme.violations())


def test_integrator_credentials_name_exactly_the_tenants_events(authority: NatsAuthority) -> None:
    publish, subscribe = integrator_permissions("acme")
    assert (publish.allow, publish.deny) == ([], [">"])
    assert subscribe.allow == ["pb.evt.acme.>"]
    assert subscribe.deny == [
        "pb.evt.acme.funding.>",
        "pb.evt.acme.identity.>",
        "pb.evt.acme.people.>",
    ]


async def test_an_integrator_does_not_hear_of_people_or_clients(
    bus: Bus, acme: Integrator, tmp_path: Path
) -> None:
    """Events about people carry their emails, roles and grants: the tenant's stream
    reaches an integrator without them, live as in the replay."""
    heard: asyncio.Queue[Msg] = asyncio.Queue()

    async def receive(msg: Msg) -> None:
        await heard.put(msg)

    await acme.nc.subscribe(subjects.events_of_tenant("acme"), cb=receive)
    await barrier(acme.nc)
    admin = Principal("admin", roles=("admin",))
    async with sqlite_host(bus, tmp_path):
        person = CreatePerson("ann", "ann@acme.example", "Ann")
        assert isinstance(await bus.request("acme", "people", person, admin, 5), Ok)
        budget = CreateBudget("b1", "Budget", Money(100, "EUR"))
        assert isinstance(await bus.request("acme", "treasury", budget, admin, 5), Ok)
        msg = await asyncio.wait_for(heard.get(), 5)
    await barrier(acme.nc)
    await asyncio.sleep(0.2)  # the person's event, had it been let through
    assert msg.subject == subjects.event("acme", "budget", "created")
    assert heard.empty()


async def test_expired_credentials_are_refused_at_connect(
    nats_server: EmbeddedNats, authority: NatsAuthority, tmp_path: Path
) -> None:
    now = int(time.time())
    publish, subscribe = integrator_permissions("acme")
    expired = authority.user_credentials(
        "integrator@acme", now - 120, publish, subscribe, expires_at=now - 60
    )
    error = await refused_connect(nats_server.url, write_secret(tmp_path / "x.creds", expired))
    assert "authorization violation" in error.lower()


async def test_credentials_expiring_while_connected_are_dropped(
    nats_server: EmbeddedNats, authority: NatsAuthority, tmp_path: Path
) -> None:
    creds = authority.tenant_credentials("acme", int(time.time()), ttl_s=1)
    dropped = asyncio.Event()

    async def on_disconnect() -> None:
        dropped.set()

    nc = await nats.connect(
        nats_server.url,
        user_credentials=str(write_secret(tmp_path / "short.creds", creds)),
        allow_reconnect=False,
        disconnected_cb=on_disconnect,
    )
    try:
        await asyncio.wait_for(dropped.wait(), 4)
    finally:
        await nc.close()


async def test_credentials_of_a_foreign_account_are_refused(
    nats_server: EmbeddedNats, authority: NatsAuthority, tmp_path: Path
) -> None:
    now = int(time.time())
    stranger = NatsAuthority.load_or_create(tmp_path / "another-operator")
    foreign = stranger.tenant_credentials("acme", now, 3600)
    error = await refused_connect(nats_server.url, write_secret(tmp_path / "f.creds", foreign))
    assert "authorization violation" in error.lower()

    # a genuine JWT is worthless without its own seed: the nonce must be signed with it
    genuine = authority.tenant_credentials("acme", now, 3600).splitlines()
    other = authority.tenant_credentials("acme", now, 3600).splitlines()
    seed_line = next(i for i, line in enumerate(genuine) if "BEGIN USER NKEY SEED" in line) + 1
    genuine[seed_line] = other[seed_line]
    mixed = write_secret(tmp_path / "mixed.creds", "\n".join(genuine) + "\n")
    assert "authorization violation" in (await refused_connect(nats_server.url, mixed)).lower()


async def test_no_credentials_no_connection(nats_server: EmbeddedNats) -> None:
    assert "authorization violation" in (await refused_connect(nats_server.url, None)).lower()


async def test_the_cli_mints_credentials_the_embedded_server_accepts(
    nats_server: EmbeddedNats,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("PERKBUS_NATS_AUTH_DIR", str(nats_server.auth_dir))
    assert cli.main(["nats-creds", "--tenant", "acme", "--ttl-days", "1"]) == 0
    creds = write_secret(tmp_path / "acme.creds", capsys.readouterr().out)
    integrator = Integrator()
    await integrator.connect(nats_server.url, creds)
    try:
        await integrator.nc.subscribe("pb.evt.acme.>")
        await integrator.nc.subscribe("pb.evt.globex.>")
        await barrier(integrator.nc)
        await asyncio.sleep(0.1)
        assert integrator.violations() == [
            'nats: permissions violation for subscription to "pb.evt.globex.>"'
        ]
    finally:
        await integrator.nc.close()
    assert cli.main(["nats-creds", "--tenant", "acme", "--ttl-days", "0"]) == 2
    assert cli.main(["nats-creds", "--tenant", "Acme.>"]) == 2


async def test_a_tenant_admin_gets_nats_credentials_over_rest_and_graphql(
    nats_server: EmbeddedNats, cluster: Cluster, tmp_path: Path
) -> None:
    owner = cluster.keys.headers("acme")
    async with cluster.client.post(
        "/api/v1/nats-credentials", json={"ttl_days": 7}, headers=owner
    ) as r:
        assert r.status == 201, await r.text()
        assert r.headers["Cache-Control"] == "no-store"
        issued = await r.json()
    assert issued["subject"] == "pb.evt.acme.>"
    user = decode_jwt(user_jwt_of(issued["creds"]), UserNats)
    assert user.nats.sub.allow == ["pb.evt.acme.>"]
    assert user.exp is not None
    assert abs(user.exp - time.time() - 7 * 86_400) < 60

    integrator = Integrator()
    await integrator.connect(nats_server.url, write_secret(tmp_path / "a.creds", issued["creds"]))
    try:
        own = await integrator.nc.subscribe("pb.evt.acme.>")
        await integrator.nc.subscribe("pb.evt.globex.>")
        await barrier(integrator.nc)
        await cluster.open_budget("acme", "b1", 100)
        assert (await own.next_msg(5)).subject == "pb.evt.acme.budget.created"
        assert len(integrator.violations()) == 1
    finally:
        await integrator.nc.close()

    query = (
        "mutation { issueNatsCredentials(input: {ttlDays: 1}) {"
        " ... on NatsCredentials { subject expiresAt creds } ... on Error { code } } }"
    )
    async with cluster.client.post("/graphql", json={"query": query}, headers=owner) as r:
        by_graphql = (await r.json())["data"]["issueNatsCredentials"]
    assert by_graphql["subject"] == "pb.evt.acme.>"
    assert decode_jwt(user_jwt_of(by_graphql["creds"]), UserNats).sub != user.sub

    async with cluster.client.post(
        "/api/v1/nats-credentials", json={"ttl_days": 0}, headers=owner
    ) as r:
        assert r.status == 422
    async with cluster.client.get("/api/v1/audit", headers=owner) as r:
        actions = [e["action"] for e in (await r.json())["entries"]]
    assert actions.count("identity.nats_credentials.issue") == 2


async def test_an_admin_narrowed_to_budgets_gets_no_nats_credentials(cluster: Cluster) -> None:
    """They would see every event of the tenant for up to a year, beyond revocation; the
    replay refuses such principals, and so does this, at the edge and in the actor."""
    narrowed = cluster.keys.headers("acme", roles=["admin"], grants=["budget:eng"])
    async with cluster.client.post(
        "/api/v1/nats-credentials", json={"ttl_days": 7}, headers=narrowed
    ) as r:
        body = await r.json(content_type=None)
        assert (r.status, body["code"]) == (403, "forbidden"), body
    principal = Principal("boss", roles=("admin",), grants=("budget:eng",))
    reply = await cluster.bus.request("acme", "identity", IssueNatsCredentials(7), principal, 10)
    assert isinstance(reply, Err)
    assert reply.code == ErrorCode.FORBIDDEN


async def test_a_client_id_this_api_never_gave_is_refused_before_the_audit_log(
    cluster: Cluster,
) -> None:
    forged = "acme.admin@acme.example\r\n2026-11-28 owner rotated all secrets <b>x</b>"
    form = {"grant_type": "client_credentials", "client_id": forged, "client_secret": "x"}
    async with cluster.client.post("/oauth/token", data=form) as r:
        assert (r.status, (await r.json())["error"]) == (401, "invalid_client")
    async with cluster.client.get("/api/v1/audit", headers=cluster.keys.headers("acme")) as r:
        actors = [e["actor"] for e in (await r.json())["entries"]]
    assert forged not in actors
    assert not any("\n" in a for a in actors)


async def test_hosts_without_the_account_key_mint_nothing(bus: Bus, tmp_path: Path) -> None:
    async with sqlite_host(bus, tmp_path):
        reply = await bus.request(
            "acme",
            "identity",
            IssueNatsCredentials(),
            Principal("admin", roles=("admin",)),
            timeout_s=5,
        )
        assert isinstance(reply, Err)
        assert reply.code == "unavailable"
        refused = await bus.request(
            "acme", "identity", IssueNatsCredentials(), Principal("p", roles=("finance",)), 5
        )
        assert isinstance(refused, Err)
        assert refused.code == "forbidden"


async def test_hosts_without_an_account_key_refuse_credentials_for_good(
    bus: Bus, tmp_path: Path
) -> None:
    """As under the Nomad jobs, whose NATS runs without operator mode: a retry would get
    the same answer, so the answer says not to retry."""
    async with sqlite_host(bus, tmp_path):
        owner = Principal("boss", roles=("owner",))
        reply = await bus.request("acme", "identity", IssueNatsCredentials(7), owner, 10)
    assert isinstance(reply, Err)
    assert (reply.code, reply.retryable) == (ErrorCode.UNAVAILABLE, False)
    assert "does not offer NATS credentials" in reply.message
