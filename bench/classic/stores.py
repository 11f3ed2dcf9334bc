"""The port the HTTP handler, the seeding and the invariant checker use, and the one place
that picks a backend from a URL (``sqlite:PATH`` or ``mysql://user@host:port/db``)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any, Protocol

from bench.classic.orders import Draft, Outcome

SCHEMA_DIR = Path(__file__).resolve().parent / "schema"
#: Dropped by ``--reset`` (then created again from the schema file).
TABLES = (
    "idempotency_replies",
    "outbox",
    "orders",
    "voucher_codes",
    "ledger_entries",
    "budgets",
    "products",
    "tenant_keys",
)


class OrderStore(Protocol):
    """A database holding budgets, codes and orders. Statements use ``?`` placeholders."""

    async def open(self) -> None:
        """Connect (all of a pool's connections) before the first order."""
        ...

    async def create_schema(self, reset: bool = False) -> None: ...

    async def place(self, d: Draft) -> Outcome:
        """Fulfil the order in one transaction, or refuse it having written nothing."""
        ...

    async def fetchall(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]: ...

    async def executemany(self, sql: str, rows: Sequence[Sequence[Any]]) -> None:
        """Run ``sql`` once per row, all in one transaction."""
        ...

    async def close(self) -> None: ...


def schema_statements(dialect: str) -> list[str]:
    """The statements of ``schema/<dialect>.sql``, comments left out."""
    text = (SCHEMA_DIR / f"{dialect}.sql").read_text()
    lines = [line for line in text.splitlines() if not line.lstrip().startswith("--")]
    return [s.strip() for s in "\n".join(lines).split(";") if s.strip()]


def open_store(
    url: str, pool_size: int = 16, sqlite_synchronous: str = "FULL", batched: bool = True
) -> OrderStore:
    if url.startswith("sqlite:"):
        from bench.classic.sqlite_store import SqliteStore

        return SqliteStore(url.removeprefix("sqlite:"), sqlite_synchronous)
    if url.startswith(("mysql://", "mariadb://")):
        from bench.classic.mysql_store import MysqlStore

        return MysqlStore(url, pool_size, batched)
    raise ValueError(f"--db must be sqlite:PATH or mysql://…, not {url!r}")
