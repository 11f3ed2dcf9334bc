"""Vouchers context: a tenant's pools of codes, one pool per product and face value.

Codes come from a supplier's CSV (code, PIN, URL, expiry) or are issued by the tenant
itself (closed-loop: generated, unguessable). They are stored sealed and handed to orders
one at a time, each code at most once.
"""

from __future__ import annotations

from typing import Annotated

import msgspec

from bus.messages.catalogue import FaceValue, ProductId
from bus.messages.common import TENANT_WIDE, Currency, Cursor, PageSize, whole

KIND = "vouchers"

CodeText = Annotated[str, msgspec.Meta(pattern=whole("[\\x21-\\x7e]{4,128}"))]


#: Where a code is redeemed: an absolute https URL (people open it from the app, and
#: from sites that embed the storefront: no ``javascript:``, ``data:`` or plain http).
REDEEM_URL_PATTERN = whole("https://[A-Za-z0-9.-]+(:[0-9]{1,5})?([/?#][^\\s\"'<>\\\\]{0,990})?")


class CodeRow(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    code: str
    pin: str = ""
    url: str = ""
    #: Unix epoch milliseconds; 0 for none.
    expires_ms: int = 0


class ImportCodes(msgspec.Struct, frozen=True, tag="vouchers.import"):
    """Add a supplier's codes to a pool; rows are checked one by one (see ImportReport)."""

    product_id: ProductId
    face_value_minor: FaceValue
    currency: Currency
    rows: tuple[CodeRow, ...]

    @property
    def actor_key(self) -> str:
        return TENANT_WIDE


class GenerateCodes(msgspec.Struct, frozen=True, tag="vouchers.generate"):
    """Issue ``count`` closed-loop codes of the tenant's own."""

    product_id: ProductId
    face_value_minor: FaceValue
    currency: Currency
    count: Annotated[int, msgspec.Meta(ge=1, le=10_000)]
    expires_ms: int = 0

    @property
    def actor_key(self) -> str:
        return TENANT_WIDE


class GetPool(msgspec.Struct, frozen=True, tag="vouchers.pool"):
    product_id: ProductId
    face_value_minor: FaceValue

    @property
    def actor_key(self) -> str:
        return TENANT_WIDE


class ListPools(msgspec.Struct, frozen=True, tag="vouchers.pools"):
    """The tenant's pools that have had a code, by product and face value, ``limit`` at
    a time, after ``cursor`` (the ``next_cursor`` of the page before), each with the
    figures of :class:`GetPool`. Answered with a :class:`PoolPage`."""

    limit: PageSize = 20
    cursor: Cursor = ""

    @property
    def actor_key(self) -> str:
        return TENANT_WIDE


class AllocateCode(msgspec.Struct, frozen=True, tag="vouchers.allocate"):
    """Give the pool's next code (soonest expiry first) to an order."""

    product_id: ProductId
    face_value_minor: FaceValue
    order_id: str

    @property
    def actor_key(self) -> str:
        return TENANT_WIDE


class RevealCodes(msgspec.Struct, frozen=True, tag="vouchers.reveal"):
    """The codes in clear, for those allowed to see them."""

    code_ids: tuple[str, ...]

    @property
    def actor_key(self) -> str:
        return TENANT_WIDE


class VoidCode(msgspec.Struct, frozen=True, tag="vouchers.void"):
    """Take a code back from its order (cancelled): it is never given again."""

    code_id: str
    order_id: str

    @property
    def actor_key(self) -> str:
        return TENANT_WIDE


class SweepExpiring(msgspec.Struct, frozen=True, tag="vouchers.sweep_expiring"):
    """Raise ``voucher.codes_expiring`` for the tenant's pools holding available codes that
    expire soon and no warning has counted yet (system only: sent by hosts on a schedule)."""

    @property
    def actor_key(self) -> str:
        return TENANT_WIDE


class SweepReport(msgspec.Struct, frozen=True, tag="vouchers.sweep_report"):
    #: Pools warned about, and the codes those warnings counted.
    pools: int
    codes: int


class LeaseCodes(msgspec.Struct, frozen=True, tag="vouchers.lease"):
    """Set up to ``count`` available codes of a pool aside for the treasury, which gives
    them to orders itself (system only; ADR 21). Leased codes count as available in the
    pool's figures and are never allocated by the vouchers actor."""

    product_id: ProductId
    face_value_minor: FaceValue
    count: Annotated[int, msgspec.Meta(ge=1, le=10_000)]
    #: How many of ``count`` are for orders still to come: those are leased only while
    #: the pool keeps more than its low-stock mark, so that leasing ahead never raises
    #: ``voucher.pool_low`` before the orders do. The rest are needed now.
    ahead: Annotated[int, msgspec.Meta(ge=0, le=10_000)] = 0

    @property
    def actor_key(self) -> str:
        return TENANT_WIDE


VoucherCommand = (
    ImportCodes
    | GenerateCodes
    | GetPool
    | ListPools
    | AllocateCode
    | LeaseCodes
    | RevealCodes
    | VoidCode
    | SweepExpiring
)


class RowProblem(msgspec.Struct, frozen=True):
    row: int
    reason: str


class ImportReport(msgspec.Struct, frozen=True, tag="vouchers.import_report"):
    imported: int
    #: Rows not imported, with why (``duplicate``, ``invalid code`` …), by 0-based index.
    rejected: tuple[RowProblem, ...]
    pool: PoolView


class PoolView(msgspec.Struct, frozen=True, tag="vouchers.pool_view"):
    product_id: str
    face_value_minor: int
    available: int
    allocated: int


class PoolPage(msgspec.Struct, frozen=True, tag="vouchers.pool_page"):
    pools: tuple[PoolView, ...]
    #: The cursor of the next page ("" on the last).
    next_cursor: str = ""


class Allocated(msgspec.Struct, frozen=True, tag="vouchers.allocated"):
    code_id: str
    order_id: str
    expires_ms: int


class LeasedCode(msgspec.Struct, frozen=True, array_like=True):
    code_id: str
    expires_ms: int


class Leased(msgspec.Struct, frozen=True, tag="vouchers.leased"):
    """The codes leased (fewer than asked for when the pool runs out; none: it is out)."""

    codes: tuple[LeasedCode, ...]


class Voided(msgspec.Struct, frozen=True, tag="vouchers.voided"):
    code_id: str
    order_id: str


class RevealedCode(msgspec.Struct, frozen=True):
    code_id: str
    code: str
    pin: str
    url: str
    expires_ms: int
    order_id: str


class Revealed(msgspec.Struct, frozen=True, tag="vouchers.revealed"):
    codes: tuple[RevealedCode, ...]


class CodesExpiring(msgspec.Struct, frozen=True):
    """Data of the ``voucher.codes_expiring`` event: a pool holds ``codes`` available codes
    that expire within ``warning_days``, the first at ``first_expires_ms``. Each code is
    counted by one warning only: the import that brings it in already inside the window,
    or the sweep (hourly by default) that finds it has entered the window."""

    product_id: str
    face_value_minor: int
    codes: int
    first_expires_ms: int
    warning_days: int


class PoolLow(msgspec.Struct, frozen=True):
    """Data of the ``voucher.pool_low`` event."""

    product_id: str
    face_value_minor: int
    available: int
    threshold: int
