"""The public JSON shapes of the REST API (they also feed the OpenAPI document).

These are deliberately separate from the bus contracts: the wire between edge and actors
may change freely, the public API only by adding optional fields.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

import msgspec

from bus.messages.audit import AuditSeq
from bus.messages.budget import BudgetId
from bus.messages.catalogue import (
    Country,
    Facets,
    FaceValue,
    Locale,
    MarkupBps,
    PriceBound,
    ProductId,
    Range,
)
from bus.messages.common import (
    FREE_TEXT,
    ONE_LINE,
    Currency,
    Cursor,
    IsoCurrency,
    Money,
    PageSize,
    Rate,
    whole,
)
from bus.messages.funding import FundingId
from bus.messages.grants import Grant
from bus.messages.identity import ClientName, RoleName, Scope
from bus.messages.orders import ExternalId
from bus.messages.people import (
    Domain,
    Email,
    HttpsUrl,
    LinkToken,
    Password,
    PeopleSearch,
    PersonName,
    PersonStatus,
    RefreshToken,
)
from bus.messages.vouchers import REDEEM_URL_PATTERN
from bus.messages.wallet import PersonId, Points

PositiveMinor = Annotated[
    int,
    msgspec.Meta(gt=0, le=2**62, description="Positive integer amount in minor units"),
]
NonNegativeMinor = Annotated[int, msgspec.Meta(ge=0, le=2**62)]
Name = Annotated[str, msgspec.Meta(min_length=1, max_length=200, pattern=ONE_LINE)]
Memo = Annotated[str, msgspec.Meta(max_length=500, pattern=FREE_TEXT)]


class PositiveMoney(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    amount_minor: PositiveMinor
    currency: Currency


class FundingMoney(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    amount_minor: NonNegativeMinor
    currency: IsoCurrency


class CreateBudgetIn(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    id: BudgetId
    name: Name
    initial: FundingMoney
    #: Hard cap on the balance, in minor units of the budget's currency (none if absent).
    cap_minor: NonNegativeMinor | None = None
    #: Falling below this balance raises ``budget.low_balance`` (never if absent).
    low_balance_minor: NonNegativeMinor | None = None


class UpdateBudgetIn(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """Fields to change; absent (or null) ones stay as they are, 0 removes a cap or
    threshold."""

    name: Name | None = None
    cap_minor: NonNegativeMinor | None = None
    low_balance_minor: NonNegativeMinor | None = None


class DebitIn(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    amount: PositiveMoney
    memo: Memo = ""


class IssuePointsIn(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    budget_id: BudgetId
    person_id: PersonId
    points: Points
    memo: Memo = ""


class RewardOut(msgspec.Struct, frozen=True):
    id: str
    budget_id: str
    person_id: str
    points: int
    cost: Money
    budget_balance_after: Money
    wallet_points_after: int
    created_at: str


class WalletOut(msgspec.Struct, frozen=True):
    person_id: str
    points: int
    version: int


class BudgetOut(msgspec.Struct, frozen=True):
    id: str
    name: str
    balance: Money
    version: int
    #: Hard cap on balance + held in minor units; null if none.
    cap_minor: int | None
    #: Set aside by orders in progress: no longer in ``balance``, not spent yet.
    held: Money
    #: Falling below this balance raises ``budget.low_balance``; null if none.
    low_balance_minor: int | None


class DebitOut(msgspec.Struct, frozen=True):
    id: str
    budget_id: str
    amount: Money
    balance_after: Money
    created_at: str


class ProductQuery(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """The query string of ``GET /api/v1/catalogue/products``."""

    country: Country | None = None
    currency: Currency | None = None
    category: Annotated[str, msgspec.Meta(max_length=40)] | None = None
    min_price: PriceBound | None = None
    max_price: PriceBound | None = None
    q: Annotated[str, msgspec.Meta(max_length=200)] | None = None
    locale: Locale = "en"
    limit: Annotated[int, msgspec.Meta(ge=1, le=100)] = 20
    cursor: Annotated[str, msgspec.Meta(max_length=400)] | None = None


class OneProductQuery(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """The query string of ``GET /api/v1/catalogue/products/{id}``."""

    locale: Locale = "en"


class ExportQuery(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """The query string of ``GET /api/v1/catalogue/export``."""

    locale: Locale = "en"
    limit: Annotated[int, msgspec.Meta(ge=1, le=500)] = 200
    cursor: ProductId | None = None


class CurationIn(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    enabled: bool
    markup_bps: MarkupBps | None = None


class ProductOut(msgspec.Struct, frozen=True):
    id: str
    brand: str
    kind: str
    category: str
    name: str
    description: str
    terms: str
    image_url: str
    countries: tuple[str, ...]
    currency: str
    denominations: tuple[int, ...]
    range: Range | None
    markup_bps: int
    enabled: bool
    custom: bool
    locales: tuple[str, ...]


class ProductPageOut(msgspec.Struct, frozen=True):
    products: tuple[ProductOut, ...]
    next_cursor: str | None
    total: int
    #: Counts by category, brand, country and price band (minor units, per currency)
    #: over every product the filter matches.
    facets: Facets = Facets()
    #: A search (``q``) answered without the search index (it was unreachable): words
    #: matched by prefix, not typo tolerant.
    degraded: bool = False


class CatalogueExportOut(msgspec.Struct, frozen=True):
    """A page of the tenant's whole catalogue as curated, disabled products included."""

    products: tuple[ProductOut, ...]
    next_cursor: str | None


def utc(moment: datetime) -> datetime:
    """A moment as UTC; one given without a time zone is taken as UTC (never as the
    server's own zone)."""
    return moment.astimezone(UTC) if moment.tzinfo else moment.replace(tzinfo=UTC)


def check_expiry(moment: datetime | None) -> None:
    """An expiry is a moment after 1970 and before 9999 (the ledger keeps milliseconds
    since 1970; 9999-12-31 at -14:00 is no moment Python can hold in UTC)."""
    if moment is None:
        return
    try:
        at = utc(moment)
    except OverflowError:
        raise ValueError("expires_at must be before 9999-01-01T00:00:00Z") from None
    if at <= EPOCH:
        raise ValueError("expires_at must be after 1970-01-01T00:00:00Z")
    if at.year >= 9999:
        raise ValueError("expires_at must be before 9999-01-01T00:00:00Z")


class CodeIn(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    code: Annotated[str, msgspec.Meta(min_length=1, max_length=128)]
    pin: Annotated[str, msgspec.Meta(max_length=64)] = ""
    url: Annotated[str, msgspec.Meta(max_length=1000, pattern=f"{REDEEM_URL_PATTERN}|^$")] = ""
    expires_at: datetime | None = None

    def __post_init__(self) -> None:
        check_expiry(self.expires_at)


class ImportCodesIn(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    currency: Currency
    codes: Annotated[list[CodeIn], msgspec.Meta(min_length=1, max_length=10_000)]


class GenerateCodesIn(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    currency: Currency
    count: Annotated[int, msgspec.Meta(ge=1, le=10_000)]
    expires_at: datetime | None = None

    def __post_init__(self) -> None:
        check_expiry(self.expires_at)


class PoolOut(msgspec.Struct, frozen=True):
    product_id: str
    face_value_minor: int
    available: int
    allocated: int


class RowProblemOut(msgspec.Struct, frozen=True):
    row: int
    reason: str


class ImportReportOut(msgspec.Struct, frozen=True):
    imported: int
    rejected: list[RowProblemOut]
    pool: PoolOut


class PlaceOrderIn(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """Redeem points (no ``budget_id``: the recipient pays from their wallet) or order a
    gift card for ``recipient`` paid from ``budget_id``."""

    product_id: ProductId
    face_value_minor: FaceValue
    recipient: PersonId
    budget_id: BudgetId | None = None
    external_id: ExternalId | None = None


class OrderOut(msgspec.Struct, frozen=True):
    id: str
    status: str
    recipient: str
    payer: str
    product_id: str
    face_value: Money
    price: Money
    voucher_id: str
    failure_reason: str
    external_id: str
    created_at: str
    updated_at: str
    fx_rate: str
    points_rate: str


class VoucherOut(msgspec.Struct, frozen=True):
    id: str
    code: str
    pin: str
    url: str
    expires_at: str | None


class OrderCodesOut(msgspec.Struct, frozen=True):
    order_id: str
    vouchers: list[VoucherOut]


class BulkJobOut(msgspec.Struct, frozen=True):
    id: str
    budget_id: str
    status: str
    total: int
    done: int
    succeeded: int
    failed: int
    created_at: str
    updated_at: str
    #: A campaign's name; "" for a job without one.
    name: str = ""
    #: When it starts (``scheduled``) or started; null for jobs from before campaigns.
    start_at: str | None = None
    #: The points its rows issue if every row succeeds.
    points: int = 0


class CancelOrderIn(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    reason: Annotated[str, msgspec.Meta(max_length=200, pattern=FREE_TEXT)] = ""


class ReviewOrderIn(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """Approve (``true``) or reject (``false``) an order held for review."""

    approve: bool
    note: Annotated[str, msgspec.Meta(max_length=200, pattern=FREE_TEXT)] = ""


class FxRateIn(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    rate: Rate


class FxRateOut(msgspec.Struct, frozen=True):
    base: str
    quote: str
    rate: str
    updated_at: str


class FxTableOut(msgspec.Struct, frozen=True):
    rates: list[FxRateOut]


class CreateClientIn(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """An API client for a system of the tenant's (an HRIS, a CRM)."""

    name: ClientName
    #: Scopes its tokens may carry (a token request may ask for fewer).
    scopes: Annotated[list[Scope], msgspec.Meta(min_length=1, max_length=32)]
    #: Among integrator, programme_manager, finance, auditor.
    roles: Annotated[list[RoleName], msgspec.Meta(min_length=1, max_length=4)] = msgspec.field(
        default_factory=lambda: ["integrator"]
    )
    #: Narrow the roles to these budgets (``budget:<id>``); none: the whole tenant.
    grants: Annotated[list[Grant], msgspec.Meta(max_length=100)] = msgspec.field(
        default_factory=list
    )


class ClientOut(msgspec.Struct, frozen=True):
    id: str
    name: str
    scopes: list[str]
    roles: list[str]
    #: ``active`` or ``revoked``.
    status: str
    created_at: str
    updated_at: str
    #: Only when created or rotated: shown this once, never stored in clear.
    client_secret: str | None
    #: The budgets its roles are narrowed to; empty: the whole tenant.
    grants: list[str]


class ClientListOut(msgspec.Struct, frozen=True):
    clients: list[ClientOut]


class NatsCredentialsIn(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """NATS credentials for an integrator's subscriber (ADR 17)."""

    #: Days until they expire.
    ttl_days: Annotated[int, msgspec.Meta(ge=1, le=365)] = 30


class NatsCredentialsOut(msgspec.Struct, frozen=True):
    #: The only subjects they may subscribe to; they may publish nothing.
    subject: str
    expires_at: str
    #: A ``.creds`` file (user JWT and seed): shown this once, kept nowhere.
    creds: str


class PointsRateIn(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """``points_per_unit`` points to one unit (not minor unit) of ``currency``: 100 per
    EUR makes a point worth one cent."""

    currency: IsoCurrency
    points_per_unit: Rate


class PointsRateOut(msgspec.Struct, frozen=True):
    currency: str
    points_per_unit: str
    #: Once points have been issued the rate cannot change.
    locked: bool
    #: Points issued so far (spent or not).
    points_issued: int


class OpenFundingIn(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    id: FundingId
    name: Name
    currency: IsoCurrency


class DepositIn(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    amount: PositiveMoney
    #: The bank transfer's reference, the invoice … (the ledger keeps 200 characters).
    reference: Annotated[str, msgspec.Meta(max_length=200, pattern=FREE_TEXT)] = ""


class AllocateIn(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    from_account: FundingId
    amount: PositiveMoney


class FundingOut(msgspec.Struct, frozen=True):
    id: str
    name: str
    balance: Money
    version: int


class AllocationOut(msgspec.Struct, frozen=True):
    id: str
    from_account: str
    budget_id: str
    amount: Money
    funding_balance_after: Money
    budget_balance_after: Money


class ReplayQuery(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    #: The stream sequence to start after (0: from the beginning); a page's ``next_after``.
    after: Annotated[int, msgspec.Meta(ge=0, le=2**62)] = 0
    limit: Annotated[int, msgspec.Meta(ge=1, le=1000)] = 100


class AuditQuery(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    #: The entry number to start after (0: from the first); a page's ``next_after``.
    after: AuditSeq = 0
    limit: Annotated[int, msgspec.Meta(ge=1, le=1000)] = 100
    #: Only this action (a command's name, e.g. ``budget.debit``) or this actor.
    action: Annotated[str, msgspec.Meta(max_length=64)] | None = None
    actor: Annotated[str, msgspec.Meta(max_length=200)] | None = None
    #: Search the log: words (typo tolerant), most relevant entries first; ``after`` is
    #: then not used, pages go by ``offset``.
    q: Annotated[str, msgspec.Meta(max_length=200)] | None = None
    #: Search entries recorded in this time range (milliseconds since the epoch).
    since_ms: AuditSeq = 0
    until_ms: AuditSeq = 0
    offset: Annotated[int, msgspec.Meta(ge=0, le=10_000)] = 0


class AuditEntryOut(msgspec.Struct, frozen=True):
    seq: int
    at: str
    actor: str
    action: str
    target: str
    #: ``ok``, or why it was refused.
    outcome: str
    #: The request, as JSON, without secrets or bulk data.
    detail: str
    #: SHA-256 over the previous entry's hash and this entry: the chain.
    hash: str


class AuditPageOut(msgspec.Struct, frozen=True):
    entries: list[AuditEntryOut]
    next_after: int
    #: A search's count of every matching entry (absent for a page of the log).
    total: int | None = None
    #: A search answered without the search index: recent entries, words by prefix.
    degraded: bool = False


class ReplayPage(msgspec.Struct, frozen=True):
    events: list[msgspec.Raw]
    sequences: list[int]
    next_after: int


class CreatePersonIn(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """A person of the tenant: an admin, a programme manager, an end user."""

    id: PersonId
    email: Email
    name: PersonName
    #: Among owner, admin, programme_manager, finance, auditor, integrator, end_user.
    roles: Annotated[list[RoleName], msgspec.Meta(min_length=1, max_length=7)] = msgspec.field(
        default_factory=lambda: ["end_user"]
    )
    #: Narrow the roles to these budgets (``budget:<id>``); none: the whole tenant.
    grants: Annotated[list[Grant], msgspec.Meta(max_length=100)] = msgspec.field(
        default_factory=list
    )
    #: Without one, the person signs in through the tenant's identity provider only.
    password: Password | None = None


class UpdatePersonIn(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """What to change; fields left out stay as they are."""

    name: PersonName | None = None
    roles: Annotated[list[RoleName], msgspec.Meta(min_length=1, max_length=7)] | None = None
    grants: Annotated[list[Grant], msgspec.Meta(max_length=100)] | None = None
    #: ``disabled`` ends the person's sessions and refuses sign-in.
    status: PersonStatus | None = None


class PasswordIn(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    new_password: Password
    #: Needed when people change their own password.
    current_password: Annotated[str, msgspec.Meta(max_length=256)] = ""


class PersonOut(msgspec.Struct, frozen=True):
    id: str
    email: str
    name: str
    roles: list[str]
    grants: list[str]
    #: ``active`` or ``disabled``.
    status: str
    has_password: bool
    created_at: str
    updated_at: str


#: Milliseconds count from here.
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


class PeopleQuery(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """The query string of ``GET /api/v1/people``."""

    limit: PageSize = 20
    cursor: Cursor | None = None
    #: Only people whose email or name holds these words (any case).
    q: PeopleSearch | None = None


class PeopleOut(msgspec.Struct, frozen=True):
    people: list[PersonOut]
    #: Send it back as ``cursor`` for the next page; null on the last page.
    next_cursor: str | None = None


class SignInIn(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    tenant: Annotated[str, msgspec.Meta(pattern=whole("[a-z0-9][a-z0-9_-]{0,62}"))]
    email: Email
    password: Annotated[str, msgspec.Meta(max_length=256)]
    #: ``cookie`` (browser apps: HttpOnly cookies and a CSRF token) or ``bearer`` (the
    #: tokens in the answer, for programs).
    mode: Annotated[str, msgspec.Meta(pattern="^(cookie|bearer)$")] = "cookie"


class PasswordLinkAskIn(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """Someone forgot their password: email them a link, if they are a person here."""

    tenant: Annotated[str, msgspec.Meta(pattern=whole("[a-z0-9][a-z0-9_-]{0,62}"))]
    email: Email


class PasswordLinkAskedOut(msgspec.Struct, frozen=True):
    #: The same whoever has the address (nobody, a disabled person, a person).
    detail: str


class PasswordResetIn(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """A new password, with the token of the emailed link (``#reset=<token>``)."""

    tenant: Annotated[str, msgspec.Meta(pattern=whole("[a-z0-9][a-z0-9_-]{0,62}"))]
    token: LinkToken
    password: Password
    #: As for ``POST /auth/sign-in``: the new session in cookies, or in the answer.
    mode: Annotated[str, msgspec.Meta(pattern="^(cookie|bearer)$")] = "cookie"


class PasswordLinkOut(msgspec.Struct, frozen=True):
    """A link to set a password is on its way to the person."""

    id: str
    email: str
    #: ``invitation`` (the person has no password yet: the link works a week) or ``reset``
    #: (an hour).
    kind: str


class RefreshIn(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    #: In ``bearer`` mode; in ``cookie`` mode the refresh cookie is used.
    refresh_token: RefreshToken | None = None


class SessionOut(msgspec.Struct, frozen=True, omit_defaults=True):
    person: PersonOut
    #: Seconds the access token lives.
    expires_in: int
    #: ``cookie`` mode: send it back as ``X-CSRF-Token`` on every unsafe request.
    csrf_token: str | None = None
    #: ``bearer`` mode only.
    access_token: str | None = None
    refresh_token: str | None = None
    token_type: str | None = None


class SsoIn(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """The tenant's OpenID Connect provider, and this platform's registration with it
    (register ``<base URL>/auth/sso/callback`` as its redirect URI)."""

    #: Exactly as the provider names itself (its discovery document's ``issuer``).
    issuer: HttpsUrl
    client_id: Annotated[str, msgspec.Meta(min_length=1, max_length=500)]
    #: Stored sealed; never shown again.
    client_secret: Annotated[str, msgspec.Meta(min_length=1, max_length=1000)]
    scopes: Annotated[str, msgspec.Meta(max_length=500)] = "openid email profile"
    #: Email domains allowed to sign in; none: any verified email of a person we know.
    allowed_domains: Annotated[list[Domain], msgspec.Meta(max_length=50)] = msgspec.field(
        default_factory=list
    )


class SsoOut(msgspec.Struct, frozen=True):
    issuer: str
    client_id: str
    scopes: str
    allowed_domains: list[str]
    enabled: bool
    updated_at: str
