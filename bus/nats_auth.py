"""Who may use the bus, and for what: perkbus's NATS operator, account and users (ADR 17).

perkbus runs its NATS server in operator mode. It holds three nkeys, created once and
kept as seed files (mode 0600) in one directory:

- the **operator**, which the server trusts and which signs the two accounts;
- the **account** ``PERKBUS``, where every perkbus subject lives (JetStream on, the
  tenant partition mapping of :func:`bus.subjects.partition_mapping`); its key signs the
  users;
- the **system account**, which the server needs for its own traffic.

Users are minted, never registered: the **service** user, with which perkbus's own
processes connect, may do anything in the account; an **integrator** user of a tenant
may only subscribe to ``pb.evt.<tenant>.>`` and publish nothing, and expires. The
server learns of neither: it checks the user JWT's signature chain on connect and
enforces the permissions inside it, so a new tenant's credentials need no server change.
A user gets them as a ``.creds`` file (its JWT and seed), which nats clients read.
Minting needs the account's key only (:class:`UserIssuer`, what actor hosts hold to
answer tenant admins); configuring the server needs all three (:class:`NatsAuthority`).
"""

from __future__ import annotations

import contextlib
import json
import os
from pathlib import Path

from bus import nats_jwt, subjects
from bus.nats_jwt import AccountNats, Claims, OperatorNats, SubjectRules, UserNats
from bus.nkey import NKey, Role

OPERATOR_NAME = "perkbus"
ACCOUNT_NAME = "PERKBUS"
SYSTEM_ACCOUNT_NAME = "SYS"
SERVICE_USER = "perkbus-service"

#: No rule: every subject of the account.
ANY_SUBJECT = SubjectRules()

#: Seed files in the authority's directory, by role.
_SEED_FILES = {
    "operator": ("operator.nk", Role.OPERATOR),
    "account": ("account.nk", Role.ACCOUNT),
    "system": ("system-account.nk", Role.ACCOUNT),
}


def integrator_permissions(tenant: str) -> tuple[SubjectRules, SubjectRules]:
    """(publish, subscribe) of a tenant's integrator: its own events, and nothing else.

    No ``_INBOX.>``: a subscriber needs no replies, and inboxes carry other users'
    replies (the edge's requests to actors among them). Events about people and API
    clients (emails, roles, grants) are left out, as the replay leaves them out for
    whoever may not read people or clients.
    """
    subscribe = SubjectRules(
        allow=[subjects.events_of_tenant(tenant)],
        deny=[subjects.events_of_aggregate(tenant, a) for a in subjects.ADMIN_AGGREGATES],
    )
    return SubjectRules(deny=[">"]), subscribe


def creds_file(user_jwt: str, seed: str) -> str:
    """The ``.creds`` text that nats clients (nats-py's ``user_credentials``) read."""
    return (
        "-----BEGIN NATS USER JWT-----\n"
        f"{user_jwt}\n"
        "------END NATS USER JWT------\n"
        "\n"
        "************************* IMPORTANT *************************\n"
        "NKEY Seed printed below can be used to sign and prove identity.\n"
        "NKEYs are sensitive and should be treated as secrets.\n"
        "\n"
        "-----BEGIN USER NKEY SEED-----\n"
        f"{seed}\n"
        "------END USER NKEY SEED------\n"
        "\n"
        "*************************************************************\n"
    )


def user_jwt_of(creds: str) -> str:
    """The user JWT inside a ``.creds`` text."""
    lines = creds.splitlines()
    for i, line in enumerate(lines[:-1]):
        if "BEGIN NATS USER JWT" in line:
            return lines[i + 1].strip()
    raise nats_jwt.InvalidJwt("no user JWT in these credentials")


def write_secret(path: str | Path, text: str) -> Path:
    """Write ``text`` to ``path`` readable by its owner only (replacing it atomically)."""
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    temporary = target.with_name(f".{target.name}.{os.getpid()}.tmp")
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(text)
    temporary.replace(target)
    return target


def _load_or_create_seed(path: Path, role: Role) -> NKey:
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        with contextlib.suppress(FileExistsError):  # another process made it first: use theirs
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "w") as f:
                f.write(NKey.generate(role).seed + "\n")
    return NKey.from_seed(path.read_text(), role)


class UserIssuer:
    """The account's key: mints the account's users."""

    def __init__(self, account: NKey) -> None:
        self.account = account

    @classmethod
    def from_directory(cls, directory: str | Path) -> UserIssuer | None:
        """The account key in ``directory``, if there is one (never creates it: a key the
        server does not trust would mint credentials it refuses)."""
        path = Path(directory) / _SEED_FILES["account"][0]
        if not path.exists():
            return None
        return cls(NKey.from_seed(path.read_text(), Role.ACCOUNT))

    def user_credentials(
        self,
        name: str,
        now: int,
        publish: SubjectRules = ANY_SUBJECT,
        subscribe: SubjectRules = ANY_SUBJECT,
        expires_at: int | None = None,
    ) -> str:
        """A new user of the account, as ``.creds`` text."""
        user = NKey.generate(Role.USER)
        nats = UserNats(pub=publish, sub=subscribe)
        claims = Claims(sub=user.public, name=name, nats=nats, exp=expires_at)
        return creds_file(nats_jwt.encode(claims, self.account, now), user.seed)

    def service_credentials(self, now: int) -> str:
        """perkbus's own processes: every subject of the account, no expiry."""
        return self.user_credentials(SERVICE_USER, now)

    def tenant_credentials(self, tenant: str, now: int, ttl_s: int) -> str:
        """A tenant's integrator: subscribe to its own events only, until ``now + ttl_s``."""
        if ttl_s <= 0:
            raise ValueError("integrator credentials must expire (ttl_s > 0)")
        publish, subscribe = integrator_permissions(tenant)
        return self.user_credentials(
            f"integrator@{subjects.check_token(tenant, 'tenant')}",
            now,
            publish=publish,
            subscribe=subscribe,
            expires_at=now + ttl_s,
        )


class NatsAuthority(UserIssuer):
    """The operator and account keys: what configures the server, and mints users."""

    def __init__(self, operator: NKey, account: NKey, system_account: NKey) -> None:
        super().__init__(account)
        self.operator = operator
        self.system_account = system_account

    @classmethod
    def load_or_create(cls, directory: str | Path) -> NatsAuthority:
        """The keys in ``directory``, each created (mode 0600) on first use."""
        folder = Path(directory)
        keys = {
            who: _load_or_create_seed(folder / name, role)
            for who, (name, role) in _SEED_FILES.items()
        }
        return cls(keys["operator"], keys["account"], keys["system"])

    def operator_jwt(self, now: int) -> str:
        nats = OperatorNats(system_account=self.system_account.public)
        return nats_jwt.encode(
            Claims(sub=self.operator.public, name=OPERATOR_NAME, nats=nats), self.operator, now
        )

    def account_jwt(self, partitions: int, now: int) -> str:
        source, destination = subjects.partition_mapping(partitions)
        nats = AccountNats(
            limits=nats_jwt.UNLIMITED_WITH_JETSTREAM,
            mappings={source: [nats_jwt.WeightedMapping(destination)]},
        )
        return nats_jwt.encode(
            Claims(sub=self.account.public, name=ACCOUNT_NAME, nats=nats), self.operator, now
        )

    def system_account_jwt(self, now: int) -> str:
        public = self.system_account.public
        claims = Claims(sub=public, name=SYSTEM_ACCOUNT_NAME, nats=AccountNats())
        return nats_jwt.encode(claims, self.operator, now)

    def server_config(self, partitions: int, now: int) -> list[str]:
        """The lines of a nats-server configuration that put it in operator mode with
        perkbus's accounts preloaded (no account server: ``resolver: MEMORY``)."""
        preload = {
            self.account.public: self.account_jwt(partitions, now),
            self.system_account.public: self.system_account_jwt(now),
        }
        return [
            f"operator: {json.dumps(self.operator_jwt(now))}",
            f"system_account: {json.dumps(self.system_account.public)}",
            "resolver: MEMORY",
            "resolver_preload: {",
            *(f"  {public}: {json.dumps(jwt)}" for public, jwt in preload.items()),
            "}",
        ]
