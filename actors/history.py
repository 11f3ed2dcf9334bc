"""The history actor: one per tenant, the reader of people's orders and wallet movements,
of funding accounts' movements, and of the tenant's bulk jobs.

Reads only: what it answers was committed by the treasury and the orders actors, and
the ledger is its only source (an order's actors keep nothing that is not committed
first). It is an actor of its own, not a request to the treasury or an orders shard, so
that people scrolling their history during a burst never queue behind redemptions.

Who may read what is decided here again, whatever the edge checked: a person reads
their own orders and wallet; staff who may see others' orders (``OTHERS_ORDERS_READERS``) read
the tenant's, and those narrowed to some budgets (ADR 19) only what those budgets paid;
the roles that read anyone's wallet read its history too; a funding account's history is
read by its readers (``FUNDING_READERS``) acting for the whole tenant; bulk jobs by those
who run them (``actors.bulk.OPERATORS``), narrowed to their budgets' jobs.
"""

from __future__ import annotations

import base64
import binascii
import logging
import re
from collections.abc import Sequence

from actors import bulk
from actors.orders import view
from actors.runtime.actor import ActorKind, Decision, ReadOnlyActor
from actors.treasury import DEPOSITS, funding_account, wallet_account
from bus import acl
from bus.errors import ErrorCode
from bus.messages import Err, Ok, Reply, Request
from bus.messages.bulk import BulkPage, ListBulk
from bus.messages.common import Money
from bus.messages.funding import FUNDING_READERS
from bus.messages.grants import BUDGET
from bus.messages.history import (
    KIND,
    OTHERS_ORDERS_READERS,
    OTHERS_WALLETS_READERS,
    EntryKind,
    ExportOrders,
    FundingEntryKind,
    FundingHistory,
    FundingHistoryPage,
    FundingMovement,
    ListOrders,
    OrderPage,
    WalletHistory,
    WalletMovement,
    WalletPage,
)
from storage.ports import AccountLine, StatementLine

#: The step an order's transaction id ends with (``<order id>:<step>``), and what the
#: movement it makes in the wallet is.
_ORDER_STEPS: dict[str, EntryKind] = {
    "committed": "redemption",
    "hold": "redemption",
    "released": "refund",
    "cancel-refund": "refund",
}


def movement_kind(txn_id: str, points: int) -> tuple[EntryKind, str]:
    """What a wallet entry was, and the order it belongs to ("" if none), read from its
    transaction id (``actors.treasury`` names them)."""
    order_id, _, step = txn_id.rpartition(":")
    kind = _ORDER_STEPS.get(step)
    if kind is not None and order_id.startswith("ord_"):
        return kind, order_id
    return ("reward" if points > 0 else "adjustment"), ""


def funding_kind(counterpart: str) -> tuple[FundingEntryKind, str]:
    """What a funding account's entry was, and the budget it went to ("" if none), read
    from the account on the other side of its transaction (``actors.treasury`` names
    them)."""
    if counterpart == DEPOSITS:
        return "deposit", ""
    if counterpart.startswith("budget:"):
        return "allocation", counterpart.removeprefix("budget:")
    return "adjustment", ""


log = logging.getLogger(__name__)


def encode_cursor(*parts: object) -> str:
    raw = "\n".join(str(p) for p in parts).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str, parts: int) -> list[str] | None:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
    except (binascii.Error, UnicodeDecodeError, ValueError):
        return None
    fields = raw.split("\n")
    # ASCII digits only, below 2**63 (``str.isdigit`` takes "²", which ``int`` refuses,
    # and a longer number overflows the database's integers); the rest an id's shape.
    if len(fields) != parts or not _POSITION.fullmatch(fields[0]):
        return None
    if not all(_ID.fullmatch(f) for f in fields[1:]):
        return None
    return fields


_POSITION = re.compile(r"[0-9]{1,18}")
_ID = re.compile(r"[A-Za-z0-9._:@-]{1,128}")


_BAD_CURSOR = "the cursor is not one this API gave"


class HistoryActor(ReadOnlyActor):
    async def handle(self, batch: Sequence[Request]) -> Decision:
        """Each read on its own: the actor holds no state, so one request that fails
        (a store error, a bug) answers for itself and never for its batch's others."""
        replies: list[Reply] = []
        for request in batch:
            try:
                replies.append(await self._one(request))
            except Exception:
                log.exception("a history read failed")
                replies.append(Err.of(ErrorCode.INTERNAL, "the history could not be read"))
        return Decision(replies)

    async def _one(self, request: Request) -> Reply:
        match request.body:
            case ListOrders() as q:
                return await self._orders(request, q)
            case ExportOrders() if not OTHERS_ORDERS_READERS & set(request.principal.roles):
                # the edge checked already; the export's larger pages are staff's only
                return Err.of(ErrorCode.FORBIDDEN, "the orders export is for staff")
            case ExportOrders() as q:
                return await self._orders(request, q)
            case WalletHistory() as q:
                return await self._wallet(request, q)
            case FundingHistory() as q:
                return await self._funding(request, q)
            case ListBulk() as q:
                return await self._bulk_jobs(request, q)
            case _:
                return Err.of(ErrorCode.INVALID_REQUEST, "not a history request")

    async def _orders(self, request: Request, q: ListOrders | ExportOrders) -> Reply:
        principal = request.principal
        staff = bool(OTHERS_ORDERS_READERS & set(principal.roles))
        recipient = q.recipient if isinstance(q, ListOrders) else None
        if not staff:
            if recipient not in (None, principal.subject):
                return Err.of(ErrorCode.FORBIDDEN, "a person sees only their own orders")
            recipient = principal.subject
        payers: tuple[str, ...] | None = None
        if staff and principal.grants and recipient != principal.subject:
            payers = tuple(g for g in principal.grants if g.startswith(f"{BUDGET}:"))
        before = _before_position(q.cursor)
        if isinstance(before, Err):
            return before
        found = await self.ctx.ledger.list_orders(
            self.tenant, q.limit + 1, before, recipient, q.status, payers, q.since_ms, q.until_ms
        )
        page = found[: q.limit]
        more = len(found) > q.limit
        last = page[-1] if page else None
        cursor = encode_cursor(last.created_ms, last.order_id) if more and last else ""
        return Ok(OrderPage(tuple(view(o) for o in page), cursor))

    async def _wallet(self, request: Request, q: WalletHistory) -> Reply:
        principal = request.principal
        if q.person_id != principal.subject and not OTHERS_WALLETS_READERS & set(principal.roles):
            return Err.of(ErrorCode.FORBIDDEN, "a person sees only their own wallet")
        before = _before_entry(q.cursor)
        if isinstance(before, Err):
            return before
        account = wallet_account(q.person_id)
        lines = await self.ctx.ledger.account_lines(self.tenant, account, q.limit + 1, before)
        page = lines[: q.limit]
        cursor = encode_cursor(page[-1].entry_id) if len(lines) > q.limit and page else ""
        return Ok(WalletPage(await self._movements(page), cursor))

    async def _funding(self, request: Request, q: FundingHistory) -> Reply:
        principal = request.principal
        if not FUNDING_READERS & set(principal.roles):
            return Err.of(ErrorCode.FORBIDDEN, "only owners, admins, finance and auditors")
        if principal.grants:
            return Err.of(ErrorCode.FORBIDDEN, "funding accounts are the whole tenant's")
        before = _before_entry(q.cursor)
        if isinstance(before, Err):
            return before
        account = funding_account(q.account_id)
        if not await self.ctx.ledger.load_accounts(self.tenant, [account]):
            return Err.of(ErrorCode.NOT_FOUND, f"funding account {q.account_id} does not exist")
        lines = await self.ctx.ledger.account_statement(self.tenant, account, q.limit + 1, before)
        page = lines[: q.limit]
        cursor = encode_cursor(page[-1].line.entry_id) if len(lines) > q.limit and page else ""
        return Ok(FundingHistoryPage(tuple(_funding_movement(s) for s in page), cursor))

    async def _bulk_jobs(self, request: Request, q: ListBulk) -> Reply:
        principal = request.principal
        if not bulk.OPERATORS & set(principal.roles):
            return Err.of(ErrorCode.FORBIDDEN, "bulk jobs are read by those who run them")
        before = _before_position(q.cursor)
        if isinstance(before, Err):
            return before
        found = await self.ctx.ledger.list_bulk_jobs(
            self.tenant, q.limit + 1, before, q.status, acl.granted_budgets(principal)
        )
        page = found[: q.limit]
        last = page[-1] if len(found) > q.limit and page else None
        cursor = encode_cursor(last.created_ms, last.job_id) if last else ""
        return Ok(BulkPage(tuple(bulk.view(j) for j in page), cursor))

    async def _movements(self, lines: Sequence[AccountLine]) -> tuple[WalletMovement, ...]:
        kinds = [movement_kind(line.txn_id, line.amount_minor) for line in lines]
        order_ids = sorted({order_id for _, order_id in kinds if order_id})
        orders = await self.ctx.ledger.load_orders(self.tenant, order_ids) if order_ids else []
        products = {o.order_id: o.product_id for o in orders}
        return tuple(
            WalletMovement(
                line.txn_id,
                line.created_ms,
                line.amount_minor,
                kind,
                order_id,
                products.get(order_id, ""),
            )
            for line, (kind, order_id) in zip(lines, kinds, strict=True)
        )


def _before_position(cursor: str) -> tuple[int, str] | Err | None:
    """Where a page of things newest first (orders, bulk jobs) starts: before this
    (creation ms, id) (None: the newest first), or why the cursor is not one this API gave."""
    if not cursor:
        return None
    fields = decode_cursor(cursor, 2)
    return (
        Err.of(ErrorCode.INVALID_REQUEST, _BAD_CURSOR)
        if fields is None
        else (int(fields[0]), fields[1])
    )


def _before_entry(cursor: str) -> int | Err | None:
    """Where a page of one account's entries starts: before this entry (None: the newest
    first), or why the cursor is not one this API gave."""
    if not cursor:
        return None
    fields = decode_cursor(cursor, 1)
    return Err.of(ErrorCode.INVALID_REQUEST, _BAD_CURSOR) if fields is None else int(fields[0])


def _funding_movement(s: StatementLine) -> FundingMovement:
    kind, budget_id = funding_kind(s.counterpart)
    line = s.line
    return FundingMovement(
        line.txn_id,
        line.created_ms,
        Money(line.amount_minor, line.currency),
        kind,
        Money(s.balance_after_minor, line.currency),
        budget_id,
    )


HISTORY = ActorKind(
    KIND,
    HistoryActor,
    accepts=(ListOrders, ExportOrders, WalletHistory, FundingHistory, ListBulk),
)
