"""Events' ids and times, as CloudEvents consumers read them."""

from __future__ import annotations

import uuid
from datetime import datetime

import msgspec

from bus.events import CloudEvent, make_event
from bus.messages.budget import BudgetDebited
from bus.messages.common import Money


def debit(n: int) -> CloudEvent:
    data = BudgetDebited("b1", f"dbt_{n}", Money(n, "EUR"), Money(0, "EUR"))
    event = make_event("acme", "budget", "debited", "b1", data)
    cloud = msgspec.json.decode(event.payload, type=CloudEvent)
    assert cloud.id == event.event_id
    return cloud


def test_event_ids_are_distinct_random_version_4_uuids() -> None:
    ids = [debit(n).id for n in range(2000)]
    assert len(set(ids)) == len(ids)
    for i in ids:
        parsed = uuid.UUID(i)
        assert (parsed.version, parsed.variant) == (4, uuid.RFC_4122)
        assert str(parsed) == i  # lower-case, hyphenated
    bits = {int(uuid.UUID(i)) >> 80 & 0xFFFF_FFFF for i in ids[:50]}
    assert len(bits) == 50  # random, not counted


def test_event_times_are_rfc3339_in_utc_with_milliseconds() -> None:
    before = datetime.now().astimezone()
    stamps = [debit(n).time for n in range(3)]
    for stamp in stamps:
        assert stamp.endswith("+00:00")
        assert len(stamp.split(".")[1]) == len("123+00:00")
        assert abs((datetime.fromisoformat(stamp) - before).total_seconds()) < 60
    assert stamps == sorted(stamps)
