"""What a batch of public events means for the star schema, worked out once for every
adapter: the dimension rows it names, the orders and rewards it records, and its ledger
movements summed per day, tenant, account and currency.

Which events move money (ADR 26): ``budget.created`` credits the budget with its initial
amount; ``budget.allocated`` and ``funding.deposited`` debit their source and credit their
target (budget and funding accounts only); ``budget.debited`` debits the budget (a direct
debit or an order's payment); ``reward.issued`` debits the budget by the reward's cost;
``order.cancelled`` of an order a budget paid credits the refund back. Every other event
type names dimensions at most, or nothing: it only advances the loaded sequence.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime

import msgspec

from bus.messages.budget import BudgetCreated, BudgetDebited, BudgetUpdated
from bus.messages.funding import MoneyMoved
from bus.messages.orders import OrderEvent
from bus.messages.wallet import RewardIssued
from storage.warehouse_ports import SequencedEvent

log = logging.getLogger(__name__)

#: Accounts whose movements the warehouse keeps (``<kind>:<id>`` in the ledger).
KEPT_ACCOUNTS = frozenset({"budget", "funding"})
#: Free text is cut to this many characters: 1,024 bytes in Redshift's VARCHAR(1024).
TEXT_MAX = 256


@dataclass
class OrderRow:
    tenant: str
    order_id: str
    #: the day the batch first mentions the order (its placing, unless it was placed
    #: in an earlier batch), and the day of its latest event
    day: date
    updated: date
    status: str
    product_id: str
    budget_id: str
    payer: str
    face_minor: int
    currency: str
    price_minor: int
    price_unit: str
    reason: str


@dataclass(frozen=True)
class RewardRow:
    tenant: str
    reward_id: str
    day: date
    budget_id: str
    person_id: str
    points: int
    cost_minor: int
    currency: str


#: (day, tenant, account kind, account id, currency)
MovementKey = tuple[date, str, str, str, str]


@dataclass
class Movement:
    debit_minor: int = 0
    credit_minor: int = 0
    entries: int = 0


@dataclass
class Rows:
    tenants: dict[str, date] = field(default_factory=dict)
    days: set[date] = field(default_factory=set)
    #: (tenant, budget id) → (name, currency); "" where the batch does not say.
    budgets: dict[tuple[str, str], tuple[str, str]] = field(default_factory=dict)
    #: (tenant, product id) → currency of its face value
    products: dict[tuple[str, str], str] = field(default_factory=dict)
    #: the latest state of each order the batch mentions, with the day it was first seen
    orders: dict[tuple[str, str], OrderRow] = field(default_factory=dict)
    rewards: dict[tuple[str, str], RewardRow] = field(default_factory=dict)
    movements: dict[MovementKey, Movement] = field(default_factory=dict)

    def move(self, day: date, tenant: str, account: str, currency: str, amount: int) -> None:
        """``amount`` > 0 credits ``account`` (``<kind>:<id>``), < 0 debits it."""
        kind, _, account_id = account.partition(":")
        if kind not in KEPT_ACCOUNTS or not account_id or amount == 0:
            return
        m = self.movements.setdefault((day, tenant, kind, account_id, currency), Movement())
        if amount > 0:
            m.credit_minor += amount
        else:
            m.debit_minor -= amount
        m.entries += 1


def day_of(event_time: str) -> date:
    """The UTC calendar day of a CloudEvent ``time`` (RFC 3339)."""
    moment = datetime.fromisoformat(event_time)
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC).date()


def rows_of(batch: Sequence[SequencedEvent]) -> Rows:
    """The rows of ``batch``, applied in stream order."""
    rows = Rows()
    for item in sorted(batch, key=lambda e: e.sequence):
        _add(rows, item)
    return rows


def _add(rows: Rows, item: SequencedEvent) -> None:
    e = item.event
    kind = e.type.removeprefix("perkbus.")
    handler = _HANDLERS.get(kind)
    if handler is None:
        return
    try:
        day, tenant = day_of(e.time), e.tenant
        handler(rows, day, tenant, e.subject.partition("/")[2], e.data)
    except (msgspec.DecodeError, ValueError) as error:
        # Never a reason to stop loading: one unreadable event would hold up every later one.
        log.error("warehouse: event %s at %d skipped: %s", e.id, item.sequence, error)
        return
    rows.tenants.setdefault(tenant, day)
    rows.days.add(day)


def _text(value: str) -> str:
    """Free text as every warehouse stores it: PostgreSQL's text holds no U+0000 (one
    would fail its batch, and the loader would retry it forever), and columns are cut."""
    return value.replace("\x00", "")[:TEXT_MAX]


def _budget_created(rows: Rows, day: date, tenant: str, entity: str, data: msgspec.Raw) -> None:
    d = msgspec.json.decode(data, type=BudgetCreated)
    rows.budgets[(tenant, d.budget_id)] = (_text(d.name), d.initial.currency)
    rows.move(day, tenant, f"budget:{d.budget_id}", d.initial.currency, d.initial.amount_minor)


def _budget_updated(rows: Rows, day: date, tenant: str, entity: str, data: msgspec.Raw) -> None:
    d = msgspec.json.decode(data, type=BudgetUpdated)
    _, currency = rows.budgets.get((tenant, d.budget_id), ("", ""))
    rows.budgets[(tenant, d.budget_id)] = (_text(d.name), currency)


def _budget_debited(rows: Rows, day: date, tenant: str, entity: str, data: msgspec.Raw) -> None:
    d = msgspec.json.decode(data, type=BudgetDebited)
    _name_budget(rows, tenant, d.budget_id, d.amount.currency)
    rows.move(day, tenant, f"budget:{d.budget_id}", d.amount.currency, -d.amount.amount_minor)


def _money_moved(rows: Rows, day: date, tenant: str, entity: str, data: msgspec.Raw) -> None:
    d = msgspec.json.decode(data, type=MoneyMoved)
    for account in (d.source, d.target):
        if account.startswith("budget:"):
            _name_budget(rows, tenant, account.removeprefix("budget:"), d.amount.currency)
    rows.move(day, tenant, d.source, d.amount.currency, -d.amount.amount_minor)
    rows.move(day, tenant, d.target, d.amount.currency, d.amount.amount_minor)


def _reward_issued(rows: Rows, day: date, tenant: str, entity: str, data: msgspec.Raw) -> None:
    d = msgspec.json.decode(data, type=RewardIssued)
    _name_budget(rows, tenant, d.budget_id, d.cost.currency)
    if (tenant, d.reward_id) in rows.rewards:
        return
    rows.rewards[(tenant, d.reward_id)] = RewardRow(
        tenant,
        d.reward_id,
        day,
        d.budget_id,
        d.person_id,
        d.points,
        d.cost.amount_minor,
        d.cost.currency,
    )
    rows.move(day, tenant, f"budget:{d.budget_id}", d.cost.currency, -d.cost.amount_minor)


def _order(rows: Rows, day: date, tenant: str, entity: str, data: msgspec.Raw) -> None:
    d = msgspec.json.decode(data, type=OrderEvent)
    budget_id = d.payer.removeprefix("budget:") if d.payer.startswith("budget:") else ""
    rows.products.setdefault((tenant, d.product_id), d.face_value.currency)
    if budget_id:
        _name_budget(rows, tenant, budget_id, d.price.currency)
    earlier = rows.orders.get((tenant, d.order_id))
    rows.orders[(tenant, d.order_id)] = OrderRow(
        tenant,
        d.order_id,
        earlier.day if earlier else day,
        day,
        d.status,
        d.product_id,
        budget_id,
        _text(d.payer),
        d.face_value.amount_minor,
        d.face_value.currency,
        d.price.amount_minor,
        d.price.currency,
        _text(d.reason),
    )
    if d.status == "cancelled" and budget_id and (earlier is None or earlier.status != d.status):
        rows.move(day, tenant, f"budget:{budget_id}", d.price.currency, d.price.amount_minor)


def _name_budget(rows: Rows, tenant: str, budget_id: str, currency: str) -> None:
    """A budget the batch mentions without naming it still gets its dimension row."""
    name, known = rows.budgets.get((tenant, budget_id), ("", ""))
    rows.budgets[(tenant, budget_id)] = (name, known or currency)


_HANDLERS = {
    "budget.created": _budget_created,
    "budget.updated": _budget_updated,
    "budget.debited": _budget_debited,
    "budget.allocated": _money_moved,
    "funding.deposited": _money_moved,
    "reward.issued": _reward_issued,
    "order.accepted": _order,
    "order.held": _order,
    "order.fulfilled": _order,
    "order.failed": _order,
    "order.cancelled": _order,
    "order.resent": _order,
}
