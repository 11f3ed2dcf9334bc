"""System messages: liveness and readiness of actor hosts and their stores."""

from __future__ import annotations

import msgspec


class HealthCheck(msgspec.Struct, frozen=True, tag="sys.health"):
    pass


class StoreHealth(msgspec.Struct, frozen=True):
    name: str
    ok: bool
    detail: str = ""


class HostHealth(msgspec.Struct, frozen=True, tag="sys.host_health"):
    host_id: str
    stores: tuple[StoreHealth, ...]
    active_actors: int
    partitions: int

    @property
    def ok(self) -> bool:
        return all(s.ok for s in self.stores)
