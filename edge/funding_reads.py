"""The tenant's funding accounts, a page at a time, and one account's history (deposits
and allocations, each with the balance after it): once for REST and GraphQL.

Funding is the whole tenant's money: these need ``funding:read`` (owner, admin, finance,
auditor) and a principal not narrowed to some budgets, checked here before any bus
request and again by the treasury and the history actor.
"""

from __future__ import annotations

import msgspec

from bus.errors import ErrorCode
from bus.messages import Err, history, treasury
from bus.messages.common import Cursor, Money, PageSize
from bus.messages.funding import FundingId, FundingPage, ListFunding
from bus.messages.history import (
    FundingEntryKind,
    FundingHistory,
    FundingHistoryPage,
    FundingMovement,
)
from bus.time import rfc3339
from edge.operations import Caller, call, funding_out, funding_readers_only, reply_as
from edge.schemas import FundingOut

_NO_ACCOUNT = "no funding account has that id"


class FundingPageQuery(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """The query string of ``GET /api/v1/funding-accounts`` and of an account's history."""

    limit: PageSize = 20
    cursor: Cursor | None = None


class FundingListOut(msgspec.Struct, frozen=True):
    funding_accounts: list[FundingOut]
    #: Send it back as ``cursor`` for the next page; null on the last page.
    next_cursor: str | None


class FundingEntryOut(msgspec.Struct, frozen=True):
    #: The ledger transaction: the deposit's or the allocation's id.
    id: str
    at: str
    #: In (positive: a deposit) or out (negative: an allocation).
    amount: Money
    kind: FundingEntryKind
    #: The account's balance once this movement was made.
    balance_after: Money
    #: The budget an allocation went to; null otherwise.
    budget_id: str | None


class FundingHistoryOut(msgspec.Struct, frozen=True):
    entries: list[FundingEntryOut]
    #: Send it back as ``cursor`` for the next (older) page; null on the last page.
    next_cursor: str | None


def funding_entry_out(m: FundingMovement) -> FundingEntryOut:
    return FundingEntryOut(
        m.txn_id, rfc3339(m.at_ms), m.amount, m.kind, m.balance_after, m.budget_id or None
    )


async def list_funding(caller: Caller, query: FundingPageQuery) -> FundingListOut | Err:
    if denied := funding_readers_only(caller):
        return denied
    command = ListFunding(query.limit, query.cursor or "")
    page = reply_as(await call(caller, treasury.KIND, command, keyed=False), FundingPage)
    if isinstance(page, Err):
        return page
    return FundingListOut([funding_out(a) for a in page.accounts], page.next_cursor or None)


async def funding_history(
    caller: Caller, account_id: str, query: FundingPageQuery
) -> FundingHistoryOut | Err:
    if denied := funding_readers_only(caller):
        return denied
    try:
        checked = msgspec.convert(account_id, FundingId)
    except msgspec.ValidationError:  # an id that cannot be an account's is simply not found
        return Err.of(ErrorCode.NOT_FOUND, _NO_ACCOUNT)
    command = FundingHistory(checked, query.limit, query.cursor or "")
    page = reply_as(await call(caller, history.KIND, command, keyed=False), FundingHistoryPage)
    if isinstance(page, Err):
        return page
    entries = [funding_entry_out(m) for m in page.entries]
    return FundingHistoryOut(entries, page.next_cursor or None)
