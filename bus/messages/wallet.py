"""Point wallets: people's balances of reward points, and the rewards that fill them.

Points are issued from a programme budget in the tenant's points currency, at its points
rate (ADR 13; by default one point is one minor unit: 100 points = 1.00 EUR); the cost is
rounded up to a whole minor unit.
"""

from __future__ import annotations

from typing import Annotated, ClassVar

import msgspec

from bus.messages.budget import BudgetId
from bus.messages.common import Money, whole
from bus.messages.treasury import TREASURY_KEY

PERSON_ID_PATTERN = whole("[A-Za-z0-9][A-Za-z0-9_.@+-]{0,89}")
PersonId = Annotated[str, msgspec.Meta(pattern=PERSON_ID_PATTERN)]
Points = Annotated[int, msgspec.Meta(ge=1, le=2**53)]


class IssuePoints(msgspec.Struct, frozen=True, tag="wallet.issue"):
    """Reward ``person_id`` with ``points`` paid from ``budget_id``."""

    generated_ids: ClassVar[tuple[str, ...]] = ("reward_id",)

    budget_id: BudgetId
    person_id: PersonId
    points: Points
    reward_id: str
    memo: str = ""

    @property
    def actor_key(self) -> str:
        return TREASURY_KEY


class GetWallet(msgspec.Struct, frozen=True, tag="wallet.get"):
    person_id: PersonId

    @property
    def actor_key(self) -> str:
        return TREASURY_KEY


class RefundWallet(msgspec.Struct, frozen=True, tag="wallet.refund"):
    """Give back points an order spent (system only: sagas compensating a cancel)."""

    person_id: PersonId
    points: Points
    txn_id: str

    @property
    def actor_key(self) -> str:
        return TREASURY_KEY


WalletCommand = IssuePoints | GetWallet | RefundWallet


class WalletView(msgspec.Struct, frozen=True, tag="wallet"):
    person_id: str
    points: int
    version: int


class PointsIssued(msgspec.Struct, frozen=True, tag="wallet.points_issued"):
    reward_id: str
    budget_id: str
    person_id: str
    points: int
    cost: Money
    budget_balance_after: Money
    wallet_points_after: int
    created_ms: int


class RewardIssued(msgspec.Struct, frozen=True):
    """Data of the ``reward.issued`` event."""

    reward_id: str
    budget_id: str
    person_id: str
    points: int
    cost: Money
    memo: str = ""
    #: The person's points once these were added.
    wallet_points_after: int = 0
