"""Every public event type, with the Struct of its ``data`` — the source of the JSON
Schemas the edge publishes for integrators (``/api/v1/events/schemas``)."""

from __future__ import annotations

from typing import Any

import msgspec

from bus.events import CloudEvent
from bus.messages.budget import BudgetCreated, BudgetDebited, BudgetLowBalance, BudgetUpdated
from bus.messages.bulk import BulkEvent
from bus.messages.catalogue import ProductChanged
from bus.messages.funding import MoneyMoved
from bus.messages.identity import ClientChanged
from bus.messages.orders import OrderEvent
from bus.messages.people import PasswordResetAsked, PersonChanged, SessionEnded
from bus.messages.vouchers import CodesExpiring, PoolLow
from bus.messages.wallet import RewardIssued
from bus.messages.webhooks import WebhookTest

#: CloudEvents ``type`` → the Struct of its ``data``.
EVENT_TYPES: dict[str, type[msgspec.Struct]] = {
    "perkbus.budget.created": BudgetCreated,
    "perkbus.budget.updated": BudgetUpdated,
    "perkbus.budget.debited": BudgetDebited,
    "perkbus.budget.low_balance": BudgetLowBalance,
    "perkbus.budget.allocated": MoneyMoved,
    "perkbus.funding.deposited": MoneyMoved,
    "perkbus.reward.issued": RewardIssued,
    "perkbus.bulk.scheduled": BulkEvent,
    "perkbus.bulk.started": BulkEvent,
    "perkbus.bulk.finished": BulkEvent,
    "perkbus.bulk.cancelled": BulkEvent,
    "perkbus.voucher.pool_low": PoolLow,
    "perkbus.voucher.codes_expiring": CodesExpiring,
    "perkbus.identity.client_created": ClientChanged,
    "perkbus.identity.client_secret_rotated": ClientChanged,
    "perkbus.identity.client_revoked": ClientChanged,
    "perkbus.people.person_created": PersonChanged,
    "perkbus.people.person_updated": PersonChanged,
    "perkbus.people.password_changed": PersonChanged,
    "perkbus.people.session_ended": SessionEnded,
    "perkbus.people.password_reset_asked": PasswordResetAsked,
    "perkbus.order.accepted": OrderEvent,
    "perkbus.order.held": OrderEvent,
    "perkbus.order.fulfilled": OrderEvent,
    "perkbus.order.failed": OrderEvent,
    "perkbus.order.cancelled": OrderEvent,
    "perkbus.order.resent": OrderEvent,
    "perkbus.catalogue.product_changed": ProductChanged,
    # sent to one endpoint when asked, never published on the stream (ADR 37)
    "perkbus.webhook.test": WebhookTest,
}


def schema(event_type: str) -> dict[str, Any] | None:
    """JSON Schema (2020-12) of a whole event of ``event_type``: the CloudEvents envelope
    with its ``data`` described."""
    data = EVENT_TYPES.get(event_type)
    if data is None:
        return None
    (_, data_schema), components = msgspec.json.schema_components(
        [CloudEvent, data], ref_template="#/$defs/{name}"
    )
    envelope_def = components[CloudEvent.__name__]
    properties = dict(envelope_def["properties"])
    properties["data"] = data_schema
    properties["type"] = {"const": event_type}
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": f"/api/v1/events/schemas/{event_type}",
        "title": event_type,
        "type": "object",
        "properties": properties,
        "required": [*envelope_def.get("required", []), "data"],
        "$defs": {k: v for k, v in components.items() if k != CloudEvent.__name__},
    }
