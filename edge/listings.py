"""A tenant's budgets and voucher pools, a page at a time, once for REST and GraphQL.

Budgets come by id, pools by product and face value, each in the shape its single read
gives. A page ends with an opaque ``next_cursor`` (null on the last page) to send back
as ``cursor``. Who may list is who may read one: the treasury shows a principal with
grants only the budgets they name (ADR 19); the pools are the whole tenant's.
"""

from __future__ import annotations

from typing import TypeVar

import msgspec

from bus.errors import ErrorCode
from bus.messages import Err, treasury, vouchers
from bus.messages.budget import BudgetPage, ListBudgets
from bus.messages.common import Cursor, PageSize
from bus.messages.vouchers import ListPools, PoolPage
from bus.scopes import SCOPE_READ, SCOPE_VOUCHERS
from edge.operations import Caller, budget_out, call, missing_scope, pool_out
from edge.schemas import BudgetOut, PoolOut

P = TypeVar("P", BudgetPage, PoolPage)


class PageQuery(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """The query string of ``GET /api/v1/budgets`` and ``GET /api/v1/vouchers/pools``."""

    limit: PageSize = 20
    cursor: Cursor | None = None


class BudgetListOut(msgspec.Struct, frozen=True):
    budgets: list[BudgetOut]
    #: Send it back as ``cursor`` for the next page; null on the last page.
    next_cursor: str | None


class PoolListOut(msgspec.Struct, frozen=True):
    pools: list[PoolOut]
    #: Send it back as ``cursor`` for the next page; null on the last page.
    next_cursor: str | None


async def list_budgets(caller: Caller, query: PageQuery) -> BudgetListOut | Err:
    command = ListBudgets(query.limit, query.cursor or "")
    page = await _page(caller, SCOPE_READ, treasury.KIND, command, BudgetPage)
    if isinstance(page, Err):
        return page
    return BudgetListOut([budget_out(b) for b in page.budgets], page.next_cursor or None)


async def list_pools(caller: Caller, query: PageQuery) -> PoolListOut | Err:
    command = ListPools(query.limit, query.cursor or "")
    page = await _page(caller, SCOPE_VOUCHERS, vouchers.KIND, command, PoolPage)
    if isinstance(page, Err):
        return page
    return PoolListOut([pool_out(p) for p in page.pools], page.next_cursor or None)


async def _page(
    caller: Caller, scope: str, kind: str, command: ListBudgets | ListPools, page: type[P]
) -> P | Err:
    """One page from the actor that owns the listing, for a caller with ``scope``."""
    if denied := missing_scope(caller, scope):
        return denied
    value = await call(caller, kind, command, keyed=False)
    if isinstance(value, (Err, page)):
        return value
    return Err.of(ErrorCode.INTERNAL, f"unexpected reply {type(value).__name__}")
