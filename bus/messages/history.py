"""History context: the pages of what happened — a person's orders and their wallet's
movements, a funding account's deposits and allocations — read from the ledger, newest
first.

Nothing here decides or writes: the history actor (one per tenant) reads what the
treasury and the orders actors committed. A page ends with an opaque ``next_cursor``
(empty when there is no more); the cursor is the position of the page's last row, so
rows added meanwhile never shift the pages still to come.

Who may read what is checked again by the actor: a person reads their own; staff
(owner, admin, finance, programme managers, integrators) read the tenant's orders, and
principals narrowed to some budgets (ADR 19) only the orders those budgets paid; a
funding account's history is read by its readers (``FUNDING_READERS``) for the whole
tenant only.
"""

from __future__ import annotations

from typing import Annotated, Literal

import msgspec

from bus.messages.common import TENANT_WIDE, Cursor, Money, PageSize
from bus.messages.funding import FundingId
from bus.messages.orders import OrderStatus, OrderView
from bus.messages.wallet import PersonId
from bus.scopes import ROLES

KIND = "history"

#: Roles that see the orders of people other than themselves (as reading one order
#: lets them); anyone else sees only the orders they received.
OTHERS_ORDERS_READERS = frozenset({"owner", "admin", "finance", "programme_manager", "integrator"})
#: Roles that read anyone's wallet (and its history); an end user reads only their own.
OTHERS_WALLETS_READERS = frozenset(ROLES) - {"end_user"} | {"system"}

#: What a wallet movement was, from the transaction that made it.
EntryKind = Literal["reward", "redemption", "refund", "adjustment"]
#: What a funding account's movement was: money paid in, money given to a budget, or
#: anything else (a correction made in the ledger by hand).
FundingEntryKind = Literal["deposit", "allocation", "adjustment"]


class ListOrders(msgspec.Struct, frozen=True, tag="history.orders"):
    """Orders of the tenant, newest first: of one recipient, of one status, or both."""

    recipient: PersonId | None = None
    status: OrderStatus | None = None
    limit: PageSize = 20
    cursor: Cursor = ""
    #: Placed from this time (ms since 1970) and before ``until_ms``; 0: no bound.
    since_ms: Annotated[int, msgspec.Meta(ge=0, lt=2**53)] = 0
    until_ms: Annotated[int, msgspec.Meta(ge=0, lt=2**53)] = 0

    @property
    def actor_key(self) -> str:
        return TENANT_WIDE


#: The most orders a page of the CSV export holds: ten of the API's pages. The export
#: reads every page of a range, one bus round trip each, so its pages are larger; 1,000
#: orders are a few hundred kilobytes of reply, well under NATS's payload limit.
EXPORT_PAGE = 1_000


class ExportOrders(msgspec.Struct, frozen=True, tag="history.orders_export"):
    """A page of the tenant's orders for the CSV export (``edge.orders_export``), newest
    first: as :class:`ListOrders` for staff who read others' orders, in larger pages. Only
    the export sends it; the API's listing keeps pages of at most 100."""

    status: OrderStatus | None = None
    limit: Annotated[int, msgspec.Meta(ge=1, le=EXPORT_PAGE)] = EXPORT_PAGE
    cursor: Cursor = ""
    #: Placed from this time (ms since 1970) and before ``until_ms``; 0: no bound.
    since_ms: Annotated[int, msgspec.Meta(ge=0, lt=2**53)] = 0
    until_ms: Annotated[int, msgspec.Meta(ge=0, lt=2**53)] = 0

    @property
    def actor_key(self) -> str:
        return TENANT_WIDE


class WalletHistory(msgspec.Struct, frozen=True, tag="history.wallet"):
    """The movements of a person's point wallet, newest first."""

    person_id: PersonId
    limit: PageSize = 20
    cursor: Cursor = ""

    @property
    def actor_key(self) -> str:
        return TENANT_WIDE


class FundingHistory(msgspec.Struct, frozen=True, tag="history.funding"):
    """The movements of a funding account, newest first, each with the balance after it."""

    account_id: FundingId
    limit: PageSize = 20
    cursor: Cursor = ""

    @property
    def actor_key(self) -> str:
        return TENANT_WIDE


HistoryCommand = ListOrders | ExportOrders | WalletHistory | FundingHistory


class OrderPage(msgspec.Struct, frozen=True, tag="history.order_page"):
    orders: tuple[OrderView, ...]
    next_cursor: str = ""


class WalletMovement(msgspec.Struct, frozen=True):
    """One movement of a wallet: ``points`` in (positive) or out (negative)."""

    txn_id: str
    at_ms: int
    points: int
    kind: EntryKind
    #: The order the movement belongs to ("" for a reward).
    order_id: str = ""
    #: The ordered product, for a redemption or refund ("" when unknown).
    product_id: str = ""


class WalletPage(msgspec.Struct, frozen=True, tag="history.wallet_page"):
    entries: tuple[WalletMovement, ...]
    next_cursor: str = ""


class FundingMovement(msgspec.Struct, frozen=True):
    """One movement of a funding account: ``amount`` in (positive) or out (negative)."""

    txn_id: str
    at_ms: int
    amount: Money
    kind: FundingEntryKind
    #: The account's balance once this movement was made.
    balance_after: Money
    #: The budget an allocation went to ("" otherwise).
    budget_id: str = ""


class FundingHistoryPage(msgspec.Struct, frozen=True, tag="history.funding_page"):
    entries: tuple[FundingMovement, ...]
    next_cursor: str = ""
