"""The orders actors (``ORDER_SHARDS`` per tenant): orders' reads, codes, cancellations
— and the checks and prices of placing one, as functions the treasury uses too.

A new order is carried out whole by the treasury (ADR 21): the price taken from the payer
and spent, a code the treasury leased from the vouchers actor, and the order written as it
ended — one decision, one commit. Orders from the edge go to the treasury directly
(``PlaceOrder``); one sent here on NATS is checked and priced here and sent whole
(``FulfilOrder``). Nothing is written before that commit, so nothing is left to resume; an
error that may pass is answered as such, and the client's retry with the same key finds
the order or places it.

Cancellations, and orders an earlier version left ``accepted`` (recorded) or ``paid``
(price held), still go step by step:

    accepted ──hold──▶ paid ──allocate a code, commit the hold──▶ fulfilled
        │                 │
        └─refused─▶ failed ◀─release─┘ (no code: the held funds go back)

Every step is a request to the actor that owns the thing — the treasury (points
or budget), the vouchers (a code) — sent with an idempotency key made of the order id and
the step, so a step repeated after a crash, or a retry, has exactly one effect and gets
the first reply again; such an order is resumed on the actor's next activation, and
whenever it is asked for. A tenant's orders are spread over ``ORDER_SHARDS`` actors by
order id.

An order placed here (step by step) takes its id from the client's idempotency key when it
sends one, so that a retry finds the order its first attempt started. The treasury, which
places new orders in one decision (ADR 21), keeps the id the edge made — one that grows
with time — and still finds an order placed here under the same key.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import math
from collections import OrderedDict
from collections.abc import Mapping, Sequence
from fractions import Fraction

from msgspec.structs import replace

from actors.runtime.actor import ActorContext, ActorKey, ActorKind, Decision
from bus import acl
from bus.errors import ErrorCode
from bus.events import OutboxEvent, make_event
from bus.messages import Command, Err, Ok, Reply, Request, catalogue, treasury, vouchers
from bus.messages.budget import BudgetView, GetBudget, RefundBudget
from bus.messages.catalogue import GetProduct, ProductView
from bus.messages.common import MAX_MINOR, Money, Principal, convert_exact
from bus.messages.orders import (
    KIND,
    ORDER_SHARDS,
    CancelOrder,
    GetOrder,
    OrderCodes,
    OrderEvent,
    OrderView,
    PlaceOrder,
    ResendOrder,
    ResumeOrders,
    ResumeReport,
    ReviewOrder,
    shard_of,
)
from bus.messages.treasury import (
    POINTS,
    CommitHold,
    FulfilHeld,
    FulfilOrder,
    FxTable,
    GetFxRates,
    GetPointsRate,
    HoldFunds,
    OrderSettled,
    PointsRateView,
    ReleaseHold,
)
from bus.messages.vouchers import AllocateCode, Allocated, RevealCodes, VoidCode
from bus.messages.wallet import RefundWallet
from bus.time import now_ms
from storage.ports import ChangeSet, OrderRecord, PutOrder

log = logging.getLogger(__name__)

FINAL = frozenset({"fulfilled", "failed", "cancelled"})
#: Roles that may act for others: order points on a person's behalf, see their codes.
STAFF = frozenset({"owner", "admin", "finance"})
#: Roles that may order gift cards paid from a budget.
BUDGET_SPENDERS = STAFF | {"programme_manager", "integrator"}
#: Who approves or rejects orders held for review (never their own).
REVIEWERS = STAFF | {"programme_manager"}
#: Orders that wait for a person, not for a step to be retried.
WAITING = frozenset({"held"})
RESUME_BATCH = 100
#: How soon an order whose step failed (retryably) is tried again.
RETRY_S = 2.0


def order_id_for(tenant: str, subject: str, key: str) -> str:
    digest = hashlib.sha256(f"{tenant}\n{subject}\n{key}".encode()).hexdigest()
    return f"ord_{digest[:32]}"


def placed_order_id(request: Request, cmd: PlaceOrder) -> str:
    """The id of the order a request places step by step: from its idempotency key when it
    has one, so that a retry finds the order its first attempt started (a retry of an
    order still on its way has no stored reply to answer it)."""
    key = request.idempotency_key
    return order_id_for(request.tenant, request.principal.subject, key) if key else cmd.order_id


def view(o: OrderRecord) -> OrderView:
    return OrderView(
        o.order_id,
        o.status,
        o.recipient,
        o.payer,
        o.product_id,
        Money(o.face_value_minor, o.currency),
        Money(o.price_minor, o.price_unit),
        o.code_id,
        o.reason,
        o.external_id,
        o.created_ms,
        o.updated_ms,
        o.fx_rate,
        o.points_rate,
    )


def order_event(o: OrderRecord, name: str | None = None) -> OutboxEvent:
    """``order.<status>`` (or ``order.<name>``) of an order as it stands."""
    v = view(o)
    data = OrderEvent(
        v.order_id, v.status, v.recipient, v.payer, v.product_id, v.face_value, v.price, v.reason
    )
    return make_event(o.tenant, "order", name or o.status, o.order_id, data)


def exact_price(face_value: int, markup_bps: int) -> Fraction:
    """Face value plus markup in the product's minor units, exactly (no rounding yet)."""
    return Fraction(face_value * (10_000 + markup_bps), 10_000)


def price(face_value: int, markup_bps: int) -> int:
    """Face value plus markup, rounded up to a whole minor unit (never in our favour less),
    in integers: a float quotient loses units past 2**53."""
    return -(-face_value * (10_000 + markup_bps) // 10_000)


#: (amount in the payer's unit, the unit, the exchange rate and the points rate locked
#: in, "" where none applies).
Priced = tuple[int, str, str, str]


def refusal(principal: Principal, cmd: PlaceOrder) -> Err | None:
    """Why ``principal`` may not place ``cmd``; None if it may."""
    roles = set(principal.roles)
    if cmd.budget_id is not None and not BUDGET_SPENDERS & roles:
        return Err.of(ErrorCode.FORBIDDEN, "ordering from a budget needs a spending role")
    if why := acl.refusal(principal, cmd):
        return Err.of(ErrorCode.FORBIDDEN, why)
    own = principal.subject == cmd.recipient
    # staff narrowed to some budgets spend no one's points but their own (ADR 19)
    if cmd.budget_id is None and not own and not (STAFF & roles and not principal.grants):
        return Err.of(ErrorCode.FORBIDDEN, "only the person may spend their points")
    # four eyes: a budget pays for someone else's gift card, unless the tenant's owner
    # or an admin orders it
    if cmd.budget_id is not None and own and not acl.may_serve_self(principal):
        return Err.of(ErrorCode.FORBIDDEN, "a budget does not pay for its spender's own order")
    return None


def payer_of(cmd: PlaceOrder) -> str:
    return f"budget:{cmd.budget_id}" if cmd.budget_id else f"wallet:{cmd.recipient}"


def other_order(existing: OrderRecord, cmd: PlaceOrder) -> Err | None:
    """The error for a key or external id that already placed a different order."""
    same = (existing.product_id, existing.face_value_minor, existing.recipient, existing.payer)
    if same == (cmd.product_id, cmd.face_value_minor, cmd.recipient, payer_of(cmd)):
        return None
    return Err.of(
        ErrorCode.IDEMPOTENCY_KEY_REUSED,
        "this key or external id already placed a different order",
    )


def sellable(product: Reply, cmd: PlaceOrder) -> ProductView | Err:
    """The product, if it is enabled and sold at the order's face value."""
    if isinstance(product, Err):
        return product
    if not isinstance(product.value, ProductView) or not product.value.enabled:
        return Err.of(ErrorCode.NOT_FOUND, f"no product {cmd.product_id}")
    p = product.value
    fixed_ok = cmd.face_value_minor in p.denominations
    in_range = p.range is not None and (
        p.range.min_minor <= cmd.face_value_minor <= p.range.max_minor
    )
    if not (fixed_ok or in_range):
        return Err.of(
            ErrorCode.INVALID_REQUEST,
            f"{cmd.product_id} is not sold at {cmd.face_value_minor} minor units",
        )
    return p


def final_price(
    product: ProductView,
    cmd: PlaceOrder,
    payer_currency: str,
    unit: str,
    points_rate: str,
    fx_rates: Mapping[tuple[str, str], str],
) -> Priced | Err:
    """What the payer pays. A budget pays in its currency; points at the tenant's points
    rate, in its points currency. Another currency than the product's goes through the
    tenant's exchange rate. The price is exact until the end, then rounded up once."""
    amount = exact_price(cmd.face_value_minor, product.markup_bps)
    currency = product.currency
    fx_rate = ""
    if payer_currency != currency:
        fx_rate = fx_rates.get((currency, payer_currency), "")
        if not fx_rate:
            return Err.of(
                ErrorCode.CURRENCY_MISMATCH,
                f"no exchange rate from {currency} to {payer_currency}: set one first",
            )
    exact = convert_exact(amount, currency, payer_currency, fx_rate or "1")
    if points_rate:
        exact = convert_exact(exact, payer_currency, POINTS, points_rate)
    charged = math.ceil(exact)
    if charged > MAX_MINOR:
        return Err.of(
            ErrorCode.INVALID_REQUEST,
            f"the price, {charged} {unit} minor units, is more than any account holds",
        )
    return charged, unit, fx_rate, points_rate


def new_order(
    tenant: str,
    order_id: str,
    cmd: PlaceOrder,
    product: ProductView,
    priced: Priced,
    placed_by: str,
) -> OrderRecord:
    """An order checked and priced, not carried out yet."""
    amount, unit, rate, points_rate = priced
    now = now_ms()
    return OrderRecord(
        tenant=tenant,
        order_id=order_id,
        status="accepted",
        recipient=cmd.recipient,
        payer=payer_of(cmd),
        product_id=cmd.product_id,
        face_value_minor=cmd.face_value_minor,
        currency=product.currency,
        price_minor=amount,
        price_unit=unit,
        code_id="",
        reason="",
        external_id=cmd.external_id or "",
        created_ms=now,
        updated_ms=now,
        version=1,
        fx_rate=rate,
        points_rate=points_rate,
        placed_by=placed_by,
    )


def fulfil_command(o: OrderRecord) -> FulfilOrder:
    """What the treasury is asked to carry out a new order whole (ADR 21)."""
    return FulfilOrder(
        order_id=o.order_id,
        recipient=o.recipient,
        payer=o.payer,
        product_id=o.product_id,
        face_value_minor=o.face_value_minor,
        currency=o.currency,
        price_minor=o.price_minor,
        price_unit=o.price_unit,
        external_id=o.external_id,
        created_ms=o.created_ms,
        fx_rate=o.fx_rate,
        points_rate=o.points_rate,
        placed_by=o.placed_by,
    )


def settled_order(o: OrderRecord, s: OrderSettled) -> OrderRecord:
    return replace(
        o,
        status=s.status,
        code_id=s.code_id,
        reason=s.reason,
        version=s.version,
        updated_ms=s.updated_ms,
    )


class OrdersActor:
    def __init__(self, ctx: ActorContext, key: ActorKey) -> None:
        self.ctx = ctx
        self.tenant = key.tenant
        self.shard = key.key
        self.orders = KnownOrders()
        self._resumed = False
        self._retry_pending = False
        self._lookups = BatchLookups(ctx, self.tenant)
        self._absent: set[str] = set()  # of this batch's orders, those storage has not
        #: Budget id → its currency, which never changes (one question per budget).
        self._currencies: dict[str, str] = {}

    async def on_activate(self) -> None:
        self.orders = KnownOrders()
        self._resumed = False
        self._retry_pending = False

    async def on_deactivate(self, reason: str) -> None:
        self.orders = KnownOrders()

    async def handle(self, batch: Sequence[Request]) -> Decision:
        self._lookups = BatchLookups(self.ctx, self.tenant)
        for request in batch:  # what pricing needs, asked once per batch and at once
            if isinstance(request.body, PlaceOrder):
                self._prefetch(request.body)
        await self._preload(batch)
        replies: list[Reply | None] = [None] * len(batch)
        accepted: list[OrderRecord] = []
        recorded: list[PutOrder] = []
        resent: list[OutboxEvent] = []
        placing: dict[str, list[int]] = {}
        to_run: dict[str, OrderRecord] = {}
        resuming = any(isinstance(r.body, ResumeOrders) for r in batch)
        if resuming:
            self._retry_pending = False
        if not self._resumed or resuming:
            self._resumed = True
            waiting = await self.ctx.ledger.unfinished_orders(
                self.tenant, RESUME_BATCH * ORDER_SHARDS
            )
            for o in waiting:
                if shard_of(o.order_id) == self.shard and self.orders.get(o.order_id) is None:
                    self.orders.put(o)
        # Every batch carries unfinished orders a step further (a retryable step failed).
        for o in self.orders.unfinished():
            if len(to_run) >= RESUME_BATCH:
                break
            to_run[o.order_id] = o

        def carry(i: int, outcome: OrderRecord | Err) -> None:
            """Answer request ``i`` with the order it placed or changed (carried on, if
            unfinished, in this batch), or with its refusal."""
            if isinstance(outcome, Err):
                replies[i] = outcome
                return
            placing.setdefault(outcome.order_id, []).append(i)
            if outcome.status not in FINAL:
                to_run[outcome.order_id] = outcome

        for i, request in enumerate(batch):
            match request.body:
                case ResumeOrders():
                    replies[i] = Ok(ResumeReport(len(to_run)))
                case PlaceOrder() as place:
                    carry(i, await self._accept(request, place, accepted))
                case GetOrder(order_id=order_id):
                    found = await self._load(order_id)
                    if found is None or not self._may_see(request, found):
                        replies[i] = Err.of(ErrorCode.NOT_FOUND, f"no order {order_id}")
                    else:
                        placing.setdefault(found.order_id, []).append(i)
                        if found.status not in FINAL:  # not over a review earlier in the batch
                            to_run.setdefault(found.order_id, found)
                case OrderCodes(order_id=order_id):
                    replies[i] = await self._codes(request, order_id)
                case ReviewOrder() as review:
                    carry(i, await self._review(request, review, recorded))
                case CancelOrder(order_id=order_id, reason=reason):
                    carry(i, await self._cancel(request, order_id, reason, recorded))
                case ResendOrder(order_id=order_id):
                    found = await self._load(order_id)
                    seen = found is not None and self._may_see(request, found)
                    if found is None or not seen or found.status != "fulfilled":
                        replies[i] = Err.of(ErrorCode.NOT_FOUND, f"no fulfilled order {order_id}")
                    else:
                        resent.append(self._event(found, "resent"))
                        replies[i] = Ok(view(found))
                case _:
                    replies[i] = Err.of(ErrorCode.INVALID_REQUEST, "not an orders request")
        for o in accepted:  # new orders are carried out by the treasury, in one step
            to_run.pop(o.order_id, None)
        if recorded:  # cancellations and reviews: recorded before their first step
            await self.ctx.commit(ChangeSet(self.tenant, orders=tuple(recorded)))
            for put in recorded:
                self.orders.put(put.record)
        settled, finished = await asyncio.gather(
            asyncio.gather(*(self._fulfil(o) for o in accepted)),
            asyncio.gather(*(self._run(o) for o in to_run.values())),
        )
        refused: dict[str, Err] = {}
        for o, outcome in zip(accepted, settled, strict=True):
            if isinstance(outcome, Err):
                refused[o.order_id] = outcome
            else:
                self.orders.put(outcome)  # written by the treasury
        puts: list[PutOrder] = []
        events: list[OutboxEvent] = []
        for before, after in zip(to_run.values(), finished, strict=True):
            if after == before:
                continue
            after = replace(after, updated_ms=now_ms(), version=before.version + 1)
            puts.append(PutOrder(after, before.version))
            self.orders.put(after)
            if after.status in FINAL:
                events.append(self._event(after))
        for order_id, indexes in placing.items():
            for i in indexes:
                err = refused.get(order_id)
                replies[i] = err or Ok(view(self.orders.known(order_id)))
        decided: list[Reply] = [r for r in replies if r is not None]
        assert len(decided) == len(batch)
        unfinished = self.orders.any_unfinished()
        if unfinished and not self._retry_pending:
            # Some step could not be taken now: come back to it, whatever else arrives.
            self._retry_pending = True
            self.ctx.tell_later(RETRY_S, self.tenant, KIND, ResumeOrders(self.shard))
        events.extend(resent)
        if not (puts or events):
            return Decision(decided)
        return Decision(decided, ChangeSet(self.tenant, events=tuple(events), orders=tuple(puts)))

    def _prefetch(self, cmd: PlaceOrder) -> None:
        self._lookups.start(catalogue.KIND, GetProduct(cmd.product_id))
        if cmd.budget_id is not None:
            if cmd.budget_id not in self._currencies:
                self._lookups.start(treasury.KIND, GetBudget(cmd.budget_id))
        else:
            self._lookups.start(treasury.KIND, GetPointsRate())

    async def _preload(self, batch: Sequence[Request]) -> None:
        """Read the batch's orders not in memory with one query, not one each."""
        self._absent = set()
        wanted = {
            placed_order_id(r, r.body) if isinstance(r.body, PlaceOrder) else r.body.order_id
            for r in batch
            if isinstance(
                r.body, (PlaceOrder, GetOrder, OrderCodes, CancelOrder, ReviewOrder, ResendOrder)
            )
        }
        missing = [i for i in wanted if self.orders.get(i) is None]
        if missing:
            for o in await self.ctx.ledger.load_orders(self.tenant, missing):
                self.orders.put(o)
            self._absent = {i for i in missing if self.orders.get(i) is None}

    async def _load(self, order_id: str) -> OrderRecord | None:
        known = self.orders.get(order_id)
        if known is None and order_id not in self._absent:
            found = await self.ctx.ledger.load_orders(self.tenant, [order_id])
            known = found[0] if found else None
            if known is not None:
                self.orders.put(known)
        return known

    async def _accept(
        self, request: Request, cmd: PlaceOrder, accepted: list[OrderRecord]
    ) -> OrderRecord | Err:
        if denied := refusal(request.principal, cmd):
            return denied
        order_id = placed_order_id(request, cmd)
        existing = await self._load(order_id) or next(
            (o for o in accepted if o.order_id == order_id), None
        )
        if existing is None and cmd.external_id:
            existing = next((o for o in accepted if o.external_id == cmd.external_id), None)
            existing = existing or await self.ctx.ledger.order_by_external_id(
                self.tenant, cmd.external_id
            )
        if existing is not None:
            if reused := other_order(existing, cmd):
                return reused
            self.orders.put(existing)
            return existing
        product = sellable(await self._lookups.ask(catalogue.KIND, GetProduct(cmd.product_id)), cmd)
        if isinstance(product, Err):
            return product
        priced = await self._price(cmd, product)
        if isinstance(priced, Err):
            return priced
        placed_by = request.principal.subject
        record = new_order(self.tenant, order_id, cmd, product, priced, placed_by)
        accepted.append(record)
        return record

    async def _cancel(
        self, request: Request, order_id: str, reason: str, cancelling: list[PutOrder]
    ) -> OrderRecord | Err:
        o = await self._load(order_id)
        staff = STAFF & set(request.principal.roles)
        if o is None or not staff or not _may_handle(request.principal, o, STAFF):
            return Err.of(ErrorCode.NOT_FOUND, f"no order {order_id}")
        if request.principal.subject == o.recipient:  # the code seen, the price back: no
            return Err.of(ErrorCode.FORBIDDEN, "one's own order is cancelled by someone else")
        pending = next((c.record for c in cancelling if c.record.order_id == order_id), None)
        if pending is not None:  # asked twice in one batch: one cancellation
            return pending
        if o.status in ("cancelling", "cancelled"):
            return o
        if o.status != "fulfilled":
            return Err.of(ErrorCode.INVALID_REQUEST, f"order {order_id} is {o.status}")
        if now_ms() - o.updated_ms > self.ctx.cancel_window_s * 1000:
            return Err.of(
                ErrorCode.INVALID_REQUEST,
                f"orders can be cancelled for {self.ctx.cancel_window_s:.0f} s after delivery",
            )
        after = replace(
            o,
            status="cancelling",
            reason=reason or "cancelled",
            updated_ms=now_ms(),
            version=o.version + 1,
        )
        cancelling.append(PutOrder(after, o.version))
        return after

    async def _review(
        self, request: Request, cmd: ReviewOrder, recorded: list[PutOrder]
    ) -> OrderRecord | Err:
        """An order held for review, approved (``approved``: the treasury carries it out
        with the hold) or rejected (``rejecting``: its held funds go back, then
        ``failed``)."""
        o = await self._load(cmd.order_id)
        principal = request.principal
        # four eyes: neither the order's recipient nor whoever placed it reviews it
        mine = o is not None and principal.subject in (o.recipient, o.placed_by)
        reviewer = REVIEWERS & set(principal.roles) and not mine
        if o is None or not reviewer or not _may_handle(principal, o, REVIEWERS):
            return Err.of(ErrorCode.NOT_FOUND, f"no order {cmd.order_id} to review")
        pending = next((r.record for r in recorded if r.record.order_id == o.order_id), None)
        o = pending or o
        if o.status != "held":  # asked again: the order as it stands, if it went that way
            if cmd.approve:  # approved, not rejected: its hold went to the order
                rejected = o.status == "rejecting" or o.reason == ErrorCode.REVIEW_REJECTED
                went = (
                    not rejected
                    and o.status not in ("failed", "accepted")
                    and await self._was_held(o)
                )
            else:
                went = o.reason == ErrorCode.REVIEW_REJECTED
            if went:
                return o
            return Err.of(ErrorCode.INVALID_REQUEST, f"order {o.order_id} is {o.status}")
        status, reason = (
            ("approved", "") if cmd.approve else ("rejecting", ErrorCode.REVIEW_REJECTED)
        )
        after = replace(o, status=status, reason=reason, updated_ms=now_ms(), version=o.version + 1)
        recorded.append(PutOrder(after, o.version))
        return after

    async def _was_held(self, o: OrderRecord) -> bool:
        """Whether the order's price was ever held (an order approved in review, or one
        an earlier version paid step by step), not taken at once."""
        if not o.payer.startswith("wallet:"):
            return False
        return bool(await self.ctx.ledger.load_accounts(self.tenant, [f"hold:{o.order_id}"]))

    async def _price(self, cmd: PlaceOrder, product: ProductView) -> Priced | Err:
        """What the payer pays (see :func:`final_price`), with the budget's currency, the
        points rate and the exchange rates asked of the treasury."""
        ask = self._lookups.ask
        points_rate = ""
        if cmd.budget_id is not None:
            known = self._currencies.get(cmd.budget_id)
            if known is None:
                budget = await ask(treasury.KIND, GetBudget(cmd.budget_id))
                if isinstance(budget, Err):
                    return budget
                if not isinstance(budget.value, BudgetView):
                    return Err.of(ErrorCode.INTERNAL, "unexpected reply from the treasury")
                known = self._currencies[cmd.budget_id] = budget.value.balance.currency
            payer_currency = unit = known
        else:
            rated = await ask(treasury.KIND, GetPointsRate())
            if isinstance(rated, Err):
                return rated
            if not isinstance(rated.value, PointsRateView):
                return Err.of(ErrorCode.INTERNAL, "unexpected reply from the treasury")
            payer_currency, unit = rated.value.currency, POINTS
            points_rate = rated.value.points_per_unit
        rates: dict[tuple[str, str], str] = {}
        if payer_currency != product.currency:
            table = await ask(treasury.KIND, GetFxRates())
            if isinstance(table, Err):
                return table
            found = table.value.rates if isinstance(table.value, FxTable) else ()
            rates = {(r.base, r.quote): r.rate for r in found}
        return final_price(product, cmd, payer_currency, unit, points_rate, rates)

    async def _fulfil(self, o: OrderRecord) -> OrderRecord | Err:
        """Have the treasury carry out a new order whole — payment, code and the order
        written as it ended, in one commit (ADR 21) — so there is nothing to resume: an
        error that may pass (the client is told to retry with the same key) left nothing
        behind, or the order is done and the retry finds it."""
        cmd = fulfil_command(o)
        # No idempotency key: the treasury writes the order with its hold, in one commit,
        # and answers a second ask from what it wrote (the runtime need not keep a reply).
        reply = await self.ctx.ask(self.tenant, treasury.KIND, cmd, None)
        if isinstance(reply, Err):
            return reply
        if not isinstance(reply.value, OrderSettled):
            return Err.of(ErrorCode.INTERNAL, "unexpected reply from the treasury")
        return settled_order(o, reply.value)

    async def _run(self, o: OrderRecord) -> OrderRecord:
        """Take the order as far as it goes now; the caller records where it got."""
        ask, tenant, oid = self.ctx.ask, self.tenant, o.order_id
        if o.status in FINAL or o.status in WAITING:
            return o
        if o.status == "cancelling":
            return await self._run_cancel(o)
        if o.status == "approved":  # the treasury gives it a leased code, spends the hold
            body = FulfilHeld(oid, o.product_id, o.face_value_minor)
            settled = await ask(tenant, treasury.KIND, body, f"{oid}:fulfil-held")
            if isinstance(settled, Err):
                _stuck(o, "spend", settled)
                return o  # retried when the order resumes
            if not isinstance(settled.value, OrderSettled):
                return o
            done = settled.value
            return replace(o, status=done.status, code_id=done.code_id, reason=done.reason)
        if o.status == "rejecting":
            released = await ask(tenant, treasury.KIND, ReleaseHold(oid), f"{oid}:release")
            if isinstance(released, Err):
                _stuck(o, "release", released)
                return o  # retried when the order resumes
            return replace(o, status="failed")
        if o.status == "accepted":
            payer = o.payer if o.payer.startswith("budget:") else f"wallet:{o.recipient}"
            hold = HoldFunds(oid, payer, o.price_minor, o.points_rate)
            held = await ask(tenant, treasury.KIND, hold, f"{oid}:hold")
            if isinstance(held, Err):
                return o if held.retryable else replace(o, status="failed", reason=held.code)
            o = replace(o, status="paid")
        allocated = await ask(
            tenant,
            vouchers.KIND,
            AllocateCode(o.product_id, o.face_value_minor, oid),
            f"{oid}:allocate",
        )
        if isinstance(allocated, Ok) and isinstance(allocated.value, Allocated):
            committed = await ask(tenant, treasury.KIND, CommitHold(oid), f"{oid}:commit")
            if isinstance(committed, Err):
                _stuck(o, "commit", committed)
                return o  # still paid: allocating again replays the same code
            return replace(o, status="fulfilled", code_id=allocated.value.code_id)
        if isinstance(allocated, Err) and allocated.retryable:
            return o
        reason = allocated.code if isinstance(allocated, Err) else "internal"
        released = await ask(tenant, treasury.KIND, ReleaseHold(oid), f"{oid}:release")
        if isinstance(released, Err):
            _stuck(o, "release", released)
            return o  # still paid: the release is retried when the order resumes
        return replace(o, status="failed", reason=reason)

    async def _run_cancel(self, o: OrderRecord) -> OrderRecord:
        ask, tenant, oid = self.ctx.ask, self.tenant, o.order_id
        voided = await ask(tenant, vouchers.KIND, VoidCode(o.code_id, oid), f"{oid}:void")
        if isinstance(voided, Err):
            return o  # tried again when the order resumes
        refund = self._refund(o, f"{oid}:cancel-refund")
        refunded = await ask(tenant, treasury.KIND, refund, f"{oid}:cancel-refund")
        if isinstance(refunded, Err):
            return o
        return replace(o, status="cancelled")

    def _refund(self, o: OrderRecord, txn: str) -> RefundBudget | RefundWallet:
        if o.payer.startswith("budget:"):
            amount = Money(o.price_minor, o.price_unit)
            return RefundBudget(o.payer.removeprefix("budget:"), amount, txn)
        return RefundWallet(o.recipient, o.price_minor, txn)

    def _event(self, o: OrderRecord, name: str | None = None) -> OutboxEvent:
        return order_event(o, name)

    @staticmethod
    def _may_see(request: Request, o: OrderRecord) -> bool:
        return _may_handle(request.principal, o, BUDGET_SPENDERS)

    async def _codes(self, request: Request, order_id: str) -> Reply:
        o = await self._load(order_id)
        if o is None or not _may_handle(request.principal, o, STAFF):
            return Err.of(ErrorCode.NOT_FOUND, f"no order {order_id}")
        if o.status != "fulfilled":
            return Err.of(ErrorCode.NOT_FOUND, f"order {order_id} has no code (it is {o.status})")
        return await self.ctx.ask(self.tenant, vouchers.KIND, RevealCodes((o.code_id,)), None)


class KnownOrders:
    """The orders an actor holds in memory: every unfinished one (it carries them on),
    and the most recent finished ones (answers to retries and reads), at most ``keep``."""

    def __init__(self, keep: int = 10_000) -> None:
        self._keep = keep
        self._recent: OrderedDict[str, OrderRecord] = OrderedDict()  # oldest first
        self._unfinished: dict[str, OrderRecord] = {}

    def get(self, order_id: str) -> OrderRecord | None:
        return self._unfinished.get(order_id) or self._recent.get(order_id)

    def known(self, order_id: str) -> OrderRecord:
        found = self.get(order_id)
        assert found is not None, order_id
        return found

    def put(self, o: OrderRecord) -> None:
        if o.status in FINAL or o.status in WAITING:  # nothing to carry on
            self._unfinished.pop(o.order_id, None)
            self._recent.pop(o.order_id, None)  # keep the newest last
            self._recent[o.order_id] = o
            if len(self._recent) > self._keep:
                self._recent.popitem(last=False)
        else:
            self._recent.pop(o.order_id, None)
            self._unfinished[o.order_id] = o

    def unfinished(self) -> list[OrderRecord]:
        return list(self._unfinished.values())

    def any_unfinished(self) -> bool:
        return bool(self._unfinished)


class BatchLookups:
    """Reads one batch's orders share (a product, a budget's currency, rates): each asked
    once, all at once, instead of one request after another for every order."""

    def __init__(self, ctx: ActorContext, tenant: str) -> None:
        self._ctx = ctx
        self._tenant = tenant
        self._asked: dict[tuple[str, Command], asyncio.Task[Reply]] = {}

    def start(self, kind: str, body: Command) -> asyncio.Task[Reply]:
        task = self._asked.get((kind, body))
        if task is None:
            task = asyncio.ensure_future(self._ctx.ask(self._tenant, kind, body, None))
            self._asked[(kind, body)] = task
        return task

    async def ask(self, kind: str, body: Command) -> Reply:
        return await self.start(kind, body)


def _may_handle(principal: Principal, o: OrderRecord, roles: frozenset[str]) -> bool:
    """The recipient may; so may one of ``roles`` — if its grants cover the paying budget
    (a principal narrowed to budgets handles no order paid from a wallet but its own)."""
    if principal.subject == o.recipient:
        return True
    if not roles & set(principal.roles):
        return False
    kind, _, budget_id = o.payer.partition(":")
    if kind == "budget":
        return acl.may_use_budget(principal, budget_id)
    return not principal.grants


def _stuck(o: OrderRecord, step: str, err: Err) -> None:
    """A step that will not succeed by retrying means the ledger and the order disagree."""
    if not err.retryable:
        log.error(
            "order %s/%s cannot %s its hold (%s: %s); it stays paid and is retried",
            o.tenant,
            o.order_id,
            step,
            err.code,
            err.message,
        )


async def tenants_with_unfinished_orders(ctx: ActorContext) -> list[tuple[str, Command]]:
    """What a host sends (on start, then on its schedule) so that orders a dead host left
    half-way, or whose step keeps failing, go on."""
    tenants = await ctx.ledger.tenants_with_unfinished_orders(10_000)
    return [(t, ResumeOrders(str(shard))) for t in tenants for shard in range(ORDER_SHARDS)]


def route(request: Request) -> str:
    """The shard of the order a request is about (a placed order's id may come from the
    request's idempotency key, so it is read from the request, not only the body)."""
    body = request.body
    if isinstance(body, PlaceOrder):
        return shard_of(placed_order_id(request, body))
    return body.actor_key


ORDERS = ActorKind(
    KIND,
    OrdersActor,
    accepts=(PlaceOrder, GetOrder, OrderCodes, CancelOrder, ReviewOrder, ResendOrder, ResumeOrders),
    resume=tenants_with_unfinished_orders,
    route=route,
)
