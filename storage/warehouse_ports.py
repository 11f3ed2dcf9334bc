"""The warehouse port: a star schema for reporting, loaded from ``PB_EVENTS``.

The loader hands the warehouse batches of events with their stream sequence. A batch is
applied in ONE transaction that also advances the stored sequence (table ``wh_loaded``),
and events at or below the stored sequence are skipped: a batch sent twice, or again
after a crash between the commit and the loader noticing it, counts once. That is the
whole of exactly-once; nothing else (no unique key, which Redshift would not enforce)
is relied on.

Star schema (``storage/warehouse_sql.py``): dimensions ``dim_tenant``, ``dim_day``,
``dim_budget``, ``dim_product``; facts ``fact_order`` (one row per order, its latest
status), ``fact_reward`` (one row per reward issued) and ``fact_ledger_day`` (debit and
credit sums per day, tenant, account and currency). Adapters: DuckDB (embedded,
``storage/duckdb_warehouse.py``) and PostgreSQL/Redshift wire (asyncpg,
``storage/postgres_warehouse.py``).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date
from typing import Protocol

import msgspec

from bus.events import CloudEvent
from bus.messages.reports import DaySummary, ProductSales
from storage.errors import StorageError

#: The stream the warehouse loads; the key of its row in ``wh_loaded``.
STREAM = "PB_EVENTS"


class SequencedEvent(msgspec.Struct, frozen=True):
    """One message of ``PB_EVENTS``: its stream sequence and the event it carries."""

    sequence: int
    event: CloudEvent


class ConcurrentLoad(StorageError):
    """Another loader advanced the stored sequence while this batch was applied: the
    batch was rolled back; read ``last_sequence()`` again and go on from there."""


class Warehouse(Protocol):
    name: str

    async def migrate(self) -> None:
        """Create the schema (idempotent)."""
        ...

    async def ping(self) -> None: ...

    async def close(self) -> None: ...

    async def last_sequence(self) -> int:
        """The stream sequence of the last event applied (0: none yet)."""
        ...

    async def apply(self, batch: Sequence[SequencedEvent]) -> int:
        """Apply the events above the stored sequence, in one transaction that stores
        the batch's highest sequence; returns the sequence stored after it."""
        ...

    async def daily_summary(self, tenant: str, first: date, last: date) -> list[DaySummary]:
        """One entry per day of ``first``..``last`` with anything in it, in day order."""
        ...

    async def top_products(
        self, tenant: str, first: date, last: date, limit: int
    ) -> list[ProductSales]:
        """Fulfilled orders placed in the range, by product and currency, most first."""
        ...
