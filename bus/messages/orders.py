"""Orders context: redemptions and gift-card orders, carried out as a saga.

An order is accepted (recorded), paid (points from a person's wallet, or money from a
budget), then fulfilled with a voucher code from the pool of its product and face value.
If a step fails after payment, payment is refunded and the order ends ``failed`` with a
reason. Every step is sent with an idempotency key derived from the order id, so a step
repeated after a crash has no second effect.

An order paid with points whose face value reaches the programme's review threshold is
``held`` instead: its price is held from the wallet and it waits for a reviewer
(:class:`ReviewOrder`), who approves it (``approved``, then the treasury gives it a code
and spends the hold: ``fulfilled``) or rejects it (``rejecting`` while the held points go
back, then ``failed`` with the reason ``review_rejected``).
"""

from __future__ import annotations

import zlib
from typing import Annotated, ClassVar, Literal

import msgspec

from bus.messages.budget import BudgetId
from bus.messages.catalogue import FaceValue, ProductId
from bus.messages.common import TENANT_WIDE, Money
from bus.messages.wallet import PersonId

KIND = "orders"

OrderStatus = Literal[
    "accepted",
    "held",
    "approved",
    "paid",
    "fulfilled",
    "failed",
    "rejecting",
    "cancelling",
    "cancelled",
]
ExternalId = Annotated[str, msgspec.Meta(pattern="^[\\x21-\\x7e]{1,100}$(?!\\n)")]


#: A tenant's orders are spread over this many actors (ADR 21), so that one shard's saga
#: steps overlap another's and their commits share transactions.
ORDER_SHARDS = 2


def shard_of(order_id: str) -> str:
    """The orders actor (of its tenant) an order lives on."""
    return str(zlib.crc32(order_id.encode()) % ORDER_SHARDS)


class PlaceOrder(msgspec.Struct, frozen=True, tag="orders.place"):
    """Redeem points (``person_id`` pays from its wallet) or order a gift card for a
    recipient paid from ``budget_id``; exactly one of the two payers."""

    generated_ids: ClassVar[tuple[str, ...]] = ("order_id",)

    order_id: str
    product_id: ProductId
    face_value_minor: FaceValue
    recipient: PersonId
    budget_id: BudgetId | None = None
    external_id: ExternalId | None = None

    @property
    def actor_key(self) -> str:
        """Only a placeholder: an order's id can depend on the request's idempotency key,
        so the orders kind routes by the request (``actors.orders.route``)."""
        return TENANT_WIDE


class GetOrder(msgspec.Struct, frozen=True, tag="orders.get"):
    order_id: str

    @property
    def actor_key(self) -> str:
        return shard_of(self.order_id)


class OrderCodes(msgspec.Struct, frozen=True, tag="orders.codes"):
    """The voucher code of an order, in clear: for its recipient, owners, admins, finance."""

    order_id: str

    @property
    def actor_key(self) -> str:
        return shard_of(self.order_id)


class CancelOrder(msgspec.Struct, frozen=True, tag="orders.cancel"):
    """Void a fulfilled order within the tenant's window: its code is voided and its
    payment refunded."""

    order_id: str
    reason: Annotated[str, msgspec.Meta(max_length=200)] = ""

    @property
    def actor_key(self) -> str:
        return shard_of(self.order_id)


class ReviewOrder(msgspec.Struct, frozen=True, tag="orders.review"):
    """Approve or reject an order held for review (owners, admins, programme managers and
    finance); asked again the same way, it answers the order as it stands."""

    order_id: str
    approve: bool
    note: Annotated[str, msgspec.Meta(max_length=200)] = ""

    @property
    def actor_key(self) -> str:
        return shard_of(self.order_id)


class ResendOrder(msgspec.Struct, frozen=True, tag="orders.resend"):
    """Send a fulfilled order's delivery again (an ``order.resent`` event for notifiers)."""

    order_id: str

    @property
    def actor_key(self) -> str:
        return shard_of(self.order_id)


FINAL_STATUSES = frozenset({"fulfilled", "failed", "cancelled"})


class OrderView(msgspec.Struct, frozen=True, tag="orders.order"):
    order_id: str
    status: str
    recipient: str
    payer: str
    product_id: str
    face_value: Money
    price: Money
    code_id: str
    reason: str
    external_id: str
    created_ms: int
    updated_ms: int
    #: The exchange rate locked into the order when its price was converted ("" if none).
    fx_rate: str = ""
    #: For an order paid in points, the tenant's points per unit of its points currency.
    points_rate: str = ""

    @property
    def final(self) -> bool:
        """A reply about an order still on its way is not the last word: not kept. An
        order held for review is the placement's last word (it waits for a person, not
        for a step): a retry of the placement is answered ``held`` — read the order for
        how its review went."""
        return self.status in FINAL_STATUSES or self.status == "held"


class ResumeOrders(msgspec.Struct, frozen=True, tag="orders.resume"):
    """Carry on with the unfinished orders of one of the tenant's order shards (sent by
    hosts and by the shard's actor)."""

    shard: str = "0"

    @property
    def actor_key(self) -> str:
        return self.shard


class ResumeReport(msgspec.Struct, frozen=True, tag="orders.resumed"):
    orders_in_progress: int


class OrderEvent(msgspec.Struct, frozen=True):
    """Data of the ``order.fulfilled`` and ``order.failed`` events."""

    order_id: str
    status: str
    recipient: str
    payer: str
    product_id: str
    face_value: Money
    price: Money
    reason: str = ""


OrderCommand = (
    PlaceOrder | GetOrder | OrderCodes | CancelOrder | ReviewOrder | ResendOrder | ResumeOrders
)
