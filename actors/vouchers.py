"""The vouchers actor: one per tenant, sole allocator of the tenant's voucher codes.

Pools are (product, face value). The actor keeps, per pool it has touched, a queue of
available code ids (soonest expiry first, refilled from storage when empty) and its
counts. Allocation pops the queue and writes a fenced update (the code must still be
``available``), so no code is ever given twice — not even by a second, stale actor.

Every code expiring within the warning window is counted by one ``voucher.codes_expiring``
event: the import that brings it in, or a later sweep (``SweepExpiring``, sent by hosts on
a schedule) that finds it has entered the window; the store remembers which it counted.

Codes, PINs and URLs are sealed with the tenant's data key (``actors.sealing``), created on
first use and stored wrapped by the master key. ``code_hash`` is an HMAC of the code under
that data key: the store can refuse duplicates, yet a stolen database gives no way to test
guesses of short supplier codes.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from collections import Counter, deque
from collections.abc import Sequence
from dataclasses import dataclass, field

import msgspec

from actors.cursors import BAD_CURSOR, decode_cursor, encode_cursor
from actors.runtime.actor import ActorContext, ActorKey, ActorKind, Decision
from actors.sealing import seal, unseal
from bus import acl
from bus.errors import ErrorCode
from bus.events import OutboxEvent, make_event
from bus.ids import time_ordered_hex
from bus.messages import Command, Err, Ok, Principal, Reply, Request, catalogue
from bus.messages.catalogue import FaceValue, GetProduct, ProductId, ProductView
from bus.messages.vouchers import (
    KIND,
    REDEEM_URL_PATTERN,
    AllocateCode,
    Allocated,
    CodeRow,
    CodesExpiring,
    GenerateCodes,
    GetPool,
    ImportCodes,
    ImportReport,
    LeaseCodes,
    Leased,
    LeasedCode,
    ListPools,
    PoolLow,
    PoolPage,
    PoolView,
    RevealCodes,
    Revealed,
    RevealedCode,
    RowProblem,
    SweepExpiring,
    SweepReport,
    VoidCode,
    Voided,
)
from bus.time import now_ms
from storage.ports import Allocation, ChangeSet, ExpiringCode, TenantKey, VoucherCode

#: Generated codes: 20 symbols of 32 (no 0/O, 1/I) = 100 bits, shown in groups of 4.
ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"
GENERATED_SYMBOLS = 20
REFILL = 500
DAY_MS = 86_400_000
#: Most codes one sweep counts; the next sweep takes the rest.
SWEEP_MAX = 10_000
#: Roles that may see codes in clear (besides an order's owner, with orders).
REVEALERS = frozenset({"owner", "admin", "finance", "system"})
#: Roles that add codes to a pool (``vouchers:admin``); the pool serves every budget.
STOCKERS = frozenset({"owner", "admin", "programme_manager", "system"})

Pool = tuple[str, int]
#: A page of pools resumes after the (product, face value) of the page before's last.
_pool_cursor = msgspec.json.Decoder(tuple[ProductId, FaceValue])


def generated_code() -> str:
    symbols = "".join(secrets.choice(ALPHABET) for _ in range(GENERATED_SYMBOLS))
    return "-".join(symbols[i : i + 4] for i in range(0, GENERATED_SYMBOLS, 4))


def codes_expiring(
    tenant: str, pool: Pool, codes: int, first_expires_ms: int, days: int
) -> OutboxEvent:
    data = CodesExpiring(pool[0], pool[1], codes, first_expires_ms, days)
    return make_event(tenant, "voucher", "codes_expiring", f"{pool[0]}:{pool[1]}", data)


def _stocking_refusal(principal: Principal) -> Err | None:
    """The edge checked ``vouchers:admin`` already; the actor that owns the stock checks
    the roles again, and that the principal is not narrowed to some budgets."""
    if not STOCKERS & set(principal.roles):
        return Err.of(ErrorCode.FORBIDDEN, "only owners, admins and programme managers add codes")
    if why := acl.whole_tenant(principal, "voucher stock"):
        return Err.of(ErrorCode.FORBIDDEN, why)
    return None


def unsellable(product: ProductView | None, stock: ImportCodes | GenerateCodes) -> Err | None:
    """Why codes cannot stock a product of the catalogue: another currency, or a face
    value it is not sold at (its orders would never draw them). Codes for a product the
    catalogue does not list yet are taken: stock may come before the listing."""
    if product is None:
        return None
    if stock.currency != product.currency:
        return Err.of(
            ErrorCode.CURRENCY_MISMATCH,
            f"{product.id} is sold in {product.currency}; these codes are in {stock.currency}",
        )
    face_value = stock.face_value_minor
    in_range = product.range is not None and (
        product.range.min_minor <= face_value <= product.range.max_minor
    )
    if face_value not in product.denominations and not in_range:
        return Err.of(
            ErrorCode.INVALID_REQUEST, f"{product.id} is not sold at {face_value} minor units"
        )
    return None


@dataclass
class PoolState:
    available: int
    queue: deque[tuple[str, int]] = field(default_factory=deque)
    #: From this moment (ms) a code outside the queue may have expired unused, and the
    #: next refill counts the pool again: the soonest expiry not queued, as far as known.
    recount_at: int = 0


@dataclass
class _Work:
    tenant_key: TenantKey | None = None
    codes: list[VoucherCode] = field(default_factory=list)
    allocations: list[Allocation] = field(default_factory=list)
    leased: list[str] = field(default_factory=list)
    #: Codes this batch allocated, by pool.
    allocated_from: Counter[Pool] = field(default_factory=Counter)
    #: Codes this batch took from each pool's available ones (allocated or leased).
    given_from: Counter[Pool] = field(default_factory=Counter)
    voids: list[Allocation] = field(default_factory=list)
    events: list[OutboxEvent] = field(default_factory=list)
    hashes: set[str] = field(default_factory=set)
    taken: set[str] = field(default_factory=set)
    #: Codes a ``voucher.codes_expiring`` event of this batch counted.
    warned: list[str] = field(default_factory=list)


class VouchersActor:
    def __init__(self, ctx: ActorContext, key: ActorKey) -> None:
        self.ctx = ctx
        self.tenant = key.tenant
        self.data_key: bytes | None = None
        self.pools: dict[Pool, PoolState] = {}

    async def on_activate(self) -> None:
        self.data_key = None
        self.pools = {}

    async def on_deactivate(self, reason: str) -> None:
        self.data_key = None
        self.pools = {}

    async def handle(self, batch: Sequence[Request]) -> Decision:
        work = _Work()
        now = now_ms()
        replies: list[Reply] = []
        products = await self._products(batch)
        for request in batch:
            match request.body:
                case ImportCodes() | GenerateCodes() if refused := _stocking_refusal(
                    request.principal
                ):
                    replies.append(refused)
                case ImportCodes() | GenerateCodes() as stock if refused := unsellable(
                    products.get(stock.product_id), stock
                ):
                    replies.append(refused)
                case ImportCodes() as cmd:
                    replies.append(await self._import(cmd, cmd.rows, "imported", work, now))
                case GenerateCodes() as gen:
                    rows = tuple(
                        CodeRow(generated_code(), expires_ms=gen.expires_ms)
                        for _ in range(gen.count)
                    )
                    cmd = ImportCodes(gen.product_id, gen.face_value_minor, gen.currency, rows)
                    replies.append(await self._import(cmd, rows, "generated", work, now))
                case GetPool(product_id=pid, face_value_minor=fv):
                    replies.append(Ok(await self._view((pid, fv), work)))
                case ListPools() as listing:
                    replies.append(await self._list(listing, work))
                case AllocateCode() as allocate:
                    replies.append(await self._allocate(allocate, work, now))
                case RevealCodes(code_ids=code_ids):
                    replies.append(await self._reveal(request, code_ids))
                case VoidCode() | SweepExpiring() | LeaseCodes() if (
                    "system" not in request.principal.roles
                ):
                    replies.append(Err.of(ErrorCode.FORBIDDEN, "only the system does this"))
                case SweepExpiring():
                    replies.append(await self._sweep(work, now))
                case LeaseCodes() as lease:
                    replies.append(await self._lease(lease, work, now))
                case VoidCode(code_id=code_id, order_id=order_id):
                    work.voids.append(Allocation(code_id, order_id))
                    self.pools.clear()  # counts are read again when next asked for
                    replies.append(Ok(Voided(code_id, order_id)))
                case _:
                    replies.append(Err.of(ErrorCode.INVALID_REQUEST, "not a vouchers request"))
        if not (
            work.codes
            or work.allocations
            or work.leased
            or work.tenant_key
            or work.voids
            or work.warned
        ):
            return Decision(replies)
        return Decision(
            replies,
            ChangeSet(
                self.tenant,
                events=tuple(work.events),
                new_codes=tuple(work.codes),
                allocations=tuple(work.allocations),
                leased=tuple(work.leased),
                voids=tuple(work.voids),
                tenant_key=work.tenant_key,
                expiry_warned=tuple(work.warned),
            ),
        )

    async def _products(self, batch: Sequence[Request]) -> dict[str, ProductView]:
        """The catalogue's products that the batch's imports stock (asked for only when a
        batch imports or generates codes; a product not in the catalogue yet is absent)."""
        wanted = {
            r.body.product_id for r in batch if isinstance(r.body, ImportCodes | GenerateCodes)
        }
        found: dict[str, ProductView] = {}
        for product_id in sorted(wanted):
            reply = await self.ctx.ask(self.tenant, catalogue.KIND, GetProduct(product_id), None)
            if isinstance(reply, Ok) and isinstance(reply.value, ProductView):
                found[product_id] = reply.value
        return found

    def _expires_soon(self, expires_ms: int, now: int) -> bool:
        return 0 < expires_ms <= now + self.ctx.expiry_warning_days * DAY_MS

    async def _sweep(self, work: _Work, now: int) -> Reply:
        horizon = now + self.ctx.expiry_warning_days * DAY_MS
        found = await self.ctx.ledger.expiring_codes(self.tenant, now, horizon, SWEEP_MAX)
        pools: dict[Pool, list[ExpiringCode]] = {}
        for code in found:
            if code.code_id not in work.warned:  # not counted by this batch already
                pools.setdefault((code.product_id, code.face_value_minor), []).append(code)
        for pool, codes in sorted(pools.items()):
            first = min(c.expires_ms for c in codes)
            days = self.ctx.expiry_warning_days
            work.events.append(codes_expiring(self.tenant, pool, len(codes), first, days))
            work.warned.extend(c.code_id for c in codes)
        return Ok(SweepReport(len(pools), sum(len(c) for c in pools.values())))

    async def _key(self, work: _Work) -> bytes:
        if self.data_key is None:
            wrapped = await self.ctx.ledger.load_tenant_key(self.tenant)
            if wrapped is not None:
                self.data_key = self.ctx.master_key.unwrap(self.tenant, wrapped)
            else:
                self.data_key, wrapped = self.ctx.master_key.new_data_key(self.tenant)
                work.tenant_key = TenantKey(self.tenant, wrapped)
        return self.data_key

    async def _pool(self, pool: Pool) -> PoolState:
        state = self.pools.get(pool)
        if state is None:
            # the available codes only: counting every code the pool ever allocated held
            # up the actor's start in proportion to the tenant's history
            available = await self.ctx.ledger.pool_count(self.tenant, *pool, "available")
            state = PoolState(available)
            self.pools[pool] = state
        return state

    async def _view(self, pool: Pool, work: _Work) -> PoolView:
        """The pool's figures as stored, with this batch's imports and allocations: codes
        leased to the treasury count as available until it gives them to orders."""
        counts = await self.ctx.ledger.pool_counts(self.tenant, *pool)
        added = sum(1 for c in work.codes if (c.product_id, c.face_value_minor) == pool)
        given = work.allocated_from[pool]
        available = counts.get("available", 0) + counts.get("leased", 0) + added - given
        return PoolView(pool[0], pool[1], available, counts.get("allocated", 0) + given)

    async def _list(self, q: ListPools, work: _Work) -> Reply:
        """A page of the tenant's pools as stored, each with the figures :meth:`_view`
        gives ``GetPool``. (A pool first stocked in this batch is not stored yet: the
        page, asked for at the same time, may leave it out.)"""
        after = decode_cursor(q.cursor, _pool_cursor) if q.cursor else None
        if q.cursor and after is None:
            return Err.of(ErrorCode.INVALID_REQUEST, BAD_CURSOR)
        found = await self.ctx.ledger.list_pools(self.tenant, q.limit + 1, after)
        page = found[: q.limit]
        cursor = encode_cursor(page[-1]) if len(found) > q.limit else ""
        return Ok(PoolPage(tuple([await self._view(p, work) for p in page]), cursor))

    async def _import(
        self, cmd: ImportCodes, rows: Sequence[CodeRow], source: str, work: _Work, now: int
    ) -> Reply:
        key = await self._key(work)
        hashed: list[tuple[int, CodeRow, str]] = []
        rejected: list[RowProblem] = []
        for i, row in enumerate(rows):
            code = row.code.strip()
            if not 4 <= len(code) <= 128 or any(c.isspace() or not c.isprintable() for c in code):
                rejected.append(RowProblem(i, "invalid code: 4 to 128 visible characters"))
            elif len(row.pin) > 64 or len(row.url.encode()) > 1000:  # the URL sealed: bytes
                rejected.append(RowProblem(i, "PIN or URL too long"))
            elif row.url and not re.search(REDEEM_URL_PATTERN, row.url):
                rejected.append(RowProblem(i, "invalid url: an https URL"))
            elif 0 < row.expires_ms <= now:
                rejected.append(RowProblem(i, "expired"))
            else:
                digest = hmac.new(key, code.encode(), hashlib.sha256).hexdigest()
                hashed.append((i, row, digest))
        known = await self.ctx.ledger.known_code_hashes(self.tenant, [h for _, _, h in hashed])
        pool = (cmd.product_id, cmd.face_value_minor)
        state = await self._pool(pool)
        imported = 0
        expiring: list[int] = []
        warning_days = self.ctx.expiry_warning_days
        for i, row, digest in hashed:
            if digest in known or digest in work.hashes:
                rejected.append(RowProblem(i, "duplicate"))
                continue
            work.hashes.add(digest)
            code_id = f"vch_{time_ordered_hex()}"
            soon = self._expires_soon(row.expires_ms, now)
            context = f"voucher:{self.tenant}:{code_id}"
            work.codes.append(
                VoucherCode(
                    tenant=self.tenant,
                    code_id=code_id,
                    product_id=cmd.product_id,
                    face_value_minor=cmd.face_value_minor,
                    currency=cmd.currency,
                    code_hash=digest,
                    code_sealed=seal(key, row.code.strip().encode(), f"{context}:code"),
                    pin_sealed=seal(key, row.pin.encode(), f"{context}:pin") if row.pin else b"",
                    url_sealed=seal(key, row.url.encode(), f"{context}:url") if row.url else b"",
                    expires_ms=row.expires_ms,
                    source=source,
                    status="available",
                    order_id="",
                    created_ms=now,
                    expiry_warned_ms=now if soon else 0,
                )
            )
            imported += 1
            if soon:
                expiring.append(row.expires_ms)
        state.available += imported
        if expiring_rows := [r.expires_ms for _, r, _ in hashed if r.expires_ms]:
            state.recount_at = min(state.recount_at, min(expiring_rows))  # not queued yet
        if expiring:
            event = codes_expiring(self.tenant, pool, len(expiring), min(expiring), warning_days)
            work.events.append(event)
        rejected.sort(key=lambda p: p.row)
        return Ok(ImportReport(imported, tuple(rejected), await self._view(pool, work)))

    async def _allocate(self, cmd: AllocateCode, work: _Work, now: int) -> Reply:
        pool = (cmd.product_id, cmd.face_value_minor)
        state = await self._pool(pool)
        code = await self._next_code(pool, state, work, now)
        if code is None:
            return Err.of(
                ErrorCode.OUT_OF_STOCK,
                f"no code left for {cmd.product_id} at {cmd.face_value_minor}",
            )
        code_id, expires_ms = code
        work.taken.add(code_id)
        work.allocations.append(Allocation(code_id, cmd.order_id))
        work.allocated_from[pool] += 1
        self._given(pool, state, work)
        return Ok(Allocated(code_id, cmd.order_id, expires_ms))

    async def _lease(self, cmd: LeaseCodes, work: _Work, now: int) -> Reply:
        """Codes for the treasury to give to orders itself (ADR 21): those needed now, as
        many as are left; those for orders to come (``ahead``) only from what the pool has
        above its low-stock mark."""
        pool = (cmd.product_id, cmd.face_value_minor)
        state = await self._pool(pool)
        needed = max(cmd.count - cmd.ahead, 0)
        above_mark = max(state.available - needed - self.ctx.low_stock, 0)
        count = needed + min(cmd.count - needed, above_mark)
        leased: list[LeasedCode] = []
        while len(leased) < count:
            code = await self._next_code(pool, state, work, now)
            if code is None:
                break
            work.taken.add(code[0])
            work.leased.append(code[0])
            leased.append(LeasedCode(*code))
            self._given(pool, state, work)
        return Ok(Leased(tuple(leased)))

    def _given(self, pool: Pool, state: PoolState, work: _Work) -> None:
        """One code left the pool's available ones (allocated, or leased to the treasury):
        count it, and say so when the pool runs low."""
        work.given_from[pool] += 1
        self._left(pool, state, state.available - 1, work)

    def _left(self, pool: Pool, state: PoolState, available: int, work: _Work) -> None:
        """The pool now has ``available`` codes (fewer: given, or expired unused); say so
        when that takes it below its low-stock mark."""
        before, state.available = state.available, max(available, 0)
        low_stock = self.ctx.low_stock
        if state.available < low_stock <= before:
            work.events.append(
                make_event(
                    self.tenant,
                    "voucher",
                    "pool_low",
                    f"{pool[0]}:{pool[1]}",
                    PoolLow(pool[0], pool[1], state.available, low_stock),
                )
            )

    async def _next_code(
        self, pool: Pool, state: PoolState, work: _Work, now: int
    ) -> tuple[str, int] | None:
        for attempt in range(2):
            while state.queue:
                code_id, expires_ms = state.queue.popleft()
                if code_id in work.taken:
                    continue
                if expires_ms and expires_ms <= now:  # expired unused: out of the stock
                    self._left(pool, state, state.available - 1, work)
                    continue
                return code_id, expires_ms
            if attempt == 0:
                fresh = await self.ctx.ledger.available_codes(self.tenant, *pool, REFILL)
                state.queue.extend(c for c in fresh if c[0] not in work.taken)
                if now >= state.recount_at:
                    await self._recount(pool, state, work)
                # soonest expiring first: a full page leaves out none that expires sooner
                # than its last; a short one leaves out only codes that never expire
                expiring = [e for _, e in fresh if e]
                state.recount_at = expiring[-1] if len(expiring) == REFILL else 2**62
        return None

    async def _recount(self, pool: Pool, state: PoolState, work: _Work) -> None:
        """Codes that expired outside the queue left the stock too: count the pool again
        (this batch's codes are not written yet, so the store still has them)."""
        stored = await self.ctx.ledger.pool_count(self.tenant, *pool, "available")
        added = sum(1 for c in work.codes if (c.product_id, c.face_value_minor) == pool)
        counted = stored + added - work.given_from[pool]
        if counted < state.available:
            self._left(pool, state, counted, work)

    async def _reveal(self, request: Request, code_ids: Sequence[str]) -> Reply:
        if not REVEALERS & set(request.principal.roles):
            return Err.of(ErrorCode.FORBIDDEN, "only owners, admins and finance see codes")
        work = _Work()
        key = await self._key(work)
        if work.tenant_key is not None:  # no key yet: the tenant has no codes either
            self.data_key = None
            return Ok(Revealed(()))
        shown = []
        for c in await self.ctx.ledger.load_codes(self.tenant, list(code_ids)):
            context = f"voucher:{self.tenant}:{c.code_id}"
            pin = unseal(key, c.pin_sealed, f"{context}:pin").decode() if c.pin_sealed else ""
            url = unseal(key, c.url_sealed, f"{context}:url").decode() if c.url_sealed else ""
            shown.append(
                RevealedCode(
                    c.code_id,
                    unseal(key, c.code_sealed, f"{context}:code").decode(),
                    pin,
                    url,
                    c.expires_ms,
                    c.order_id,
                )
            )
        return Ok(Revealed(tuple(shown)))


async def tenants_with_expiring_codes(ctx: ActorContext) -> list[tuple[str, Command]]:
    """What a host sends on its schedule: a sweep to each tenant with codes to warn of."""
    now = now_ms()
    horizon = now + ctx.expiry_warning_days * DAY_MS
    tenants = await ctx.ledger.tenants_with_expiring_codes(now, horizon, 10_000)
    return [(t, SweepExpiring()) for t in tenants]


VOUCHERS = ActorKind(
    KIND,
    VouchersActor,
    accepts=(
        ImportCodes,
        GenerateCodes,
        GetPool,
        ListPools,
        LeaseCodes,
        AllocateCode,
        RevealCodes,
        VoidCode,
        SweepExpiring,
    ),
    resume=tenants_with_expiring_codes,
)
