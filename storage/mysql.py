"""MySQL / MariaDB ledger via asyncmy: the production adapter.

A small connection pool; :meth:`MysqlLedger.apply` writes a whole group commit in one
transaction on one connection, inserting entries and outbox rows with multi-row INSERTs.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from asyncmy.constants import CLIENT
from asyncmy.errors import IntegrityError, OperationalError

from bus.events import OutboxEvent
from storage import mysql_writes, sql
from storage.audit_chain import GENESIS
from storage.errors import StaleWrite, StoreUnavailable
from storage.history_sql import HistoryReads
from storage.listing_sql import ListingReads
from storage.migrations import CREATE_MIGRATIONS_TABLE, MIGRATIONS
from storage.mysql_pool import MysqlPool
from storage.mysql_reads import TurnReads
from storage.ports import (
    AccountRecord,
    AuditRecord,
    BulkJobRecord,
    BulkRowRecord,
    ChangeSet,
    ClientRecord,
    ExpiringCode,
    FxRate,
    LedgerStats,
    OrderRecord,
    SigningKeyRecord,
    StoredReply,
    VoucherCode,
)

_st = sql.Statements("%s")
#: A group commit that met a deadlock or a lock wait timeout (two groups in flight may, on
#: rows both touch) is rolled back by the server and tried again, this many times in all.
DEADLOCK_ATTEMPTS = 3
_RETRYABLE = frozenset({1205, 1213})
_MIGRATION_LOCK = "perkbus_schema_migrations"


class MysqlLedger(MysqlPool, sql.IdentityLoads, HistoryReads, ListingReads):
    name = "ledger:mysql"
    #: One group's statements run while the one before commits (ADR 33).
    groups_in_flight = 2

    _statements = _st
    # A group commit's statements travel in packets (storage/mysql_writes.py).
    client_flag = CLIENT.MULTI_STATEMENTS

    def __init__(
        self, url: str, pool_size: int = 8, connect_timeout_s: int = 5, read_timeout_s: int = 30
    ) -> None:
        MysqlPool.__init__(self, url, pool_size, connect_timeout_s, read_timeout_s)
        self.stats = LedgerStats()
        # The lookups of every actor's batch, gathered per turn of the event loop.
        self._replies = TurnReads(_st.select_replies_with_tenant, self._fetchall)
        self._orders = TurnReads(_st.select_orders, self._fetchall)

    async def _fetchone(self, statement: str, params: tuple[Any, ...]) -> Any:
        async with self._cursor() as cur:
            await cur.execute(statement, params)
            row = await cur.fetchone()
            return row

    async def close(self) -> None:
        await self._replies.settle()
        await self._orders.settle()
        await self._close_pool()

    async def migrate(self, upto: int | None = None) -> None:
        async with self._transaction() as cur:
            # Several hosts may start at once; a named lock lets one migrate at a time.
            await cur.execute("SELECT GET_LOCK(%s, 60)", (_MIGRATION_LOCK,))
            (locked,) = await cur.fetchone()
            if locked != 1:
                raise StoreUnavailable("another process held the schema migration lock for 60 s")
            try:
                await cur.execute(CREATE_MIGRATIONS_TABLE["mysql"])
                await cur.execute(_st.applied_versions)
                done = {row[0] for row in await cur.fetchall()}
                for m in MIGRATIONS:
                    if m.version in done or (upto is not None and m.version > upto):
                        continue
                    for statement in m.statements("mysql"):
                        await cur.execute(statement)
                    await cur.execute(_st.record_migration, (m.version, m.name, sql.now_ms()))
            finally:
                await cur.execute("SELECT RELEASE_LOCK(%s)", (_MIGRATION_LOCK,))

    async def ping(self) -> None:
        await self._fetchone("SELECT 1", ())

    async def load_accounts(self, tenant: str, account_ids: Sequence[str]) -> list[AccountRecord]:
        if not account_ids:
            return []
        async with self._cursor() as cur:
            await cur.execute(_st.select_accounts(len(account_ids)), (tenant, *account_ids))
            rows = await cur.fetchall()
        return [sql.account_from_row(r) for r in rows]

    async def apply(self, change_sets: Sequence[ChangeSet]) -> None:
        batch = list(change_sets)
        try:
            for attempt in range(1, DEADLOCK_ATTEMPTS + 1):
                async with self._cursor() as cur:
                    try:
                        await mysql_writes.commit_group(cur, _st, batch)
                        break
                    except OperationalError as e:
                        await cur.connection.rollback()
                        if e.args[0] not in _RETRYABLE or attempt == DEADLOCK_ATTEMPTS:
                            raise
                        self.stats.retries += 1
                    except BaseException:
                        await cur.connection.rollback()
                        raise
        except BaseException:
            self.stats.rollbacks += 1
            raise
        self.stats.transactions += 1
        self.stats.change_sets += len(batch)

    async def pending_events(self, limit: int, created_before_ms: int = 2**62) -> list[OutboxEvent]:
        async with self._cursor() as cur:
            await cur.execute(_st.pending_events, (created_before_ms, limit))
            rows = await cur.fetchall()
        return [e for r in rows for e in sql.events_from_row(r)]

    async def mark_published(self, event_ids: Sequence[str]) -> None:
        if event_ids:
            async with self._transaction() as cur:
                await mysql_writes.write_all(cur, mysql_writes.deletes_of_published(_st, event_ids))

    async def account_balance(self, tenant: str, account: str) -> int:
        row = await self._fetchone(_st.account_balance, (tenant, account))
        return int(row[0])

    async def entries_total(self, tenant: str) -> int:
        row = await self._fetchone(_st.entries_total, (tenant,))
        return int(row[0])

    async def load_replies(self, tenant: str, key_hashes: Sequence[str]) -> list[StoredReply]:
        if not key_hashes:
            return []
        rows = await self._replies.get(tenant, key_hashes)
        return [sql.reply_from_row(r[1:]) for r in rows]

    async def _fetchall(self, statement: str, params: tuple[Any, ...]) -> list[Any]:
        async with self._cursor() as cur:
            await cur.execute(statement, params)
            rows = list(await cur.fetchall())
        return rows

    async def load_tenant_key(self, tenant: str) -> bytes | None:
        row = await self._fetchone(_st.select_tenant_key, (tenant,))
        return None if row is None else bytes(row[0])

    async def known_code_hashes(self, tenant: str, code_hashes: Sequence[str]) -> set[str]:
        if not code_hashes:
            return set()
        rows = await self._fetchall(_st.known_code_hashes(len(code_hashes)), (tenant, *code_hashes))
        return {r[0] for r in rows}

    async def available_codes(
        self, tenant: str, product_id: str, face_value_minor: int, limit: int
    ) -> list[tuple[str, int]]:
        pool = (tenant, product_id, face_value_minor)
        expiring = await self._fetchall(_st.available_expiring_codes, (*pool, sql.now_ms(), limit))
        rows = [(r[0], int(r[1])) for r in expiring]
        if len(rows) < limit:
            lasting = await self._fetchall(_st.available_lasting_codes, (*pool, limit - len(rows)))
            rows.extend((r[0], int(r[1])) for r in lasting)
        return rows

    async def pool_counts(
        self, tenant: str, product_id: str, face_value_minor: int
    ) -> dict[str, int]:
        pool = (tenant, product_id, face_value_minor)
        params = (sql.now_ms(), *pool, *pool)
        return sql.pool_counts_of(await self._fetchall(_st.pool_counts, params))

    async def pool_count(
        self, tenant: str, product_id: str, face_value_minor: int, status: str
    ) -> int:
        if status == "allocated":  # not in the pool index: the pool's every code less the rest
            return (await self.pool_counts(tenant, product_id, face_value_minor)).get(status, 0)
        params = (tenant, product_id, face_value_minor, status, sql.now_ms())
        rows = await self._fetchall(_st.pool_count, params)
        return int(rows[0][0])

    async def leased_codes(self, tenant: str) -> list[tuple[str, int, str, int]]:
        leased = []
        pool = await self._fetchone(_st.first_pool, (tenant,))
        while pool is not None:
            product, face = pool[0], int(pool[1])
            for code_id, expires_ms in await self._fetchall(
                _st.leased_codes_of_pool, (tenant, product, face)
            ):
                leased.append((product, face, code_id, int(expires_ms)))
            pool = await self._fetchone(_st.next_face, (tenant, product, face))
            if pool is None:
                pool = await self._fetchone(_st.next_product, (tenant, product))
        return leased

    async def load_codes(self, tenant: str, code_ids: Sequence[str]) -> list[VoucherCode]:
        if not code_ids:
            return []
        rows = await self._fetchall(_st.select_codes(len(code_ids)), (tenant, *code_ids))
        return [sql.code_from_row(r) for r in rows]

    async def load_orders(self, tenant: str, order_ids: Sequence[str]) -> list[OrderRecord]:
        if not order_ids:
            return []
        return [sql.order_from_row(r) for r in await self._orders.get(tenant, order_ids)]

    async def order_by_external_id(self, tenant: str, external_id: str) -> OrderRecord | None:
        row = await self._fetchone(_st.order_by_external_id, (tenant, external_id))
        return None if row is None else sql.order_from_row(row)

    async def redemptions_since(
        self, tenant: str, person_id: str, since_ms: int
    ) -> list[tuple[str, int]]:
        params = (tenant, person_id, since_ms, f"wallet:{person_id}")
        rows = await self._fetchall(_st.redemptions_since, params)
        return [(str(r[0]), int(r[1])) for r in rows]

    async def unfinished_orders(self, tenant: str, limit: int) -> list[OrderRecord]:
        rows = await self._fetchall(_st.unfinished_orders, (tenant, limit))
        return [sql.order_from_row(r) for r in rows]

    async def load_bulk_job(self, tenant: str, job_id: str) -> BulkJobRecord | None:
        row = await self._fetchone(_st.select_bulk_job, (tenant, job_id))
        return None if row is None else sql.bulk_job_from_row(row)

    async def bulk_rows(
        self, tenant: str, job_id: str, start: int, limit: int
    ) -> list[BulkRowRecord]:
        rows = await self._fetchall(_st.select_bulk_rows, (tenant, job_id, start, limit))
        return [sql.bulk_record_from_row(r) for r in rows]

    async def running_bulk_jobs(self, limit: int) -> list[tuple[str, str]]:
        return [(r[0], r[1]) for r in await self._fetchall(_st.running_bulk_jobs, (limit,))]

    async def due_bulk_jobs(self, now_ms: int, limit: int) -> list[tuple[str, str]]:
        rows = await self._fetchall(_st.due_bulk_jobs, (now_ms, limit))
        return [(r[0], r[1]) for r in rows]

    async def tenants_with_unfinished_orders(self, limit: int) -> list[str]:
        return [r[0] for r in await self._fetchall(_st.tenants_with_unfinished_orders, (limit,))]

    async def load_clients(self, tenant: str, client_ids: Sequence[str]) -> list[ClientRecord]:
        if client_ids:
            rows = await self._fetchall(_st.select_clients(len(client_ids)), (tenant, *client_ids))
        else:
            rows = await self._fetchall(_st.all_clients, (tenant,))
        return [sql.client_from_row(r) for r in rows]

    async def audit_log(
        self,
        tenant: str,
        after_seq: int,
        limit: int,
        action: str | None = None,
        actor: str | None = None,
    ) -> list[AuditRecord]:
        statement = _st.audit_page(action is not None, actor is not None)
        params = (tenant, after_seq, *(v for v in (action, actor) if v is not None), limit)
        return [sql.audit_from_row(r) for r in await self._fetchall(statement, params)]

    async def audit_head(self, tenant: str) -> tuple[int, str]:
        row = await self._fetchone(_st.audit_head, (tenant,))
        return (int(row[0]), row[1]) if row else (0, GENESIS)

    async def audited_tenants(self) -> list[str]:
        return [r[0] for r in await self._fetchall(_st.audited_tenants, ())]

    async def signing_keys(self) -> list[SigningKeyRecord]:
        return [sql.signing_key_from_row(r) for r in await self._fetchall(_st.signing_keys, ())]

    async def add_signing_key(self, key: SigningKeyRecord) -> None:
        params = (key.kid, key.algorithm, key.private_sealed, key.public_pem, key.created_ms)
        try:
            async with self._transaction() as cur:
                await cur.execute(_st.insert_signing_key, params)
        except IntegrityError as e:
            raise StaleWrite(f"signing key {key.kid}", 0) from e

    async def expiring_codes(
        self, tenant: str, now_ms: int, before_ms: int, limit: int
    ) -> list[ExpiringCode]:
        rows = await self._fetchall(_st.expiring_codes, (now_ms, before_ms, tenant, limit))
        return [ExpiringCode(r[0], r[1], int(r[2]), int(r[3])) for r in rows]

    async def tenants_with_expiring_codes(
        self, now_ms: int, before_ms: int, limit: int
    ) -> list[str]:
        rows = await self._fetchall(_st.tenants_with_expiring_codes, (now_ms, before_ms, limit))
        return [r[0] for r in rows]

    async def load_fx_rates(self, tenant: str) -> list[FxRate]:
        return [sql.fx_from_row(r) for r in await self._fetchall(_st.select_fx_rates, (tenant,))]
