"""Every actor kind an actor host runs."""

from __future__ import annotations

from actors.budget import BUDGET
from actors.runtime.actor import ActorKind

ALL_KINDS: tuple[ActorKind, ...] = (BUDGET,)
