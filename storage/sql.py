"""SQL shared by the relational ledger adapters (SQLite and MySQL/MariaDB).

Statements are written once with ``{p}`` for a bind parameter; each adapter formats them
with its driver's placeholder. The schema itself is in :mod:`storage.migrations`.
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import msgspec

from bus.events import OutboxEvent
from storage.audit_chain import GENESIS, entry_hash
from storage.ports import (
    AccountLine,
    AccountRecord,
    AuditRecord,
    BulkJobRecord,
    BulkRowRecord,
    ChangeSet,
    ClientRecord,
    FxRate,
    OrderRecord,
    PersonRecord,
    SessionRecord,
    SigningKeyRecord,
    SsoRecord,
    StoredReply,
    VoucherCode,
    bulk_reward_id,
)
from storage.versioned import VersionedTable

#: Orders still under way (resumed after a restart, ADR 10).
UNFINISHED = "'accepted', 'approved', 'paid', 'rejecting', 'cancelling'"
#: The condition of SQLite's partial index of orders by status (migration 23): a query for
#: any status but ``fulfilled`` states it word for word, or SQLite cannot use the index.
NOT_FULFILLED = "status <> 'fulfilled'"
#: The condition of SQLite's partial pool index of voucher codes (migration 27): a code
#: given to an order leaves the index rather than moving within it. A query of a pool's
#: codes by status states it word for word, or SQLite cannot use the index.
NOT_ALLOCATED = "status <> 'allocated'"
#: The status under which :attr:`Statements.pool_counts` gives a pool's every code.
POOL_TOTAL = "*"
#: Codes past their expiry, never given, in :attr:`Statements.pool_counts`.
EXPIRED = "expired"
#: A code still good at the moment given as the statement's parameter.
UNEXPIRED = "(expires_ms = 0 OR expires_ms > {p})"
#: The columns :func:`account_from_row` reads, in its order.
ACCOUNT_COLUMNS = (
    "tenant_id, account_id, kind, name, unit, balance_minor, version, cap_minor,"
    " held_minor, alert_minor"
)
#: The columns :func:`bulk_job_from_row` reads, in its order.
BULK_JOB_COLUMNS = (
    "tenant_id, job_id, budget_id, status, total, next_row, succeeded, failed, created_ms,"
    " updated_ms, version, name, start_at_ms, points"
)
ORDER_COLUMNS = (
    "tenant_id, order_id, status, recipient, payer, product_id, face_value_minor, currency,"
    " price_minor, price_unit, code_id, reason, external_id, created_ms, updated_ms, version,"
    " fx_rate, points_rate, placed_by"
)


def pool_counts_of(rows: Iterable[Sequence[Any]]) -> dict[str, int]:
    """A pool's codes by status, from the rows of :attr:`Statements.pool_counts`: those
    given to orders (``allocated``) are its every code less the others."""
    counts = {str(status): int(n) for status, n in rows}
    allocated = counts.pop(POOL_TOTAL, 0) - sum(counts.values())
    if allocated:
        counts["allocated"] = allocated
    return counts


def now_ms() -> int:
    return time.time_ns() // 1_000_000


PEOPLE = VersionedTable("people", PersonRecord, ("person_id",))
SESSIONS = VersionedTable("person_sessions", SessionRecord, ("token_hash",))
#: A person's session rows that may still be used: refresh tokens, and requests and links
#: to set a password (``SessionRecord.status``).
LIVE_SESSION_STATUSES = ("active", "reset_asked", "invite_asked", "reset_link")
SSO = VersionedTable("sso_providers", SsoRecord, ())


class _VersionedStatements:
    """A versioned table's insert and fenced update, for one driver."""

    def __init__(self, table: VersionedTable[Any], placeholder: str) -> None:
        self.table = table
        self.insert = table.insert(placeholder)
        self.update = table.update(placeholder)

    def writes(self, puts: Iterable[tuple[Any, int]]) -> Iterator[Write]:
        """An insert for each new record, a fenced update for each changed one."""
        for record, expected in puts:
            what = self.table.describe(record)
            if expected == 0:
                yield Write(self.insert, self.table.insert_params(record), what)
            else:
                params = self.table.update_params(record, expected)
                yield Write(self.update, params, what, fenced=True, expected_version=expected)


class Statements:
    """The ledger's statements with the driver's placeholder filled in."""

    def __init__(self, placeholder: str) -> None:
        self.placeholder = placeholder

        def q(sql: str) -> str:
            return sql.format(p=placeholder)

        self.applied_versions = "SELECT version FROM schema_migrations"
        self.record_migration = q(
            "INSERT INTO schema_migrations (version, name, applied_ms) VALUES ({p}, {p}, {p})"
        )
        self.insert_account = q(
            "INSERT INTO accounts (tenant_id, account_id, kind, name, unit, balance_minor,"
            " version, updated_ms, cap_minor, held_minor, alert_minor)"
            " VALUES ({p}, {p}, {p}, {p}, {p}, {p}, {p}, {p}, {p}, {p}, {p})"
        )
        self.update_account = q(
            "UPDATE accounts SET name = {p}, balance_minor = {p}, held_minor = {p},"
            " cap_minor = {p}, alert_minor = {p}, version = {p}, updated_ms = {p}"
            " WHERE tenant_id = {p} AND account_id = {p} AND version = {p}"
        )
        self.insert_entry = q(
            "INSERT INTO ledger_entries (tenant_id, txn_id, account, amount_minor, currency,"
            " created_ms) VALUES ({p}, {p}, {p}, {p}, {p}, {p})"
        )
        self.insert_event = q(
            "INSERT INTO outbox (event_id, tenant_id, subject, payload, created_ms)"
            " VALUES ({p}, {p}, {p}, {p}, {p})"
        )
        self.pending_events = q(
            "SELECT event_id, tenant_id, subject, payload, created_ms FROM outbox"
            " WHERE created_ms < {p} ORDER BY created_ms, event_id LIMIT {p}"
        )
        self.insert_reply = q(
            "INSERT INTO idempotency_replies (tenant_id, key_hash, fingerprint, reply,"
            " created_ms, expires_ms) VALUES ({p}, {p}, {p}, {p}, {p}, {p})"
        )
        self.insert_tenant_key = q(
            "INSERT INTO tenant_keys (tenant_id, wrapped, created_ms) VALUES ({p}, {p}, {p})"
        )
        self.select_tenant_key = q("SELECT wrapped FROM tenant_keys WHERE tenant_id = {p}")
        self.insert_code = q(
            "INSERT INTO voucher_codes (tenant_id, code_id, product_id, face_value_minor,"
            " currency, code_hash, code_sealed, pin_sealed, url_sealed, expires_ms, source, status,"
            " order_id, created_ms, expiry_warned_ms)"
            " VALUES ({p}, {p}, {p}, {p}, {p}, {p}, {p}, {p}, {p}, {p}, {p}, {p}, {p}, {p}, {p})"
        )
        self.mark_expiry_warned = q(
            "UPDATE voucher_codes SET expiry_warned_ms = {p} WHERE tenant_id = {p}"
            " AND code_id = {p} AND expiry_warned_ms = 0"
        )
        _expiring = (
            " FROM voucher_codes WHERE expiry_warned_ms = 0 AND expires_ms > {p}"
            " AND expires_ms <= {p} AND status IN ('available', 'leased')"  # not given yet
        )
        self.expiring_codes = q(
            "SELECT code_id, product_id, face_value_minor, expires_ms"
            + _expiring
            + " AND tenant_id = {p} ORDER BY expires_ms, code_id LIMIT {p}"
        )
        self.tenants_with_expiring_codes = q(
            "SELECT DISTINCT tenant_id" + _expiring + " ORDER BY tenant_id LIMIT {p}"
        )
        self.allocate_code = q(
            "UPDATE voucher_codes SET status = 'allocated', order_id = {p}, allocated_ms = {p}"
            " WHERE tenant_id = {p} AND code_id = {p} AND status IN ('available', 'leased')"
        )
        self.lease_code = q(
            "UPDATE voucher_codes SET status = 'leased'"
            " WHERE tenant_id = {p} AND code_id = {p} AND status = 'available'"
        )
        # A tenant's leased codes, pool by pool: the pool index puts status after the
        # pool, so one query by tenant and status read every code the tenant ever had
        # (145 ms for a million, each time its treasury started). The pools are found by
        # hopping from one to the next in the index (a row-value comparison would scan
        # the rest of the product's codes), then each pool's leased codes are a range.
        # Pools with codes not given yet (``NOT_ALLOCATED``: the partial pool index).
        self.first_pool = q(
            "SELECT product_id, face_value_minor FROM voucher_codes WHERE tenant_id = {p}"
            f" AND {NOT_ALLOCATED} ORDER BY product_id, face_value_minor LIMIT 1"
        )
        self.next_face = q(
            "SELECT product_id, face_value_minor FROM voucher_codes WHERE tenant_id = {p}"
            " AND product_id = {p} AND face_value_minor > {p}"
            f" AND {NOT_ALLOCATED} ORDER BY face_value_minor LIMIT 1"
        )
        self.next_product = q(
            "SELECT product_id, face_value_minor FROM voucher_codes WHERE tenant_id = {p}"
            f" AND product_id > {{p}} AND {NOT_ALLOCATED}"
            " ORDER BY product_id, face_value_minor LIMIT 1"
        )
        self.leased_codes_of_pool = q(
            "SELECT code_id, expires_ms FROM voucher_codes WHERE tenant_id = {p}"
            " AND product_id = {p} AND face_value_minor = {p} AND status = 'leased'"
            f" AND {NOT_ALLOCATED}"
            " ORDER BY CASE WHEN expires_ms = 0 THEN 1 ELSE 0 END, expires_ms, code_id"
        )
        self.void_code = q(
            "UPDATE voucher_codes SET status = 'void'"
            " WHERE tenant_id = {p} AND code_id = {p} AND status = 'allocated' AND order_id = {p}"
        )
        # Soonest expiry first, codes that never expire last: two reads in the order of
        # the pool index (one ORDER BY over both sorted every available code of the pool
        # on each refill: 77% of the reader thread during a hot burst).
        available = (
            "SELECT code_id, expires_ms FROM voucher_codes WHERE tenant_id = {p}"
            " AND product_id = {p} AND face_value_minor = {p} AND status = 'available'"
            f" AND {NOT_ALLOCATED}"
        )
        self.available_expiring_codes = q(
            available + " AND expires_ms > {p} ORDER BY expires_ms, code_id LIMIT {p}"
        )
        self.available_lasting_codes = q(
            available + " AND expires_ms = 0 ORDER BY code_id LIMIT {p}"
        )
        # A pool's codes not given yet by status, and its every code under POOL_TOTAL
        # (the codes given are the difference: they have no entries in SQLite's pool
        # index, and the pool's size index is not written when a code is given). One
        # statement, so both counts come from one snapshot.
        of_pool = "FROM voucher_codes WHERE tenant_id = {p} AND product_id = {p}"
        of_pool += " AND face_value_minor = {p}"
        # Codes past their expiry and never given are counted apart (as EXPIRED), not as
        # stock: no order can have them.
        self.pool_counts = q(
            f"SELECT CASE WHEN {UNEXPIRED} THEN status ELSE '{EXPIRED}' END AS counted,"
            f" COUNT(*) {of_pool} AND {NOT_ALLOCATED} GROUP BY counted"
            f" UNION ALL SELECT '{POOL_TOTAL}', COUNT(*) {of_pool}"
        )
        self.pool_count = q(
            f"SELECT COUNT(*) {of_pool} AND status = {{p}} AND {NOT_ALLOCATED} AND {UNEXPIRED}"
        )
        self.insert_order = q(
            f"INSERT INTO orders ({ORDER_COLUMNS}) VALUES"
            " ({p}, {p}, {p}, {p}, {p}, {p}, {p}, {p}, {p}, {p}, {p}, {p}, {p}, {p}, {p}, {p},"
            " {p}, {p}, {p})"
        )
        self.update_order = q(
            "UPDATE orders SET status = {p}, price_minor = {p}, price_unit = {p}, code_id = {p},"
            " reason = {p}, updated_ms = {p}, version = {p}"
            " WHERE tenant_id = {p} AND order_id = {p} AND version = {p}"
        )
        self.order_by_external_id = q(
            f"SELECT {ORDER_COLUMNS} FROM orders WHERE tenant_id = {{p}} AND external_id = {{p}}"
        )
        # by orders_recipient: a person's own orders are those they receive and pay for
        self.redemptions_since = q(
            "SELECT order_id, created_ms FROM orders WHERE tenant_id = {p} AND recipient = {p}"
            " AND created_ms >= {p} AND payer = {p} AND status <> 'failed'"
        )
        # ``+created_ms``: sorted after the lookup, so that no planner walks a tenant's
        # every order by time (the index by time gives the order without a sort) to find
        # the few unfinished ones — 30 ms against 0.07 for 200,000 orders, each time an
        # orders actor starts
        self.unfinished_orders = q(
            f"SELECT {ORDER_COLUMNS} FROM orders WHERE tenant_id = {{p}}"
            f" AND status IN ({UNFINISHED}) AND {NOT_FULFILLED} ORDER BY +created_ms LIMIT {{p}}"
        )
        _client_columns = (
            "tenant_id, client_id, name, secret_hash, scopes, roles, status, created_ms,"
            " updated_ms, version, grants"
        )
        self.insert_client = q(
            f"INSERT INTO oauth_clients ({_client_columns})"
            " VALUES ({p}, {p}, {p}, {p}, {p}, {p}, {p}, {p}, {p}, {p}, {p})"
        )
        self.update_client = q(
            "UPDATE oauth_clients SET name = {p}, secret_hash = {p}, scopes = {p}, roles = {p},"
            " status = {p}, updated_ms = {p}, version = {p}, grants = {p}"
            " WHERE tenant_id = {p} AND client_id = {p} AND version = {p}"
        )
        self.all_clients = q(
            f"SELECT {_client_columns} FROM oauth_clients WHERE tenant_id = {{p}}"
            " ORDER BY created_ms, client_id"
        )
        self.client_select = f"SELECT {_client_columns} FROM oauth_clients"
        self.people = _VersionedStatements(PEOPLE, placeholder)
        self.sessions = _VersionedStatements(SESSIONS, placeholder)
        self.sso = _VersionedStatements(SSO, placeholder)
        self.sso_of = SSO.select(placeholder, "tenant_id = {p}")
        self.all_people = PEOPLE.select(placeholder, "tenant_id = {p}", "created_ms, person_id")
        self.person_by_email = PEOPLE.select(placeholder, "tenant_id = {p} AND email = {p}")
        self.session_family = SESSIONS.select(
            placeholder, "tenant_id = {p} AND family_id = {p}", "created_ms"
        )
        # the live ones: what ending a person's sessions, or their links, changes
        self.person_sessions = SESSIONS.select(
            placeholder,
            "tenant_id = {p} AND person_id = {p}"
            f" AND status IN ({', '.join(repr(s) for s in LIVE_SESSION_STATUSES)})",
        )
        self.signing_keys = (
            "SELECT kid, algorithm, private_sealed, public_pem, created_ms FROM signing_keys"
            " ORDER BY created_ms DESC, kid"
        )
        self.insert_signing_key = q(
            "INSERT INTO signing_keys (kid, algorithm, private_sealed, public_pem, created_ms)"
            " VALUES ({p}, {p}, {p}, {p}, {p})"
        )
        self.insert_audit = q(
            "INSERT INTO audit_log (tenant_id, seq, at_ms, actor, action, target, outcome,"
            " detail, prev_hash, hash) VALUES ({p}, {p}, {p}, {p}, {p}, {p}, {p}, {p}, {p}, {p})"
        )
        self.upsert_audit_head = q(
            "INSERT INTO audit_heads (tenant_id, seq, hash) VALUES ({p}, {p}, {p})"
        ) + (
            " ON CONFLICT (tenant_id) DO UPDATE SET seq = excluded.seq, hash = excluded.hash"
            if placeholder == "?"
            else " ON DUPLICATE KEY UPDATE seq = VALUES(seq), hash = VALUES(hash)"
        )
        self.audit_head = q("SELECT seq, hash FROM audit_heads WHERE tenant_id = {p}")
        self.audited_tenants = "SELECT tenant_id FROM audit_heads ORDER BY tenant_id"
        self._lock_rows = "" if placeholder == "?" else " FOR UPDATE"
        #: MySQL plans ``IN`` over a table with about as few rows as the list as a scan,
        #: which locks (and waits for) every row it passes.
        self._by_primary_key = "" if placeholder == "?" else " FORCE INDEX (PRIMARY)"
        self.select_fx_rates = q(
            "SELECT tenant_id, base, quote, rate, updated_ms FROM fx_rates WHERE tenant_id = {p}"
        )
        upsert = (
            " ON CONFLICT (tenant_id, base, quote) DO UPDATE SET rate = excluded.rate,"
            " updated_ms = excluded.updated_ms"
            if placeholder == "?"
            else " ON DUPLICATE KEY UPDATE rate = VALUES(rate), updated_ms = VALUES(updated_ms)"
        )
        self.upsert_fx_rate = (
            q(
                "INSERT INTO fx_rates (tenant_id, base, quote, rate, updated_ms)"
                " VALUES ({p}, {p}, {p}, {p}, {p})"
            )
            + upsert
        )
        self.insert_bulk_job = q(
            f"INSERT INTO bulk_jobs ({BULK_JOB_COLUMNS})"
            " VALUES ({p}, {p}, {p}, {p}, {p}, {p}, {p}, {p}, {p}, {p}, {p}, {p}, {p}, {p})"
        )
        self.update_bulk_job = q(
            "UPDATE bulk_jobs SET status = {p}, total = {p}, next_row = {p}, succeeded = {p},"
            " failed = {p}, updated_ms = {p}, version = {p}, name = {p}, start_at_ms = {p},"
            " points = {p} WHERE tenant_id = {p} AND job_id = {p} AND version = {p}"
        )
        self.select_bulk_job = q(
            f"SELECT {BULK_JOB_COLUMNS} FROM bulk_jobs WHERE tenant_id = {{p}} AND job_id = {{p}}"
        )
        self.insert_bulk_row = q(
            "INSERT INTO bulk_rows (tenant_id, job_id, row_no, person_id, points, memo,"
            " status, reason, reward_id) VALUES ({p}, {p}, {p}, {p}, {p}, {p}, {p}, {p}, {p})"
        )
        self.update_bulk_row = q(
            "UPDATE bulk_rows SET status = {p}, reason = {p}, reward_id = {p}"
            " WHERE tenant_id = {p} AND job_id = {p} AND row_no = {p}"
        )
        reward_id = (
            "job_id || ':' || row_no" if placeholder == "?" else "CONCAT(job_id, ':', row_no)"
        )
        self.update_bulk_rows_ok = q(
            f"UPDATE bulk_rows SET status = 'ok', reason = '', reward_id = {reward_id}"
            " WHERE tenant_id = {p} AND job_id = {p} AND row_no BETWEEN {p} AND {p}"
        )
        self.select_bulk_rows = q(
            "SELECT job_id, row_no, person_id, points, memo, status, reason, reward_id"
            " FROM bulk_rows WHERE tenant_id = {p} AND job_id = {p} AND row_no >= {p}"
            " ORDER BY row_no LIMIT {p}"
        )
        self.tenants_with_unfinished_orders = q(
            f"SELECT DISTINCT tenant_id FROM orders WHERE status IN ({UNFINISHED})"
            f" AND {NOT_FULFILLED} LIMIT {{p}}"
        )
        self.running_bulk_jobs = q(
            "SELECT tenant_id, job_id FROM bulk_jobs WHERE status = 'running' LIMIT {p}"
        )
        self.due_bulk_jobs = q(
            "SELECT tenant_id, job_id FROM bulk_jobs WHERE status = 'scheduled'"
            " AND start_at_ms <= {p} ORDER BY start_at_ms LIMIT {p}"
        )
        self._placeholder = placeholder
        self.account_balance = q(
            "SELECT COALESCE(SUM(amount_minor), 0) FROM ledger_entries"
            " WHERE tenant_id = {p} AND account = {p}"
        )
        self.entries_total = q(
            "SELECT COALESCE(SUM(amount_minor), 0) FROM ledger_entries WHERE tenant_id = {p}"
        )

    @property
    def delete_event(self) -> str:
        """One outbox row by its id: always a lookup of the primary key. (MariaDB scans a
        small outbox for ``IN`` with more ids than it has rows, and its locks on the rows
        another transaction has just written made two group commits deadlock.)"""
        return f"DELETE FROM outbox WHERE event_id = {self._placeholder}"

    def delete_events(self, count: int) -> str:
        marks = ", ".join([self._placeholder] * count)
        return f"DELETE FROM outbox WHERE event_id IN ({marks})"

    def select_accounts(self, count: int) -> str:
        marks = ", ".join([self._placeholder] * count)
        return (
            f"SELECT {ACCOUNT_COLUMNS} FROM accounts WHERE tenant_id = {self._placeholder}"
            f" AND account_id IN ({marks})"
        )

    def _in(self, count: int) -> str:
        return ", ".join([self._placeholder] * count)

    def known_code_hashes(self, count: int) -> str:
        p = self._placeholder
        return (
            f"SELECT code_hash FROM voucher_codes WHERE tenant_id = {p}"
            f" AND code_hash IN ({self._in(count)})"
        )

    def select_codes(self, count: int) -> str:
        p = self._placeholder
        return (
            "SELECT tenant_id, code_id, product_id, face_value_minor, currency, code_hash,"
            " code_sealed, pin_sealed, url_sealed, expires_ms, source, status, order_id,"
            " created_ms, expiry_warned_ms"
            f" FROM voucher_codes WHERE tenant_id = {p} AND code_id IN ({self._in(count)})"
        )

    def audit_heads_of(self, count: int) -> str:
        """The chain heads of some tenants, locked until the transaction ends (SQLite has
        one writer: nothing to lock). On MySQL each head is looked up by its key, so a
        group waits only for heads it asks for: scanning a small ``audit_heads``, two
        hosts' groups each waited at the heads the other held, and deadlocked."""
        return (
            f"SELECT tenant_id, seq, hash FROM audit_heads{self._by_primary_key}"
            f" WHERE tenant_id IN ({self._in(count)})" + self._lock_rows
        )

    def genesis_heads(self, count: int) -> str:
        """Chain heads at genesis for tenants that have none yet, where none is there
        (MySQL: a locking read that finds no row locks nothing under READ COMMITTED, so
        a head is made first and then locked; the rows, as values ``tenant, 0,
        GENESIS``)."""
        rows = ", ".join([f"({self._placeholder}, 0, {self._placeholder})"] * count)
        ignore = "INSERT OR IGNORE" if self._placeholder == "?" else "INSERT IGNORE"
        return f"{ignore} INTO audit_heads (tenant_id, seq, hash) VALUES {rows}"

    def audit_page(self, action: bool, actor: bool) -> str:
        p = self._placeholder
        where = f"tenant_id = {p} AND seq > {p}"
        where += f" AND action = {p}" if action else ""
        where += f" AND actor = {p}" if actor else ""
        return (
            "SELECT tenant_id, seq, at_ms, actor, action, target, outcome, detail, prev_hash,"
            f" hash FROM audit_log WHERE {where} ORDER BY seq LIMIT {p}"
        )

    def select_clients(self, count: int) -> str:
        p = self._placeholder
        return f"{self.client_select} WHERE tenant_id = {p} AND client_id IN ({self._in(count)})"

    def select_orders(self, count: int) -> str:
        p = self._placeholder
        return (
            f"SELECT {ORDER_COLUMNS} FROM orders WHERE tenant_id = {p}"
            f" AND order_id IN ({self._in(count)})"
        )

    def select_replies_with_tenant(self, count: int) -> str:
        """:meth:`select_replies` with the tenant first (for lookups of several tenants
        in one statement)."""
        return self.select_replies(count).replace("SELECT ", "SELECT tenant_id, ", 1)

    def select_people(self, count: int) -> str:
        where = f"tenant_id = {{p}} AND person_id IN ({self._in(count)})"
        return PEOPLE.select(self._placeholder, where)

    def select_sessions(self, count: int) -> str:
        where = f"tenant_id = {{p}} AND token_hash IN ({self._in(count)})"
        return SESSIONS.select(self._placeholder, where)

    def select_replies(self, count: int) -> str:
        marks = ", ".join([self._placeholder] * count)
        return (
            "SELECT key_hash, fingerprint, reply, created_ms, expires_ms"
            f" FROM idempotency_replies WHERE tenant_id = {self._placeholder}"
            f" AND key_hash IN ({marks})"
        )

    def delete_expired_replies(self, count: int) -> str:
        marks = ", ".join([self._placeholder] * count)
        p = self._placeholder
        return (
            f"DELETE FROM idempotency_replies WHERE tenant_id = {p} AND expires_ms <= {p}"
            f" AND key_hash IN ({marks})"
        )


@dataclass(frozen=True)
class Write:
    """One statement of a change set, and whether it must touch exactly one row."""

    sql: str
    params: tuple[Any, ...]
    what: str
    fenced: bool = False
    expected_version: int = 0
    #: About how many bytes its values take on the wire, if the writer weighed them.
    weight: int = -1


def writes(st: Statements, change_set: ChangeSet, now_ms: int) -> Iterator[Write]:
    """The statements of one change set, in order; inserts of entries, events and replies
    are batched apart (see ``entry_rows`` …)."""
    if change_set.expired_replies:
        yield Write(
            st.delete_expired_replies(len(change_set.expired_replies)),
            (change_set.tenant, now_ms, *change_set.expired_replies),
            "expired replies",
        )
    if change_set.tenant_key is not None:
        k = change_set.tenant_key
        yield Write(st.insert_tenant_key, (k.tenant, k.wrapped, now_ms), f"data key of {k.tenant}")
    for client in change_set.clients:
        c = client.record
        what = f"client {c.tenant}/{c.client_id}"
        if client.expected_version == 0:
            yield Write(
                st.insert_client,
                (
                    c.tenant,
                    c.client_id,
                    c.name,
                    c.secret_hash,
                    c.scopes,
                    c.roles,
                    c.status,
                    c.created_ms,
                    c.updated_ms,
                    c.version,
                    c.grants,
                ),
                what,
            )
        else:
            yield Write(
                st.update_client,
                (
                    c.name,
                    c.secret_hash,
                    c.scopes,
                    c.roles,
                    c.status,
                    c.updated_ms,
                    c.version,
                    c.grants,
                    c.tenant,
                    c.client_id,
                    client.expected_version,
                ),
                what,
                fenced=True,
                expected_version=client.expected_version,
            )
    yield from st.people.writes((p.record, p.expected_version) for p in change_set.people)
    yield from st.sessions.writes((s.record, s.expected_version) for s in change_set.sessions)
    yield from st.sso.writes((s.record, s.expected_version) for s in change_set.sso)
    for code_id in change_set.expiry_warned:  # fenced: two sweeps never count a code twice
        yield Write(
            st.mark_expiry_warned,
            (now_ms, change_set.tenant, code_id),
            f"expiry warning of {change_set.tenant}/{code_id}",
            fenced=True,
        )
    for a in change_set.allocations:
        yield Write(
            st.allocate_code,
            (a.order_id, now_ms, change_set.tenant, a.code_id),
            f"voucher code {change_set.tenant}/{a.code_id}",
            fenced=True,
        )
    for job in change_set.bulk_jobs:
        j = job.record
        what = f"bulk job {j.tenant}/{j.job_id}"
        if job.expected_version == 0:
            yield Write(
                st.insert_bulk_job,
                (
                    j.tenant,
                    j.job_id,
                    j.budget_id,
                    j.status,
                    j.total,
                    j.next_row,
                    j.succeeded,
                    j.failed,
                    j.created_ms,
                    j.updated_ms,
                    j.version,
                    j.name,
                    j.start_at_ms,
                    j.points,
                ),
                what,
            )
        else:
            yield Write(
                st.update_bulk_job,
                (
                    j.status,
                    j.total,
                    j.next_row,
                    j.succeeded,
                    j.failed,
                    j.updated_ms,
                    j.version,
                    j.name,
                    j.start_at_ms,
                    j.points,
                    j.tenant,
                    j.job_id,
                    job.expected_version,
                ),
                what,
                fenced=True,
                expected_version=job.expected_version,
            )
    new_apart = _new_orders_apart(change_set)
    for order in change_set.orders:
        o = order.record
        if order.expected_version == 0:
            if not new_apart:
                yield Write(st.insert_order, _order_row(o), f"order {o.tenant}/{o.order_id}")
            continue
        yield Write(
            st.update_order,
            (
                o.status,
                o.price_minor,
                o.price_unit,
                o.code_id,
                o.reason,
                o.updated_ms,
                o.version,
                o.tenant,
                o.order_id,
                order.expected_version,
            ),
            f"order {o.tenant}/{o.order_id}",
            fenced=True,
            expected_version=order.expected_version,
        )
    for code_id in change_set.leased:
        yield Write(
            st.lease_code,
            (change_set.tenant, code_id),
            f"voucher code {change_set.tenant}/{code_id} to lease",
            fenced=True,
        )
    for v in change_set.voids:
        yield Write(
            st.void_code,
            (change_set.tenant, v.code_id, v.order_id),
            f"voucher code {change_set.tenant}/{v.code_id} of {v.order_id}",
            fenced=True,
        )
    for put in change_set.puts:
        r = put.record
        what = f"account {r.tenant}/{r.account_id}"
        if put.expected_version == 0:
            yield Write(
                st.insert_account,
                (
                    r.tenant,
                    r.account_id,
                    r.kind,
                    r.name,
                    r.unit,
                    r.balance_minor,
                    r.version,
                    now_ms,
                    r.cap_minor,
                    r.held_minor,
                    r.alert_minor,
                ),
                what,
            )
        else:
            yield Write(
                st.update_account,
                (
                    r.name,
                    r.balance_minor,
                    r.held_minor,
                    r.cap_minor,
                    r.alert_minor,
                    r.version,
                    now_ms,
                    r.tenant,
                    r.account_id,
                    put.expected_version,
                ),
                what,
                fenced=True,
                expected_version=put.expected_version,
            )


def entry_rows(change_sets: tuple[ChangeSet, ...] | list[ChangeSet]) -> list[tuple[Any, ...]]:
    return [
        (cs.tenant, e.txn_id, e.account, e.amount_minor, e.currency, e.created_ms)
        for cs in change_sets
        for e in cs.entries
    ]


#: Ids per ``DELETE … IN`` of published events.
DELETE_CHUNK = 500


def published_chunks(event_ids: Iterable[str]) -> Iterator[list[str]]:
    """Published event ids, in chunks for one ``DELETE … IN`` each (one statement, not a
    round trip per id; most ids of a pack match no row: only its first one names it)."""
    ids = list(event_ids)
    for start in range(0, len(ids), DELETE_CHUNK):
        yield ids[start : start + DELETE_CHUNK]


def published_ids(change_sets: tuple[ChangeSet, ...] | list[ChangeSet]) -> list[str]:
    return [event_id for cs in change_sets for event_id in cs.published]


#: The subject of an outbox row that packs several events (no NATS subject is empty).
PACK_SUBJECT = ""
_pack = msgspec.msgpack.Encoder()
_unpack = msgspec.msgpack.Decoder(list[OutboxEvent])


def event_rows(change_sets: tuple[ChangeSet, ...] | list[ChangeSet]) -> list[tuple[Any, ...]]:
    """The outbox rows of a transaction: its one event as it is, or all its events packed
    in one row under the first one's id (ADR 7). A row per event cost two B-tree inserts
    and, once published, two deletes per event — a sixth of a burst's commit time; a
    pack costs one of each per transaction. The relay deletes published events by id:
    the first id of a pack deletes it, the others match no row."""
    events = [e for cs in change_sets for e in cs.events]
    if len(events) <= 1:
        return [(e.event_id, e.tenant, e.subject, e.payload, e.created_ms) for e in events]
    first = events[0]
    return [(first.event_id, "", PACK_SUBJECT, _pack.encode(events), first.created_ms)]


def events_from_row(row: tuple[Any, ...]) -> list[OutboxEvent]:
    """The events an outbox row holds: one, or a pack of them (first one's id first)."""
    if row[2] == PACK_SUBJECT:
        return _unpack.decode(bytes(row[3]))
    return [OutboxEvent(row[0], row[1], row[2], bytes(row[3]), int(row[4]))]


def reply_rows(change_sets: tuple[ChangeSet, ...] | list[ChangeSet]) -> list[tuple[Any, ...]]:
    return [
        (cs.tenant, r.key_hash, r.fingerprint, r.reply, r.created_ms, r.expires_ms)
        for cs in change_sets
        for r in cs.replies
    ]


def order_rows(change_sets: tuple[ChangeSet, ...] | list[ChangeSet]) -> list[tuple[Any, ...]]:
    """The new orders of ``change_sets`` that go after every change set's own statements:
    one multi-row ``INSERT`` on MariaDB rather than one statement per change set (ADR 33).
    A change set that also updates orders keeps its inserts in its own statements, in
    order, in case an update is of an order it inserts."""
    return [
        _order_row(order.record)
        for cs in change_sets
        if _new_orders_apart(cs)
        for order in cs.orders
    ]


def _new_orders_apart(change_set: ChangeSet) -> bool:
    return all(order.expected_version == 0 for order in change_set.orders)


def _order_row(o: OrderRecord) -> tuple[Any, ...]:
    return (
        o.tenant,
        o.order_id,
        o.status,
        o.recipient,
        o.payer,
        o.product_id,
        o.face_value_minor,
        o.currency,
        o.price_minor,
        o.price_unit,
        o.code_id,
        o.reason,
        o.external_id or None,
        o.created_ms,
        o.updated_ms,
        o.version,
        o.fx_rate,
        o.points_rate,
        o.placed_by,
    )


def code_rows(change_sets: tuple[ChangeSet, ...] | list[ChangeSet]) -> list[tuple[Any, ...]]:
    return [
        (
            c.tenant,
            c.code_id,
            c.product_id,
            c.face_value_minor,
            c.currency,
            c.code_hash,
            c.code_sealed,
            c.pin_sealed,
            c.url_sealed,
            c.expires_ms,
            c.source,
            c.status,
            c.order_id,
            c.created_ms,
            c.expiry_warned_ms,
        )
        for cs in change_sets
        for c in cs.new_codes
    ]


def code_from_row(row: tuple[Any, ...]) -> VoucherCode:
    return VoucherCode(
        row[0],
        row[1],
        row[2],
        int(row[3]),
        row[4],
        row[5],
        bytes(row[6]),
        bytes(row[7]),
        row[8],
        int(row[9]),
        row[10],
        row[11],
        row[12],
        int(row[13]),
        int(row[14]),
    )


def bulk_row_rows(change_sets: Sequence[ChangeSet]) -> list[tuple[Any, ...]]:
    return [
        (cs.tenant, r.job_id, r.row, r.person_id, r.points, r.memo, r.status, r.reason, r.reward_id)
        for cs in change_sets
        for r in cs.bulk_rows
    ]


def bulk_result_rows(
    change_sets: Sequence[ChangeSet],
) -> tuple[list[tuple[Any, ...]], list[tuple[Any, ...]]]:
    """The rows' results as ``(runs, rows)``: each run of consecutive rows that succeeded
    with the usual reward id (``<job>:<row>``) as (tenant, job, first row, last row), for
    one ``update_bulk_rows_ok`` each — a chunk of a thousand rewards is one statement,
    not a thousand; every other result as ``update_bulk_row``'s parameters."""
    runs: list[list[Any]] = []
    rows: list[tuple[Any, ...]] = []
    for cs in change_sets:
        for r in cs.bulk_results:
            if r.status != "ok" or r.reason or r.reward_id != bulk_reward_id(r.job_id, r.row):
                rows.append((r.status, r.reason, r.reward_id, cs.tenant, r.job_id, r.row))
            elif runs and runs[-1][:2] == [cs.tenant, r.job_id] and runs[-1][3] == r.row - 1:
                runs[-1][3] = r.row
            else:
                runs.append([cs.tenant, r.job_id, r.row, r.row])
    return [tuple(run) for run in runs], rows


def bulk_job_from_row(row: tuple[Any, ...]) -> BulkJobRecord:
    return BulkJobRecord(
        row[0],
        row[1],
        row[2],
        row[3],
        int(row[4]),
        int(row[5]),
        int(row[6]),
        int(row[7]),
        int(row[8]),
        int(row[9]),
        int(row[10]),
        str(row[11]),
        int(row[12]),
        int(row[13]),
    )


def bulk_record_from_row(row: tuple[Any, ...]) -> BulkRowRecord:
    return BulkRowRecord(row[0], int(row[1]), row[2], int(row[3]), row[4], row[5], row[6], row[7])


def account_line_from_row(row: tuple[Any, ...]) -> AccountLine:
    return AccountLine(int(row[0]), row[1], int(row[2]), row[3], int(row[4]))


def order_from_row(row: tuple[Any, ...]) -> OrderRecord:
    return OrderRecord(
        row[0],
        row[1],
        row[2],
        row[3],
        row[4],
        row[5],
        int(row[6]),
        row[7],
        int(row[8]),
        row[9],
        row[10],
        row[11],
        row[12] or "",
        int(row[13]),
        int(row[14]),
        int(row[15]),
        row[16] or "",
        row[17] or "",
        row[18] or "",
    )


def reply_from_row(row: tuple[Any, ...]) -> StoredReply:
    return StoredReply(row[0], row[1], bytes(row[2]), int(row[3]), int(row[4]))


def account_from_row(row: tuple[Any, ...]) -> AccountRecord:
    return AccountRecord(
        tenant=row[0],
        account_id=row[1],
        kind=row[2],
        name=row[3],
        unit=row[4],
        balance_minor=int(row[5]),
        version=int(row[6]),
        cap_minor=int(row[7]),
        held_minor=int(row[8]),
        alert_minor=int(row[9]),
    )


def fx_rows(change_sets: Sequence[ChangeSet]) -> list[tuple[Any, ...]]:
    return [
        (r.tenant, r.base, r.quote, r.rate, r.updated_ms) for cs in change_sets for r in cs.fx_rates
    ]


def audit_tenants(change_sets: Sequence[ChangeSet]) -> list[str]:
    return sorted({cs.tenant for cs in change_sets if cs.audit})


def chain_audit(
    change_sets: Sequence[ChangeSet], heads: dict[str, tuple[int, str]]
) -> tuple[list[tuple[Any, ...]], list[tuple[Any, ...]]]:
    """The audit rows of a group commit, numbered and hash-chained after ``heads`` (the
    chains as they stand in this transaction), and the new heads."""
    rows: list[tuple[Any, ...]] = []
    for cs in change_sets:
        for e in cs.audit:
            seq, prev = heads.get(cs.tenant, (0, GENESIS))
            record = AuditRecord(
                cs.tenant, seq + 1, e.at_ms, e.actor, e.action, e.target, e.outcome, e.detail,
                prev, "",
            )  # fmt: skip
            digest = entry_hash(prev, record)
            heads[cs.tenant] = (seq + 1, digest)
            rows.append(
                (cs.tenant, seq + 1, e.at_ms, e.actor, e.action, e.target, e.outcome, e.detail,
                 prev, digest)
            )  # fmt: skip
    touched = {cs.tenant for cs in change_sets if cs.audit}
    return rows, [(t, *heads[t]) for t in sorted(touched)]


def audit_from_row(row: tuple[Any, ...]) -> AuditRecord:
    return AuditRecord(
        row[0], int(row[1]), int(row[2]), row[3], row[4], row[5], row[6], row[7], row[8],
        row[9],
    )  # fmt: skip


class IdentityLoads:
    """How both adapters load people, session tokens and SSO settings: the same SQL,
    run by the adapter's ``_fetchall`` with its driver's ``_statements``."""

    _statements: Statements

    async def _fetchall(self, statement: str, params: tuple[Any, ...]) -> list[Any]:
        raise NotImplementedError

    async def load_people(
        self, tenant: str, person_ids: Sequence[str] = (), email: str | None = None
    ) -> list[PersonRecord]:
        statement, params = people_query(self._statements, tenant, person_ids, email)
        return [PEOPLE.from_row(r) for r in await self._fetchall(statement, params)]

    async def list_people(
        self, tenant: str, limit: int, after_email: str = "", q: str | None = None
    ) -> list[PersonRecord]:
        statement, params = people_page(self._statements, tenant, limit, after_email, q)
        return [PEOPLE.from_row(r) for r in await self._fetchall(statement, params)]

    async def load_sessions(
        self,
        tenant: str,
        token_hashes: Sequence[str] = (),
        family_id: str | None = None,
        person_id: str | None = None,
    ) -> list[SessionRecord]:
        st = self._statements
        statement, params = sessions_query(st, tenant, token_hashes, family_id, person_id)
        return [SESSIONS.from_row(r) for r in await self._fetchall(statement, params)]

    async def load_sso(self, tenant: str) -> SsoRecord | None:
        rows = await self._fetchall(self._statements.sso_of, (tenant,))
        return sso_from_row(rows[0]) if rows else None


def people_query(
    st: Statements, tenant: str, person_ids: Sequence[str], email: str | None
) -> tuple[str, tuple[Any, ...]]:
    if person_ids:
        return st.select_people(len(person_ids)), (tenant, *person_ids)
    if email is not None:
        return st.person_by_email, (tenant, email)
    return st.all_people, (tenant,)


def people_page(
    st: Statements, tenant: str, limit: int, after_email: str, q: str | None
) -> tuple[str, tuple[Any, ...]]:
    """A page by the unique index of emails; ``q`` matched with ``LIKE`` on lower-cased
    columns, its own ``%``, ``_`` and ``!`` escaped."""
    p = st.placeholder
    where = "tenant_id = {p} AND email > {p}"
    params: list[Any] = [tenant, after_email]
    if q is not None:
        where += " AND (LOWER(email) LIKE {p} ESCAPE '!' OR LOWER(name) LIKE {p} ESCAPE '!')"
        pattern = "%" + re.sub(r"([!%_])", r"!\1", q.lower()) + "%"
        params += [pattern, pattern]
    params.append(limit)
    return PEOPLE.select(p, where, "email") + f" LIMIT {p}", tuple(params)


def sessions_query(
    st: Statements,
    tenant: str,
    token_hashes: Sequence[str],
    family_id: str | None,
    person_id: str | None,
) -> tuple[str, tuple[Any, ...]]:
    if token_hashes:
        return st.select_sessions(len(token_hashes)), (tenant, *token_hashes)
    if family_id is not None:
        return st.session_family, (tenant, family_id)
    if person_id is not None:
        return st.person_sessions, (tenant, person_id)
    raise ValueError("name the session tokens, their session or their person")


def sso_from_row(row: tuple[Any, ...]) -> SsoRecord:
    values = list(row)
    values[3] = bytes(values[3])  # a memoryview or bytearray from some drivers
    return SSO.from_row(values)


def client_from_row(row: tuple[Any, ...]) -> ClientRecord:
    return ClientRecord(
        row[0], row[1], row[2], row[3], row[4], row[5], row[6], int(row[7]), int(row[8]),
        int(row[9]), row[10],
    )  # fmt: skip


def signing_key_from_row(row: tuple[Any, ...]) -> SigningKeyRecord:
    return SigningKeyRecord(row[0], row[1], bytes(row[2]), bytes(row[3]), int(row[4]))


def fx_from_row(row: tuple[Any, ...]) -> FxRate:
    return FxRate(row[0], row[1], row[2], row[3], int(row[4]))
