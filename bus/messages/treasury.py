"""The treasury: one actor per tenant owns all of the tenant's balances.

Programme budgets (money, in a currency) and people's point wallets live in one actor,
keyed (tenant, "treasury", "all"), so that a movement between them — points issued from a
budget to a person — is one atomic decision and one commit (ADR 9). Commands for it are
in :mod:`bus.messages.budget` and :mod:`bus.messages.wallet`.
"""

from __future__ import annotations

import functools
import math
from fractions import Fraction
from typing import Annotated

import msgspec

from bus.messages.common import TENANT_WIDE, IsoCurrency, Rate, convert_exact, whole

KIND = "treasury"
TREASURY_KEY = TENANT_WIDE

#: The unit of point wallets (not an ISO 4217 code).
POINTS = "PTS"


class SetFxRate(msgspec.Struct, frozen=True, tag="fx.set"):
    """One unit of ``base`` buys ``rate`` units of ``quote`` (owner, admin, finance)."""

    base: IsoCurrency
    quote: IsoCurrency
    rate: Rate

    @property
    def actor_key(self) -> str:
        return TREASURY_KEY


class GetFxRates(msgspec.Struct, frozen=True, tag="fx.get"):
    @property
    def actor_key(self) -> str:
        return TREASURY_KEY


class SetPointsRate(msgspec.Struct, frozen=True, tag="points.rate.set"):
    """What the tenant's points are worth: ``points_per_unit`` points to one unit (not
    minor unit) of ``currency`` — 100 points per EUR makes a point worth one cent. Fixed
    once points have been issued (owner, admin, finance)."""

    currency: IsoCurrency
    points_per_unit: Rate

    @property
    def actor_key(self) -> str:
        return TREASURY_KEY


class GetPointsRate(msgspec.Struct, frozen=True, tag="points.rate.get"):
    @property
    def actor_key(self) -> str:
        return TREASURY_KEY


class PointsRateView(msgspec.Struct, frozen=True, tag="points.rate"):
    currency: str
    points_per_unit: str
    #: True once points have been issued: from then on the rate cannot change.
    locked: bool
    #: Points issued so far (spent or not).
    points_issued: int = 0


def points_for(amount_minor: int, currency: str, points_per_unit: str) -> int:
    """The points a price of ``amount_minor`` ``currency`` costs, rounded up."""
    return math.ceil(convert_exact(amount_minor, currency, POINTS, points_per_unit))


@functools.lru_cache(maxsize=4096)  # exact fractions are slow; a bulk job repeats amounts
def cost_of_points(points: int, currency: str, points_per_unit: str) -> int:
    """What issuing ``points`` costs in minor units of ``currency``, rounded up: the money
    set aside always covers the points it backs."""
    return math.ceil(convert_exact(points, POINTS, currency, 1 / Fraction(points_per_unit)))


def value_of_points(points: int, currency: str, points_per_unit: str) -> int:
    """The money ``points`` spent on an order take out of the points pool, rounded down,
    so that the pool never pays out more than it was given."""
    return math.floor(convert_exact(points, POINTS, currency, 1 / Fraction(points_per_unit)))


FxCommand = SetFxRate | GetFxRates | SetPointsRate | GetPointsRate


class FxRateView(msgspec.Struct, frozen=True):
    base: str
    quote: str
    rate: str
    updated_ms: int


class FxTable(msgspec.Struct, frozen=True, tag="fx.table"):
    rates: tuple[FxRateView, ...]


#: ``budget:<id>`` (paying in the budget's currency) or ``wallet:<person>`` (in points).
PAYER_PATTERN = whole("(budget|wallet):[A-Za-z0-9][A-Za-z0-9_.@+-]{0,89}")
Payer = Annotated[str, msgspec.Meta(pattern=PAYER_PATTERN)]
HoldId = Annotated[str, msgspec.Meta(pattern=whole("[A-Za-z0-9_.:-]{1,128}"))]
PositiveMinor = Annotated[int, msgspec.Meta(gt=0, le=2**62)]


class HoldFunds(msgspec.Struct, frozen=True, tag="hold.place"):
    """Set ``amount_minor`` aside from ``payer`` until the hold is committed or released
    (system only: sagas reserving before a multi-step order)."""

    hold_id: HoldId
    payer: Payer
    amount_minor: PositiveMinor
    #: For a wallet: the points rate the amount was priced at; the hold is refused if
    #: the tenant's rate is another ("" : not checked).
    points_rate: str = ""

    @property
    def actor_key(self) -> str:
        return TREASURY_KEY


class CommitHold(msgspec.Struct, frozen=True, tag="hold.commit"):
    """Spend what a hold set aside (system only)."""

    hold_id: HoldId

    @property
    def actor_key(self) -> str:
        return TREASURY_KEY


class ReleaseHold(msgspec.Struct, frozen=True, tag="hold.release"):
    """Give what a hold set aside back to its payer (system only)."""

    hold_id: HoldId

    @property
    def actor_key(self) -> str:
        return TREASURY_KEY


class FulfilOrder(msgspec.Struct, frozen=True, tag="order.fulfil"):
    """Carry out a priced order in one decision (system only: the orders actors): hold the
    price on the payer, give the order one of the codes the treasury has leased from the
    product's pool, spend the hold — or release it, without a code — and write the order
    in its final state, all in one commit (ADR 21)."""

    order_id: HoldId
    recipient: str
    payer: Payer
    product_id: str
    face_value_minor: int
    currency: str
    price_minor: PositiveMinor
    price_unit: str
    external_id: str
    created_ms: int
    fx_rate: str = ""
    points_rate: str = ""
    #: The version of the order as stored (0: not stored yet).
    version: int = 0
    #: Who placed the order (the principal's subject).
    placed_by: str = ""

    @property
    def actor_key(self) -> str:
        return TREASURY_KEY


class FulfilHeld(msgspec.Struct, frozen=True, tag="hold.fulfil"):
    """Carry out an order approved in review, whose price the hold ``hold_id`` (the order's
    id) set aside (system only: the orders actors): one of the codes the treasury leased
    from the product's pool, and the hold spent — or, with no code left, the hold released
    — in one decision. Answered with an :class:`OrderSettled` (version 0: the orders actor
    writes the order)."""

    hold_id: HoldId
    product_id: str
    face_value_minor: int

    @property
    def actor_key(self) -> str:
        return TREASURY_KEY


class OrderSettled(msgspec.Struct, frozen=True, tag="order.settled"):
    """How a :class:`FulfilOrder` ended, as written: ``fulfilled`` with a code, or
    ``failed`` with a reason (nothing spent)."""

    status: str
    code_id: str
    reason: str
    version: int
    updated_ms: int


HoldCommand = HoldFunds | CommitHold | ReleaseHold | FulfilOrder | FulfilHeld


class HoldView(msgspec.Struct, frozen=True, tag="hold"):
    hold_id: str
    payer: str
    amount_minor: int
    unit: str
    #: ``held``, ``committed`` or ``released``.
    status: str
    #: The payer's balance after this step.
    payer_balance_minor: int
