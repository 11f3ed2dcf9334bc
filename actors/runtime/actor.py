"""What an actor is: a plain class the runtime drives, and the context it is given."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from actors.kept_answers import PROGRAMME_TTL_S, KeptAnswers
from actors.sealing import MasterKey
from bus.messages import Command, Reply, Request
from bus.nats_auth import UserIssuer
from storage.catalogue_cache import PlatformCatalogue
from storage.ports import CatalogueStore, ChangeSet, Ledger, Store
from storage.search_ports import SearchIndex
from storage.tenant_docs_ports import TenantDocuments


@dataclass(frozen=True, order=True)
class ActorKey:
    tenant: str
    kind: str
    key: str

    def __str__(self) -> str:
        return f"{self.tenant}/{self.kind}/{self.key}"


async def _not_wired(*args: object) -> Any:
    raise RuntimeError("this context was not given to an actor host")


def _not_wired_sync(*args: object) -> Any:
    raise RuntimeError("this context was not given to an actor host")


async def _nobody_listens(subject: str, payload: bytes) -> None:
    """Outside a host, hints have no one to go to."""


@dataclass(frozen=True)
class ActorContext:
    """Everything an actor may use; there are no module-level clients."""

    ledger: Ledger
    catalogue: CatalogueStore
    platform: PlatformCatalogue
    master_key: MasterKey
    #: The points currency of tenants that set no points rate (one point = one minor unit).
    points_currency: str = "EUR"
    #: How long after delivery staff may cancel an order (void its code, refund it).
    cancel_window_s: float = 1800.0
    #: Available codes expiring within this many days raise ``voucher.codes_expiring``.
    expiry_warning_days: int = 30
    #: A pool whose available codes fall below this raises ``voucher.pool_low``.
    low_stock: int = 10
    #: Wired by the host: a group commit in the middle of a batch (for sagas that must
    #: record a step before taking the next).
    commit: Callable[[ChangeSet], Awaitable[None]] = field(default=_not_wired)
    #: Wired by the host: a request to another actor, as the system, with a key.
    ask: Callable[[str, str, Command, str | None], Awaitable[Reply]] = field(default=_not_wired)
    #: Wired by the host: a message to an actor, as the system, with no reply awaited.
    tell: Callable[[str, str, Command], Awaitable[None]] = field(default=_not_wired)
    #: The host's other stores (search, tenant documents, warehouse …), reported by
    #: ``/readyz``; the ledger and the catalogue are reported always.
    stores: tuple[Store, ...] = ()
    #: Tenants' configuration documents (branding, locales, programme, email templates);
    #: None where the host has none (its tenant config actors answer ``unavailable``).
    tenant_docs: TenantDocuments | None = None
    #: Lifetime of access tokens the identity actors issue.
    access_token_ttl_s: int = 900
    #: Lifetime of a session's refresh token (each refresh issues a new one).
    refresh_token_ttl_s: int = 14 * 86_400
    #: Wired by the host: sign the claims of an access token with the current key.
    sign: Callable[[dict[str, Any]], str] = field(default=_not_wired_sync)
    #: Mints NATS users with the account's key (ADR 17); None where the host has no key.
    nats_users: UserIssuer | None = None
    #: Catalogue and audit-log search (ADR 24); without it searches are answered in
    #: memory, by prefix. Also listed in ``stores`` so ``/readyz`` reports it.
    search: SearchIndex | None = None
    #: Wired by the host: ``tell`` after a delay (retries with backoff).
    tell_later: Callable[[float, str, str, Command], None] = field(default=_not_wired_sync)
    #: Wired by the host: a core NATS message to ``subject`` (no stream, no reply) — a
    #: hint to the edges, such as "this tenant's catalogue pages are stale".
    notify: Callable[[str, bytes], Awaitable[None]] = field(default=_nobody_listens)
    #: Tenants' products as their catalogue actors last showed them, shared by the actors
    #: of a host: the treasury asks the catalogue actor only what is not kept here.
    product_views: KeptAnswers = field(default_factory=KeptAnswers)
    #: Tenants' order rules (limits, review threshold) as their tenant config actors last
    #: showed them (the treasury's, kept under ``"order-rules"``).
    programmes: KeptAnswers = field(default_factory=lambda: KeptAnswers(PROGRAMME_TTL_S))
    #: Webhooks may go to http and private addresses (development and tests: ADR 37).
    webhook_private_targets: bool = False


@dataclass
class Decision:
    """The outcome of one batch: a reply per message, in order, and what to persist."""

    replies: list[Reply] = field(default_factory=list)
    changes: ChangeSet | None = None


class Actor(Protocol):
    """Constructed as ``Kind(ctx, key)``; the runtime calls the methods below in order.

    ``handle`` gets a batch of requests and must not persist anything itself: it returns
    a :class:`Decision`, the runtime commits ``changes`` and only then sends ``replies``.
    If it raises, or the commit fails, the runtime calls ``on_activate`` again to reload
    state and answers the whole batch with a retryable error.
    """

    async def on_activate(self) -> None: ...

    async def on_deactivate(self, reason: str) -> None: ...

    async def handle(self, batch: Sequence[Request]) -> Decision: ...


class ReadOnlyActor:
    """An actor that keeps no state of its own (it reads the stores per request): its
    tenant and context, nothing to load on activation or to drop on passivation."""

    def __init__(self, ctx: ActorContext, key: ActorKey) -> None:
        self.ctx = ctx
        self.tenant = key.tenant

    async def on_activate(self) -> None:
        pass

    async def on_deactivate(self, reason: str) -> None:
        pass


@dataclass(frozen=True)
class ActorKind:
    """A kind of actor a host can run, and the request bodies it accepts."""

    name: str
    factory: Callable[[ActorContext, ActorKey], Actor]
    accepts: tuple[type, ...]
    #: Messages (tenant, body) that wake work waiting: a dead host's, or time's. A host
    #: sends them when it starts and every ``wake_interval_s``.
    resume: Callable[[ActorContext], Awaitable[list[tuple[str, Command]]]] | None = None
    #: Messages (tenant, body) for work whose time has come (a scheduled job): a host
    #: asks for them every ``schedule_poll_s``, so they must be cheap to find.
    due: Callable[[ActorContext], Awaitable[list[tuple[str, Command]]]] | None = None
    #: The key of the actor a request goes to, where the body's ``actor_key`` cannot say.
    route: Callable[[Request], str] | None = None
    #: Decide the next batch while the last one commits. Only for actors that keep what
    #: they write in memory and never read it back from storage before it is committed
    #: (the vouchers actor refills its queue from storage: it is not pipelined).
    pipelined: bool = False
