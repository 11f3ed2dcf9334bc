"""What ``perkbus bench`` is asked to do (parsed by ``perkbus/cli.py``)."""

from __future__ import annotations

import msgspec

SCENARIOS = ("hot", "spread", "bulk")
SYSTEMS = ("perkbus", "classic", "ceiling")


class BenchOptions(msgspec.Struct, frozen=True):
    scenarios: tuple[str, ...] = ("hot", "spread", "bulk")
    systems: tuple[str, ...] = SYSTEMS
    #: Seconds of each measured burst.
    duration_s: float = 10.0
    connections: int = 256
    #: Tenants of the ``spread`` scenario.
    tenants: int = 1000
    bulk_rewards: int = 100_000
    #: Seconds of the burst before each measured one (not counted).
    warmup_s: float = 3.0
    mysql: bool = False
    #: perkbus's edge shares its cache, counters and rate limits through the machine's
    #: Redis (127.0.0.1:6379), as a deployment of several edges does.
    redis: bool = False
    #: Where the JSON goes; empty: ``var/bench/bench-<timestamp>.json``.
    json_path: str = ""
    short: bool = False
    wrk_threads: int = 2
    #: Times each scenario's systems are measured in turn (bulk: once).
    rounds: int = 1
    #: perkbus settings for the system under test (``SQLITE_WRITER``, ``thread``), as
    #: ``PERKBUS_<NAME>``: to measure a choice against its alternative.
    settings: tuple[tuple[str, str], ...] = ()


#: What ``--short`` changes (unless the option is given explicitly): ``make bench``.
SHORT = {"duration_s": 4.0, "warmup_s": 2.0, "tenants": 100, "bulk_rewards": 10_000}


def parse_settings(given: list[str]) -> tuple[tuple[str, str], ...]:
    """``["SQLITE_WRITER=thread"]`` → ``(("SQLITE_WRITER", "thread"),)``."""
    pairs = []
    for item in given:
        name, sep, value = item.partition("=")
        name = name.strip().upper().removeprefix("PERKBUS_")
        if not sep or not name:
            raise ValueError(f"--set takes NAME=VALUE, a perkbus setting (got {item!r})")
        pairs.append((name, value))
    return tuple(pairs)


def split(value: str, allowed: tuple[str, ...]) -> tuple[str, ...]:
    """``"hot,spread"`` → ``("hot", "spread")``; unknown names raise ValueError."""
    names = tuple(v.strip() for v in value.split(",") if v.strip())
    unknown = [n for n in names if n not in allowed]
    if unknown or not names:
        raise ValueError(f"choose from {', '.join(allowed)} (got {value!r})")
    return names
