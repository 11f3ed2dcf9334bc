"""What the API can do, once for REST and GraphQL both.

Each operation takes a :class:`Caller` (who asks, over which bus, with which key) and input
already validated against the public Structs of :mod:`edge.schemas`, checks the scope,
sends the bus request, and returns the public result or an :class:`~bus.messages.Err`.
The REST handlers turn an ``Err`` into problem details, the GraphQL resolvers into a
member of an error union; neither decides anything itself.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, TypeVar

import msgspec

from bus import acl
from bus.client import Bus
from bus.errors import BusError, ErrorCode
from bus.events import read_events
from bus.ids import time_ordered_hex
from bus.messages import (
    Command,
    Err,
    Ok,
    ReplyValue,
    audit,
    bulk,
    catalogue,
    identity,
    orders,
    treasury,
    vouchers,
)
from bus.messages.audit import AuditPage, ReadAudit
from bus.messages.budget import (
    KIND,
    BudgetId,
    BudgetView,
    CreateBudget,
    DebitBudget,
    DebitReceipt,
    GetBudget,
    UpdateBudget,
)
from bus.messages.bulk import (
    LOAD_CHUNK,
    BulkResultPage,
    BulkResults,
    BulkRow,
    BulkView,
    GetBulk,
    LoadBulkRows,
    StartBulk,
)
from bus.messages.catalogue import (
    AddCustomProduct,
    CatalogueExport,
    CurateProduct,
    ExportCatalogue,
    GetProduct,
    ListProducts,
    Product,
    ProductFilter,
    ProductId,
    ProductPage,
    ProductView,
)
from bus.messages.common import Money
from bus.messages.funding import Allocate, Deposit, FundingId, FundingView, GetFunding, OpenFunding
from bus.messages.funding import Allocated as FundsAllocated
from bus.messages.identity import (
    ClientId,
    ClientList,
    ClientView,
    CreateClient,
    IssueNatsCredentials,
    ListClients,
    NatsCredentials,
    RevokeClient,
    RotateClientSecret,
)
from bus.messages.orders import (
    CancelOrder,
    GetOrder,
    OrderCodes,
    OrderView,
    PlaceOrder,
    ResendOrder,
    ReviewOrder,
)
from bus.messages.treasury import (
    FxTable,
    GetFxRates,
    GetPointsRate,
    PointsRateView,
    SetFxRate,
    SetPointsRate,
)
from bus.messages.vouchers import (
    CodeRow,
    GenerateCodes,
    GetPool,
    ImportCodes,
    ImportReport,
    PoolView,
    Revealed,
)
from bus.messages.wallet import GetWallet, IssuePoints, PersonId, PointsIssued, WalletView
from bus.scopes import (
    PRIVATE_EVENTS,
    SCOPE_ADMIN,
    SCOPE_AUDIT,
    SCOPE_BULK,
    SCOPE_CATALOGUE,
    SCOPE_CATALOGUE_ADMIN,
    SCOPE_CLIENTS,
    SCOPE_DEBIT,
    SCOPE_EVENTS,
    SCOPE_FUNDING,
    SCOPE_FUNDING_READ,
    SCOPE_FX,
    SCOPE_ISSUE,
    SCOPE_ORDERS,
    SCOPE_ORDERS_READ,
    SCOPE_ORDERS_REVIEW,
    SCOPE_READ,
    SCOPE_VOUCHERS,
    SCOPE_VOUCHERS_ADMIN,
    SCOPE_WALLETS,
)
from bus.time import rfc3339
from edge.auth import Identity
from edge.caches import EdgeCaches
from edge.refusals import RefusalRecorder
from edge.schemas import (
    EPOCH,
    AllocateIn,
    AllocationOut,
    AuditEntryOut,
    AuditPageOut,
    AuditQuery,
    BudgetOut,
    BulkJobOut,
    CatalogueExportOut,
    ClientListOut,
    ClientOut,
    CreateBudgetIn,
    CreateClientIn,
    CurationIn,
    DebitIn,
    DebitOut,
    DepositIn,
    ExportQuery,
    FundingOut,
    FxRateIn,
    FxRateOut,
    FxTableOut,
    GenerateCodesIn,
    ImportCodesIn,
    ImportReportOut,
    IssuePointsIn,
    NatsCredentialsIn,
    NatsCredentialsOut,
    OpenFundingIn,
    OrderCodesOut,
    OrderOut,
    PlaceOrderIn,
    PointsRateIn,
    PointsRateOut,
    PoolOut,
    ProductOut,
    ProductPageOut,
    ProductQuery,
    ReplayPage,
    ReplayQuery,
    RewardOut,
    RowProblemOut,
    UpdateBudgetIn,
    VoucherOut,
    WalletOut,
    utc,
)
from edge.validation import DIGITS

R = TypeVar("R")


class KeysInFlight:
    """The Idempotency-Keys this edge is answering right now, per tenant and caller.

    A second request under a key whose first is still in flight gets 409
    ``idempotency_key_in_use`` at once (retry shortly), rather than waiting for the
    first. This is a courtesy of one edge process: across edges, the actor that owns the
    key still decides it once and answers the later request with the first reply (ADR 8).
    """

    def __init__(self) -> None:
        self._keys: set[tuple[str, str, str]] = set()

    def claim(self, tenant: str, subject: str, key: str) -> bool:
        token = (tenant, subject, key)
        if token in self._keys:
            return False
        self._keys.add(token)
        return True

    def release(self, tenant: str, subject: str, key: str) -> None:
        self._keys.discard((tenant, subject, key))


@dataclass(frozen=True)
class Caller:
    bus: Bus
    identity: Identity
    timeout_s: float
    #: Only for mutations: reads are never keyed (a key would store, and replay, a view).
    idempotency_key: str | None = None
    in_flight: KeysInFlight | None = None
    refusals: RefusalRecorder | None = None
    #: What is being asked, for the audit log of a refusal (``METHOD /path``).
    asking: str = ""
    #: Catalogue pages, velocity counters, keyed orders in flight (none: ask actors).
    caches: EdgeCaches | None = None


def _claim(caller: Caller) -> Err | None:
    """Mark the caller's key as in flight, or say that it already is."""
    key, in_flight = caller.idempotency_key, caller.in_flight
    tenant, subject = caller.identity.tenant, caller.identity.principal.subject
    if key and in_flight is not None and not in_flight.claim(tenant, subject, key):
        return Err.of(
            ErrorCode.IDEMPOTENCY_KEY_IN_USE,
            f"a request with the Idempotency-Key {key!r} is still in progress",
        )
    return None


def _release(caller: Caller) -> None:
    key, in_flight = caller.idempotency_key, caller.in_flight
    if key and in_flight is not None:
        in_flight.release(caller.identity.tenant, caller.identity.principal.subject, key)


async def call(caller: Caller, kind: str, body: Command, keyed: bool) -> ReplyValue | Err:
    if why := acl.refusal(caller.identity.principal, body):  # and again in the actor
        refused(caller, why)
        return Err.of(ErrorCode.FORBIDDEN, why)
    if keyed and (busy := _claim(caller)):
        return busy
    try:
        reply = await caller.bus.request(
            caller.identity.tenant,
            kind,
            body,
            caller.identity.principal,
            timeout_s=caller.timeout_s,
            idempotency_key=caller.idempotency_key if keyed else None,
        )
    except BusError as e:
        return Err(code=e.code, message=str(e), retryable=True)
    finally:
        if keyed:
            _release(caller)
    match reply:
        case Ok(value=value):
            return value
        case Err() as err:
            return err
    raise AssertionError("unreachable")  # pragma: no cover


def missing_scope(caller: Caller, scope: str) -> Err | None:
    if caller.identity.has_scope(scope):
        return None
    why = caller.identity.why_not(scope)
    refused(caller, why)
    return Err.of(ErrorCode.FORBIDDEN, why)


def refused(caller: Caller, why: str) -> None:
    """Record in the tenant's audit log that the edge refused the caller."""
    if caller.refusals is not None:
        identity = caller.identity
        caller.refusals.record(
            caller.bus, identity.tenant, identity.principal.subject, caller.asking, why
        )


def _unexpected(value: object) -> Err:
    return Err.of(ErrorCode.INTERNAL, f"unexpected reply {type(value).__name__}")


def budget_out(view: BudgetView) -> BudgetOut:
    cap = view.cap_minor or None
    held = Money(view.held_minor, view.balance.currency)
    alert = view.low_balance_minor or None
    return BudgetOut(view.budget_id, view.name, view.balance, view.version, cap, held, alert)


def valid_budget_id(budget_id: str) -> str | None:
    """An id that cannot be a budget's is simply not found (and never reaches the bus)."""
    try:
        return msgspec.convert(budget_id, BudgetId)
    except msgspec.ValidationError:
        return None


async def create_budget(caller: Caller, data: CreateBudgetIn) -> BudgetOut | Err:
    if denied := missing_scope(caller, SCOPE_ADMIN):
        return denied
    initial = Money(data.initial.amount_minor, data.initial.currency)
    command = CreateBudget(
        data.id, data.name, initial, data.cap_minor or 0, data.low_balance_minor or 0
    )
    value = await call(caller, KIND, command, keyed=True)
    if isinstance(value, Err):
        return value
    return budget_out(value) if isinstance(value, BudgetView) else _unexpected(value)


async def update_budget(caller: Caller, budget_id: str, data: UpdateBudgetIn) -> BudgetOut | Err:
    if denied := missing_scope(caller, SCOPE_ADMIN):
        return denied
    checked = valid_budget_id(budget_id)
    if checked is None:
        return Err.of(ErrorCode.NOT_FOUND, "no budget has that id")
    command = UpdateBudget(checked, data.name, data.cap_minor, data.low_balance_minor)
    value = await call(caller, KIND, command, keyed=True)
    if isinstance(value, Err):
        return value
    return budget_out(value) if isinstance(value, BudgetView) else _unexpected(value)


async def get_budget(caller: Caller, budget_id: str) -> BudgetOut | Err:
    if denied := missing_scope(caller, SCOPE_READ):
        return denied
    checked = valid_budget_id(budget_id)
    if checked is None:
        return Err.of(ErrorCode.NOT_FOUND, "no budget has that id")
    value = await call(caller, KIND, GetBudget(checked), keyed=False)
    if isinstance(value, Err):
        return value
    return budget_out(value) if isinstance(value, BudgetView) else _unexpected(value)


async def debit_budget(caller: Caller, budget_id: str, data: DebitIn) -> DebitOut | Err:
    if denied := missing_scope(caller, SCOPE_DEBIT):
        return denied
    checked = valid_budget_id(budget_id)
    if checked is None:
        return Err.of(ErrorCode.NOT_FOUND, "no budget has that id")
    amount = Money(data.amount.amount_minor, data.amount.currency)
    debit = DebitBudget(checked, f"dbt_{time_ordered_hex()}", amount, data.memo)
    value = await call(caller, KIND, debit, keyed=True)
    if isinstance(value, Err):
        return value
    if not isinstance(value, DebitReceipt):
        return _unexpected(value)
    return DebitOut(
        value.debit_id,
        value.budget_id,
        value.amount,
        value.balance_after,
        rfc3339(value.created_ms),
    )


def valid_person_id(person_id: str) -> str | None:
    try:
        return msgspec.convert(person_id, PersonId)
    except msgspec.ValidationError:
        return None


async def issue_points(caller: Caller, data: IssuePointsIn) -> RewardOut | Err:
    if denied := missing_scope(caller, SCOPE_ISSUE):
        return denied
    issue = IssuePoints(
        data.budget_id, data.person_id, data.points, f"rwd_{time_ordered_hex()}", data.memo
    )
    value = await call(caller, KIND, issue, keyed=True)
    if isinstance(value, Err):
        return value
    if not isinstance(value, PointsIssued):
        return _unexpected(value)
    return RewardOut(
        value.reward_id,
        value.budget_id,
        value.person_id,
        value.points,
        value.cost,
        value.budget_balance_after,
        value.wallet_points_after,
        rfc3339(value.created_ms),
    )


async def get_wallet(caller: Caller, person_id: str) -> WalletOut | Err:
    if denied := missing_scope(caller, SCOPE_WALLETS):
        return denied
    checked = valid_person_id(person_id)
    if checked is None:
        return Err.of(ErrorCode.NOT_FOUND, "no person has that id")
    value = await call(caller, KIND, GetWallet(checked), keyed=False)
    if isinstance(value, Err):
        return value
    if not isinstance(value, WalletView):
        return _unexpected(value)
    return WalletOut(value.person_id, value.points, value.version)


def product_out(view: ProductView) -> ProductOut:
    return ProductOut(**msgspec.structs.asdict(view))


def valid_product_id(product_id: str) -> str | None:
    try:
        return msgspec.convert(product_id, ProductId)
    except msgspec.ValidationError:
        return None


async def list_products(caller: Caller, query: ProductQuery) -> ProductPageOut | Err:
    if denied := missing_scope(caller, SCOPE_CATALOGUE):
        return denied
    wanted = ProductFilter(
        country=query.country,
        currency=query.currency,
        category=query.category,
        min_price=query.min_price,
        max_price=query.max_price,
        q=query.q,
    )
    command = ListProducts(wanted, query.locale, query.limit, query.cursor)
    pages = caller.caches.pages if caller.caches else None
    slot = await pages.slot(caller.identity.tenant, command) if pages else None
    if pages and slot and (cached := await pages.get(slot)) is not None:
        return cached
    value = await call(caller, catalogue.KIND, command, keyed=False)
    if isinstance(value, Err):
        return value
    if not isinstance(value, ProductPage):
        return _unexpected(value)
    products = tuple(product_out(p) for p in value.products)
    page = ProductPageOut(products, value.next_cursor, value.total, value.facets, value.degraded)
    if pages and slot and not value.degraded:  # a page listed without the index is not kept
        await pages.put(slot, page)
    return page


async def _catalogue_changed(caller: Caller) -> None:
    """Before this edge answers a change, its catalogue pages of the tenant are stale
    (after an error too: one that left the effect unknown may hide a change)."""
    if caller.caches is not None:
        await caller.caches.pages.changed(caller.identity.tenant)


async def get_product(caller: Caller, product_id: str, locale: str = "en") -> ProductOut | Err:
    if denied := missing_scope(caller, SCOPE_CATALOGUE):
        return denied
    checked = valid_product_id(product_id)
    if checked is None:
        return Err.of(ErrorCode.NOT_FOUND, "no product has that id")
    try:
        command = msgspec.convert({"product_id": checked, "locale": locale}, GetProduct)
    except msgspec.ValidationError:
        return Err.of(
            ErrorCode.INVALID_REQUEST, "locale: a language (en), or one and a region (pt-BR)"
        )
    value = await call(caller, catalogue.KIND, command, keyed=False)
    if isinstance(value, Err):
        return value
    return product_out(value) if isinstance(value, ProductView) else _unexpected(value)


async def curate_product(caller: Caller, product_id: str, data: CurationIn) -> ProductOut | Err:
    if denied := whole_tenant_only(
        caller, SCOPE_CATALOGUE_ADMIN, "the catalogue: the whole tenant's, not some budgets'"
    ):
        return denied
    checked = valid_product_id(product_id)
    if checked is None:
        return Err.of(ErrorCode.NOT_FOUND, "no product has that id")
    command = CurateProduct(checked, data.enabled, data.markup_bps)
    value = await call(caller, catalogue.KIND, command, keyed=True)
    await _catalogue_changed(caller)
    if isinstance(value, Err):
        return value
    return product_out(value) if isinstance(value, ProductView) else _unexpected(value)


async def export_catalogue(caller: Caller, query: ExportQuery) -> CatalogueExportOut | Err:
    if denied := missing_scope(caller, SCOPE_CATALOGUE_ADMIN):
        return denied
    command = ExportCatalogue(query.locale, query.limit, query.cursor)
    value = await call(caller, catalogue.KIND, command, keyed=False)
    if isinstance(value, Err):
        return value
    if not isinstance(value, CatalogueExport):
        return _unexpected(value)
    return CatalogueExportOut(tuple(product_out(p) for p in value.products), value.next_cursor)


async def add_custom_product(caller: Caller, product: Product) -> ProductOut | Err:
    if denied := whole_tenant_only(
        caller, SCOPE_CATALOGUE_ADMIN, "the catalogue: the whole tenant's, not some budgets'"
    ):
        return denied
    value = await call(caller, catalogue.KIND, AddCustomProduct(product), keyed=True)
    await _catalogue_changed(caller)
    if isinstance(value, Err):
        return value
    return product_out(value) if isinstance(value, ProductView) else _unexpected(value)


def _ms(moment: datetime | None) -> int:
    """Milliseconds since 1970 (the schemas refuse moments before); 0 for none."""
    return 0 if moment is None else (utc(moment) - EPOCH) // timedelta(milliseconds=1)


def pool_out(view: PoolView) -> PoolOut:
    return PoolOut(view.product_id, view.face_value_minor, view.available, view.allocated)


def _pool_target(product_id: str, face_value: str) -> tuple[str, int] | Err:
    checked = valid_product_id(product_id)
    if checked is None or not DIGITS.fullmatch(face_value) or not 0 < int(face_value) <= 2**53:
        return Err.of(ErrorCode.NOT_FOUND, "no pool has that product and face value")
    return checked, int(face_value)


async def _import(caller: Caller, command: ImportCodes | GenerateCodes) -> ImportReportOut | Err:
    if denied := whole_tenant_only(
        caller, SCOPE_VOUCHERS_ADMIN, "voucher stock: the whole tenant's, not some budgets'"
    ):
        return denied
    value = await call(caller, vouchers.KIND, command, keyed=True)
    if isinstance(value, Err):
        return value
    if not isinstance(value, ImportReport):
        return _unexpected(value)
    rejected = [RowProblemOut(p.row, p.reason) for p in value.rejected]
    return ImportReportOut(value.imported, rejected, pool_out(value.pool))


async def import_codes(
    caller: Caller, product_id: str, face_value: str, data: ImportCodesIn
) -> ImportReportOut | Err:
    target = _pool_target(product_id, face_value)
    if isinstance(target, Err):
        return target
    rows = tuple(CodeRow(c.code, c.pin, c.url, _ms(c.expires_at)) for c in data.codes)
    return await _import(caller, ImportCodes(*target, data.currency, rows))


async def generate_codes(
    caller: Caller, product_id: str, face_value: str, data: GenerateCodesIn
) -> ImportReportOut | Err:
    target = _pool_target(product_id, face_value)
    if isinstance(target, Err):
        return target
    command = GenerateCodes(*target, data.currency, data.count, _ms(data.expires_at))
    return await _import(caller, command)


async def get_pool(caller: Caller, product_id: str, face_value: str) -> PoolOut | Err:
    if denied := missing_scope(caller, SCOPE_VOUCHERS):
        return denied
    target = _pool_target(product_id, face_value)
    if isinstance(target, Err):
        return target
    value = await call(caller, vouchers.KIND, GetPool(*target), keyed=False)
    if isinstance(value, Err):
        return value
    return pool_out(value) if isinstance(value, PoolView) else _unexpected(value)


def order_out(v: OrderView) -> OrderOut:
    return OrderOut(
        v.order_id,
        v.status,
        v.recipient,
        v.payer,
        v.product_id,
        v.face_value,
        v.price,
        v.code_id,
        v.reason,
        v.external_id,
        rfc3339(v.created_ms),
        rfc3339(v.updated_ms),
        v.fx_rate,
        v.points_rate,
    )


async def place_order(caller: Caller, data: PlaceOrderIn) -> OrderOut | Err:
    if denied := missing_scope(caller, SCOPE_ORDERS):
        return denied
    if data.budget_id is not None and (denied := missing_scope(caller, SCOPE_DEBIT)):
        return denied  # spending a budget takes what debiting it takes
    command = PlaceOrder(
        f"ord_{time_ordered_hex()}",
        data.product_id,
        data.face_value_minor,
        data.recipient,
        data.budget_id,
        data.external_id,
    )
    # Straight to the treasury, which checks, prices and carries out the order in one
    # decision (ADR 21); the orders actors keep reads, codes and cancellations.
    if caller.caches is None:
        value = await call(caller, treasury.KIND, command, keyed=True)
    else:  # kept replies, one request per key in flight, velocity (ADR 23)
        identity = caller.identity
        value = await caller.caches.place_order(
            identity.tenant,
            identity.principal.subject,
            caller.idempotency_key,
            data,
            lambda: call(caller, treasury.KIND, command, keyed=True),
        )
    if isinstance(value, Err):
        return value
    return order_out(value) if isinstance(value, OrderView) else _unexpected(value)


async def get_order(caller: Caller, order_id: str) -> OrderOut | Err:
    if denied := missing_scope(caller, SCOPE_ORDERS_READ):
        return denied
    value = await call(caller, orders.KIND, GetOrder(order_id[:64]), keyed=False)
    if isinstance(value, Err):
        return value
    return order_out(value) if isinstance(value, OrderView) else _unexpected(value)


async def order_codes(caller: Caller, order_id: str) -> OrderCodesOut | Err:
    if denied := missing_scope(caller, SCOPE_ORDERS_READ):
        return denied
    value = await call(caller, orders.KIND, OrderCodes(order_id[:64]), keyed=False)
    if isinstance(value, Err):
        return value
    if not isinstance(value, Revealed):
        return _unexpected(value)
    shown = [
        VoucherOut(c.code_id, c.code, c.pin, c.url, rfc3339(c.expires_ms) if c.expires_ms else None)
        for c in value.codes
    ]
    return OrderCodesOut(order_id, shown)


def bulk_job_id(
    caller: Caller, nonce: str, rows: Sequence[BulkRow], name: str = "", start_at_ms: int = 0
) -> str:
    """A job's id: with an Idempotency-Key, from the caller, the key, the rows, the name
    and the time to start — a retried upload finds the job its first attempt made; another
    file (or name, or time) under the same key is another job, never silently the old one."""
    key = caller.idempotency_key
    if key is None:
        return f"bulk_{nonce}"
    # without a name and a time, as before campaigns: a retry across an upgrade finds its job
    made = rows if not (name or start_at_ms) else (rows, name, start_at_ms)
    content = hashlib.sha256(msgspec.msgpack.encode(made)).hexdigest()
    material = f"{caller.identity.tenant}\n{caller.identity.principal.subject}\n{key}\n{content}"
    return f"bulk_{hashlib.sha256(material.encode()).hexdigest()[:32]}"


def bulk_out(v: BulkView) -> BulkJobOut:
    return BulkJobOut(
        v.job_id,
        v.budget_id,
        v.status,
        v.total,
        v.done,
        v.succeeded,
        v.failed,
        rfc3339(v.created_ms),
        rfc3339(v.updated_ms),
        v.name,
        rfc3339(v.start_at_ms) if v.start_at_ms else None,
        v.points,
    )


async def start_bulk(
    caller: Caller,
    job_id: str,
    budget_id: str,
    rows: Sequence[BulkRow],
    name: str = "",
    start_at_ms: int = 0,
) -> BulkJobOut | Err:
    if denied := missing_scope(caller, SCOPE_BULK):
        return denied
    if (checked := valid_budget_id(budget_id)) is None:
        return Err.of(ErrorCode.INVALID_REQUEST, "name the budget: ?budget_id=")
    principal = caller.identity.principal
    if not acl.may_serve_self(principal) and any(
        r.person_id == principal.subject for r in rows
    ):  # four eyes, as a single reward (the treasury sees only the job's system steps)
        return Err.of(ErrorCode.FORBIDDEN, "a bulk job does not reward its uploader")
    # A budget the tenant lacks (another tenant's) is not found now: never a job of rows
    # that each fail later.
    known = await call(caller, KIND, GetBudget(checked), keyed=False)
    if isinstance(known, Err):
        return known
    if busy := _claim(caller):  # the job's id comes from the key: one upload at a time
        return busy
    try:
        for offset in range(0, len(rows), LOAD_CHUNK):
            chunk = tuple(rows[offset : offset + LOAD_CHUNK])
            load = LoadBulkRows(job_id, budget_id, offset, chunk)
            value = await call(caller, bulk.KIND, load, keyed=False)
            if isinstance(value, Err):
                return value
        start = StartBulk(job_id, len(rows), name, start_at_ms)
        value = await call(caller, bulk.KIND, start, keyed=False)
    finally:
        _release(caller)
    if isinstance(value, Err):
        return value
    return bulk_out(value) if isinstance(value, BulkView) else _unexpected(value)


async def get_bulk(caller: Caller, job_id: str) -> BulkJobOut | Err:
    if denied := missing_scope(caller, SCOPE_BULK):
        return denied
    value = await call(caller, bulk.KIND, GetBulk(job_id[:64]), keyed=False)
    if isinstance(value, Err):
        return value
    return bulk_out(value) if isinstance(value, BulkView) else _unexpected(value)


async def bulk_results(
    caller: Caller, job_id: str, offset: int
) -> list[tuple[int, str, int, str, str, str]] | Err:
    if denied := missing_scope(caller, SCOPE_BULK):
        return denied
    if offset < 0:
        return Err.of(ErrorCode.INVALID_REQUEST, "offset is a row number: 0 or more")
    value = await call(caller, bulk.KIND, BulkResults(job_id[:64], offset), keyed=False)
    if isinstance(value, Err):
        return value
    if not isinstance(value, BulkResultPage):
        return _unexpected(value)
    return [(r.row, r.person_id, r.points, r.status, r.reason, r.reward_id) for r in value.rows]


async def cancel_order(caller: Caller, order_id: str, reason: str) -> OrderOut | Err:
    if denied := missing_scope(caller, SCOPE_ORDERS):
        return denied
    value = await call(caller, orders.KIND, CancelOrder(order_id[:64], reason), keyed=True)
    if isinstance(value, Err):
        return value
    return order_out(value) if isinstance(value, OrderView) else _unexpected(value)


async def review_order(caller: Caller, order_id: str, approve: bool, note: str) -> OrderOut | Err:
    if denied := missing_scope(caller, SCOPE_ORDERS_REVIEW):
        return denied
    review = ReviewOrder(order_id[:64], approve, note[:200])
    value = await call(caller, orders.KIND, review, keyed=True)
    if isinstance(value, Err):
        return value
    return order_out(value) if isinstance(value, OrderView) else _unexpected(value)


async def resend_order(caller: Caller, order_id: str) -> OrderOut | Err:
    if denied := missing_scope(caller, SCOPE_ORDERS):
        return denied
    value = await call(caller, orders.KIND, ResendOrder(order_id[:64]), keyed=True)
    if isinstance(value, Err):
        return value
    return order_out(value) if isinstance(value, OrderView) else _unexpected(value)


def fx_table_out(table: FxTable) -> FxTableOut:
    return FxTableOut(
        [FxRateOut(r.base, r.quote, r.rate, rfc3339(r.updated_ms)) for r in table.rates]
    )


async def set_fx_rate(caller: Caller, base: str, quote: str, data: FxRateIn) -> FxTableOut | Err:
    if denied := whole_tenant_only(
        caller,
        SCOPE_FX,
        "exchange rates and the points rate: the whole tenant's, not some budgets'",
    ):
        return denied
    try:
        command = msgspec.convert({"base": base, "quote": quote, "rate": data.rate}, SetFxRate)
    except msgspec.ValidationError:
        return Err.of(ErrorCode.NOT_FOUND, "no currency pair has that name")
    value = await call(caller, treasury.KIND, command, keyed=True)
    if isinstance(value, Err):
        return value
    return fx_table_out(value) if isinstance(value, FxTable) else _unexpected(value)


async def get_fx_rates(caller: Caller) -> FxTableOut | Err:
    if denied := missing_scope(caller, SCOPE_READ):
        return denied
    value = await call(caller, treasury.KIND, GetFxRates(), keyed=False)
    if isinstance(value, Err):
        return value
    return fx_table_out(value) if isinstance(value, FxTable) else _unexpected(value)


def client_out(v: ClientView) -> ClientOut:
    return ClientOut(
        v.client_id,
        v.name,
        list(v.scopes),
        list(v.roles),
        v.status,
        rfc3339(v.created_ms),
        rfc3339(v.updated_ms),
        v.client_secret or None,
        list(v.grants),
    )


async def _client_call(caller: Caller, command: Command, keyed: bool) -> ClientOut | Err:
    if denied := missing_scope(caller, SCOPE_CLIENTS):
        return denied
    value = await call(caller, identity.KIND, command, keyed=keyed)
    if isinstance(value, Err):
        return value
    return client_out(value) if isinstance(value, ClientView) else _unexpected(value)


async def create_client(caller: Caller, data: CreateClientIn) -> ClientOut | Err:
    command = CreateClient(data.name, tuple(data.scopes), tuple(data.roles), tuple(data.grants))
    return await _client_call(caller, command, keyed=True)


async def _change_client(
    caller: Caller, client_id: str, command: type[RotateClientSecret] | type[RevokeClient]
) -> ClientOut | Err:
    """An id that cannot be a client's is simply not found (and never reaches the bus)."""
    try:
        checked = msgspec.convert(client_id, ClientId)
    except msgspec.ValidationError:
        return Err.of(ErrorCode.NOT_FOUND, "no client has that id")
    return await _client_call(caller, command(checked), keyed=True)


async def rotate_client_secret(caller: Caller, client_id: str) -> ClientOut | Err:
    return await _change_client(caller, client_id, RotateClientSecret)


async def revoke_client(caller: Caller, client_id: str) -> ClientOut | Err:
    return await _change_client(caller, client_id, RevokeClient)


async def list_clients(caller: Caller) -> ClientListOut | Err:
    if denied := missing_scope(caller, SCOPE_CLIENTS):
        return denied
    value = await call(caller, identity.KIND, ListClients(), keyed=False)
    if isinstance(value, Err):
        return value
    if not isinstance(value, ClientList):
        return _unexpected(value)
    return ClientListOut([client_out(c) for c in value.clients])


async def issue_nats_credentials(
    caller: Caller, data: NatsCredentialsIn
) -> NatsCredentialsOut | Err:
    """A ``.creds`` file for an integrator's NATS subscriber: the tenant's events only."""
    why = "NATS credentials cover the whole tenant, not some budgets"
    if denied := whole_tenant_only(caller, SCOPE_CLIENTS, why):
        return denied
    value = await call(caller, identity.KIND, IssueNatsCredentials(data.ttl_days), keyed=True)
    if isinstance(value, Err):
        return value
    if not isinstance(value, NatsCredentials):
        return _unexpected(value)
    return NatsCredentialsOut(value.subject, rfc3339(value.expires_ms), value.creds)


def points_rate_out(v: PointsRateView) -> PointsRateOut:
    return PointsRateOut(v.currency, v.points_per_unit, v.locked, v.points_issued)


async def set_points_rate(caller: Caller, data: PointsRateIn) -> PointsRateOut | Err:
    if denied := whole_tenant_only(
        caller,
        SCOPE_FX,
        "exchange rates and the points rate: the whole tenant's, not some budgets'",
    ):
        return denied
    command = SetPointsRate(data.currency, data.points_per_unit)
    value = await call(caller, treasury.KIND, command, keyed=True)
    if isinstance(value, Err):
        return value
    return points_rate_out(value) if isinstance(value, PointsRateView) else _unexpected(value)


async def get_points_rate(caller: Caller) -> PointsRateOut | Err:
    if denied := missing_scope(caller, SCOPE_READ):
        return denied
    value = await call(caller, treasury.KIND, GetPointsRate(), keyed=False)
    if isinstance(value, Err):
        return value
    return points_rate_out(value) if isinstance(value, PointsRateView) else _unexpected(value)


def funding_out(v: FundingView) -> FundingOut:
    return FundingOut(v.account_id, v.name, v.balance, v.version)


async def _funding_call(caller: Caller, command: Command, keyed: bool) -> FundingOut | Err:
    value = await call(caller, treasury.KIND, command, keyed=keyed)
    if isinstance(value, Err):
        return value
    return funding_out(value) if isinstance(value, FundingView) else _unexpected(value)


async def open_funding(caller: Caller, data: OpenFundingIn) -> FundingOut | Err:
    if denied := missing_scope(caller, SCOPE_FUNDING):
        return denied
    return await _funding_call(caller, OpenFunding(data.id, data.name, data.currency), True)


async def deposit(caller: Caller, account_id: str, data: DepositIn) -> FundingOut | Err:
    if denied := missing_scope(caller, SCOPE_FUNDING):
        return denied
    if (checked := _valid(account_id, FundingId)) is None:
        return Err.of(ErrorCode.NOT_FOUND, "no funding account has that id")
    amount = Money(data.amount.amount_minor, data.amount.currency)
    command = Deposit(checked, amount, f"dep_{time_ordered_hex()}", data.reference)
    return await _funding_call(caller, command, True)


def whole_tenant_only(caller: Caller, scope: str, why: str) -> Err | None:
    """For what covers the whole tenant: refused (and recorded) without ``scope``, or to a
    principal narrowed to some budgets (ADR 19), ``why`` being what it covers."""
    if denied := missing_scope(caller, scope):
        return denied
    if caller.identity.principal.grants:
        refused(caller, why)
        return Err.of(ErrorCode.FORBIDDEN, why)
    return None


def funding_readers_only(caller: Caller) -> Err | None:
    """Funding is the whole tenant's money: read with ``funding:read`` by a principal that
    is not narrowed to some budgets (the treasury and the history actor check again)."""
    why = "funding accounts are the whole tenant's, not some budgets'"
    return whole_tenant_only(caller, SCOPE_FUNDING_READ, why)


def reply_as(value: object, kind: type[R]) -> R | Err:
    """A bus reply that is a refusal or of ``kind``; anything else is an internal error."""
    if isinstance(value, (Err, kind)):
        return value
    return _unexpected(value)


async def get_funding(caller: Caller, account_id: str) -> FundingOut | Err:
    if denied := funding_readers_only(caller):
        return denied
    if (checked := _valid(account_id, FundingId)) is None:
        return Err.of(ErrorCode.NOT_FOUND, "no funding account has that id")
    return await _funding_call(caller, GetFunding(checked), False)


async def allocate(caller: Caller, budget_id: str, data: AllocateIn) -> AllocationOut | Err:
    if denied := missing_scope(caller, SCOPE_FUNDING):
        return denied
    if (checked := valid_budget_id(budget_id)) is None:
        return Err.of(ErrorCode.NOT_FOUND, "no budget has that id")
    amount = Money(data.amount.amount_minor, data.amount.currency)
    command = Allocate(data.from_account, checked, amount, f"alc_{time_ordered_hex()}")
    value = await call(caller, treasury.KIND, command, keyed=True)
    if isinstance(value, Err):
        return value
    if not isinstance(value, FundsAllocated):
        return _unexpected(value)
    return AllocationOut(
        value.allocation_id,
        value.account_id,
        value.budget_id,
        value.amount,
        value.funding_balance_after,
        value.budget_balance_after,
    )


def _valid(value: str, kind: Any) -> str | None:
    try:
        checked: str = msgspec.convert(value, kind)
    except msgspec.ValidationError:
        return None
    return checked


async def read_audit(caller: Caller, query: AuditQuery) -> AuditPageOut | Err:
    """A page of the tenant's hash-chained audit log (owner, admin, finance, auditor),
    for the whole tenant only: it holds every command, about every budget."""
    why = "the audit log covers the whole tenant, not some budgets"
    if denied := whole_tenant_only(caller, SCOPE_AUDIT, why):
        return denied
    command = ReadAudit(
        query.after,
        query.limit,
        query.action,
        query.actor,
        q=query.q,
        since_ms=query.since_ms,
        until_ms=query.until_ms,
        offset=query.offset,
    )
    value = await call(caller, audit.KIND, command, keyed=False)
    if isinstance(value, Err):
        return value
    if not isinstance(value, AuditPage):
        return _unexpected(value)
    entries = [
        AuditEntryOut(
            e.seq, rfc3339(e.at_ms), e.actor, e.action, e.target, e.outcome, e.detail, e.hash
        )
        for e in value.entries
    ]
    if value.total is not None:  # a search: pages go by offset, not by entry number
        return AuditPageOut(entries, query.after, value.total, value.degraded)
    return AuditPageOut(entries, entries[-1].seq if entries else query.after)


#: Events about people and API clients (emails, roles, grants), replayed only to those
#: who may read people or clients through the API.


async def replay_events(caller: Caller, query: ReplayQuery) -> ReplayPage | Err:
    """The tenant's events after a stream sequence (replay from any point). The stream
    is the whole tenant's: a principal narrowed to some budgets is refused, as reports
    are, and events about people, clients and funding go only to those who may read
    them (:data:`bus.scopes.PRIVATE_EVENTS`)."""
    if denied := missing_scope(caller, SCOPE_EVENTS):
        return denied
    if caller.identity.principal.grants:
        return Err.of(ErrorCode.FORBIDDEN, "events cover the whole tenant, not some budgets")
    tenant = caller.identity.tenant
    try:
        stored = await read_events(caller.bus.js, tenant, query.after, query.limit)
    except Exception as e:  # the stream is not reachable: retry later
        return Err.of(ErrorCode.UNAVAILABLE, f"events unavailable: {e}")
    next_after = stored[-1].sequence if stored else query.after  # past the ones left out
    identity = caller.identity
    shown = [
        e
        for e in stored
        if (scope := PRIVATE_EVENTS.get(e.aggregate)) is None or identity.has_scope(scope)
    ]
    return ReplayPage([e.payload for e in shown], [e.sequence for e in shown], next_after)
