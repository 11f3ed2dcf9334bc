"""A tenant's budgets and voucher pools, a page at a time, once for REST and GraphQL.

Budgets come by id, pools by product and face value, each in the shape its single read
gives. A page ends with an opaque ``next_cursor`` (null on the last page) to send back
as ``cursor``. Who may list is who may read one: the treasury shows a principal with
grants only the budgets they name (ADR 19); the pools are the whole tenant's.
"""

from __future__ import annotations

import msgspec

from bus.errors import ErrorCode
from bus.messages import Err, treasury, vouchers
from bus.messages.budget import BudgetPage, ListBudgets
from bus.messages.common import Cursor, PageSize
from bus.messages.vouchers import ListPools, PoolPage
from bus.scopes import SCOPE_READ, SCOPE_VOUCHERS
from edge.operations import Caller, budget_out, call, missing_scope, pool_out
from edge.schemas import BudgetOut, PoolOut


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
    if denied := missing_scope(caller, SCOPE_READ):
        return denied
    command = ListBudgets(query.limit, query.cursor or "")
    value = await call(caller, treasury.KIND, command, keyed=False)
    if isinstance(value, Err):
        return value
    if not isinstance(value, BudgetPage):
        return Err.of(ErrorCode.INTERNAL, f"unexpected reply {type(value).__name__}")
    return BudgetListOut([budget_out(b) for b in value.budgets], value.next_cursor or None)


async def list_pools(caller: Caller, query: PageQuery) -> PoolListOut | Err:
    if denied := missing_scope(caller, SCOPE_VOUCHERS):
        return denied
    command = ListPools(query.limit, query.cursor or "")
    value = await call(caller, vouchers.KIND, command, keyed=False)
    if isinstance(value, Err):
        return value
    if not isinstance(value, PoolPage):
        return Err.of(ErrorCode.INTERNAL, f"unexpected reply {type(value).__name__}")
    return PoolListOut([pool_out(p) for p in value.pools], value.next_cursor or None)
