"""GraphQL for reading funding: the tenant's funding accounts in pages and one account's
history (operations shared with REST, in :mod:`edge.funding_reads`)."""

from __future__ import annotations

from typing import Annotated

import strawberry

from bus.messages import Err
from edge import funding_reads
from edge.graphql.common import AnyError, GqlInfo, Money, caller, error, invalid, money, page_query
from edge.graphql.money import FundingAccount, funding
from edge.validation import Invalid, convert


@strawberry.type
class FundingAccountList:
    funding_accounts: list[FundingAccount]
    #: Pass as ``after`` for the next page; null on the last page.
    next_cursor: str | None


@strawberry.type
class FundingMovement:
    id: strawberry.ID
    at: str
    #: In (positive: a deposit) or out (negative: an allocation).
    amount: Money
    kind: str
    balance_after: Money
    #: The budget an allocation went to; null otherwise.
    budget_id: strawberry.ID | None


@strawberry.type
class FundingHistory:
    entries: list[FundingMovement]
    next_cursor: str | None


FundingAccountListResult = Annotated[
    FundingAccountList | AnyError, strawberry.union("FundingAccountListResult")
]
FundingHistoryResult = Annotated[
    FundingHistory | AnyError, strawberry.union("FundingHistoryResult")
]


async def list_funding(
    info: GqlInfo, first: int = 20, after: str | None = None
) -> FundingAccountListResult:
    try:
        query = convert(page_query(first, after), funding_reads.FundingPageQuery)
    except Invalid as e:
        return invalid(e, "fundingAccounts")
    result = await funding_reads.list_funding(caller(info), query)
    if isinstance(result, Err):
        return error(result)
    accounts = [funding(a) for a in result.funding_accounts]
    return FundingAccountList(funding_accounts=accounts, next_cursor=result.next_cursor)


async def funding_history(
    info: GqlInfo, account_id: strawberry.ID, first: int = 20, after: str | None = None
) -> FundingHistoryResult:
    try:
        query = convert(page_query(first, after), funding_reads.FundingPageQuery)
    except Invalid as e:
        return invalid(e, "fundingAccountHistory")
    result = await funding_reads.funding_history(caller(info), str(account_id), query)
    if isinstance(result, Err):
        return error(result)
    entries = [
        FundingMovement(
            id=strawberry.ID(e.id),
            at=e.at,
            amount=money(e.amount),
            kind=e.kind,
            balance_after=money(e.balance_after),
            budget_id=strawberry.ID(e.budget_id) if e.budget_id else None,
        )
        for e in result.entries
    ]
    return FundingHistory(entries=entries, next_cursor=result.next_cursor)
