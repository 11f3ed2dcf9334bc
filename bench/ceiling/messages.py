"""What the ceiling's edge and actor say to each other over NATS."""

from __future__ import annotations

import msgspec

#: Requests go to ``ceiling.orders.<tenant>``; the actor subscribes to all of them.
SUBJECT_PREFIX = "ceiling.orders."
QUEUE = "ceiling-actors"


def order_subject(tenant: str) -> str:
    return SUBJECT_PREFIX + tenant


class PlaceOrder(msgspec.Struct, frozen=True, tag="ceiling.place_order"):
    tenant: str
    budget_id: str
    product_id: str
    face_value_minor: int
    recipient: str


class Placed(msgspec.Struct, frozen=True, tag="ceiling.placed"):
    order_id: str


class Failed(msgspec.Struct, frozen=True, tag="ceiling.failed"):
    reason: str


Reply = Placed | Failed
