"""SQLite ledger: the embedded default.

WAL mode. Group commits are written by a process of their own (``writer="process"``,
:mod:`storage.sqlite_writer`, what ``perkbus`` runs: ADR 29) or by the ledger's own
thread (``"thread"``); either way a group commit of many change sets is one hop and one
transaction. Reads go to a read-only connection on a thread of this process, which sees
every committed transaction (:mod:`storage.sqlite_db`).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from bus.events import OutboxEvent
from storage import sql
from storage.audit_chain import GENESIS
from storage.errors import StaleWrite, StoreUnavailable
from storage.history_sql import HistoryReads
from storage.listing_sql import ListingReads
from storage.migrations import MIGRATIONS
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
from storage.sqlite_db import SqliteDatabase, transaction
from storage.sqlite_writer import SqliteWriter, WriterProcess
from storage.sqlite_writes import STATEMENTS, apply_change_sets

_st = STATEMENTS


class SqliteLedger(sql.IdentityLoads, HistoryReads, ListingReads):
    name = "ledger:sqlite"
    groups_in_flight = 1  # one writer: a second group would only queue behind the first

    _statements = _st

    def __init__(
        self, path: str | Path, synchronous: str = "FULL", writer: SqliteWriter = "thread"
    ) -> None:
        self.db = SqliteDatabase(path, synchronous, "sqlite-ledger")
        self.path = self.db.path
        self.stats = LedgerStats()
        self._run = self.db.run
        self._read = self.db.read
        #: Group commits' writer, if a process (an in-memory database has only its thread).
        self._writer = (
            WriterProcess(self.db.path, synchronous)
            if writer == "process" and str(path) != ":memory:"
            else None
        )

    async def close(self) -> None:
        if self._writer is not None:
            await self._writer.close()
        await self.db.close()

    async def migrate(self, upto: int | None = None) -> None:
        await self.db.migrate(tuple(m for m in MIGRATIONS if upto is None or m.version <= upto))
        if self._writer is not None:
            await self._writer.start()  # now, so that a writer that cannot start says so

    async def ping(self) -> None:
        await self.db.ping()
        if self._writer is not None and (waited := self._writer.stuck_for()) is not None:
            # reads still work, but nothing is written: not healthy
            raise StoreUnavailable(f"the ledger's writer has not answered for {waited:.0f} s")

    async def load_accounts(self, tenant: str, account_ids: Sequence[str]) -> list[AccountRecord]:
        if not account_ids:
            return []
        statement = _st.select_accounts(len(account_ids))
        params = (tenant, *account_ids)
        rows = await self._read(lambda con: con.execute(statement, params).fetchall())
        return [sql.account_from_row(r) for r in rows]

    async def apply(self, change_sets: Sequence[ChangeSet]) -> None:
        batch = list(change_sets)
        try:
            if self._writer is not None:
                await self._writer.apply(batch)
            else:
                await self._run(transaction(lambda con: apply_change_sets(con, batch)))
        except BaseException:
            self.stats.rollbacks += 1
            raise
        self.stats.transactions += 1
        self.stats.change_sets += len(batch)

    async def pending_events(self, limit: int, created_before_ms: int = 2**62) -> list[OutboxEvent]:
        rows = await self._read(
            lambda con: con.execute(_st.pending_events, (created_before_ms, limit)).fetchall()
        )
        return [e for r in rows for e in sql.events_from_row(r)]

    async def mark_published(self, event_ids: Sequence[str]) -> None:
        if self._writer is not None:  # one writer for the ledger's frequent writes
            await self._writer.apply([ChangeSet("", published=tuple(event_ids))])
            return

        def delete(con: sqlite3.Connection) -> None:
            for chunk in sql.published_chunks(event_ids):
                con.execute(_st.delete_events(len(chunk)), chunk)

        await self._run(transaction(delete))

    async def account_balance(self, tenant: str, account: str) -> int:
        row = await self._read(
            lambda con: con.execute(_st.account_balance, (tenant, account)).fetchone()
        )
        return int(row[0])

    async def entries_total(self, tenant: str) -> int:
        row = await self._read(lambda con: con.execute(_st.entries_total, (tenant,)).fetchone())
        return int(row[0])

    async def load_replies(self, tenant: str, key_hashes: Sequence[str]) -> list[StoredReply]:
        if not key_hashes:
            return []
        statement = _st.select_replies(len(key_hashes))
        params = (tenant, *key_hashes)
        rows = await self._read(lambda con: con.execute(statement, params).fetchall())
        return [sql.reply_from_row(r) for r in rows]

    async def load_tenant_key(self, tenant: str) -> bytes | None:
        row = await self._read(lambda con: con.execute(_st.select_tenant_key, (tenant,)).fetchone())
        return None if row is None else bytes(row[0])

    async def known_code_hashes(self, tenant: str, code_hashes: Sequence[str]) -> set[str]:
        if not code_hashes:
            return set()
        statement, params = _st.known_code_hashes(len(code_hashes)), (tenant, *code_hashes)
        rows = await self._read(lambda con: con.execute(statement, params).fetchall())
        return {r[0] for r in rows}

    async def available_codes(
        self, tenant: str, product_id: str, face_value_minor: int, limit: int
    ) -> list[tuple[str, int]]:
        pool = (tenant, product_id, face_value_minor)

        def read(con: sqlite3.Connection) -> list[tuple[str, int]]:
            expiring = con.execute(_st.available_expiring_codes, (*pool, sql.now_ms(), limit))
            rows = [(r[0], int(r[1])) for r in expiring.fetchall()]
            if len(rows) < limit:
                lasting = con.execute(_st.available_lasting_codes, (*pool, limit - len(rows)))
                rows.extend((r[0], int(r[1])) for r in lasting.fetchall())
            return rows

        return await self._read(read)

    async def pool_counts(
        self, tenant: str, product_id: str, face_value_minor: int
    ) -> dict[str, int]:
        params = (sql.now_ms(), *((tenant, product_id, face_value_minor) * 2))
        rows = await self._read(lambda con: con.execute(_st.pool_counts, params).fetchall())
        return sql.pool_counts_of(rows)

    async def pool_count(
        self, tenant: str, product_id: str, face_value_minor: int, status: str
    ) -> int:
        if status == "allocated":  # not in the pool index: the pool's every code less the rest
            return (await self.pool_counts(tenant, product_id, face_value_minor)).get(status, 0)
        params = (tenant, product_id, face_value_minor, status, sql.now_ms())
        row = await self._read(lambda con: con.execute(_st.pool_count, params).fetchone())
        return int(row[0])

    async def leased_codes(self, tenant: str) -> list[tuple[str, int, str, int]]:
        def read(con: sqlite3.Connection) -> list[tuple[str, int, str, int]]:
            leased = []
            pool = con.execute(_st.first_pool, (tenant,)).fetchone()
            while pool is not None:
                product, face = pool[0], int(pool[1])
                for code_id, expires_ms in con.execute(
                    _st.leased_codes_of_pool, (tenant, product, face)
                ):
                    leased.append((product, face, code_id, int(expires_ms)))
                pool = (
                    con.execute(_st.next_face, (tenant, product, face)).fetchone()
                    or con.execute(_st.next_product, (tenant, product)).fetchone()
                )
            return leased

        return await self._read(read)

    async def load_codes(self, tenant: str, code_ids: Sequence[str]) -> list[VoucherCode]:
        if not code_ids:
            return []
        statement, params = _st.select_codes(len(code_ids)), (tenant, *code_ids)
        rows = await self._read(lambda con: con.execute(statement, params).fetchall())
        return [sql.code_from_row(r) for r in rows]

    async def load_orders(self, tenant: str, order_ids: Sequence[str]) -> list[OrderRecord]:
        if not order_ids:
            return []
        statement, params = _st.select_orders(len(order_ids)), (tenant, *order_ids)
        rows = await self._read(lambda con: con.execute(statement, params).fetchall())
        return [sql.order_from_row(r) for r in rows]

    async def order_by_external_id(self, tenant: str, external_id: str) -> OrderRecord | None:
        params = (tenant, external_id)
        row = await self._read(lambda con: con.execute(_st.order_by_external_id, params).fetchone())
        return None if row is None else sql.order_from_row(row)

    async def redemptions_since(
        self, tenant: str, person_id: str, since_ms: int
    ) -> list[tuple[str, int]]:
        params = (tenant, person_id, since_ms, f"wallet:{person_id}")
        rows = await self._read(lambda con: con.execute(_st.redemptions_since, params).fetchall())
        return [(str(r[0]), int(r[1])) for r in rows]

    async def unfinished_orders(self, tenant: str, limit: int) -> list[OrderRecord]:
        rows = await self._read(
            lambda con: con.execute(_st.unfinished_orders, (tenant, limit)).fetchall()
        )
        return [sql.order_from_row(r) for r in rows]

    async def load_bulk_job(self, tenant: str, job_id: str) -> BulkJobRecord | None:
        row = await self._read(
            lambda con: con.execute(_st.select_bulk_job, (tenant, job_id)).fetchone()
        )
        return None if row is None else sql.bulk_job_from_row(row)

    async def bulk_rows(
        self, tenant: str, job_id: str, start: int, limit: int
    ) -> list[BulkRowRecord]:
        params = (tenant, job_id, start, limit)
        rows = await self._read(lambda con: con.execute(_st.select_bulk_rows, params).fetchall())
        return [sql.bulk_record_from_row(r) for r in rows]

    async def running_bulk_jobs(self, limit: int) -> list[tuple[str, str]]:
        rows = await self._read(lambda con: con.execute(_st.running_bulk_jobs, (limit,)).fetchall())
        return [(r[0], r[1]) for r in rows]

    async def due_bulk_jobs(self, now_ms: int, limit: int) -> list[tuple[str, str]]:
        params = (now_ms, limit)
        rows = await self._read(lambda con: con.execute(_st.due_bulk_jobs, params).fetchall())
        return [(r[0], r[1]) for r in rows]

    async def tenants_with_unfinished_orders(self, limit: int) -> list[str]:
        rows = await self._read(
            lambda con: con.execute(_st.tenants_with_unfinished_orders, (limit,)).fetchall()
        )
        return [r[0] for r in rows]

    async def _fetchall(self, statement: str, params: tuple[Any, ...]) -> list[Any]:
        return await self._read(lambda con: con.execute(statement, params).fetchall())

    async def load_clients(self, tenant: str, client_ids: Sequence[str]) -> list[ClientRecord]:
        if client_ids:
            statement, params = _st.select_clients(len(client_ids)), (tenant, *client_ids)
        else:
            statement, params = _st.all_clients, (tenant,)
        rows = await self._read(lambda con: con.execute(statement, params).fetchall())
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
        rows = await self._read(lambda con: con.execute(statement, params).fetchall())
        return [sql.audit_from_row(r) for r in rows]

    async def audit_head(self, tenant: str) -> tuple[int, str]:
        row = await self._read(lambda con: con.execute(_st.audit_head, (tenant,)).fetchone())
        return (int(row[0]), row[1]) if row else (0, GENESIS)

    async def audited_tenants(self) -> list[str]:
        rows = await self._read(lambda con: con.execute(_st.audited_tenants).fetchall())
        return [r[0] for r in rows]

    async def signing_keys(self) -> list[SigningKeyRecord]:
        rows = await self._read(lambda con: con.execute(_st.signing_keys).fetchall())
        return [sql.signing_key_from_row(r) for r in rows]

    async def add_signing_key(self, key: SigningKeyRecord) -> None:
        params = (key.kid, key.algorithm, key.private_sealed, key.public_pem, key.created_ms)
        try:
            await self._run(transaction(lambda con: con.execute(_st.insert_signing_key, params)))
        except sqlite3.IntegrityError as e:
            raise StaleWrite(f"signing key {key.kid}", 0) from e

    async def expiring_codes(
        self, tenant: str, now_ms: int, before_ms: int, limit: int
    ) -> list[ExpiringCode]:
        params = (now_ms, before_ms, tenant, limit)
        rows = await self._read(lambda con: con.execute(_st.expiring_codes, params).fetchall())
        return [ExpiringCode(r[0], r[1], int(r[2]), int(r[3])) for r in rows]

    async def tenants_with_expiring_codes(
        self, now_ms: int, before_ms: int, limit: int
    ) -> list[str]:
        params = (now_ms, before_ms, limit)
        rows = await self._read(
            lambda con: con.execute(_st.tenants_with_expiring_codes, params).fetchall()
        )
        return [r[0] for r in rows]

    async def load_fx_rates(self, tenant: str) -> list[FxRate]:
        rows = await self._read(lambda con: con.execute(_st.select_fx_rates, (tenant,)).fetchall())
        return [sql.fx_from_row(r) for r in rows]
