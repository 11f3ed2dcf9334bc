"""Every actor kind an actor host runs."""

from __future__ import annotations

from actors.audit import AUDIT
from actors.bulk import BULK
from actors.catalogue import CATALOGUE
from actors.history import HISTORY
from actors.identity import IDENTITY
from actors.orders import ORDERS
from actors.people import PEOPLE
from actors.runtime.actor import ActorKind
from actors.tenant_config import TENANT_CONFIG
from actors.treasury import TREASURY
from actors.vouchers import VOUCHERS
from actors.webhooks import WEBHOOKS

ALL_KINDS: tuple[ActorKind, ...] = (
    TREASURY,
    CATALOGUE,
    VOUCHERS,
    ORDERS,
    BULK,
    IDENTITY,
    PEOPLE,
    AUDIT,
    TENANT_CONFIG,
    HISTORY,
    WEBHOOKS,
)
