"""Which events an endpoint gets: its filters, checked against the public event types."""

from __future__ import annotations

from bus.event_types import EVENT_TYPES
from bus.messages.common import Principal
from bus.scopes import PRIVATE_EVENTS, permissions

#: Aggregates whose events only some principals may read, with the permission each needs:
#: as for the events replay, an endpoint gets them only if whoever set its event types
#: could read them through the API.
PRIVATE_SCOPES = PRIVATE_EVENTS
PRIVATE_AGGREGATES = tuple(sorted(PRIVATE_SCOPES))


def readable(principal: Principal) -> tuple[str, ...]:
    """The private aggregates whose events ``principal`` may read."""
    allowed = permissions(principal.roles, principal.scopes)
    return tuple(a for a in PRIVATE_AGGREGATES if PRIVATE_SCOPES[a] in allowed)


def aggregate_of(event_type: str) -> str:
    """``perkbus.<aggregate>.<name>`` → the aggregate ("" if not of that form)."""
    parts = event_type.split(".")
    return parts[1] if len(parts) == 3 else ""


#: Every aggregate that has public events.
AGGREGATES = frozenset(t.split(".")[1] for t in EVENT_TYPES)


def unknown_filters(filters: tuple[str, ...]) -> list[str]:
    """The filters that name no public event type nor aggregate."""
    return [
        f
        for f in filters
        if not (f in EVENT_TYPES or (f.endswith(".*") and f.split(".")[1] in AGGREGATES))
    ]


def aggregates_named(filters: tuple[str, ...]) -> set[str]:
    """The aggregates the filters name (every one when there are none)."""
    if not filters:
        return set(AGGREGATES)
    return {f.split(".")[1] for f in filters}


def wants(filters: tuple[str, ...], private_allowed: tuple[str, ...], event_type: str) -> bool:
    """Whether an endpoint with these filters gets an event of ``event_type``."""
    aggregate = aggregate_of(event_type)
    if aggregate in PRIVATE_AGGREGATES and aggregate not in private_allowed:
        return False
    if not filters:
        return True
    return event_type in filters or f"perkbus.{aggregate}.*" in filters
