"""A programme's limits on one person's orders, as the treasury enforces them.

A tenant's ``programme`` document may cap the orders one person pays with their points:
``max_orders_per_day`` (a UTC day) and ``max_orders_per_week`` (Monday 00:00 to Sunday
24:00 UTC). Orders paid from a budget (gifts an operator sends) are not a person's own
and are not limited; orders that failed do not count; an order past a limit ends
``failed`` with the reason ``order_limit_reached``, and nothing is taken.

The same rules hold the review threshold (``review_from``), which the treasury applies
itself (an order held for review, ADR 31).

The treasury is the one writer of a tenant's orders, so it counts exactly: for each
person of a batch it reads once when their orders of this week were placed
(``Ledger.redemptions_since``), adds those of the batch before (which may still be
committing), and from then on adds each order it carries out — before the commit, as it
does with balances; it forgets everything when it reloads. The rules
come from the tenant config actor (``GetOrderRules``) and are kept on the host
(``ActorContext.programmes``) until the programme changes. Where they cannot be read (no
tenant documents store, or one that is down), the last rules read are applied — none if
they were never read — a warning is logged once, and they are not asked for again for
``QUIET_S``: redeeming stays up, as the PWA's profile does.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import OrderedDict
from collections.abc import Sequence

from actors.runtime.actor import ActorContext
from bus.messages import Command, Ok, Request
from bus.messages import tenant_config as config
from bus.messages.orders import PlaceOrder
from bus.messages.tenant_config import GetOrderRules, OrderRules
from bus.messages.treasury import FulfilOrder
from bus.time import now_ms

log = logging.getLogger(__name__)

DAY_MS = 86_400_000
WEEK_MS = 7 * DAY_MS
#: Under this key in ``ActorContext.programmes``.
KEPT_AS = "order-rules"
#: People whose orders are counted in memory at most (the least recently seen go first).
PEOPLE = 100_000
#: After the rules could not be read, seconds before they are asked for again (the
#: treasury's batches do not each wait on a store that is down).
QUIET_S = 5.0


def day_start(ms: int) -> int:
    """The start (UTC midnight) of the day of ``ms``."""
    return ms - ms % DAY_MS


def week_start(ms: int) -> int:
    """The start (Monday, UTC midnight) of the week of ``ms``; the epoch was a Thursday."""
    return ms - (ms + 3 * DAY_MS) % WEEK_MS


def reached(rules: OrderRules, placed: Sequence[int], now: int) -> bool:
    """Whether a person whose orders were placed at ``placed`` may place no more ``now``."""
    week, today = week_start(now), day_start(now)
    if rules.per_week is not None and sum(t >= week for t in placed) >= rules.per_week:
        return True
    return rules.per_day is not None and sum(t >= today for t in placed) >= rules.per_day


def redeemer(body: Command) -> str | None:
    """The person paying ``body`` with their points, if it is such an order."""
    match body:
        case PlaceOrder(budget_id=None, recipient=person):
            return person
        case FulfilOrder(payer=payer) if payer.startswith("wallet:"):
            return payer.removeprefix("wallet:")
    return None


class OrderLimiter:
    """One tenant's limits and its people's counted orders (a treasury's)."""

    def __init__(self, ctx: ActorContext, tenant: str) -> None:
        self.ctx = ctx
        self.tenant = tenant
        #: The programme's rules as last read (limits, and the review threshold the
        #: treasury applies itself); kept while they cannot be read again.
        self.rules = OrderRules()
        #: Person → their counted orders (id → when placed), this week or later.
        self._placed: OrderedDict[str, dict[str, int]] = OrderedDict()
        #: Orders carried out in the batch being decided, and in the one before it (which
        #: may still be committing while this one is decided): person → id → when.
        self._batch: dict[str, dict[str, int]] = {}
        self._previous: dict[str, dict[str, int]] = {}
        #: After a failed read of the rules: not asked again before this (monotonic s).
        self._quiet_until = 0.0
        #: Whether the rules were ever read: until then, the treasury holds for review
        #: every order it would check against a threshold (ADR 32).
        self.known = False

    def clear(self) -> None:
        self._placed.clear()
        self._batch.clear()
        self._previous.clear()

    async def prepare(self, batch: Sequence[Request]) -> None:
        """Before deciding ``batch``: the rules, and the orders of its people."""
        self._previous, self._batch = self._batch, {}
        people = {p for r in batch if (p := redeemer(r.body)) is not None}
        if not people:
            return
        self.rules = await self._rules()
        if not self.rules.limited:
            return
        missing = [p for p in people if p not in self._placed]
        since = week_start(now_ms())
        ledger = self.ctx.ledger
        found = await asyncio.gather(
            *(ledger.redemptions_since(self.tenant, p, since) for p in missing)
        )
        for person, stored in zip(missing, found, strict=True):
            # the batch before may not be stored yet: its orders are counted all the same
            self._placed[person] = dict(stored) | self._previous.get(person, {})
        for person in people:
            self._placed.move_to_end(person)
        while len(self._placed) > PEOPLE:
            self._placed.popitem(last=False)

    def reached(self, person: str, now: int) -> bool:
        """Whether ``person`` may place no more orders now."""
        placed = self._placed.get(person)
        if not self.rules.limited or placed is None:
            return False
        week = week_start(now)
        if any(t < week for t in placed.values()):  # a new week: forget the last one's
            self._placed[person] = placed = {o: t for o, t in placed.items() if t >= week}
        return reached(self.rules, list(placed.values()), now)

    def count(self, person: str, order_id: str, placed_ms: int) -> None:
        """An order of ``person``'s carried out (in the batch being decided)."""
        self._batch.setdefault(person, {})[order_id] = placed_ms
        placed = self._placed.get(person)
        if placed is not None:
            placed[order_id] = placed_ms

    def forget(self, person: str, order_id: str) -> None:
        """An order of ``person``'s that did not go through after all (its held points
        were given back): it no longer counts."""
        for orders in (self._placed.get(person), self._batch.get(person)):
            if orders is not None:
                orders.pop(order_id, None)
        self._previous.get(person, {}).pop(order_id, None)

    async def _rules(self) -> OrderRules:
        kept = self.ctx.programmes
        answer = kept.get(self.tenant, KEPT_AS)
        if answer is None:
            if time.monotonic() < self._quiet_until:
                return self.rules  # the last read failed a moment ago: as last known
            generation = kept.generation(self.tenant)
            answer = await self.ctx.ask(self.tenant, config.KIND, GetOrderRules(), None)
            kept.keep(self.tenant, KEPT_AS, answer, generation)
        if isinstance(answer, Ok) and isinstance(answer.value, OrderRules):
            self._quiet_until = 0.0
            self.known = True
            return answer.value
        if not self._quiet_until:
            log.warning(
                "tenant %s: order rules not read (%s); applying the last known: %s",
                self.tenant,
                answer,
                self.rules,
            )
        self._quiet_until = time.monotonic() + QUIET_S
        return self.rules
