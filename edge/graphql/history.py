"""GraphQL for a person's history: their orders and their wallet's movements
(operations shared with REST, in :mod:`edge.history`)."""

from __future__ import annotations

from typing import Annotated

import strawberry

from bus.messages import Err
from edge import history
from edge.graphql.common import AnyError, GqlInfo, Long, caller, error, invalid
from edge.graphql.orders import Order, order
from edge.validation import Invalid, convert


@strawberry.type
class OrderList:
    orders: list[Order]
    #: Pass as ``after`` for the next (older) page; null on the last page.
    next_cursor: str | None


@strawberry.type
class WalletMovement:
    id: strawberry.ID
    at: str
    points: Long
    kind: str
    description: str
    order_id: strawberry.ID | None
    product_id: strawberry.ID | None


@strawberry.type
class WalletHistory:
    entries: list[WalletMovement]
    next_cursor: str | None


OrderListResult = Annotated[OrderList | AnyError, strawberry.union("OrderListResult")]
WalletHistoryResult = Annotated[WalletHistory | AnyError, strawberry.union("WalletHistoryResult")]


def _query(raw: dict[str, object], after: str | None) -> dict[str, object]:
    if after is not None:
        raw["cursor"] = after
    return {k: v for k, v in raw.items() if v is not None}


async def list_orders(
    info: GqlInfo,
    recipient: strawberry.ID | None = None,
    status: str | None = None,
    first: int = 20,
    after: str | None = None,
) -> OrderListResult:
    raw: dict[str, object] = {"recipient": recipient, "status": status, "limit": first}
    try:
        query = convert(_query(raw, after), history.OrdersQuery)
    except Invalid as e:
        return invalid(e, "orders")
    result = await history.list_orders(caller(info), query)
    if isinstance(result, Err):
        return error(result)
    return OrderList(orders=[order(o) for o in result.orders], next_cursor=result.next_cursor)


async def wallet_history(
    info: GqlInfo, person_id: strawberry.ID, first: int = 20, after: str | None = None
) -> WalletHistoryResult:
    try:
        query = convert(_query({"limit": first}, after), history.HistoryQuery)
    except Invalid as e:
        return invalid(e, "walletHistory")
    result = await history.wallet_history(caller(info), str(person_id), query)
    if isinstance(result, Err):
        return error(result)
    entries = [
        WalletMovement(
            id=strawberry.ID(e.id),
            at=e.at,
            points=Long(e.points),
            kind=e.kind,
            description=e.description,
            order_id=strawberry.ID(e.order_id) if e.order_id else None,
            product_id=strawberry.ID(e.product_id) if e.product_id else None,
        )
        for e in result.entries
    ]
    return WalletHistory(entries=entries, next_cursor=result.next_cursor)
