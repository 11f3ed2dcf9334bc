"""Message contracts: one module per bounded context, gathered into the unions below.

``Command`` is every request body an actor host accepts; ``ReplyValue`` every value an
``Ok`` reply may carry. One encoder and one decoder per union are built once and reused.
"""

from __future__ import annotations

import msgspec

from bus.messages.audit import AuditCommand, AuditPage, Recorded
from bus.messages.budget import (
    BudgetCommand,
    BudgetPage,
    BudgetView,
    CreateBudget,
    DebitBudget,
    DebitReceipt,
    GetBudget,
)
from bus.messages.bulk import (
    BulkCommand,
    BulkPage,
    BulkResultPage,
    BulkView,
    IssuePointsMany,
    ManyIssued,
)
from bus.messages.catalogue import CatalogueCommand, CatalogueExport, ProductPage, ProductView
from bus.messages.common import Envelope, Err, Money, Ok, Principal
from bus.messages.funding import Allocated as FundsAllocated
from bus.messages.funding import FundingCommand, FundingPage, FundingView
from bus.messages.history import FundingHistoryPage, HistoryCommand, OrderPage, WalletPage
from bus.messages.identity import (
    ClientList,
    ClientView,
    IdentityCommand,
    NatsCredentials,
    TokenReply,
)
from bus.messages.orders import OrderCommand, OrderView, ResumeReport
from bus.messages.people import (
    PasswordLink,
    PasswordLinkAsked,
    PasswordLinkSent,
    PeopleCommand,
    PeopleList,
    PersonView,
    Session,
    SignedOut,
    SsoProviderView,
)
from bus.messages.tenant_config import (
    DocumentView,
    OrderRules,
    PublicProfile,
    RevisionList,
    TenantConfigCommand,
)
from bus.messages.treasury import (
    FxCommand,
    FxTable,
    HoldCommand,
    HoldView,
    OrderSettled,
    PointsRateView,
)
from bus.messages.vouchers import (
    Allocated,
    ImportReport,
    Leased,
    PoolPage,
    PoolView,
    Revealed,
    SweepReport,
    Voided,
    VoucherCommand,
)
from bus.messages.wallet import PointsIssued, WalletCommand, WalletView
from bus.messages.webhooks import DeliveryTargets, EndpointList, EndpointView, WebhooksCommand

Command = (
    BudgetCommand
    | WalletCommand
    | CatalogueCommand
    | VoucherCommand
    | OrderCommand
    | BulkCommand
    | IssuePointsMany
    | FxCommand
    | FundingCommand
    | HoldCommand
    | IdentityCommand
    | PeopleCommand
    | AuditCommand
    | TenantConfigCommand
    | HistoryCommand
    | WebhooksCommand
)
ReplyValue = (
    BudgetView
    | BudgetPage
    | DebitReceipt
    | WalletView
    | PointsIssued
    | ProductView
    | ProductPage
    | CatalogueExport
    | ImportReport
    | PoolView
    | PoolPage
    | Allocated
    | Revealed
    | Voided
    | SweepReport
    | OrderView
    | ResumeReport
    | FxTable
    | PointsRateView
    | ClientView
    | ClientList
    | TokenReply
    | AuditPage
    | Recorded
    | FundingView
    | FundingPage
    | FundingHistoryPage
    | FundsAllocated
    | HoldView
    | OrderSettled
    | Leased
    | BulkView
    | BulkPage
    | BulkResultPage
    | ManyIssued
    | PersonView
    | PeopleList
    | Session
    | SignedOut
    | SsoProviderView
    | PasswordLinkAsked
    | PasswordLinkSent
    | PasswordLink
    | NatsCredentials
    | DocumentView
    | RevisionList
    | PublicProfile
    | OrderRules
    | OrderPage
    | WalletPage
    | EndpointView
    | EndpointList
    | DeliveryTargets
)
Reply = Ok[ReplyValue] | Err
Request = Envelope[Command]

encoder = msgspec.msgpack.Encoder()
request_decoder: msgspec.msgpack.Decoder[Request] = msgspec.msgpack.Decoder(Request)
reply_decoder: msgspec.msgpack.Decoder[Reply] = msgspec.msgpack.Decoder(Reply)

__all__ = [
    "BudgetView",
    "Command",
    "CreateBudget",
    "DebitBudget",
    "DebitReceipt",
    "Envelope",
    "Err",
    "GetBudget",
    "Money",
    "Ok",
    "PointsIssued",
    "Principal",
    "Reply",
    "ReplyValue",
    "Request",
    "WalletView",
    "encoder",
    "reply_decoder",
    "request_decoder",
]
