"""The points rate is the tenant's, fixed once points are issued — durably and fenced."""

from __future__ import annotations

from dataclasses import replace

import pytest

from actors.config import ActorsConfig
from actors.kinds import ALL_KINDS
from actors.runtime.actor import ActorKey
from actors.runtime.host import ActorHost
from actors.treasury import TreasuryActor
from bus.client import Bus
from bus.errors import ErrorCode
from bus.messages import Command, Envelope, Err, Ok, Principal, Reply
from bus.messages.budget import CreateBudget
from bus.messages.common import Money
from bus.messages.treasury import (
    CommitHold,
    GetPointsRate,
    HoldFunds,
    PointsRateView,
    SetPointsRate,
)
from bus.messages.wallet import IssuePoints
from storage.errors import StaleWrite
from storage.ports import CatalogueStore, Ledger
from tests.conftest import PARTITIONS, context

SYSTEM = Principal("orders", roles=("system",))
FINANCE = Principal("cfo@acme", roles=("finance",))


async def ask(bus: Bus, body: Command, who: Principal = FINANCE) -> Reply:
    return await bus.request("acme", "treasury", body, who, timeout_s=10)


async def host(
    bus: Bus, ledger: Ledger, catalogue: CatalogueStore, points_currency: str = "EUR"
) -> ActorHost:
    ctx = replace(context(ledger, catalogue), points_currency=points_currency)
    h = ActorHost(bus, ctx, ALL_KINDS, ActorsConfig(idle_timeout_s=30), PARTITIONS)
    await h.start()
    return h


async def rate(bus: Bus) -> PointsRateView:
    reply = await ask(bus, GetPointsRate())
    assert isinstance(reply, Ok)
    assert isinstance(reply.value, PointsRateView)
    return reply.value


async def test_the_rate_stays_fixed_across_restarts_and_deployment_settings(
    bus: Bus, ledger: Ledger, catalogue: CatalogueStore
) -> None:
    h = await host(bus, ledger, catalogue, "EUR")
    try:
        assert isinstance(await ask(bus, CreateBudget("b1", "B1", Money(10_000, "EUR"))), Ok)
        assert isinstance(await ask(bus, IssuePoints("b1", "ann", 1000, "r1")), Ok)
        assert isinstance(await ask(bus, HoldFunds("h1", "wallet:ann", 600), SYSTEM), Ok)
    finally:
        await h.stop()
    # the deployment's default points currency changes: this tenant's points do not
    h = await host(bus, ledger, catalogue, "JPY")
    try:
        assert await rate(bus) == PointsRateView("EUR", "100", True, 1000)
        refused = await ask(bus, SetPointsRate("EUR", "1000"))
        assert isinstance(refused, Err)
        assert refused.code == ErrorCode.RATE_LOCKED
        assert isinstance(await ask(bus, CommitHold("h1"), SYSTEM), Ok)
    finally:
        await h.stop()
    assert await ledger.account_balance("acme", "points:EUR") == 1000 - 600
    assert await ledger.account_balance("acme", "points:JPY") == 0
    assert await ledger.entries_total("acme") == 0


async def test_a_hold_priced_at_another_rate_is_refused(
    bus: Bus, ledger: Ledger, catalogue: CatalogueStore
) -> None:
    h = await host(bus, ledger, catalogue)
    try:
        assert isinstance(await ask(bus, SetPointsRate("EUR", "3")), Ok)
        assert isinstance(await ask(bus, CreateBudget("b1", "B1", Money(10_000, "EUR"))), Ok)
        assert isinstance(await ask(bus, IssuePoints("b1", "ann", 90, "r1")), Ok)
        stale = await ask(bus, HoldFunds("h1", "wallet:ann", 75, points_rate="100"), SYSTEM)
        assert isinstance(stale, Err)
        assert stale.code == ErrorCode.RATE_LOCKED
        same = await ask(bus, HoldFunds("h2", "wallet:ann", 75, points_rate="3.0"), SYSTEM)
        assert isinstance(same, Ok)
        pts = await ask(bus, SetPointsRate("PTS", "1"))
        assert isinstance(pts, Err)
        assert pts.code == ErrorCode.INVALID_REQUEST
    finally:
        await h.stop()


async def test_a_stale_treasury_cannot_change_the_rate_after_points_were_issued(
    ledger: Ledger,
) -> None:
    """Two activations of one tenant's treasury (a partition changing hands): the rate
    lives on a versioned account, so the stale one's write is refused by the store."""
    ctx = context(ledger)
    key = ActorKey("acme", "treasury", "all")

    def request(body: Command) -> Envelope[Command]:
        return Envelope("acme", FINANCE, "r", 2**62, body)

    stale, live = TreasuryActor(ctx, key), TreasuryActor(ctx, key)
    await stale.on_activate()
    await live.on_activate()
    for actor, body in (
        (stale, SetPointsRate("EUR", "3")),  # the stale one set the rate, and keeps it
        (live, CreateBudget("b1", "B1", Money(10_000, "EUR"))),
        (live, IssuePoints("b1", "ann", 30, "r1")),
    ):
        decision = await actor.handle([request(body)])
        assert decision.changes is not None
        await ledger.apply([decision.changes])
    decision = await stale.handle([request(SetPointsRate("EUR", "4"))])
    assert isinstance(decision.replies[0], Ok)  # it does not know points were issued …
    assert decision.changes is not None
    with pytest.raises(StaleWrite):  # … but the store does
        await ledger.apply([decision.changes])
    (programme,) = await ledger.load_accounts("acme", ["points:issued"])
    assert (programme.name, programme.balance_minor) == ("EUR 3", -30)
