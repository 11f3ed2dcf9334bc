"""``perkbus warehouse`` as a process: killed with SIGKILL while it loads, started again,
it has counted every event of ``PB_EVENTS`` exactly once."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import pytest

from bus.client import Bus
from bus.embedded import EmbeddedNats
from bus.events import EventPublisher, ensure_streams, make_event
from bus.messages.budget import BudgetCreated, BudgetDebited
from bus.messages.common import Err, Money, Ok, Principal
from bus.messages.reports import DailyReport, DailySummary

pytestmark = pytest.mark.slow

OWNER = Principal("ops", roles=("owner",), scopes=("reports:read",))
DEBITS = 4000


def spawn_warehouse(nats_server: EmbeddedNats, tmp_path: Path) -> subprocess.Popen[bytes]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PERKBUS_")}
    env |= {
        "PERKBUS_NATS_URL": nats_server.url,
        "PERKBUS_NATS_CREDENTIALS_FILE": str(nats_server.credentials),
        "PERKBUS_VAR_DIR": str(tmp_path / "var"),
        "PERKBUS_WAREHOUSE_PATH": str(tmp_path / "warehouse.duckdb"),
    }
    return subprocess.Popen(
        [sys.executable, "-m", "perkbus", "--log-level", "WARNING", "warehouse"],
        env=env,
        stdin=subprocess.DEVNULL,
        start_new_session=True,
    )


async def summary(bus: Bus) -> DailySummary | None:
    """Today's report, or None while no warehouse answers."""
    today = datetime.now(UTC).date().isoformat()
    try:
        reply = await bus.report("acme", DailyReport(today, today), OWNER, timeout_s=2)
    except Exception:
        return None
    if isinstance(reply, Err):
        return None
    assert isinstance(reply, Ok)
    assert isinstance(reply.value, DailySummary)
    return reply.value


async def loaded_past(bus: Bus, sequence: int, exactly: bool = False) -> DailySummary:
    for _ in range(1200):
        found = await summary(bus)
        if found is not None and found.loaded_sequence >= sequence:
            if exactly:
                assert found.loaded_sequence == sequence
            return found
        await asyncio.sleep(0.05)
    raise AssertionError(f"the warehouse never loaded past {sequence}")


async def test_killed_while_loading_it_starts_again_and_counts_each_event_once(
    nats_server: EmbeddedNats, bus: Bus, tmp_path: Path
) -> None:
    await ensure_streams(bus.js, duplicate_window_s=120)
    publisher = EventPublisher(bus.nc)
    opened = BudgetCreated("b1", "B1", Money(10**12, "EUR"))
    events = [make_event("acme", "budget", "created", "b1", opened)]
    for n in range(1, DEBITS + 1):
        data = BudgetDebited("b1", f"dbt_{n}", Money(n, "EUR"), Money(0, "EUR"))
        events.append(make_event("acme", "budget", "debited", "b1", data))
    for start in range(0, len(events), 500):
        await publisher.publish(events[start : start + 500])

    first = spawn_warehouse(nats_server, tmp_path)
    try:
        await loaded_past(bus, 1)
    finally:
        first.send_signal(signal.SIGKILL)
        first.wait(timeout=30)
    assert first.returncode == -signal.SIGKILL

    second = spawn_warehouse(nats_server, tmp_path)
    try:
        done = await loaded_past(bus, len(events), exactly=True)
    finally:
        second.send_signal(signal.SIGTERM)
        second.wait(timeout=30)
    [day] = done.days
    [b1] = day.movements
    assert (b1.credit_minor, b1.debit_minor) == (10**12, DEBITS * (DEBITS + 1) // 2)
    assert b1.entries == len(events)
    assert second.returncode == 0
