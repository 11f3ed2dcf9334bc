"""Every NATS subject perkbus uses is built here, and only here.

Requests go to ``pb.rpc.<tenant>.<kind>``. The NATS server maps them, by a stable hash of
the tenant, onto ``pb.rpcp.<partition>.<tenant>.<kind>`` (see :func:`partition_mapping`),
and each actor host subscribes to the partitions it owns. Splitting tenants over several
hosts is then a matter of which partitions a host subscribes to.

Events go to ``pb.evt.<tenant>.<aggregate>.<event>`` and are captured by the JetStream
stream ``PB_EVENTS``; integrators of a tenant may subscribe to ``pb.evt.<tenant>.>`` only.
"""

from __future__ import annotations

import functools
import re

from bus.scopes import PRIVATE_EVENTS

RPC_PREFIX = "pb.rpc"
PARTITIONED_PREFIX = "pb.rpcp"
EVENTS_PREFIX = "pb.evt"
AUDIT_PREFIX = "pb.audit"
#: Reports from the warehouse: ``pb.rpt.<tenant>``, answered by ``perkbus warehouse``.
REPORTS_PREFIX = "pb.rpt"
#: Requests about webhook deliveries, answered by the relay (ADR 37).
WEBHOOKS_PREFIX = "pb.whk"
#: "A tenant's webhook endpoints changed": a hint to the relay, no stream, no reply.
WEBHOOK_TARGETS_PREFIX = "pb.whkc"
HEALTH = "pb.sys.health"
#: Actor hosts answer with the public keys that sign access tokens (JWKS).
JWKS = "pb.sys.jwks"
#: Catalogue hosts tell every edge which tenant's catalogue pages changed (core NATS,
#: no stream: ``bus.messages.catalogue.CatalogueChanged``).
CATALOGUE_CHANGED = "pb.sys.catalogue.changed"
#: The warehouse process answers with the health of its store (ADR 26).
WAREHOUSE_HEALTH = "pb.sys.warehouse_health"
#: The webhook relay answers with its store's health (ADR 37).
WEBHOOKS_HEALTH = "pb.sys.webhooks_health"
#: Every process answers with its metrics (no queue group: each answers; ADR 40).
METRICS = "pb.sys.metrics"

EVENTS_STREAM = "PB_EVENTS"
AUDIT_STREAM = "PB_AUDIT"

_TOKEN = re.compile(r"[a-z0-9][a-z0-9_-]{0,62}")


class InvalidToken(ValueError):
    """A tenant id, kind or event name that cannot be a single subject token."""


def check_token(value: str, what: str = "token") -> str:
    """Subject tokens are lowercase ``[a-z0-9_-]``: no dots, wildcards or spaces."""
    if not _TOKEN.fullmatch(value):
        raise InvalidToken(f"{what} {value!r} must match {_TOKEN.pattern}")
    return value


def rpc(tenant: str, kind: str) -> str:
    return f"{RPC_PREFIX}.{check_token(tenant, 'tenant')}.{check_token(kind, 'kind')}"


def partition_subscription(partition: int) -> str:
    """What an actor host subscribes to for one partition it owns."""
    return f"{PARTITIONED_PREFIX}.{partition}.>"


def partition_mapping(partitions: int) -> tuple[str, str]:
    """The NATS subject mapping (source, destination) that partitions requests by tenant."""
    return (
        f"{RPC_PREFIX}.*.*",
        f"{PARTITIONED_PREFIX}.{{{{partition({partitions},1)}}}}.{{{{wildcard(1)}}}}.{{{{wildcard(2)}}}}",
    )


def partition_of(tenant: str, partitions: int) -> int:
    """The partition NATS's ``partition()`` transform picks: FNV-1a (32 bit) mod count."""
    h = 0x811C9DC5
    for byte in tenant.encode():
        h = ((h ^ byte) * 0x01000193) & 0xFFFFFFFF
    return h % partitions


def probe(tenant: str) -> str:
    """Where an actor host sends its start-up probe of the server's partition mapping."""
    return f"{RPC_PREFIX}.{check_token(tenant, 'tenant')}.probe"


def probe_partitioned(tenant: str) -> str:
    """The mapped probe subject; ``tenant`` may be ``*`` to see every probe."""
    token = tenant if tenant == "*" else check_token(tenant, "tenant")
    return f"{PARTITIONED_PREFIX}.*.{token}.probe"


def parse_partitioned(subject: str) -> tuple[int, str, str]:
    """``pb.rpcp.<p>.<tenant>.<kind>`` → (partition, tenant, kind)."""
    parts = subject.split(".")
    if len(parts) != 5 or f"{parts[0]}.{parts[1]}" != PARTITIONED_PREFIX:
        raise InvalidToken(f"not a partitioned request subject: {subject!r}")
    return int(parts[2]), parts[3], parts[4]


@functools.lru_cache(maxsize=8192)
def event(tenant: str, aggregate: str, name: str) -> str:
    """The subject of one tenant's event (kept for the last few thousand asked for: every
    event of a bulk chunk or a burst names one of a few)."""
    return (
        f"{EVENTS_PREFIX}.{check_token(tenant, 'tenant')}."
        f"{check_token(aggregate, 'aggregate')}.{check_token(name, 'event')}"
    )


def event_of_every_tenant(aggregate: str, name: str) -> str:
    """One event type, whichever the tenant (for the edges' revocation lists)."""
    return f"{EVENTS_PREFIX}.*.{check_token(aggregate, 'aggregate')}.{check_token(name, 'event')}"


def events_of_tenant(tenant: str) -> str:
    return f"{EVENTS_PREFIX}.{check_token(tenant, 'tenant')}.>"


#: Aggregates whose events only some may read (people, API clients, funding;
#: :data:`bus.scopes.PRIVATE_EVENTS`): never sent to integrators' NATS credentials.
ADMIN_AGGREGATES = tuple(sorted(PRIVATE_EVENTS))


def events_of_aggregate(tenant: str, aggregate: str) -> str:
    return f"{EVENTS_PREFIX}.{check_token(tenant, 'tenant')}.{check_token(aggregate)}.>"


def all_events() -> str:
    return f"{EVENTS_PREFIX}.>"


def audit(tenant: str) -> str:
    return f"{AUDIT_PREFIX}.{check_token(tenant, 'tenant')}"


def reports(tenant: str) -> str:
    """Where report requests about ``tenant`` go (ADR 26)."""
    return f"{REPORTS_PREFIX}.{check_token(tenant, 'tenant')}"


def all_reports() -> str:
    """What the warehouse process answers: report requests of every tenant."""
    return f"{REPORTS_PREFIX}.*"


def parse_reports(subject: str) -> str:
    """``pb.rpt.<tenant>`` → tenant."""
    prefix, _, tenant = subject.rpartition(".")
    if prefix != REPORTS_PREFIX:
        raise InvalidToken(f"not a report subject: {subject!r}")
    return check_token(tenant, "tenant")


def webhooks(tenant: str) -> str:
    """Where requests about ``tenant``'s webhook deliveries go (ADR 37)."""
    return f"{WEBHOOKS_PREFIX}.{check_token(tenant, 'tenant')}"


def all_webhooks() -> str:
    """What the webhook relay answers: delivery requests of every tenant."""
    return f"{WEBHOOKS_PREFIX}.*"


def parse_webhooks(subject: str) -> str:
    """``pb.whk.<tenant>`` → tenant."""
    prefix, _, tenant = subject.rpartition(".")
    if prefix != WEBHOOKS_PREFIX:
        raise InvalidToken(f"not a webhooks subject: {subject!r}")
    return check_token(tenant, "tenant")


def webhook_targets_changed(tenant: str) -> str:
    """Published when ``tenant``'s endpoints change: the relay reads them again."""
    return f"{WEBHOOK_TARGETS_PREFIX}.{check_token(tenant, 'tenant')}"


def all_webhook_targets_changed() -> str:
    return f"{WEBHOOK_TARGETS_PREFIX}.*"
