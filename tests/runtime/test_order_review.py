"""An order held for review survives its host: approved by a host that never saw it
held, it is carried out at the tenant's points rate (the money leg of the points spent
included), with a code the new treasury leases."""

from __future__ import annotations

from bus.client import Bus
from bus.errors import ErrorCode
from bus.messages import Command, Err, Ok, Principal, Reply, ReplyValue
from bus.messages.budget import CreateBudget
from bus.messages.common import Money
from bus.messages.orders import OrderView, PlaceOrder, ReviewOrder
from bus.messages.tenant_config import PutDocument
from bus.messages.treasury import ReleaseHold, SetPointsRate
from bus.messages.vouchers import CodeRow, ImportCodes
from bus.messages.wallet import IssuePoints
from bus.scopes import SCOPE_CONFIG_ADMIN
from storage.ports import CatalogueStore, Ledger
from tests.conftest import start_host
from tests.support import fail_first_ask, gift_card

ADMIN = Principal("admin@acme", roles=("admin",), scopes=(SCOPE_CONFIG_ADMIN,))
REVIEWER = Principal("rev@acme", roles=("finance",))
ANN = Principal("ann", roles=("end_user",))
PROGRAMME = b'{"review_threshold": {"amount_minor": 2500, "currency": "EUR"}}'


async def test_a_held_order_is_approved_by_a_host_that_never_saw_it_held(
    bus: Bus, ledger: Ledger, catalogue: CatalogueStore
) -> None:
    async def ask(kind: str, body: Command, who: Principal = ADMIN) -> ReplyValue:
        reply = await bus.request("acme", kind, body, who, timeout_s=30)
        assert isinstance(reply, Ok), reply
        return reply.value

    await catalogue.put_products([gift_card()])
    first = await start_host(bus, ledger, catalogue)
    try:
        await ask("treasury", SetPointsRate("EUR", "50"))  # a point is two cents
        await ask("treasury", CreateBudget("b1", "B", Money(100_000, "EUR")))
        await ask("treasury", IssuePoints("b1", "ann", 5_000, "rwd-ann"))
        rows = tuple(CodeRow(f"REVIEW-{i}") for i in range(3))
        await ask("vouchers", ImportCodes("card-de", 2500, "EUR", rows))
        programme = b'{"review_threshold": {"amount_minor": 2500, "currency": "EUR"}}'
        await ask("tenant_config", PutDocument("programme", programme, None))
        placed = await ask("treasury", PlaceOrder("ord_review_1", "card-de", 2500, "ann"), ANN)
        assert isinstance(placed, OrderView)
        assert placed.status == "held"
    finally:
        await first.stop()
    assert await ledger.account_balance("acme", "wallet:ann") == 5_000 - 1_250  # 25 EUR

    second = await start_host(bus, ledger, catalogue)
    try:
        approved = await ask("orders", ReviewOrder("ord_review_1", approve=True), REVIEWER)
        assert isinstance(approved, OrderView)
        assert (approved.status, approved.reason) == ("fulfilled", "")
        assert approved.code_id
    finally:
        await second.stop()
    assert await ledger.account_balance("acme", "points:redeemed") == 1_250
    assert await ledger.account_balance("acme", "redeemed:EUR") == 2_500  # at 50 a euro
    assert await ledger.account_balance("acme", "hold:ord_review_1") == 0
    assert await ledger.entries_total("acme") == 0


async def test_an_order_being_rejected_is_not_approved(
    bus: Bus, ledger: Ledger, catalogue: CatalogueStore
) -> None:
    """A rejection whose release of the held points failed for a moment leaves the order
    ``rejecting``; a second reviewer's approval is refused, not answered as if done."""
    await catalogue.put_products([gift_card()])
    host = await start_host(bus, ledger, catalogue)
    released = fail_first_ask(host, ReleaseHold, "the treasury is restarting")
    try:

        async def ask(kind: str, body: Command, who: Principal = ADMIN) -> Reply:
            return await bus.request("acme", kind, body, who, timeout_s=30)

        for setup in (
            ("treasury", CreateBudget("b1", "B", Money(100_000, "EUR"))),
            ("treasury", IssuePoints("b1", "ann", 5_000, "rwd-ann")),
            ("vouchers", ImportCodes("card-de", 2500, "EUR", (CodeRow("REVIEW-1"),))),
            ("tenant_config", PutDocument("programme", PROGRAMME, None)),
        ):
            assert isinstance(await ask(*setup), Ok)
        placed = await ask("treasury", PlaceOrder("ord_rev_2", "card-de", 2500, "ann"), ANN)
        assert isinstance(placed, Ok)
        assert isinstance(placed.value, OrderView)
        assert placed.value.status == "held"
        await ask("orders", ReviewOrder("ord_rev_2", approve=False), REVIEWER)
        assert [c.hold_id for c in released if isinstance(c, ReleaseHold)] == ["ord_rev_2"]
        other = Principal("rev2@acme", roles=("finance",))
        approved = await ask("orders", ReviewOrder("ord_rev_2", approve=True), other)
        assert isinstance(approved, Err), approved
        assert approved.code == ErrorCode.INVALID_REQUEST
    finally:
        await host.stop()
