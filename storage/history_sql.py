"""The history queries of the relational ledger adapters: pages of orders and of one
account's entries, newest first, resumed after a position (keyset pagination, so a page
costs the same at the end of a long history as at its start).

Each function returns the statement (with the driver's ``placeholder``) and its
parameters, so SQLite and MySQL run exactly the same query.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from storage.ports import AccountLine, BulkJobRecord, OrderRecord, StatementLine
from storage.sql import (
    BULK_JOB_COLUMNS,
    NOT_FULFILLED,
    ORDER_COLUMNS,
    Statements,
    account_line_from_row,
    bulk_job_from_row,
    order_from_row,
)


def _one_of(
    column: str, values: Sequence[str], p: str, where: list[str], params: list[Any]
) -> None:
    """``column`` is one of ``values`` (none: no row is)."""
    if not values:
        where.append("1 = 0")
    else:
        where.append(f"{column} IN ({', '.join([p] * len(values))})")
        params.extend(values)


def order_page(
    placeholder: str,
    tenant: str,
    limit: int,
    before: tuple[int, str] | None,
    recipient: str | None,
    status: str | None,
    payers: Sequence[str] | None,
    since_ms: int = 0,
    until_ms: int = 0,
) -> tuple[str, tuple[Any, ...]]:
    p = placeholder
    where = [f"tenant_id = {p}"]
    params: list[Any] = [tenant]
    # One upper bound on the time, the tighter of the range's end and the page's start:
    # with two, a database bounds its scan of the index by one and filters by the other,
    # and each page deep in a long history walks past every newer order again.
    upper = min(until_ms or 2**63 - 1, before[0] + 1 if before is not None else 2**63 - 1)
    if since_ms:
        where.append(f"created_ms >= {p}")
        params.append(since_ms)
    if upper < 2**63 - 1:
        where.append(f"created_ms < {p}")
        params.append(upper)
    if recipient is not None:
        where.append(f"recipient = {p}")
        params.append(recipient)
    if status is not None:
        where.append(f"status = {p}")
        params.append(status)
        if status != "fulfilled":  # the partial index of the other statuses (migration 23)
            where.append(NOT_FULFILLED)
    if payers is not None:
        _one_of("payer", payers, p, where, params)
    if before is not None:
        where.append(f"(created_ms < {p} OR order_id < {p})")
        params.extend((before[0], before[1]))
    params.append(limit)
    # MariaDB reads the tenant's orders newest first from the start of its index entries
    # (stopping, it expects, after a page) rather than the range of time, when the range
    # holds many: a page in the middle of a long export then walks past every newer order.
    # By recipient or status, its own index is the better one; SQLite picks the range.
    by_time = p == "%s" and recipient is None and status is None
    table = "orders FORCE INDEX (orders_created)" if by_time else "orders"
    statement = (
        f"SELECT {ORDER_COLUMNS} FROM {table} WHERE {' AND '.join(where)}"
        f" ORDER BY created_ms DESC, order_id DESC LIMIT {p}"
    )
    return statement, tuple(params)


def bulk_job_page(
    placeholder: str,
    tenant: str,
    limit: int,
    before: tuple[int, str] | None,
    status: str | None,
    budget_ids: Sequence[str] | None,
) -> tuple[str, tuple[Any, ...]]:
    p = placeholder
    where = [f"tenant_id = {p}"]
    params: list[Any] = [tenant]
    if status is not None:
        where.append(f"status = {p}")
        params.append(status)
    if budget_ids is not None:
        _one_of("budget_id", budget_ids, p, where, params)
    if before is not None:
        where.append(f"(created_ms < {p} OR (created_ms = {p} AND job_id < {p}))")
        params.extend((before[0], before[0], before[1]))
    params.append(limit)
    statement = (
        f"SELECT {BULK_JOB_COLUMNS} FROM bulk_jobs WHERE {' AND '.join(where)}"
        f" ORDER BY created_ms DESC, job_id DESC LIMIT {p}"
    )
    return statement, tuple(params)


def account_lines(
    placeholder: str, tenant: str, account: str, limit: int, before_entry: int | None
) -> tuple[str, tuple[Any, ...]]:
    p = placeholder
    where = f"tenant_id = {p} AND account = {p}"
    params: list[Any] = [tenant, account]
    if before_entry is not None:
        where += f" AND entry_id < {p}"
        params.append(before_entry)
    params.append(limit)
    statement = (
        "SELECT entry_id, txn_id, amount_minor, currency, created_ms FROM ledger_entries"
        f" WHERE {where} ORDER BY entry_id DESC LIMIT {p}"
    )
    return statement, tuple(params)


#: How far from an entry the other entries of its transaction are looked for. A change
#: set's entries are written one after another in one transaction (a move's two entries
#: next to each other), so the other side of a move is the entry beside it, or a few
#: places away on a server that steps its auto-increments (a cluster of several writers).
NEAR = 8


def entries_near(
    placeholder: str, tenant: str, entry_ids: Sequence[int]
) -> tuple[str, tuple[Any, ...]]:
    """The entries within :data:`NEAR` places of these, by primary key: a statement's
    other side is found without an index of entries by transaction (dropped for the
    burst's sake, migration 25)."""
    p = placeholder
    ranges: list[list[int]] = []
    for entry_id in sorted(entry_ids):
        if ranges and entry_id - NEAR <= ranges[-1][1] + 1:
            ranges[-1][1] = entry_id + NEAR
        else:
            ranges.append([entry_id - NEAR, entry_id + NEAR])
    where = " OR ".join([f"entry_id BETWEEN {p} AND {p}"] * len(ranges))
    # SQLite would rather walk the tenant's index of accounts (every entry of the
    # tenant) than the key's ranges: ``+`` keeps it off that index. MySQL picks the key.
    tenant_column = "+tenant_id" if p == "?" else "tenant_id"
    statement = (
        "SELECT entry_id, txn_id, account FROM ledger_entries"
        f" WHERE {tenant_column} = {p} AND ({where})"
    )
    return statement, (tenant, *(bound for r in ranges for bound in r))


def balance_through(
    placeholder: str, tenant: str, account: str, entry_id: int
) -> tuple[str, tuple[Any, ...]]:
    """The account's balance once entry ``entry_id`` was written."""
    p = placeholder
    statement = (
        "SELECT COALESCE(SUM(amount_minor), 0) FROM ledger_entries"
        f" WHERE tenant_id = {p} AND account = {p} AND entry_id <= {p}"
    )
    return statement, (tenant, account, entry_id)


class HistoryReads:
    """How both adapters read histories: the same queries, run by the adapter's
    ``_fetchall`` with its driver's placeholder."""

    _statements: Statements

    async def _fetchall(self, statement: str, params: tuple[Any, ...]) -> list[Any]:
        raise NotImplementedError

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
        statement, params = order_page(
            self._statements.placeholder,
            tenant,
            limit,
            before,
            recipient,
            status,
            payers,
            since_ms,
            until_ms,
        )
        return [order_from_row(r) for r in await self._fetchall(statement, params)]

    async def list_bulk_jobs(
        self,
        tenant: str,
        limit: int,
        before: tuple[int, str] | None = None,
        status: str | None = None,
        budget_ids: Sequence[str] | None = None,
    ) -> list[BulkJobRecord]:
        statement, params = bulk_job_page(
            self._statements.placeholder, tenant, limit, before, status, budget_ids
        )
        return [bulk_job_from_row(r) for r in await self._fetchall(statement, params)]

    async def account_lines(
        self, tenant: str, account: str, limit: int, before_entry: int | None = None
    ) -> list[AccountLine]:
        statement, params = account_lines(
            self._statements.placeholder, tenant, account, limit, before_entry
        )
        return [account_line_from_row(r) for r in await self._fetchall(statement, params)]

    async def account_statement(
        self, tenant: str, account: str, limit: int, before_entry: int | None = None
    ) -> list[StatementLine]:
        """Three reads: the page, the entries near each of its own (where the other side of
        its transaction is, :data:`NEAR`), and the balance at its newest entry; the balance
        after each older one is walked back from there (an entry written meanwhile comes
        after the page, and is not counted)."""
        lines = await self.account_lines(tenant, account, limit, before_entry)
        if not lines:
            return []
        p = self._statements.placeholder
        near = await self._fetchall(*entries_near(p, tenant, [line.entry_id for line in lines]))
        newest = lines[0].entry_id
        [(balance,)] = await self._fetchall(*balance_through(p, tenant, account, newest))
        statement: list[StatementLine] = []
        balance = int(balance)
        for line in lines:
            others = {
                str(other)
                for entry_id, txn_id, other in near
                if txn_id == line.txn_id
                and other != account
                and abs(int(entry_id) - line.entry_id) <= NEAR
            }
            counterpart = others.pop() if len(others) == 1 else ""
            statement.append(StatementLine(line, counterpart, balance))
            balance -= line.amount_minor
        return statement
