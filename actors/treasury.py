"""The treasury actor: sole writer of a tenant's balances — budgets and point wallets.

One actor per tenant (ADR 9). Its state is the accounts its requests have touched, loaded
on demand (one query per batch for the ones it has not seen, or saw missing — "not found"
is only as good as the last look). A batch is decided in memory, in arrival order; every
account it changed is written once, fenced at its version + 1.

Double entry, every transaction summing to zero in each unit:

- opening a budget: ``funding`` → ``budget:<id>`` (money);
- a debit: ``budget:<id>`` → ``spent:<id>`` (money);
- points issued: ``budget:<id>`` → ``points:<currency>`` (money set aside for points) and
  ``points:issued`` → ``wallet:<person>`` (points), at the tenant's points rate (ADR 13):
  the cost is rounded up, so the pool always covers the points outstanding;
- an order carried out here (ADR 21): ``budget:<id>`` → ``spent:<id>``, or points
  ``wallet:<person>`` → ``points:redeemed`` with their value as below; the order's code is
  one the treasury leased from the vouchers actor (``actors.leased_codes``);
- points spent on an order (its hold committed): ``hold:<order>`` → ``points:redeemed``
  and ``points:<currency>`` → ``redeemed:<currency>`` (their value, rounded down); a
  refund moves both back to the wallet and the pool;
- a budget refund: ``spent:<id>`` → ``budget:<id>``;
- a hold (an order's reservation): ``budget:<id>`` or ``wallet:<person>`` → ``hold:<id>``;
  committing it moves the amount on as a debit or a points spend would, releasing it
  moves it back to the payer. A hold account keeps its amount as ``cap_minor`` and its
  payer (and, once settled, ``#committed`` or ``#released``) as its name; the payer
  counts what its holds set aside as ``held_minor`` (a budget's cap bounds balance +
  held).
"""

from __future__ import annotations

import asyncio
import logging
from collections import OrderedDict
from collections.abc import Iterable, Sequence
from fractions import Fraction

import msgspec
from msgspec.structs import replace

from actors.cursors import BAD_CURSOR, decode_cursor, encode_cursor
from actors.leased_codes import LeasedCodes, Pool
from actors.order_limits import OrderLimiter
from actors.orders import (
    final_price,
    fulfil_command,
    new_order,
    order_event,
    other_order,
    placed_order_id,
    refusal,
    sellable,
    settled_order,
    view,
)
from actors.runtime.actor import ActorContext, ActorKey, ActorKind, Decision
from actors.runtime.idempotency import key_hash
from bus import acl
from bus.errors import ErrorCode
from bus.events import OutboxEvent, make_event
from bus.ids import time_ordered_hex
from bus.messages import Err, Ok, Reply, Request, catalogue, vouchers
from bus.messages.budget import (
    BudgetCreated,
    BudgetDebited,
    BudgetId,
    BudgetLowBalance,
    BudgetPage,
    BudgetUpdated,
    BudgetView,
    CreateBudget,
    DebitBudget,
    DebitReceipt,
    GetBudget,
    ListBudgets,
    RefundBudget,
    UpdateBudget,
)
from bus.messages.bulk import IssuePointsMany, ItemResult, ManyIssued
from bus.messages.catalogue import GetProduct
from bus.messages.common import (
    ISO_4217,
    MAX_MINOR,
    Money,
    Principal,
    convert_exact,
    minor_digits,
)
from bus.messages.funding import (
    FUNDING_READERS,
    FUNDING_WRITERS,
    Allocate,
    Deposit,
    FundingId,
    FundingPage,
    FundingView,
    GetFunding,
    ListFunding,
    MoneyMoved,
    OpenFunding,
)
from bus.messages.funding import Allocated as FundsAllocated
from bus.messages.orders import PlaceOrder
from bus.messages.treasury import (
    KIND,
    POINTS,
    CommitHold,
    FulfilHeld,
    FulfilOrder,
    FxRateView,
    FxTable,
    GetFxRates,
    GetPointsRate,
    HoldFunds,
    HoldView,
    OrderSettled,
    PointsRateView,
    ReleaseHold,
    SetFxRate,
    SetPointsRate,
    cost_of_points,
    value_of_points,
)
from bus.messages.vouchers import LeaseCodes, Leased
from bus.messages.wallet import (
    GetWallet,
    IssuePoints,
    PointsIssued,
    RefundWallet,
    RewardIssued,
    WalletView,
)
from bus.scopes import ROLES
from bus.time import now_ms
from storage.ports import (
    AccountRecord,
    Allocation,
    ChangeSet,
    Entry,
    FxRate,
    OrderRecord,
    PutAccount,
    PutOrder,
)

log = logging.getLogger(__name__)

#: Roles that may set exchange rates.
FX_SETTERS = frozenset({"owner", "admin", "finance"})
#: Roles that read anyone's wallet; an end user reads only their own.
WALLET_READERS = frozenset(ROLES) - {"end_user"} | {"system"}
FUNDING_ACCOUNT = "funding"
#: Where deposits come from: money paid in from outside the platform.
DEPOSITS = "external:deposits"
POINTS_ISSUED = "points:issued"
POINTS_REDEEMED = "points:redeemed"
#: Accounts kept in memory at most; past it, the untouched ones are dropped after a batch.
MEMORY = 100_000


def budget_account(budget_id: str) -> str:
    return f"budget:{budget_id}"


def funding_account(account_id: str) -> str:
    return f"funding:{account_id}"


def spent_account(budget_id: str) -> str:
    return f"spent:{budget_id}"


def wallet_account(person_id: str) -> str:
    return f"wallet:{person_id}"


def points_pool(currency: str) -> str:
    return f"points:{currency}"


def hold_account(hold_id: str) -> str:
    return f"hold:{hold_id}"


def accounts_of(body: object) -> Iterable[str]:
    if isinstance(body, POINTS_COMMANDS):
        yield POINTS_ISSUED  # the points programme: its rate, and the points issued
    match body:
        case (
            GetBudget(budget_id=b)
            | CreateBudget(budget_id=b)
            | DebitBudget(budget_id=b)
            | UpdateBudget(budget_id=b)
        ):
            yield budget_account(b)
        case IssuePoints(budget_id=b, person_id=p):
            yield budget_account(b)
            yield wallet_account(p)
        case IssuePointsMany(budget_id=b, items=items):
            yield budget_account(b)
            for item in items:
                yield wallet_account(item.person_id)
        case GetWallet(person_id=p) | RefundWallet(person_id=p):
            yield wallet_account(p)
        case RefundBudget(budget_id=b):
            yield budget_account(b)
        case OpenFunding(account_id=f) | Deposit(account_id=f) | GetFunding(account_id=f):
            yield funding_account(f)
        case Allocate(account_id=f, budget_id=b):
            yield funding_account(f)
            yield budget_account(b)
        case HoldFunds(hold_id=h, payer=payer):
            yield hold_account(h)
            yield payer
        case FulfilOrder(payer=payer):
            yield payer
            if payer.startswith("wallet:"):  # paid in points: the programme's rate
                yield POINTS_ISSUED
        case PlaceOrder(budget_id=b, recipient=p):
            payer = budget_account(b) if b is not None else wallet_account(p)
            yield payer
            if payer.startswith("wallet:"):  # paid in points: the programme's rate
                yield POINTS_ISSUED
        case CommitHold(hold_id=h) | ReleaseHold(hold_id=h) | FulfilHeld(hold_id=h):
            yield hold_account(h)


def hold_state(hold: AccountRecord) -> tuple[str, str]:
    """A hold account's payer and status."""
    payer, _, settled = hold.name.partition("#")
    return payer, settled or "held"


#: Seconds before each ask again for a lease whose answer was lost (each under its key).
LEASE_RETRY_DELAYS_S = (0.2, 1.0, 4.0)


def lease_key() -> str:
    """A lease's idempotency key: unique, so that only the same lease asked again finds
    its answer."""
    return f"lease-{time_ordered_hex()}"


class _Batch:
    """What one batch writes: entries, events, and the accounts it changed."""

    def __init__(self, tenant: str) -> None:
        self.tenant = tenant
        self.now = now_ms()
        self.entries: list[Entry] = []
        self.events: list[OutboxEvent] = []
        self.orders: list[PutOrder] = []
        self.allocations: list[Allocation] = []
        self.external_ids: set[str] = set()
        self.settled: list[tuple[str, OrderSettled]] = []
        #: Orders placed in this batch, by id and by ``ext:<external id>``.
        self.placed: dict[str, OrderRecord] = {}

    def move(self, txn: str, source: str, target: str, amount: int, unit: str) -> None:
        self.entries.append(Entry(txn, source, -amount, unit, self.now))
        self.entries.append(Entry(txn, target, amount, unit, self.now))

    def event(self, aggregate: str, name: str, entity: str, data: object) -> None:
        self.events.append(make_event(self.tenant, aggregate, name, entity, data))


_packer = msgspec.msgpack.Encoder()
#: A page of budgets resumes after the id of the last budget of the page before.
_budget_cursor = msgspec.json.Decoder(BudgetId)
_funding_cursor = msgspec.json.Decoder(FundingId)
_many_checked = msgspec.msgpack.Decoder(list[IssuePoints])


def _valid_together(items: list[IssuePoints]) -> bool:
    """Whether every item of a bulk chunk passes the checks of ``IssuePoints``: one
    decode for the chunk (half the cost of checking each item alone, ADR 12); a chunk
    with a bad item is checked item by item."""
    try:
        _many_checked.decode(_packer.encode(items))
    except msgspec.ValidationError:
        return False
    return True


class TreasuryActor:
    def __init__(self, ctx: ActorContext, key: ActorKey) -> None:
        self.ctx = ctx
        self.key = key
        self.tenant = key.tenant
        #: Account id → its record as last committed, or None if it was looked for and
        #: did not exist.
        self.accounts: dict[str, AccountRecord | None] = {}
        self._changed: dict[str, AccountRecord | None] = {}
        #: (base, quote) → the tenant's exchange rate; loaded on activation.
        self.fx: dict[tuple[str, str], FxRate] = {}
        self.codes = LeasedCodes()
        #: Leases asked for ahead of need, by pool (one at a time each).
        self._refills: dict[Pool, asyncio.Task[None]] = {}
        #: Orders this activation carried out, as they ended: asked again (a lost reply),
        #: it answers the same. (An order is written in the commit that carries it out,
        #: and the orders actor asks only about orders it could not find stored.)
        self._settled: OrderedDict[str, OrderSettled] = OrderedDict()
        #: The programme's limits on a person's orders, and their orders counted.
        self.limiter = OrderLimiter(ctx, self.tenant)
        #: Keys of ``IssuePointsMany`` answered (this activation, or found stored): a
        #: chunk asked ahead waits for the one it names (``after``).
        self._answered_chunks: OrderedDict[str, None] = OrderedDict()
        #: This batch's orders as stored (by id, and by ``ext:<external id>``) and products.
        self._stored_orders: dict[str, OrderRecord] = {}
        self._products: dict[str, Reply] = {}
        #: This batch's ``PlaceOrder`` (by the request object), checked and priced.
        self._checks: dict[int, OrderRecord | Reply] = {}
        #: This batch's ``ListBudgets`` (by the request object): the budgets stored.
        self._listed: dict[int, list[AccountRecord] | Err] = {}

    async def on_activate(self) -> None:
        self.accounts.clear()  # loaded on demand
        await self._refilled()  # committed by now: the leased codes read below hold them
        self.fx = {(r.base, r.quote): r for r in await self.ctx.ledger.load_fx_rates(self.tenant)}
        self.codes.load(await self.ctx.ledger.leased_codes(self.tenant))
        self._settled.clear()
        self.limiter.clear()  # counted again from storage
        self._answered_chunks.clear()

    async def on_deactivate(self, reason: str) -> None:
        self.accounts.clear()
        self.codes.clear()
        # Not waited for: while the host stops, the vouchers actor may be gone already.
        # A lease it committed is in storage, and the next activation reads it there.
        for task in list(self._refills.values()):
            task.cancel()

    async def _load(self, batch: Sequence[Request]) -> None:
        wanted = {a for r in batch for a in accounts_of(r.body)}
        await self._load_accounts(wanted)
        # settling a hold also touches its payer, named by the hold account
        holds = (self.accounts.get(a) for a in wanted if a.startswith("hold:"))
        await self._load_accounts({hold_state(h)[0] for h in holds if h is not None})

    async def _load_accounts(self, wanted: Iterable[str]) -> None:
        missing = [a for a in wanted if self.accounts.get(a) is None]
        if not missing:
            return
        for account in missing:
            self.accounts[account] = None
        for record in await self.ctx.ledger.load_accounts(self.tenant, missing):
            self.accounts[record.account_id] = record

    async def _lease(self, batch: Sequence[Request]) -> None:
        """Lease the codes this batch's orders need and the treasury lacks, at once."""
        # Only for orders that will be carried out: a refused one must change nothing.
        # (Under spread each order is a batch of its own: this runs once per order, so it
        # awaits and gathers only when there is something to wait for.)
        needed: dict[Pool, int] = {}
        for r in batch:
            body = r.body
            if isinstance(body, (FulfilOrder, FulfilHeld)):
                pool = (body.product_id, body.face_value_minor)
                needed[pool] = needed.get(pool, 0) + 1
        for new in self._checks.values():
            if isinstance(new, OrderRecord):
                pool = (new.product_id, new.face_value_minor)
                needed[pool] = needed.get(pool, 0) + 1
        self.codes.unsure = set()
        if not needed:
            return
        codes = self.codes
        # a refill on its way for a pool this batch is short of: wait for it first
        if self._refills and (short_of := [p for p, n in needed.items() if codes.held(p) < n]):
            await self._refilled(short_of)
        asks = {p: k for p, n in needed.items() if (k := codes.to_lease(p, n))}
        replies: list[Reply] = []
        # each lease under a key of its own: one whose answer is lost is asked for again
        # under it, and the vouchers actor answers with the codes it set aside then
        short = {p: max(needed[p] - codes.held(p), 0) for p in asks}
        leases = {
            p: (lease_key(), LeaseCodes(p[0], p[1], n, max(n - short[p], 0)))
            for p, n in asks.items()
        }
        if leases:
            replies = await asyncio.gather(
                *(
                    self.ctx.ask(self.tenant, vouchers.KIND, body, key)
                    for key, body in leases.values()
                )
            )
        for pool, reply in zip(leases, replies, strict=True):
            if isinstance(reply, Ok) and isinstance(reply.value, Leased):
                self.codes.add(pool, [(c.code_id, c.expires_ms) for c in reply.value.codes])
                continue
            self.codes.unsure.add(pool)
            log.warning("%s: could not lease codes of %s: %s", self.tenant, pool, reply)
            if isinstance(reply, Err) and reply.retryable and pool not in self._refills:
                key, body = leases[pool]
                again = self._lease_under(
                    pool, key, body, self.codes.generation, LEASE_RETRY_DELAYS_S
                )
                self._refills[pool] = asyncio.create_task(again)
        for pool, n in needed.items():
            count = self.codes.to_refill(pool, n)
            if count and pool not in self._refills:
                task = asyncio.create_task(self._lease_ahead(pool, count, self.codes.generation))
                self._refills[pool] = task

    async def _lease_ahead(self, pool: Pool, count: int, generation: int) -> None:
        """Lease ``count`` codes of ``pool`` in the background, for the batches to come."""
        body = LeaseCodes(pool[0], pool[1], count, ahead=count)
        await self._lease_under(pool, lease_key(), body, generation, (0.0, *LEASE_RETRY_DELAYS_S))

    async def _lease_under(
        self, pool: Pool, key: str, body: LeaseCodes, generation: int, delays: Sequence[float]
    ) -> None:
        """Ask for a lease under ``key`` after each of ``delays`` until it is answered: a
        lease committed whose answer was lost (a timeout, the bus away) is answered again
        with its codes, which would otherwise stay set aside for no one until the treasury
        reloads. Runs in the background as a refill; batches short of the pool wait."""
        try:
            for delay in delays:
                await asyncio.sleep(delay)
                try:
                    reply = await self.ctx.ask(self.tenant, vouchers.KIND, body, key)
                except Exception as e:  # the next batch short of codes leases and waits
                    log.warning("%s: could not lease codes of %s: %r", self.tenant, pool, e)
                    return
                if isinstance(reply, Ok) and isinstance(reply.value, Leased):
                    if generation == self.codes.generation:  # else reloaded: storage has them
                        self.codes.add(pool, [(c.code_id, c.expires_ms) for c in reply.value.codes])
                    return
                log.warning("%s: could not lease codes of %s: %s", self.tenant, pool, reply)
                if not (isinstance(reply, Err) and reply.retryable):
                    return
        finally:
            del self._refills[pool]

    async def _refilled(self, pools: Iterable[Pool] | None = None) -> None:
        """Wait for the leases under way (of ``pools``, or all)."""
        wanted = self._refills if pools is None else pools
        tasks = [t for p in wanted if (t := self._refills.get(p)) is not None]
        if tasks:
            await asyncio.gather(*tasks, return_exceptions=True)

    async def _prepare_placing(self, batch: Sequence[Request]) -> None:
        """For the batch's ``PlaceOrder``: the orders stored under their ids or external
        ids, and their products (kept by the host, or asked for), read at once."""
        places = [(r, r.body) for r in batch if isinstance(r.body, PlaceOrder)]
        self._stored_orders = {}
        self._products = {}
        self._checks = {}
        if not places:
            return
        ledger, tenant = self.ctx.ledger, self.tenant
        # a new order's own id, and the id the step-by-step path gives a keyed order
        earlier = {id(r): placed_order_id(r, b) for r, b in places}
        ids = list({*earlier.values(), *(b.order_id for _, b in places)})
        externals = list({b.external_id for _, b in places if b.external_id})
        views = self.ctx.product_views
        generation = views.generation(tenant)
        kept = {p: views.get(tenant, p) for p in {b.product_id for _, b in places}}
        self._products = {p: reply for p, reply in kept.items() if reply is not None}
        products = [p for p, reply in kept.items() if reply is None]
        if externals or products:
            found, by_external, asked = await asyncio.gather(
                ledger.load_orders(tenant, ids),
                asyncio.gather(*(ledger.order_by_external_id(tenant, e) for e in externals)),
                asyncio.gather(
                    *(self.ctx.ask(tenant, catalogue.KIND, GetProduct(p), None) for p in products)
                ),
            )
        else:  # the usual batch (its product kept): one read, no task to start for it
            found, by_external, asked = await ledger.load_orders(tenant, ids), [], []
        self._stored_orders = {o.order_id: o for o in found}
        for external_id, o in zip(externals, by_external, strict=True):
            if o is not None:
                self._stored_orders[f"ext:{external_id}"] = o
        for p, reply in zip(products, asked, strict=True):
            self._products[p] = reply
            views.keep(tenant, p, reply, generation)
        self._checks = {id(r): self._checked(r, b, earlier[id(r)]) for r, b in places}

    async def _prepare_listing(self, batch: Sequence[Request]) -> None:
        """For the batch's ``ListBudgets`` and ``ListFunding``: a page of the accounts
        stored, one more than asked for (is there a next page?). The treasury holds only
        the accounts its requests have touched (ADR 9), so a listing is read from
        storage, budgets narrowed to the principal's grants there (ADR 19)."""
        self._listed = {}
        for r in batch:
            if isinstance(r.body, ListFunding) and not _funding_refusal(r.principal, r.body):
                after = decode_cursor(r.body.cursor, _funding_cursor) if r.body.cursor else ""
                self._listed[id(r)] = (
                    Err.of(ErrorCode.INVALID_REQUEST, BAD_CURSOR)
                    if after is None
                    else await self.ctx.ledger.list_funding_accounts(
                        self.tenant, r.body.limit + 1, after
                    )
                )
            if not isinstance(r.body, ListBudgets):
                continue
            after = decode_cursor(r.body.cursor, _budget_cursor) if r.body.cursor else ""
            if after is None:
                self._listed[id(r)] = Err.of(ErrorCode.INVALID_REQUEST, BAD_CURSOR)
                continue
            granted = acl.granted_budgets(r.principal)
            self._listed[id(r)] = await self.ctx.ledger.list_budgets(
                self.tenant, r.body.limit + 1, after, granted
            )

    async def _prepare_chunks(self, batch: Sequence[Request]) -> None:
        """The chunks the batch's ``IssuePointsMany`` wait for, answered before this
        activation: their stored replies (a batch failing after one was answered is
        failed whole, and the activation reloads, so memory is never ahead of them)."""
        waiting = {
            key_hash(r.principal.subject, r.body.after): r.body.after
            for r in batch
            if isinstance(r.body, IssuePointsMany)
            and r.body.after
            and r.body.after not in self._answered_chunks
        }
        if waiting:
            for stored in await self.ctx.ledger.load_replies(self.tenant, list(waiting)):
                self._answered_chunks[waiting[stored.key_hash]] = None

    async def handle(self, batch: Sequence[Request]) -> Decision:
        await self._load(batch)
        await self._prepare_placing(batch)
        await self._prepare_listing(batch)
        await self.limiter.prepare(batch)
        await self._prepare_chunks(batch)
        await self._lease(batch)
        self._changed = {}  # account id → its record before this batch
        work = _Batch(self.tenant)
        fx_before = dict(self.fx)
        replies = [self._decide(request, work) for request in batch]
        self._low_balances(work)
        rates = tuple(r for key, r in self.fx.items() if fx_before.get(key) != r)
        puts = []
        for account_id, before in self._changed.items():
            after = self.accounts[account_id]
            assert after is not None
            expected = before.version if before is not None else 0
            self.accounts[account_id] = after = replace(after, version=expected + 1)
            puts.append(PutAccount(after, expected_version=expected))
        self._forget_untouched(batch)
        for order_id, settled in work.settled:  # forgotten again if the commit fails
            self._settled[order_id] = settled
            if len(self._settled) > MEMORY:
                self._settled.popitem(last=False)
        if not (puts or rates or work.orders):
            return Decision(replies)
        return Decision(
            replies,
            ChangeSet(
                self.tenant,
                puts=tuple(puts),
                entries=tuple(work.entries),
                events=tuple(work.events),
                fx_rates=rates,
                orders=tuple(work.orders),
                allocations=tuple(work.allocations),
            ),
        )

    def _low_balances(self, work: _Batch) -> None:
        """``budget.low_balance`` for each budget this batch took from at or above its
        threshold to below it."""
        for account_id, before in self._changed.items():
            after = self.accounts[account_id]
            if before is None or after is None or after.kind != "budget" or not after.alert_minor:
                continue
            if before.balance_minor >= after.alert_minor > after.balance_minor:
                budget_id, unit = account_id.removeprefix("budget:"), after.unit
                data = BudgetLowBalance(
                    budget_id,
                    Money(after.balance_minor, unit),
                    Money(after.alert_minor, unit),
                    Money(after.held_minor, unit),
                )
                work.event("budget", "low_balance", budget_id, data)

    def _forget_untouched(self, batch: Sequence[Request]) -> None:
        if len(self.accounts) > MEMORY:
            keep = {a for r in batch for a in accounts_of(r.body)}
            self.accounts = {a: r for a, r in self.accounts.items() if a in keep}

    @staticmethod
    def _too_large(*records: AccountRecord) -> Err | None:
        """Why a balance past :data:`MAX_MINOR` is refused (the ledger's integers are
        64-bit; a refund, never refused, still fits above it), or None."""
        for r in records:
            if abs(r.balance_minor) > MAX_MINOR:
                return Err.of(
                    ErrorCode.INVALID_REQUEST,
                    f"{r.account_id} would hold {r.balance_minor} {r.unit} minor units;"
                    f" at most {MAX_MINOR} are kept in one account",
                )
        return None

    def _set(self, record: AccountRecord) -> None:
        if record.account_id not in self._changed:
            self._changed[record.account_id] = self.accounts.get(record.account_id)
        self.accounts[record.account_id] = record

    def _version(self, record: AccountRecord) -> int:
        """Replies go out after the commit: a view of a changed account names the version
        being written."""
        return record.version + (1 if record.account_id in self._changed else 0)

    def _decide(self, request: Request, work: _Batch) -> Reply:
        body = request.body
        roles = set(request.principal.roles)
        if isinstance(body, SYSTEM_ONLY) and "system" not in request.principal.roles:
            return Err.of(ErrorCode.FORBIDDEN, "only the system moves money back or spends points")
        if why := acl.refusal(request.principal, body):  # the edge checked too
            return Err.of(ErrorCode.FORBIDDEN, why)
        if isinstance(body, POINTS_COMMANDS) and not self._has_programme_loaded():
            return Err.of(ErrorCode.INTERNAL, "the points programme was not loaded")
        match body:
            case GetBudget(budget_id=budget_id):
                budget = self._budget(budget_id)
                return budget if isinstance(budget, Err) else Ok(self._budget_view(budget))
            case ListBudgets(limit=limit):
                return self._budget_page(self._listed[id(request)], limit)
            case DebitBudget() as debit:
                return self._debit(debit, work)
            case CreateBudget() as create:
                return self._create(create, work)
            case UpdateBudget() as update:
                return self._update(update, work)
            case IssuePoints() as issue if (
                issue.person_id == request.principal.subject
                and not acl.may_serve_self(request.principal)
            ):  # four eyes: points come from someone else
                return Err.of(ErrorCode.FORBIDDEN, "one does not reward oneself")
            case IssuePoints() as issue:
                return self._issue(issue, work)
            case IssuePointsMany(budget_id=budget_id, items=items, after=after):
                if after and after not in self._answered_chunks:
                    return Err(
                        code=ErrorCode.UNAVAILABLE,
                        message=f"{after} is not answered yet; retry with the same key",
                        retryable=True,
                    )
                if request.idempotency_key:
                    self._answered_chunks[request.idempotency_key] = None
                    while len(self._answered_chunks) > MEMORY:
                        self._answered_chunks.popitem(last=False)
                ones = [
                    IssuePoints(budget_id, i.person_id, i.points, i.reward_id, i.memo)
                    for i in items
                ]
                checked = _valid_together(ones)
                return Ok(ManyIssued(tuple(self._issue_item(one, checked, work) for one in ones)))
            case GetWallet(person_id=person_id):
                if person_id != request.principal.subject and not WALLET_READERS & roles:
                    return Err.of(ErrorCode.NOT_FOUND, f"no wallet {person_id} of yours")
                return Ok(self._wallet_view(person_id))
            case SetFxRate() | SetPointsRate() if not FX_SETTERS & roles:
                return Err.of(ErrorCode.FORBIDDEN, "only owners, admins and finance set rates")
            case SetFxRate() | SetPointsRate() if why := acl.whole_tenant(
                request.principal, "exchange rates and the points rate"
            ):
                return Err.of(ErrorCode.FORBIDDEN, why)
            case SetFxRate(base=base, quote=quote, rate=rate):
                if base == quote:  # points (PTS) are no ISO 4217 currency: not decoded
                    return Err.of(ErrorCode.INVALID_REQUEST, "a rate is between two currencies")
                if Fraction(rate) <= 0:
                    return Err.of(ErrorCode.INVALID_REQUEST, "a rate is above zero")
                self.fx[(base, quote)] = FxRate(self.tenant, base, quote, rate, work.now)
                return Ok(self._fx_table())
            case GetFxRates():
                return Ok(self._fx_table())
            case SetPointsRate() as points_rate:
                return self._set_points_rate(points_rate, work)
            case GetPointsRate():
                return Ok(self._points_rate_view())
            case OpenFunding() | Deposit() | Allocate() | GetFunding() | ListFunding() if (
                why := _funding_refusal(request.principal, body)
            ):
                return Err.of(ErrorCode.FORBIDDEN, why)
            case ListFunding(limit=limit):
                return self._funding_page(self._listed[id(request)], limit)
            case OpenFunding() as open_:
                return self._open_funding(open_)
            case Deposit() as deposit:
                return self._deposit(deposit, work)
            case Allocate() as allocate:
                return self._allocate(allocate, work)
            case GetFunding(account_id=account_id):
                found = self._funding(account_id)
                return found if isinstance(found, Err) else Ok(self._funding_view(found))
            case RefundWallet() as back:
                return self._refund_points(back, work)
            case RefundBudget() as refund:
                return self._refund(refund, work)
            case FulfilOrder() as order:
                return self._fulfil(order, work)
            case PlaceOrder() as place:
                return self._place(request, place, work)
            case HoldFunds() as hold:
                return self._hold(hold, work)
            case CommitHold(hold_id=hold_id):
                return self._settle(hold_id, "committed", work)
            case ReleaseHold(hold_id=hold_id):
                return self._settle(hold_id, "released", work)
            case FulfilHeld() as held:
                return self._fulfil_held(held, work)
        return Err.of(ErrorCode.INVALID_REQUEST, "not a treasury request")

    def _funding(self, account_id: str) -> AccountRecord | Err:
        record = self.accounts.get(funding_account(account_id))
        if record is None:
            return Err.of(ErrorCode.NOT_FOUND, f"funding account {account_id} does not exist")
        return record

    def _funding_page(self, stored: list[AccountRecord] | Err, limit: int) -> Reply:
        """A page of the funding accounts stored, as ``GetFunding`` shows them (see
        :meth:`_budget_page`)."""
        if isinstance(stored, Err):
            return stored
        page = [self._funding_view(self.accounts.get(f.account_id) or f) for f in stored[:limit]]
        more = len(stored) > limit
        return Ok(FundingPage(tuple(page), encode_cursor(page[-1].account_id) if more else ""))

    def _funding_view(self, f: AccountRecord) -> FundingView:
        account_id = f.account_id.removeprefix("funding:")
        return FundingView(account_id, f.name, Money(f.balance_minor, f.unit), self._version(f))

    def _open_funding(self, cmd: OpenFunding) -> Reply:
        account = funding_account(cmd.account_id)
        if self.accounts.get(account) is not None:
            return Err.of(ErrorCode.ALREADY_EXISTS, f"funding account {cmd.account_id} exists")
        record = AccountRecord(self.tenant, account, "funding", cmd.name, cmd.currency, 0, 0)
        self._set(record)
        return Ok(self._funding_view(record))

    def _deposit(self, cmd: Deposit, work: _Batch) -> Reply:
        f = self._funding(cmd.account_id)
        if isinstance(f, Err):
            return f
        if cmd.amount.currency != f.unit or cmd.amount.amount_minor <= 0:
            return Err.of(ErrorCode.INVALID_REQUEST, f"a deposit is a positive {f.unit} amount")
        after = replace(f, balance_minor=f.balance_minor + cmd.amount.amount_minor)
        if too_large := self._too_large(after):
            return too_large
        self._set(after)
        work.move(cmd.deposit_id, DEPOSITS, after.account_id, cmd.amount.amount_minor, f.unit)
        work.event(
            "funding",
            "deposited",
            cmd.account_id,
            MoneyMoved(cmd.deposit_id, DEPOSITS, after.account_id, cmd.amount, cmd.reference),
        )
        return Ok(self._funding_view(after))

    def _allocate(self, cmd: Allocate, work: _Batch) -> Reply:
        f, b = self._funding(cmd.account_id), self._budget(cmd.budget_id)
        if isinstance(f, Err):
            return f
        if isinstance(b, Err):
            return b
        amount = cmd.amount.amount_minor
        if not cmd.amount.currency == f.unit == b.unit:
            return Err.of(
                ErrorCode.CURRENCY_MISMATCH,
                f"funding is in {f.unit} and the budget in {b.unit}, not {cmd.amount.currency}",
            )
        if amount <= 0:
            return Err.of(ErrorCode.INVALID_REQUEST, "an allocation is a positive amount")
        if amount > f.balance_minor:
            return Err.of(
                ErrorCode.INSUFFICIENT_FUNDS,
                f"funding account {cmd.account_id} has {f.balance_minor} {f.unit} minor units",
            )
        if b.cap_minor and b.balance_minor + b.held_minor + amount > b.cap_minor:
            return Err.of(
                ErrorCode.INVALID_REQUEST,
                f"budget {cmd.budget_id} is capped at {b.cap_minor} {b.unit} minor units"
                f" ({b.balance_minor} available, {b.held_minor} held by orders)",
            )
        f_after = replace(f, balance_minor=f.balance_minor - amount)
        b_after = replace(b, balance_minor=b.balance_minor + amount)
        if too_large := self._too_large(b_after):
            return too_large
        self._set(f_after)
        self._set(b_after)
        work.move(cmd.allocation_id, f.account_id, b.account_id, amount, f.unit)
        work.event(
            "budget",
            "allocated",
            cmd.budget_id,
            MoneyMoved(cmd.allocation_id, f.account_id, b.account_id, cmd.amount),
        )
        return Ok(
            FundsAllocated(
                cmd.allocation_id,
                cmd.account_id,
                cmd.budget_id,
                cmd.amount,
                Money(f_after.balance_minor, f.unit),
                Money(b_after.balance_minor, b.unit),
            )
        )

    def _fx_table(self) -> FxTable:
        return FxTable(
            tuple(
                FxRateView(r.base, r.quote, r.rate, r.updated_ms)
                for _, r in sorted(self.fx.items())
            )
        )

    def _has_programme_loaded(self) -> bool:
        return POINTS_ISSUED in self.accounts  # looked for: found, or known missing

    def _programme(self) -> tuple[str, str, AccountRecord | None]:
        """The tenant's points rate — (currency, points per unit) — and the record that
        holds it: the ``points:issued`` account (ADR 13). Until the tenant sets a rate or
        issues points, a point is one minor unit of the deployment's points currency."""
        record = self.accounts.get(POINTS_ISSUED)
        if record is not None:
            currency, _, rate = record.name.partition(" ")
            return currency, rate, record
        currency = self.ctx.points_currency
        return currency, str(10 ** minor_digits(currency)), None

    def _points_rate_view(self) -> PointsRateView:
        currency, rate, record = self._programme()
        issued = -record.balance_minor if record else 0
        return PointsRateView(currency, rate, issued != 0, issued)

    def _set_points_rate(self, cmd: SetPointsRate, work: _Batch) -> Reply:
        currency, rate, record = self._programme()
        if cmd.currency == POINTS or Fraction(cmd.points_per_unit) <= 0:
            return Err.of(
                ErrorCode.INVALID_REQUEST, "points are worth a positive rate of a currency"
            )
        same = (cmd.currency, Fraction(cmd.points_per_unit)) == (currency, Fraction(rate))
        if same and record is not None:
            return Ok(self._points_rate_view())
        if record is not None and record.balance_minor != 0:
            return Err.of(
                ErrorCode.RATE_LOCKED,
                f"points were issued at {rate} per {currency}; the rate is fixed"
                " (changing it would change what people's points are worth)",
            )
        programme = record or AccountRecord(self.tenant, POINTS_ISSUED, "points", "", POINTS, 0, 0)
        self._set(replace(programme, name=f"{cmd.currency} {cmd.points_per_unit}"))
        return Ok(self._points_rate_view())

    def _wallet_view(self, person_id: str) -> WalletView:
        wallet = self.accounts.get(wallet_account(person_id))
        points = wallet.balance_minor if wallet else 0
        version = self._version(wallet) if wallet else 0
        return WalletView(person_id, points, version)

    def _refund_points(self, cmd: RefundWallet, work: _Batch) -> Reply:
        """Points an order spent back into the wallet, with the money they stand for
        back into the points pool."""
        account = wallet_account(cmd.person_id)
        wallet = self.accounts.get(account) or AccountRecord(
            self.tenant, account, "wallet", cmd.person_id, POINTS, 0, 0
        )
        self._set(replace(wallet, balance_minor=wallet.balance_minor + cmd.points))
        self._points_redeemed(cmd.txn_id, account, -cmd.points, work)
        return Ok(self._wallet_view(cmd.person_id))

    def _points_redeemed(self, txn: str, source: str, points: int, work: _Batch) -> None:
        """``points`` spent from ``source`` (negative: given back), and the money they
        stand for leaving (or returning to) the points pool."""
        currency, rate, _ = self._programme()
        money = value_of_points(abs(points), currency, rate) * (1 if points > 0 else -1)
        work.move(txn, source, POINTS_REDEEMED, points, POINTS)
        work.move(txn, points_pool(currency), f"redeemed:{currency}", money, currency)

    def _refund(self, cmd: RefundBudget, work: _Batch) -> Reply:
        b = self._budget(cmd.budget_id)
        if isinstance(b, Err):
            return b
        if cmd.amount.currency != b.unit or cmd.amount.amount_minor <= 0:
            return Err.of(ErrorCode.INVALID_REQUEST, "a refund is a positive budget amount")
        after = replace(b, balance_minor=b.balance_minor + cmd.amount.amount_minor)
        self._set(after)
        work.move(
            cmd.txn_id,
            spent_account(cmd.budget_id),
            after.account_id,
            cmd.amount.amount_minor,
            b.unit,
        )
        return Ok(self._budget_view(after))

    def _hold_view(self, hold: AccountRecord) -> HoldView:
        payer, status = hold_state(hold)
        record = self.accounts.get(payer)
        balance = record.balance_minor if record else 0
        hold_id = hold.account_id.removeprefix("hold:")
        return HoldView(hold_id, payer, hold.cap_minor, hold.unit, status, balance)

    def _taken(self, payer_id: str, amount: int, points_rate: str) -> AccountRecord | Err:
        """The payer (``budget:…`` or ``wallet:…``) with ``amount`` taken from its balance,
        not written yet; or why it cannot pay. Points priced at another rate than the
        tenant's are refused."""
        payer = self.accounts.get(payer_id)
        if payer_id.startswith("wallet:"):
            if points_rate:
                currency, rate, _ = self._programme()
                if Fraction(points_rate) != Fraction(rate):
                    return Err.of(
                        ErrorCode.RATE_LOCKED,
                        f"the order was priced at {points_rate} points per {currency};"
                        f" the rate is {rate}",
                    )
            person = payer_id.removeprefix("wallet:")
            balance = payer.balance_minor if payer else 0
            if amount > balance:
                return Err.of(
                    ErrorCode.INSUFFICIENT_FUNDS, f"{person} has {balance} points, not {amount}"
                )
            payer = payer or AccountRecord(self.tenant, payer_id, "wallet", person, POINTS, 0, 0)
            return replace(payer, balance_minor=balance - amount)
        budget_id = payer_id.removeprefix("budget:")
        b = self._budget(budget_id)
        if isinstance(b, Err):
            return b
        return self._spend(budget_id, Money(amount, b.unit))

    def _hold(self, cmd: HoldFunds, work: _Batch) -> Reply:
        account = hold_account(cmd.hold_id)
        existing = self.accounts.get(account)
        if existing is not None:
            if (hold_state(existing)[0], existing.cap_minor) != (cmd.payer, cmd.amount_minor):
                return Err.of(ErrorCode.ALREADY_EXISTS, f"hold {cmd.hold_id} holds other funds")
            return Ok(self._hold_view(existing))
        taken = self._taken(cmd.payer, cmd.amount_minor, cmd.points_rate)
        if isinstance(taken, Err):
            return taken
        after = replace(taken, held_minor=taken.held_minor + cmd.amount_minor)
        hold = AccountRecord(
            self.tenant,
            account,
            "hold",
            cmd.payer,
            after.unit,
            cmd.amount_minor,
            0,
            cap_minor=cmd.amount_minor,
        )
        self._set(after)
        self._set(hold)
        work.move(f"{cmd.hold_id}:hold", cmd.payer, account, cmd.amount_minor, after.unit)
        return Ok(self._hold_view(hold))

    def _fulfil(self, cmd: FulfilOrder, work: _Batch) -> Reply:
        """A whole order in this one decision: the price taken from the payer and spent
        (budget → ``spent:``, or points redeemed), a leased code, the order written as it
        ended — or, short of funds or of codes, the order written as failed and nothing
        taken."""
        settled = self._settled.get(cmd.order_id)
        if settled is not None:  # asked again: as it ended
            return Ok(settled)
        if cmd.external_id and cmd.external_id in work.external_ids:
            return Err.of(
                ErrorCode.IDEMPOTENCY_KEY_REUSED,
                f"another order with external id {cmd.external_id} is being placed",
            )
        person = cmd.payer.removeprefix("wallet:") if cmd.payer.startswith("wallet:") else None
        if person is not None and self.limiter.reached(person, cmd.created_ms):  # its day
            return self._order_ended(cmd, "failed", "", ErrorCode.ORDER_LIMIT_REACHED, work)
        if person is not None and self._to_review(cmd):
            return self._hold_for_review(cmd, person, work)
        pool = (cmd.product_id, cmd.face_value_minor)
        code = self._leased_code(pool, work)
        if isinstance(code, Err):
            return code
        taken = self._taken(cmd.payer, cmd.price_minor, cmd.points_rate)
        if isinstance(taken, Err):  # want of funds first, as the order is paid first
            if code is not None:
                self.codes.give_back(pool, code)
            if taken.retryable:
                return taken
            return self._order_ended(cmd, "failed", "", taken.code, work)
        if code is None:
            return self._order_ended(cmd, "failed", "", ErrorCode.OUT_OF_STOCK, work)
        self._set(taken)
        oid = cmd.order_id
        self._spent(
            f"{oid}:committed", cmd.payer, taken, cmd.price_minor, oid, f"order {oid}", work
        )
        work.allocations.append(Allocation(code[0], cmd.order_id))
        if person is not None:
            self.limiter.count(person, cmd.order_id, cmd.created_ms)
        return self._order_ended(cmd, "fulfilled", code[0], "", work)

    def _to_review(self, cmd: FulfilOrder) -> bool:
        """Whether the order's face value reaches the programme's review threshold (in
        the threshold's currency at the tenant's rate; with no rate, a person decides)."""
        if not self.limiter.known:  # the programme could not be read: a person decides
            return True
        threshold = self.limiter.rules.review_from
        if threshold is None:
            return False
        if cmd.currency == threshold.currency:
            return cmd.face_value_minor >= threshold.amount_minor
        rate = self.fx.get((cmd.currency, threshold.currency))
        if rate is None:
            return True
        value = convert_exact(cmd.face_value_minor, cmd.currency, threshold.currency, rate.rate)
        return value >= threshold.amount_minor

    def _hold_for_review(self, cmd: FulfilOrder, person: str, work: _Batch) -> Reply:
        """The price held from the wallet and the order written ``held``, without a code:
        a reviewer approves it (then :meth:`_fulfil_held` gives it a code and spends the
        hold) or rejects it (the hold goes back)."""
        hold = HoldFunds(cmd.order_id, cmd.payer, cmd.price_minor, cmd.points_rate)
        held = self._hold(hold, work)
        if isinstance(held, Err):
            return held if held.retryable else self._order_ended(cmd, "failed", "", held.code, work)
        self.limiter.count(person, cmd.order_id, cmd.created_ms)
        return self._order_ended(cmd, "held", "", "", work)

    def _leased_code(self, pool: Pool, work: _Batch) -> tuple[str, int] | Err | None:
        """One of the codes leased for ``pool`` (taken: given back if the order fails);
        None if there is none; a retryable error if the pool could not be reached."""
        code = self.codes.take(pool, work.now)
        if code is None and pool in self.codes.unsure:
            return Err(
                code=ErrorCode.UNAVAILABLE,
                message="the voucher pool could not be reached; retry with the same key",
                retryable=True,
            )
        return code

    def _fulfil_held(self, cmd: FulfilHeld, work: _Batch) -> Reply:
        """An approved order: a leased code and its hold spent, or no code and the hold
        released (``failed``, ``out_of_stock``); one decision either way."""
        hold = self.accounts.get(hold_account(cmd.hold_id))
        if hold is None:
            return Err.of(ErrorCode.NOT_FOUND, f"hold {cmd.hold_id} does not exist")
        if (status := hold_state(hold)[1]) != "held":
            return Err.of(ErrorCode.INVALID_REQUEST, f"hold {cmd.hold_id} is already {status}")
        code = self._leased_code((cmd.product_id, cmd.face_value_minor), work)
        if isinstance(code, Err):
            return code
        if code is None:
            self._settle(cmd.hold_id, "released", work)
            return Ok(OrderSettled("failed", "", ErrorCode.OUT_OF_STOCK, 0, work.now))
        self._settle(cmd.hold_id, "committed", work)
        work.allocations.append(Allocation(code[0], cmd.hold_id))
        return Ok(OrderSettled("fulfilled", code[0], "", 0, work.now))

    def _spent(
        self,
        txn: str,
        source: str,
        payer: AccountRecord,
        amount: int,
        ref: str,
        memo: str,
        work: _Batch,
    ) -> None:
        """``amount`` leaves ``source`` spent by ``payer`` (as it stands after paying):
        points redeemed, or a budget's spending and its ``budget.debited`` event."""
        if payer.account_id.startswith("wallet:"):
            self._points_redeemed(txn, source, amount, work)
            return
        budget_id = payer.account_id.removeprefix("budget:")
        unit = payer.unit
        work.move(txn, source, spent_account(budget_id), amount, unit)
        balance = Money(payer.balance_minor, unit)
        data = BudgetDebited(budget_id, ref, Money(amount, unit), balance, memo)
        work.event("budget", "debited", budget_id, data)

    def _place(self, request: Request, cmd: PlaceOrder, work: _Batch) -> Reply:
        """An order straight from the edge: checked and priced as the orders actors do,
        with this actor's own budgets and rates, then carried out (ADR 21)."""
        checked = self._checks.get(id(request)) or self._checked(request, cmd)
        if not isinstance(checked, OrderRecord):
            return checked
        # the same key or external id twice in this batch: the first placed the order
        twin = work.placed.get(checked.order_id) or (
            work.placed.get(f"ext:{cmd.external_id}") if cmd.external_id else None
        )
        if twin is not None:
            return other_order(twin, cmd) or Ok(view(twin))
        settled = self._fulfil(fulfil_command(checked), work)
        if isinstance(settled, Err) or not isinstance(settled.value, OrderSettled):
            return settled
        record = settled_order(checked, settled.value)
        work.placed[record.order_id] = record
        if cmd.external_id:
            work.placed[f"ext:{cmd.external_id}"] = record
        return Ok(view(record))

    def _checked(
        self, request: Request, cmd: PlaceOrder, earlier: str | None = None
    ) -> OrderRecord | Reply:
        """The new order ``cmd`` places, priced; or the answer without one (a refusal, or
        the order its key or external id placed before this batch)."""
        if denied := refusal(request.principal, cmd):
            return denied
        # A retry of an order placed here was answered from its stored reply (ADR 8); an
        # order under the same key placed step by step (by an earlier version, or sent to
        # the orders kind) has none while it is on its way, and is found by its key's id.
        known = self._stored_orders.get(earlier or placed_order_id(request, cmd))
        order_id = cmd.order_id  # made by the edge, growing with time: rows stay together
        known = known or self._stored_orders.get(order_id)
        if known is None and cmd.external_id:
            known = self._stored_orders.get(f"ext:{cmd.external_id}")
        if known is not None:
            return other_order(known, cmd) or Ok(view(known))
        product = sellable(self._products[cmd.product_id], cmd)
        if isinstance(product, Err):
            return product
        if cmd.budget_id is not None:
            budget = self._budget(cmd.budget_id)
            if isinstance(budget, Err):
                return budget
            payer_currency, unit, points_rate = budget.unit, budget.unit, ""
        else:
            payer_currency, points_rate, _ = self._programme()
            unit = POINTS
        rates = {pair: r.rate for pair, r in self.fx.items()}
        priced = final_price(product, cmd, payer_currency, unit, points_rate, rates)
        if isinstance(priced, Err):
            return priced
        return new_order(self.tenant, order_id, cmd, product, priced, request.principal.subject)

    def _order_ended(
        self, cmd: FulfilOrder, status: str, code_id: str, reason: str, work: _Batch
    ) -> Reply:
        record = OrderRecord(
            tenant=self.tenant,
            order_id=cmd.order_id,
            status=status,
            recipient=cmd.recipient,
            payer=cmd.payer,
            product_id=cmd.product_id,
            face_value_minor=cmd.face_value_minor,
            currency=cmd.currency,
            price_minor=cmd.price_minor,
            price_unit=cmd.price_unit,
            code_id=code_id,
            reason=reason,
            external_id=cmd.external_id,
            created_ms=cmd.created_ms,
            updated_ms=work.now,
            version=cmd.version + 1,
            fx_rate=cmd.fx_rate,
            points_rate=cmd.points_rate,
            placed_by=cmd.placed_by,
        )
        work.orders.append(PutOrder(record, cmd.version))
        work.events.append(order_event(record))
        if cmd.external_id:
            work.external_ids.add(cmd.external_id)
        settled = OrderSettled(status, code_id, reason, record.version, work.now)
        work.settled.append((cmd.order_id, settled))
        return Ok(settled)

    def _settle(self, hold_id: str, status: str, work: _Batch) -> Reply:
        """Commit or release a hold; settling it the same way again answers the same."""
        hold = self.accounts.get(hold_account(hold_id))
        if hold is None:
            return Err.of(ErrorCode.NOT_FOUND, f"hold {hold_id} does not exist")
        payer_id, current = hold_state(hold)
        if current != "held":
            if current != status:
                return Err.of(ErrorCode.INVALID_REQUEST, f"hold {hold_id} is already {current}")
            return Ok(self._hold_view(hold))
        payer = self.accounts.get(payer_id)
        assert payer is not None  # a hold is only ever placed on an existing payer
        amount, unit, txn = hold.balance_minor, hold.unit, f"{hold_id}:{status}"
        settled = replace(hold, name=f"{payer_id}#{status}", balance_minor=0)
        self._set(settled)
        if payer.held_minor < amount:  # the ledger and the payer's record disagree
            log.error(
                "%s/%s holds %d, less than hold %s (%d): counted as 0",
                self.tenant,
                payer_id,
                payer.held_minor,
                hold_id,
                amount,
            )
        payer = replace(payer, held_minor=max(payer.held_minor - amount, 0))
        if status == "released":
            payer = replace(payer, balance_minor=payer.balance_minor + amount)
        self._set(payer)
        if status == "released":
            work.move(txn, hold.account_id, payer_id, amount, unit)
            if payer_id.startswith("wallet:"):  # an order that did not go through
                self.limiter.forget(payer_id.removeprefix("wallet:"), hold_id)
        else:
            self._spent(txn, hold.account_id, payer, amount, hold_id, f"hold {hold_id}", work)
        return Ok(self._hold_view(settled))

    def _budget(self, budget_id: str) -> AccountRecord | Err:
        record = self.accounts.get(budget_account(budget_id))
        if record is None:
            return Err.of(ErrorCode.NOT_FOUND, f"budget {budget_id} does not exist")
        return record

    def _budget_view(self, b: AccountRecord) -> BudgetView:
        budget_id = b.account_id.removeprefix("budget:")
        balance = Money(b.balance_minor, b.unit)
        return BudgetView(
            budget_id, b.name, balance, self._version(b), b.cap_minor, b.held_minor, b.alert_minor
        )

    def _budget_page(self, stored: list[AccountRecord] | Err, limit: int) -> Reply:
        """A page of the budgets stored, those this actor holds as it holds them (as
        ``GetBudget`` shows them). A budget opened by a batch not committed yet (this
        one, or the one before it being committed) is not stored: a page asked for
        meanwhile leaves it out."""
        if isinstance(stored, Err):
            return stored
        page = [self._budget_view(self.accounts.get(b.account_id) or b) for b in stored[:limit]]
        more = len(stored) > limit
        return Ok(BudgetPage(tuple(page), encode_cursor(page[-1].budget_id) if more else ""))

    def _create(self, cmd: CreateBudget, work: _Batch) -> Reply:
        account = budget_account(cmd.budget_id)
        if self.accounts.get(account) is not None:
            return Err.of(ErrorCode.ALREADY_EXISTS, f"budget {cmd.budget_id} already exists")
        if cmd.initial.amount_minor < 0:
            return Err.of(ErrorCode.INVALID_REQUEST, "initial funding cannot be negative")
        if cmd.initial.currency not in ISO_4217:
            why = f"{cmd.initial.currency} is not the ISO 4217 code of a currency in use"
            return Err.of(ErrorCode.INVALID_REQUEST, why)
        amount, currency = cmd.initial.amount_minor, cmd.initial.currency
        if cmd.cap_minor and amount > cmd.cap_minor:
            return Err.of(ErrorCode.INVALID_REQUEST, "the initial funding is above the cap")
        record = AccountRecord(
            self.tenant,
            account,
            "budget",
            cmd.name,
            currency,
            amount,
            0,
            cmd.cap_minor,
            alert_minor=cmd.low_balance_minor,
        )
        self._set(record)
        work.move(f"open:{cmd.budget_id}", FUNDING_ACCOUNT, account, amount, currency)
        work.event(
            "budget", "created", cmd.budget_id, BudgetCreated(cmd.budget_id, cmd.name, cmd.initial)
        )
        return Ok(self._budget_view(record))

    def _update(self, cmd: UpdateBudget, work: _Batch) -> Reply:
        b = self._budget(cmd.budget_id)
        if isinstance(b, Err):
            return b
        cap = b.cap_minor if cmd.cap_minor is None else cmd.cap_minor
        if cap and b.balance_minor + b.held_minor > cap:
            return Err.of(
                ErrorCode.INVALID_REQUEST,
                f"budget {cmd.budget_id} holds {b.balance_minor + b.held_minor} {b.unit} minor"
                " units (balance and held): a cap cannot be below that",
            )
        after = replace(
            b,
            name=b.name if cmd.name is None else cmd.name,
            cap_minor=cap,
            alert_minor=b.alert_minor if cmd.low_balance_minor is None else cmd.low_balance_minor,
        )
        if after == b:
            return Ok(self._budget_view(b))
        self._set(after)
        data = BudgetUpdated(cmd.budget_id, after.name, after.cap_minor, after.alert_minor)
        work.event("budget", "updated", cmd.budget_id, data)
        return Ok(self._budget_view(after))

    def _spend(self, budget_id: str, amount: Money) -> AccountRecord | Err:
        """The budget after taking ``amount`` from it, or why that cannot be."""
        b = self._budget(budget_id)
        if isinstance(b, Err):
            return b
        if amount.currency != b.unit:
            return Err.of(
                ErrorCode.CURRENCY_MISMATCH,
                f"budget {budget_id} is in {b.unit}, not {amount.currency}",
            )
        if amount.amount_minor <= 0:
            return Err.of(ErrorCode.INVALID_REQUEST, "an amount must be positive")
        if amount.amount_minor > b.balance_minor:
            return Err.of(
                ErrorCode.INSUFFICIENT_FUNDS,
                f"budget {budget_id} has {b.balance_minor} {b.unit} minor units left",
            )
        return replace(b, balance_minor=b.balance_minor - amount.amount_minor)

    def _debit(self, cmd: DebitBudget, work: _Batch) -> Reply:
        after = self._spend(cmd.budget_id, cmd.amount)
        if isinstance(after, Err):
            return after
        self._set(after)
        amount, unit = cmd.amount.amount_minor, after.unit
        work.move(cmd.debit_id, after.account_id, spent_account(cmd.budget_id), amount, unit)
        balance = Money(after.balance_minor, unit)
        work.event(
            "budget",
            "debited",
            cmd.budget_id,
            BudgetDebited(cmd.budget_id, cmd.debit_id, cmd.amount, balance, cmd.memo),
        )
        return Ok(DebitReceipt(cmd.debit_id, cmd.budget_id, cmd.amount, balance, work.now))

    def _issue_item(self, one: IssuePoints, checked: bool, work: _Batch) -> ItemResult:
        """One item of a bulk issue, checked like a request of its own (items are not
        checked on the way in), unless its chunk passed the checks whole."""
        if not checked:
            try:
                msgspec.convert(msgspec.to_builtins(one), IssuePoints)
            except msgspec.ValidationError:
                return ItemResult(False, ErrorCode.INVALID_REQUEST.value)
        reply = self._issue(one, work)
        return ItemResult(True) if isinstance(reply, Ok) else ItemResult(False, reply.code)

    def _issue(self, cmd: IssuePoints, work: _Batch) -> Reply:
        budget = self._budget(cmd.budget_id)
        if isinstance(budget, Err):
            return budget
        currency, rate, record = self._programme()
        if budget.unit != currency:
            return Err.of(
                ErrorCode.CURRENCY_MISMATCH,
                f"points are bought in {currency}; budget {cmd.budget_id} is in {budget.unit}",
            )
        cost = Money(cost_of_points(cmd.points, currency, rate), budget.unit)
        after = self._spend(cmd.budget_id, cost)
        if isinstance(after, Err):
            return after
        account = wallet_account(cmd.person_id)
        wallet = self.accounts.get(account) or AccountRecord(
            self.tenant, account, "wallet", cmd.person_id, POINTS, 0, 0
        )
        wallet = replace(wallet, balance_minor=wallet.balance_minor + cmd.points)
        # the programme counts the points issued: from the first, its rate is fixed
        programme = record or AccountRecord(
            self.tenant, POINTS_ISSUED, "points", f"{currency} {rate}", POINTS, 0, 0
        )
        programme = replace(programme, balance_minor=programme.balance_minor - cmd.points)
        if too_large := self._too_large(wallet, programme):
            return too_large
        self._set(after)
        self._set(wallet)
        self._set(programme)
        pool = points_pool(after.unit)
        work.move(cmd.reward_id, after.account_id, pool, cost.amount_minor, after.unit)
        work.move(cmd.reward_id, POINTS_ISSUED, account, cmd.points, POINTS)
        work.event(
            "reward",
            "issued",
            cmd.reward_id,
            RewardIssued(
                cmd.reward_id,
                cmd.budget_id,
                cmd.person_id,
                cmd.points,
                cost,
                cmd.memo,
                wallet.balance_minor,
            ),
        )
        return Ok(
            PointsIssued(
                cmd.reward_id,
                cmd.budget_id,
                cmd.person_id,
                cmd.points,
                cost,
                Money(after.balance_minor, after.unit),
                wallet.balance_minor,
                work.now,
            )
        )


FUNDING_COMMANDS = (OpenFunding, Deposit, Allocate, GetFunding, ListFunding)


def _funding_refusal(principal: Principal, body: object) -> str | None:
    """Why the principal may not read or move the tenant's funding (None if it may)."""
    roles = set(principal.roles)
    if isinstance(body, (GetFunding, ListFunding)):
        if not FUNDING_READERS & roles:
            return "only owners, admins, finance and auditors read funding accounts"
    elif not FUNDING_WRITERS & roles:
        return "only owners, admins and finance move funds"
    if principal.grants:
        return "funding accounts are the whole tenant's, not some budgets'"
    return None


#: Commands that use the points rate (the ``points:issued`` record).
POINTS_COMMANDS = (
    IssuePoints,
    IssuePointsMany,
    SetPointsRate,
    GetPointsRate,
    RefundWallet,
    HoldFunds,
    CommitHold,
    FulfilHeld,
)

#: Commands only other actors (as the system) may send.
SYSTEM_ONLY = (
    RefundWallet,
    RefundBudget,
    IssuePointsMany,
    HoldFunds,
    CommitHold,
    ReleaseHold,
    FulfilOrder,
    FulfilHeld,
)

TREASURY = ActorKind(
    KIND,
    TreasuryActor,
    accepts=(
        GetBudget,
        ListBudgets,
        CreateBudget,
        UpdateBudget,
        DebitBudget,
        IssuePoints,
        GetWallet,
        SetFxRate,
        GetFxRates,
        SetPointsRate,
        GetPointsRate,
        PlaceOrder,
        *FUNDING_COMMANDS,
        *SYSTEM_ONLY,
    ),
    # Balances live in memory; accounts are read from storage only when not held, and an
    # account is dropped from memory only after a batch that did not touch it.
    pipelined=True,
)
