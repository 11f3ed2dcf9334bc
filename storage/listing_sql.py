"""The listing queries of the relational ledger adapters: a tenant's budgets and funding
accounts by id and its voucher pools by (product, face value), resumed after a position (keyset
pagination, so a page costs the same at the end of a long list as at its start).

Each function returns the statement (with the driver's ``placeholder``) and its
parameters, so SQLite and MySQL run exactly the same query. Both compare ids as bytes:
SQLite's default collation, and MySQL's ``utf8mb4_bin`` (migrations), as Python does.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from storage.ports import AccountRecord
from storage.sql import ACCOUNT_COLUMNS, Statements, account_from_row


def account_page(
    placeholder: str,
    tenant: str,
    kind: str,
    limit: int,
    after: str,
    ids: Sequence[str] | None = None,
) -> tuple[str, tuple[Any, ...]]:
    """Accounts of ``kind`` (``budget``, ``funding``) are ``<kind>:<id>``: a range of the
    primary key, ``<kind>:`` (the ids after it) up to ``<kind>;`` (``;`` follows ``:``)."""
    p = placeholder
    where = [f"tenant_id = {p}", f"account_id > {p}", f"account_id < {p}", f"kind = {p}"]
    params: list[Any] = [tenant, f"{kind}:{after}", f"{kind};", kind]
    if ids is not None:
        if not ids:
            where.append("1 = 0")
        else:
            where.append(f"account_id IN ({', '.join([p] * len(ids))})")
            params.extend(f"{kind}:{i}" for i in ids)
    params.append(limit)
    statement = (
        f"SELECT {ACCOUNT_COLUMNS} FROM accounts WHERE {' AND '.join(where)}"
        f" ORDER BY account_id LIMIT {p}"
    )
    return statement, tuple(params)


def pool_page(
    placeholder: str, tenant: str, limit: int, after: tuple[str, int] | None
) -> tuple[str, tuple[Any, ...]]:
    """Pools are the distinct (product, face value) of the tenant's codes, read from the
    index of every code by pool (``voucher_codes_pool_size`` in SQLite, the pool index in
    MySQL). After a position, the range starts at its product (an ``OR`` of the two
    comparisons would scan the tenant's codes from the first)."""
    p = placeholder
    where = f"tenant_id = {p}"
    params: list[Any] = [tenant]
    if after is not None:
        where += f" AND product_id >= {p} AND (product_id > {p} OR face_value_minor > {p})"
        params.extend((after[0], after[0], after[1]))
    params.append(limit)
    statement = (
        f"SELECT product_id, face_value_minor FROM voucher_codes WHERE {where}"
        f" GROUP BY product_id, face_value_minor ORDER BY product_id, face_value_minor LIMIT {p}"
    )
    return statement, tuple(params)


class ListingReads:
    """How both adapters read listings: the same queries, run by the adapter's
    ``_fetchall`` with its driver's placeholder."""

    _statements: Statements

    async def _fetchall(self, statement: str, params: tuple[Any, ...]) -> list[Any]:
        raise NotImplementedError

    async def list_budgets(
        self, tenant: str, limit: int, after: str = "", budget_ids: Sequence[str] | None = None
    ) -> list[AccountRecord]:
        statement, params = account_page(
            self._statements.placeholder, tenant, "budget", limit, after, budget_ids
        )
        return [account_from_row(r) for r in await self._fetchall(statement, params)]

    async def list_funding_accounts(
        self, tenant: str, limit: int, after: str = ""
    ) -> list[AccountRecord]:
        statement, params = account_page(
            self._statements.placeholder, tenant, "funding", limit, after
        )
        return [account_from_row(r) for r in await self._fetchall(statement, params)]

    async def list_pools(
        self, tenant: str, limit: int, after: tuple[str, int] | None = None
    ) -> list[tuple[str, int]]:
        statement, params = pool_page(self._statements.placeholder, tenant, limit, after)
        return [(str(r[0]), int(r[1])) for r in await self._fetchall(statement, params)]
