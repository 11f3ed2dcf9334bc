"""Storage ports: the Protocols actors program against, and the records they exchange.

The ledger is written only through :meth:`Ledger.apply`, which takes the change sets of
many actors and writes them in **one transaction** (group commit, ADR 0002). Every account
write is fenced: it names the version it expects to replace, and the adapter's
``UPDATE … WHERE version = ?`` must match exactly one row or the whole transaction fails
with :class:`~storage.errors.StaleWrite`. A stale actor therefore cannot overwrite newer
state; the committer then retries the change sets apart so only the stale one fails.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator, Sequence
from typing import Protocol

import msgspec

from bus.events import OutboxEvent
from bus.messages.catalogue import Curation, Product


class AccountRecord(msgspec.Struct, frozen=True):
    """A balance the treasury keeps: a programme budget (``budget:<id>``, in a currency) or
    a person's point wallet (``wallet:<person>``, unit ``PTS``). Its id is also the name of
    its ledger account, so the balance always equals the sum of that account's entries."""

    tenant: str
    account_id: str
    kind: str
    name: str
    unit: str
    balance_minor: int
    version: int
    #: A budget's hard cap: its balance plus what holds set aside from it never goes
    #: above it (0: no cap).
    cap_minor: int = 0
    #: What holds have set aside from this account and not yet committed or released.
    held_minor: int = 0
    #: A budget's low-balance threshold: falling below it raises ``budget.low_balance``.
    alert_minor: int = 0


class PutAccount(msgspec.Struct, frozen=True, tag="put_account"):
    """Write an account at ``record.version``; ``expected_version`` 0 means it must be new."""

    record: AccountRecord
    expected_version: int


class Entry(msgspec.Struct, frozen=True):
    """One leg of a double-entry transaction; the legs of a transaction sum to zero."""

    txn_id: str
    account: str
    amount_minor: int
    currency: str
    created_ms: int


class AccountLine(msgspec.Struct, frozen=True):
    """One entry of one account, with its position in the ledger (``entry_id`` grows
    with every entry written, so it orders an account's history)."""

    entry_id: int
    txn_id: str
    amount_minor: int
    currency: str
    created_ms: int


class StatementLine(msgspec.Struct, frozen=True):
    """An entry of one account as a statement shows it: with the account on the other side
    of its transaction ("" if none, or several) and the account's balance after it."""

    line: AccountLine
    counterpart: str
    balance_after_minor: int


class StoredReply(msgspec.Struct, frozen=True):
    """The reply once given to a request with an idempotency key, kept until it expires.

    ``key_hash`` is the SHA-256 of the key (scoped by tenant); ``fingerprint`` the SHA-256
    of the request, so a key sent again with another request can be told apart;
    ``reply`` the encoded reply, given again, byte for byte, to every retry.
    """

    key_hash: str
    fingerprint: str
    reply: bytes
    created_ms: int
    expires_ms: int


class VoucherCode(msgspec.Struct, frozen=True):
    """One voucher code of a tenant's pool (product and face value). The code, PIN and URL
    are stored sealed (AES-256-GCM, see ``actors.sealing``); ``code_hash`` (SHA-256 of tenant
    and code) lets the store refuse the same code twice without ever holding it in clear."""

    tenant: str
    code_id: str
    product_id: str
    face_value_minor: int
    currency: str
    code_hash: str
    code_sealed: bytes
    pin_sealed: bytes
    #: Redemption links often carry the code, so they are sealed too.
    url_sealed: bytes
    expires_ms: int
    source: str
    status: str
    order_id: str
    created_ms: int
    #: When ``voucher.codes_expiring`` counted this code (0: not yet).
    expiry_warned_ms: int = 0


class ExpiringCode(msgspec.Struct, frozen=True):
    """An available code that expires soon and no warning has counted yet."""

    code_id: str
    product_id: str
    face_value_minor: int
    expires_ms: int


class Allocation(msgspec.Struct, frozen=True):
    """Give an available code to an order; fenced: the code must still be available."""

    code_id: str
    order_id: str


class TenantKey(msgspec.Struct, frozen=True):
    """A tenant's data key, wrapped by the master key; written once."""

    tenant: str
    wrapped: bytes


class OrderRecord(msgspec.Struct, frozen=True):
    """An order as stored: where its saga stands (see ``bus.messages.orders``)."""

    tenant: str
    order_id: str
    status: str
    recipient: str
    payer: str
    product_id: str
    face_value_minor: int
    currency: str
    price_minor: int
    price_unit: str
    code_id: str
    reason: str
    external_id: str
    created_ms: int
    updated_ms: int
    version: int
    fx_rate: str = ""
    #: Points per unit of the points currency locked into a points order ("" if none).
    points_rate: str = ""
    #: Who placed it (a principal's subject; "" for orders written before it was kept):
    #: a reviewer may not approve an order they placed (ADR 32).
    placed_by: str = ""


class PutOrder(msgspec.Struct, frozen=True):
    record: OrderRecord
    expected_version: int


class BulkJobRecord(msgspec.Struct, frozen=True):
    tenant: str
    job_id: str
    budget_id: str
    status: str
    total: int
    next_row: int
    succeeded: int
    failed: int
    created_ms: int
    updated_ms: int
    version: int
    #: A campaign's name (ADR 39); "" for a job without one.
    name: str = ""
    #: When the job starts (``scheduled`` until then); 0 if it started once loaded.
    start_at_ms: int = 0
    #: The points of all its rows.
    points: int = 0


class PutBulkJob(msgspec.Struct, frozen=True):
    record: BulkJobRecord
    expected_version: int


def bulk_reward_id(job_id: str, row: int) -> str:
    """The reward a bulk job's row issued (the ledger writes runs of rows that succeeded
    with it in one statement)."""
    return f"{job_id}:{row}"


class BulkRowRecord(msgspec.Struct, frozen=True, array_like=True):
    """One row of a bulk job, as loaded and, once carried out, with its result."""

    job_id: str
    row: int
    person_id: str
    points: int
    memo: str = ""
    status: str = "pending"
    reason: str = ""
    reward_id: str = ""


class FxRate(msgspec.Struct, frozen=True):
    """A tenant's exchange rate: one ``base`` buys ``rate`` (a decimal string) ``quote``."""

    tenant: str
    base: str
    quote: str
    rate: str
    updated_ms: int


class ClientRecord(msgspec.Struct, frozen=True):
    """An OAuth2 client of a tenant (an integrator's system). Its secret is kept only as
    a SHA-256 hash: secrets are 256 random bits, so a fast hash is as good as a slow one."""

    tenant: str
    client_id: str
    name: str
    secret_hash: str
    #: Space-separated scopes it may ask for, and the roles its tokens carry.
    scopes: str
    roles: str
    #: ``active`` or ``revoked``.
    status: str
    created_ms: int
    updated_ms: int
    version: int
    #: Space-separated grants narrowing its roles (``bus.acl``); empty: the whole tenant.
    grants: str = ""


class PersonRecord(msgspec.Struct, frozen=True):
    """A person of a tenant (an admin, an end user). The password is kept as an argon2id
    hash ("" if the person signs in only through the tenant's identity provider)."""

    tenant: str
    person_id: str
    #: Lower-cased; unique in the tenant.
    email: str
    name: str
    password_hash: str
    #: Space-separated roles and grants (``bus.scopes``, ``bus.acl``).
    roles: str
    grants: str
    #: ``active`` or ``disabled``.
    status: str
    #: Failed sign-ins in a row, and until when sign-in is refused after too many.
    failed_signins: int
    locked_until_ms: int
    created_ms: int
    updated_ms: int
    version: int


class PutPerson(msgspec.Struct, frozen=True):
    record: PersonRecord
    #: 0: the person must be new.
    expected_version: int


class SessionRecord(msgspec.Struct, frozen=True):
    """One refresh token of a person's session (its SHA-256: it is 256 random bits).
    A session is a family of tokens, each used once to get the next."""

    tenant: str
    token_hash: str
    family_id: str
    person_id: str
    #: ``active`` (may be used), ``used`` (was exchanged), ``revoked`` (session ended);
    #: or a link to set a password (ADR 42): ``reset_asked``/``invite_asked`` (a request,
    #: keyed ``ask:<request id>``), ``reset_link`` (a token that may be used), and, spent,
    #: ``reset_used``, ``reset_void``, ``reset_closed``.
    status: str
    created_ms: int
    expires_ms: int
    version: int


class PutSession(msgspec.Struct, frozen=True):
    record: SessionRecord
    expected_version: int


class SsoRecord(msgspec.Struct, frozen=True):
    """A tenant's OpenID Connect provider (one per tenant). The client secret is sealed
    under the master key (``sso:<tenant>``)."""

    tenant: str
    issuer: str
    client_id: str
    client_secret_sealed: bytes
    scopes: str
    #: Space-separated email domains allowed to sign in; empty: any verified email.
    allowed_domains: str
    #: ``active``, or ``removed`` (SSO turned off).
    status: str
    updated_ms: int
    version: int


class PutSso(msgspec.Struct, frozen=True):
    record: SsoRecord
    expected_version: int


class PutClient(msgspec.Struct, frozen=True):
    record: ClientRecord
    #: 0: the client must be new.
    expected_version: int


class SigningKeyRecord(msgspec.Struct, frozen=True):
    """A key that signs access tokens: the private half sealed under the master key."""

    kid: str
    algorithm: str
    private_sealed: bytes
    public_pem: bytes
    created_ms: int


class AuditEntry(msgspec.Struct, frozen=True):
    """Something to record in the tenant's audit log; the store numbers and chains it."""

    at_ms: int
    actor: str
    action: str
    target: str
    #: ``ok``, or the error code of a refusal.
    outcome: str
    #: The command, as JSON, minus secrets and bulk data.
    detail: str


class AuditRecord(msgspec.Struct, frozen=True):
    """An audit entry as stored: its place in the tenant's chain and the hashes."""

    tenant: str
    seq: int
    at_ms: int
    actor: str
    action: str
    target: str
    outcome: str
    detail: str
    prev_hash: str
    hash: str


class ChangeSet(msgspec.Struct, frozen=True):
    """What one actor batch changes: fenced state writes, ledger entries, outbox events,
    and the replies of its requests that carried idempotency keys."""

    tenant: str
    puts: tuple[PutAccount, ...] = ()
    entries: tuple[Entry, ...] = ()
    events: tuple[OutboxEvent, ...] = ()
    replies: tuple[StoredReply, ...] = ()
    #: Key hashes whose stored replies expired; removed before ``replies`` are written.
    expired_replies: tuple[str, ...] = ()
    new_codes: tuple[VoucherCode, ...] = ()
    allocations: tuple[Allocation, ...] = ()
    #: Codes taken back from their orders: never given again (the code may have been seen).
    voids: tuple[Allocation, ...] = ()
    #: Available codes set aside for the treasury (ADR 21): ``leased``, then allocated.
    leased: tuple[str, ...] = ()
    tenant_key: TenantKey | None = None
    orders: tuple[PutOrder, ...] = ()
    bulk_jobs: tuple[PutBulkJob, ...] = ()
    #: New rows of a bulk job.
    bulk_rows: tuple[BulkRowRecord, ...] = ()
    #: Rows carried out: their status, reason and reward id are written.
    bulk_results: tuple[BulkRowRecord, ...] = ()
    #: Exchange rates set (insert or replace).
    fx_rates: tuple[FxRate, ...] = ()
    #: Codes a ``voucher.codes_expiring`` event has just counted.
    expiry_warned: tuple[str, ...] = ()
    #: OAuth2 clients created or changed (fenced by version).
    clients: tuple[PutClient, ...] = ()
    #: Appended to the tenant's hash-chained audit log in the same transaction.
    audit: tuple[AuditEntry, ...] = ()
    #: People and session tokens created or changed (fenced by version).
    people: tuple[PutPerson, ...] = ()
    sessions: tuple[PutSession, ...] = ()
    #: The tenant's single sign-on settings, set or changed.
    sso: tuple[PutSso, ...] = ()
    #: Outbox events (of any tenant) published to the stream: their rows are deleted.
    #: The outbox relay hands these to the group commit instead of a transaction of its own.
    published: tuple[str, ...] = ()


class LedgerStats(msgspec.Struct):
    """Counters an operator (and a test) can read: how writes were grouped."""

    transactions: int = 0
    change_sets: int = 0
    rollbacks: int = 0
    #: Group commits rolled back by the server for a deadlock or a lock wait timeout and
    #: tried again (MySQL/MariaDB; SQLite has one writer and never needs to).
    retries: int = 0


class Ledger(Protocol):
    """The money store: tenants, budgets, ledger entries and the event outbox."""

    stats: LedgerStats
    name: str
    #: How many group commits (``apply``) the host may have under way at once: more
    #: than one only where the store runs them side by side and settles their conflicts.
    groups_in_flight: int

    async def migrate(self, upto: int | None = None) -> None:
        """Bring the schema to the newest version (or to ``upto``, for tests of
        upgrades); safe to run on every start."""

    async def ping(self) -> None:
        """Raise if the store cannot be reached."""

    async def close(self) -> None: ...

    async def load_accounts(self, tenant: str, account_ids: Sequence[str]) -> list[AccountRecord]:
        """Those of ``account_ids`` that exist (one query)."""

    async def apply(self, change_sets: Sequence[ChangeSet]) -> None:
        """Write all change sets in one transaction, or none of them (then raise)."""

    async def pending_events(self, limit: int, created_before_ms: int = 2**62) -> list[OutboxEvent]:
        """Outbox events not yet marked published (created before the given time),
        oldest first: those of at most ``limit`` transactions, each transaction's events
        whole and in the order they were written."""

    async def mark_published(self, event_ids: Sequence[str]) -> None:
        """Forget published events. The events one transaction wrote are kept together
        and forgotten together: the first one's id forgets them all (publishers publish
        a transaction's events whole — the relay does)."""

    async def account_balance(self, tenant: str, account: str) -> int:
        """Sum of the entries of one account of one tenant."""

    async def entries_total(self, tenant: str) -> int:
        """Sum of all entries of a tenant: zero when double entry holds."""

    async def load_replies(self, tenant: str, key_hashes: Sequence[str]) -> list[StoredReply]:
        """The stored replies among ``key_hashes``, expired ones included (one query)."""

    async def load_tenant_key(self, tenant: str) -> bytes | None:
        """The tenant's wrapped data key, if it has one."""

    async def known_code_hashes(self, tenant: str, code_hashes: Sequence[str]) -> set[str]:
        """Those of ``code_hashes`` the tenant already has (one query)."""

    async def available_codes(
        self, tenant: str, product_id: str, face_value_minor: int, limit: int
    ) -> list[tuple[str, int]]:
        """(id, expiry) of available, unexpired codes of a pool, soonest expiry first."""

    async def pool_counts(
        self, tenant: str, product_id: str, face_value_minor: int
    ) -> dict[str, int]:
        """Codes of a pool by status (``available``, ``leased``, ``allocated`` …): every
        code the pool ever had is counted, so it costs what the pool's history holds (the
        codes given are the pool's size less the others: SQLite's migration 27)."""

    async def pool_count(
        self, tenant: str, product_id: str, face_value_minor: int, status: str
    ) -> int:
        """Codes of a pool with ``status``: one range of the pool index, so the available
        ones cost what the stock holds, not what was ever allocated (``allocated`` is
        counted as :meth:`pool_counts` counts it)."""

    async def leased_codes(self, tenant: str) -> list[tuple[str, int, str, int]]:
        """(product, face value, id, expiry) of the tenant's leased codes, soonest expiry
        first within each pool."""

    async def load_codes(self, tenant: str, code_ids: Sequence[str]) -> list[VoucherCode]: ...

    async def load_orders(self, tenant: str, order_ids: Sequence[str]) -> list[OrderRecord]: ...

    async def order_by_external_id(self, tenant: str, external_id: str) -> OrderRecord | None: ...

    async def redemptions_since(
        self, tenant: str, person_id: str, since_ms: int
    ) -> list[tuple[str, int]]:
        """(order id, ``created_ms``) of each order paid with ``person_id``'s points since
        ``since_ms``, but for the orders that failed (the programme's order limits count
        them)."""

    async def unfinished_orders(self, tenant: str, limit: int) -> list[OrderRecord]:
        """Orders whose saga has not ended (accepted, paid, rejecting or cancelling; not
        those held for review, which wait for a person), oldest first."""

    async def tenants_with_unfinished_orders(self, limit: int) -> list[str]: ...

    async def list_orders(
        self,
        tenant: str,
        limit: int,
        before: tuple[int, str] | None = None,
        recipient: str | None = None,
        status: str | None = None,
        payers: Sequence[str] | None = None,
        since_ms: int = 0,
        until_ms: int = 0,
    ) -> list[OrderRecord]:
        """The tenant's orders newest first (by creation, then id), those placed before
        ``before`` (created ms, order id) only; optionally of one recipient, one status,
        or paid by one of ``payers`` (an empty sequence: none); optionally placed from
        ``since_ms`` and before ``until_ms`` (0: no bound)."""
        ...

    async def account_lines(
        self, tenant: str, account: str, limit: int, before_entry: int | None = None
    ) -> list[AccountLine]:
        """The entries of one account, newest first; those before ``before_entry`` only."""
        ...

    async def account_statement(
        self, tenant: str, account: str, limit: int, before_entry: int | None = None
    ) -> list[StatementLine]:
        """As :meth:`account_lines`, each entry with the other account of its transaction
        (found among the entries written next to it; "" if there is none there, or
        several) and the balance after it (the sum of the account's entries up to it)."""
        ...

    async def list_budgets(
        self, tenant: str, limit: int, after: str = "", budget_ids: Sequence[str] | None = None
    ) -> list[AccountRecord]:
        """The tenant's budget accounts by budget id, those after budget ``after`` only;
        optionally only those of ``budget_ids`` (an empty sequence: none)."""
        ...

    async def list_funding_accounts(
        self, tenant: str, limit: int, after: str = ""
    ) -> list[AccountRecord]:
        """The tenant's funding accounts by account id (``funding:<id>``), those after
        funding account ``after`` only."""
        ...

    async def list_pools(
        self, tenant: str, limit: int, after: tuple[str, int] | None = None
    ) -> list[tuple[str, int]]:
        """(product, face value) of the tenant's voucher pools that have had a code
        (given or not), in that order; those after ``after`` only."""
        ...

    async def load_fx_rates(self, tenant: str) -> list[FxRate]: ...

    async def load_people(
        self, tenant: str, person_ids: Sequence[str] = (), email: str | None = None
    ) -> list[PersonRecord]:
        """The tenant's people among ``person_ids``, or the one with ``email``; all of
        them (oldest first) if neither is given."""
        ...

    async def list_people(
        self, tenant: str, limit: int, after_email: str = "", q: str | None = None
    ) -> list[PersonRecord]:
        """The tenant's people by email, those after ``after_email`` only; with ``q``, only
        those whose email or name holds it, whatever its case (ASCII letters)."""
        ...

    async def load_sessions(
        self,
        tenant: str,
        token_hashes: Sequence[str] = (),
        family_id: str | None = None,
        person_id: str | None = None,
    ) -> list[SessionRecord]:
        """Session tokens by hash, every token of a session, or a person's live tokens
        (``active`` refresh tokens, and open requests and links to set a password)."""
        ...

    async def load_sso(self, tenant: str) -> SsoRecord | None:
        """The tenant's single sign-on settings, if it ever set them."""
        ...

    async def load_clients(self, tenant: str, client_ids: Sequence[str]) -> list[ClientRecord]:
        """The tenant's clients among ``client_ids``; all of them if it is empty."""
        ...

    async def audit_log(
        self,
        tenant: str,
        after_seq: int,
        limit: int,
        action: str | None = None,
        actor: str | None = None,
    ) -> list[AuditRecord]:
        """The tenant's audit entries after ``after_seq``, in order, optionally only one
        action or one actor's."""
        ...

    async def audit_head(self, tenant: str) -> tuple[int, str]:
        """The number and hash of the tenant's last audit entry ((0, zeros) if none)."""
        ...

    async def audited_tenants(self) -> list[str]: ...

    async def signing_keys(self) -> list[SigningKeyRecord]:
        """Every signing key, newest first."""
        ...

    async def add_signing_key(self, key: SigningKeyRecord) -> None: ...

    async def expiring_codes(
        self, tenant: str, now_ms: int, before_ms: int, limit: int
    ) -> list[ExpiringCode]:
        """Available codes expiring after ``now_ms`` and by ``before_ms`` that no warning
        has counted yet, soonest first."""
        ...

    async def tenants_with_expiring_codes(
        self, now_ms: int, before_ms: int, limit: int
    ) -> list[str]:
        """Tenants that have codes :meth:`expiring_codes` would return."""
        ...

    async def load_bulk_job(self, tenant: str, job_id: str) -> BulkJobRecord | None: ...

    async def bulk_rows(
        self, tenant: str, job_id: str, start: int, limit: int
    ) -> list[BulkRowRecord]:
        """Rows ``start`` … ``start + limit - 1`` of a job, in order, with their results."""

    async def running_bulk_jobs(self, limit: int) -> list[tuple[str, str]]:
        """(tenant, job id) of jobs started and not done, of every tenant (recovery)."""

    async def due_bulk_jobs(self, now_ms: int, limit: int) -> list[tuple[str, str]]:
        """(tenant, job id) of scheduled jobs whose time is ``now_ms`` or earlier, of every
        tenant, the most overdue first."""
        ...

    async def list_bulk_jobs(
        self,
        tenant: str,
        limit: int,
        before: tuple[int, str] | None = None,
        status: str | None = None,
        budget_ids: Sequence[str] | None = None,
    ) -> list[BulkJobRecord]:
        """The tenant's jobs newest first (by creation, then id), those made before
        ``before`` (created ms, job id) only; optionally of one status, or of one of
        ``budget_ids`` (an empty sequence: none)."""
        ...


class Store(Protocol):
    """What every store adapter is: named, pinged by ``/readyz``, closed on shutdown."""

    name: str

    async def ping(self) -> None: ...

    async def close(self) -> None: ...


class CuratedProduct(msgspec.Struct, frozen=True):
    """A product as one tenant offers it: the tenant's curation applied to it."""

    product: Product
    enabled: bool
    markup_bps: int


class CatalogueStore(Protocol):
    """Catalogue documents: the platform's products, tenants' own products and curations.

    A product is keyed by (tenant, id), the platform's own under tenant ``""``. A curation
    is written fenced by its version, like every other piece of actor state.
    """

    name: str

    async def migrate(self) -> None: ...

    async def ping(self) -> None: ...

    async def close(self) -> None: ...

    async def put_products(self, products: Sequence[Product]) -> None:
        """Insert or replace products (each under its own ``tenant``)."""

    async def products(self, tenant: str) -> list[Product]:
        """The products owned by ``tenant`` (``""``: the platform's catalogue), by id."""

    async def revision(self) -> int:
        """A number that grows whenever the platform's catalogue changes."""

    async def curation(self, tenant: str) -> Curation:
        """The tenant's curation; version 0 if it has none yet."""

    async def save_curation(self, tenant: str, curation: Curation) -> None:
        """Store ``curation`` (at ``curation.version``) if the stored one is at
        ``curation.version - 1``; else raise :class:`~storage.errors.StaleWrite`."""

    async def effective_catalogue(
        self, tenant: str, after: str = "", limit: int = 1000
    ) -> list[CuratedProduct]:
        """The platform's products and ``tenant``'s own, by id, each with the tenant's
        curation applied (enabled unless disabled; its markup, else the default markup):
        the first ``limit`` with ids after ``after``. A tenant's own product hides a
        platform product of the same id. Merged by the store in one query (MongoDB: an
        aggregation), not by the caller."""
        ...

    def watch(self) -> AsyncGenerator[int, None]:
        """The platform catalogue's revisions: first the current one, once watching has
        begun (so no change between the two is missed), then each new one soon after it
        happens. Several changes close together may be reported once. Runs until the
        caller stops iterating; raises if the store is lost (the caller watches again)."""
        ...
