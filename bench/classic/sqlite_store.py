"""The classic baseline on SQLite, the embedded default: one writer.

One connection, driven from one dedicated thread, opened as perkbus opens its ledger
(``storage.sqlite_db.connect``: WAL mode, the same page cache, memory map and checkpoint
interval) with perkbus's default durability (``synchronous=FULL``: every commit is on disk
before the answer). Each order is its own ``BEGIN IMMEDIATE`` … ``COMMIT``: the write lock
is taken first, so the reads inside see the state they write over — SQLite's equivalent of
row locks. The thread keeps the event loop free while a commit waits for the disk.
"""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from bench.classic import orders as o
from bench.classic.orders import Draft, Outcome, Placed
from bench.classic.stores import TABLES, schema_statements
from storage.sqlite_db import connect

_SELECT_CODE = (
    "SELECT code_id FROM voucher_codes WHERE tenant_id = ? AND product_id = ?"
    " AND face_value_minor = ? AND status = 'available' AND expires_ms > ?"
    " AND status <> 'allocated'"  # the partial index's condition, or SQLite cannot use it
    " ORDER BY expires_ms, code_id LIMIT 1"
)
_SELECT_BUDGET = "SELECT currency, balance_minor FROM budgets WHERE tenant_id = ? AND budget_id = ?"


class SqliteStore:
    def __init__(self, path: str | Path, synchronous: str = "FULL") -> None:
        self.path = Path(path)
        self.synchronous = synchronous
        self._thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="classic-sqlite")
        self._con: sqlite3.Connection | None = None

    def _connection(self) -> sqlite3.Connection:
        if self._con is None:
            self._con = connect(self.path, self.synchronous)
        return self._con

    async def _run(self, fn: Any, *args: Any) -> Any:
        return await asyncio.get_running_loop().run_in_executor(self._thread, fn, *args)

    async def open(self) -> None:
        await self._run(self._connection)

    async def create_schema(self, reset: bool = False) -> None:
        def create() -> None:
            con = self._connection()
            if reset:
                for table in TABLES:
                    con.execute(f"DROP TABLE IF EXISTS {table}")
            for statement in schema_statements("sqlite"):
                con.execute(statement)

        await self._run(create)

    async def place(self, d: Draft) -> Outcome:
        outcome: Outcome = await self._run(self._place, d)
        return outcome

    def _place(self, d: Draft) -> Outcome:
        con = self._connection()
        con.execute("BEGIN IMMEDIATE")
        try:
            outcome = self._steps(con, d)
            if isinstance(outcome, Placed) and not outcome.replayed:
                con.execute("COMMIT")
                return outcome
        except BaseException:
            if con.in_transaction:
                con.execute("ROLLBACK")
            raise
        con.execute("ROLLBACK")
        return outcome

    @staticmethod
    def _steps(con: sqlite3.Connection, d: Draft) -> Outcome:
        """The order's statements. The write lock is held from the first, so unlike the
        MariaDB store there is no lock worth taking late: the reads come first (a used key
        answers before anything is looked up), then the writes."""
        t = d.tenant
        for claim in d.claims:
            stored = con.execute(o.SELECT_REPLY, (t, claim.key_hash)).fetchone()
            if stored is not None:
                return o.replay(claim, stored)
        row = con.execute(o.SELECT_PRODUCT, (t, d.product_id)).fetchone()
        if row is None:
            return o.no_product(d)
        product = o.product_from_row(row)
        if refused := product.refusal(d):
            return refused
        code = con.execute(_SELECT_CODE, (t, d.product_id, d.face_value_minor, d.now_ms)).fetchone()
        if code is None:
            return o.out_of_stock(d)
        f = o.fulfil(d, product, code[0])
        budget = con.execute(_SELECT_BUDGET, (t, d.budget_id)).fetchone()
        if (refused := o.budget_refusal(d, product, budget, f.price_minor)) is not None:
            return refused
        con.execute(o.ALLOCATE_CODE, f.code)
        con.execute(o.INSERT_ORDER, f.order)
        con.execute(o.INSERT_ENTRIES, f.entries)
        con.execute(o.INSERT_EVENT, f.event)
        for reply in f.replies:
            con.execute(o.INSERT_REPLY, reply)
        con.execute(o.DEBIT_BUDGET, (f.price_minor, d.now_ms, t, d.budget_id))
        return Placed(201, f.body, d.order_id)

    async def fetchall(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        def fetch() -> list[tuple[Any, ...]]:
            return self._connection().execute(sql, tuple(params)).fetchall()

        rows: list[tuple[Any, ...]] = await self._run(fetch)
        return rows

    async def executemany(self, sql: str, rows: Sequence[Sequence[Any]]) -> None:
        def write() -> None:
            con = self._connection()
            con.execute("BEGIN IMMEDIATE")
            try:
                con.executemany(sql, rows)
            except BaseException:
                con.execute("ROLLBACK")
                raise
            con.execute("COMMIT")

        await self._run(write)

    async def close(self) -> None:
        def close() -> None:
            if self._con is not None:
                self._con.close()
                self._con = None

        await self._run(close)
        self._thread.shutdown(wait=True)
