"""System messages: liveness and readiness of actor hosts and their stores."""

from __future__ import annotations

import msgspec


class HealthCheck(msgspec.Struct, frozen=True, tag="sys.health"):
    pass


class StoreHealth(msgspec.Struct, frozen=True):
    name: str
    ok: bool
    detail: str = ""
    #: False for a store the host can serve without (search: lists fall back to memory);
    #: its outage makes the host degraded, not unready.
    essential: bool = True


class HostHealth(msgspec.Struct, frozen=True, tag="sys.host_health"):
    host_id: str
    stores: tuple[StoreHealth, ...]
    active_actors: int
    partitions: int

    @property
    def ok(self) -> bool:
        """Every store the host needs answers (it can serve)."""
        return all(s.ok for s in self.stores if s.essential)

    @property
    def degraded(self) -> bool:
        """It can serve, but a store it can do without does not answer."""
        return self.ok and not all(s.ok for s in self.stores)
