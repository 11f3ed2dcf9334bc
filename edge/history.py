"""A person's history, once for REST and GraphQL: their orders and their wallet's
movements (rewards received, redemptions, refunds), newest first, a page at a time.

An end user sees only their own: ``recipient`` is forced to them when left out, and
another person's is refused here (403, recorded in the audit log) before any bus
request — and again by the history actor, which also narrows staff with grants to the
orders their budgets paid (ADR 19).
"""

from __future__ import annotations

import msgspec

from bus.errors import ErrorCode
from bus.messages import Err
from bus.messages.common import Cursor, PageSize
from bus.messages.history import (
    KIND,
    OTHERS_ORDERS_READERS,
    OTHERS_WALLETS_READERS,
    EntryKind,
    ListOrders,
    OrderPage,
    WalletHistory,
    WalletMovement,
    WalletPage,
)
from bus.messages.orders import OrderStatus
from bus.messages.wallet import PersonId
from bus.scopes import SCOPE_ORDERS_READ, SCOPE_WALLETS
from bus.time import rfc3339
from edge.operations import (
    Caller,
    call,
    missing_scope,
    order_out,
    refused,
    valid_person_id,
)
from edge.schemas import OrderOut


class OrdersQuery(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """The query string of ``GET /api/v1/orders``."""

    recipient: PersonId | None = None
    status: OrderStatus | None = None
    limit: PageSize = 20
    cursor: Cursor | None = None


class HistoryQuery(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """The query string of ``GET /api/v1/wallets/{person_id}/history``."""

    limit: PageSize = 20
    cursor: Cursor | None = None


class OrderListOut(msgspec.Struct, frozen=True):
    orders: list[OrderOut]
    #: Send it back as ``cursor`` for the next (older) page; null on the last page.
    next_cursor: str | None


class HistoryEntryOut(msgspec.Struct, frozen=True):
    #: The ledger transaction that moved the points.
    id: str
    at: str
    #: Points in (positive) or out (negative).
    points: int
    kind: EntryKind
    #: An English line for the movement; apps show their own words for ``kind``.
    description: str
    #: The order of a redemption or refund; null for a reward.
    order_id: str | None
    #: The product of that order; null when there is none.
    product_id: str | None = None


class WalletHistoryOut(msgspec.Struct, frozen=True):
    entries: list[HistoryEntryOut]
    next_cursor: str | None


def _description(m: WalletMovement) -> str:
    match m.kind:
        case "reward":
            return "Points received"
        case "redemption":
            return f"Redeemed {m.product_id}" if m.product_id else "Redeemed"
        case "refund":
            return f"Refund of order {m.order_id}"
        case _:
            return "Adjustment"


def entry_out(m: WalletMovement) -> HistoryEntryOut:
    return HistoryEntryOut(
        m.txn_id,
        rfc3339(m.at_ms),
        m.points,
        m.kind,
        _description(m),
        m.order_id or None,
        m.product_id or None,
    )


def _refuse(caller: Caller, why: str) -> Err:
    refused(caller, why)
    return Err.of(ErrorCode.FORBIDDEN, why)


async def list_orders(caller: Caller, query: OrdersQuery) -> OrderListOut | Err:
    if denied := missing_scope(caller, SCOPE_ORDERS_READ):
        return denied
    principal = caller.identity.principal
    recipient = query.recipient
    if not OTHERS_ORDERS_READERS & set(principal.roles):
        if recipient not in (None, principal.subject):
            return _refuse(caller, "a person sees only their own orders")
        recipient = principal.subject
    command = ListOrders(recipient, query.status, query.limit, query.cursor or "")
    value = await call(caller, KIND, command, keyed=False)
    if isinstance(value, Err):
        return value
    if not isinstance(value, OrderPage):
        return Err.of(ErrorCode.INTERNAL, f"unexpected reply {type(value).__name__}")
    return OrderListOut([order_out(o) for o in value.orders], value.next_cursor or None)


async def wallet_history(
    caller: Caller, person_id: str, query: HistoryQuery
) -> WalletHistoryOut | Err:
    if denied := missing_scope(caller, SCOPE_WALLETS):
        return denied
    checked = valid_person_id(person_id)
    if checked is None:
        return Err.of(ErrorCode.NOT_FOUND, "no person has that id")
    principal = caller.identity.principal
    if checked != principal.subject and not OTHERS_WALLETS_READERS & set(principal.roles):
        return _refuse(caller, "a person sees only their own wallet")
    command = WalletHistory(checked, query.limit, query.cursor or "")
    value = await call(caller, KIND, command, keyed=False)
    if isinstance(value, Err):
        return value
    if not isinstance(value, WalletPage):
        return Err.of(ErrorCode.INTERNAL, f"unexpected reply {type(value).__name__}")
    return WalletHistoryOut([entry_out(m) for m in value.entries], value.next_cursor or None)
