"""The treasury: one actor per tenant owns all of the tenant's balances.

Programme budgets (money, in a currency) and people's point wallets live in one actor,
keyed (tenant, "treasury", "all"), so that a movement between them — points issued from a
budget to a person — is one atomic decision and one commit (ADR 9). Commands for it are
in :mod:`bus.messages.budget` and :mod:`bus.messages.wallet`.
"""

from __future__ import annotations

import msgspec

from bus.messages.common import TENANT_WIDE, Currency, Rate

KIND = "treasury"
TREASURY_KEY = TENANT_WIDE

#: The unit of point wallets (not an ISO 4217 code).
POINTS = "PTS"


class SetFxRate(msgspec.Struct, frozen=True, tag="fx.set"):
    """One unit of ``base`` buys ``rate`` units of ``quote`` (owner, admin, finance)."""

    base: Currency
    quote: Currency
    rate: Rate

    @property
    def actor_key(self) -> str:
        return TREASURY_KEY


class GetFxRates(msgspec.Struct, frozen=True, tag="fx.get"):
    @property
    def actor_key(self) -> str:
        return TREASURY_KEY


FxCommand = SetFxRate | GetFxRates


class FxRateView(msgspec.Struct, frozen=True):
    base: str
    quote: str
    rate: str
    updated_ms: int


class FxTable(msgspec.Struct, frozen=True, tag="fx.table"):
    rates: tuple[FxRateView, ...]
