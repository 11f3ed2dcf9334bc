"""Public events as the warehouse tests need them: real CloudEvents of registered types
(built by ``bus.events.make_event``), moved to a chosen moment so that days are known."""

from __future__ import annotations

import msgspec

from bus.events import CloudEvent, OutboxEvent, make_event
from bus.messages.budget import BudgetCreated, BudgetDebited, BudgetUpdated
from bus.messages.common import Money
from bus.messages.funding import MoneyMoved
from bus.messages.orders import OrderEvent
from bus.messages.people import PersonChanged
from bus.messages.wallet import RewardIssued
from storage.warehouse_ports import SequencedEvent


def at(event: OutboxEvent, time: str) -> CloudEvent:
    """The CloudEvent of ``event``, as if it had happened at ``time`` (RFC 3339)."""
    return msgspec.structs.replace(msgspec.json.decode(event.payload, type=CloudEvent), time=time)


def on(day: str, hour: int = 12) -> str:
    return f"{day}T{hour:02d}:00:00.000+00:00"


def numbered(first: int, events: list[CloudEvent]) -> list[SequencedEvent]:
    return [SequencedEvent(first + i, e) for i, e in enumerate(events)]


def budget_created(tenant: str, budget: str, minor: int, currency: str, when: str) -> CloudEvent:
    data = BudgetCreated(budget, f"{budget} programme", Money(minor, currency))
    return at(make_event(tenant, "budget", "created", budget, data), when)


def budget_renamed(tenant: str, budget: str, name: str, when: str) -> CloudEvent:
    data = BudgetUpdated(budget, name, 0, 0)
    return at(make_event(tenant, "budget", "updated", budget, data), when)


def debited(tenant: str, budget: str, minor: int, currency: str, when: str) -> CloudEvent:
    data = BudgetDebited(
        budget, f"dbt_{budget}_{minor}", Money(minor, currency), Money(0, currency)
    )
    return at(make_event(tenant, "budget", "debited", budget, data), when)


def deposited(tenant: str, account: str, minor: int, currency: str, when: str) -> CloudEvent:
    data = MoneyMoved(
        f"dep_{minor}", "external:deposits", f"funding:{account}", Money(minor, currency)
    )
    return at(make_event(tenant, "funding", "deposited", account, data), when)


def allocated(
    tenant: str, account: str, budget: str, minor: int, currency: str, when: str
) -> CloudEvent:
    data = MoneyMoved(
        f"alc_{minor}", f"funding:{account}", f"budget:{budget}", Money(minor, currency)
    )
    return at(make_event(tenant, "budget", "allocated", budget, data), when)


def reward(
    tenant: str, reward_id: str, budget: str, points: int, cost: Money, when: str
) -> CloudEvent:
    data = RewardIssued(reward_id, budget, "ann@example.com", points, cost)
    return at(make_event(tenant, "reward", "issued", reward_id, data), when)


def order(
    tenant: str,
    order_id: str,
    status: str,
    product: str,
    face: Money,
    when: str,
    budget: str = "b1",
) -> CloudEvent:
    data = OrderEvent(order_id, status, "ann@example.com", f"budget:{budget}", product, face, face)
    return at(make_event(tenant, "order", status, order_id, data), when)


def person_created(tenant: str, when: str) -> CloudEvent:
    """An event the warehouse has no use for."""
    data = PersonChanged("ann@example.com", "ann@example.com", ("end_user",), (), "active")
    return at(make_event(tenant, "people", "person_created", "ann@example.com", data), when)
