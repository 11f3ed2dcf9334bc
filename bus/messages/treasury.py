"""The treasury: one actor per tenant owns all of the tenant's balances.

Programme budgets (money, in a currency) and people's point wallets live in one actor,
keyed (tenant, "treasury", "all"), so that a movement between them — points issued from a
budget to a person — is one atomic decision and one commit (ADR 9). Commands for it are
in :mod:`bus.messages.budget` and :mod:`bus.messages.wallet`.
"""

from __future__ import annotations

from bus.messages.common import TENANT_WIDE

KIND = "treasury"
TREASURY_KEY = TENANT_WIDE

#: The unit of point wallets (not an ISO 4217 code).
POINTS = "PTS"
