"""The audit trail: which requests are recorded, and how (ADR 16).

Every sign-in (a token issued to a client), credential and permission change, money
movement and admin action is appended, in the transaction of its effect, to the tenant's
hash-chained audit log. A request is recorded when it succeeded, or was refused as
forbidden (attempts matter too). What is recorded of it is its command minus the fields
that carry secrets or bulk data.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Annotated, Any

import msgspec

from bus.messages.budget import CreateBudget, DebitBudget, RefundBudget, UpdateBudget
from bus.messages.bulk import CancelBulk, RescheduleBulk, StartBulk
from bus.messages.catalogue import AddCustomProduct, CurateProduct
from bus.messages.common import TENANT_WIDE
from bus.messages.funding import Allocate, Deposit, OpenFunding
from bus.messages.identity import (
    CreateClient,
    IssueNatsCredentials,
    RevokeClient,
    RotateClientSecret,
    TokenRequest,
    client_named,
)
from bus.messages.orders import CancelOrder, PlaceOrder, ResendOrder, ReviewOrder
from bus.messages.people import (
    AskPasswordLink,
    CreatePerson,
    IssuePasswordLink,
    RemoveSsoProvider,
    ResetPassword,
    SendPasswordLink,
    Session,
    SetPassword,
    SetSsoProvider,
    SignIn,
    SignInExternal,
    SignOut,
    UpdatePerson,
)
from bus.messages.tenant_config import PutDocument
from bus.messages.treasury import SetFxRate, SetPointsRate
from bus.messages.vouchers import GenerateCodes, ImportCodes, RevealCodes
from bus.messages.wallet import IssuePoints
from bus.messages.webhooks import (
    CreateEndpoint,
    DeleteEndpoint,
    DisableFailing,
    RotateEndpointSecret,
    UpdateEndpoint,
)

KIND = "audit"
#: The subject under which the edge records a refusal of ``<subject>`` (as the system).
EDGE_PREFIX = "perkbus:edge-for:"


@dataclass(frozen=True)
class Audited:
    """How a command is recorded: what it acts on, and the fields left out."""

    target: Callable[[Any], str]
    omit: tuple[str, ...] = ()
    #: The target is who acts (a sign-in comes from no principal yet).
    by_target: bool = False
    #: Refusals of every kind are recorded, not only ``forbidden`` ones.
    failures: bool = False
    #: The target of a success, from its answer (a password link names no person; the
    #: session it opens does).
    answer_target: Callable[[Any], str | None] | None = None


def _field(name: str) -> Callable[[Any], str]:
    return lambda body: str(getattr(body, name))


def _session_person(value: Any) -> str | None:
    return value.person.person_id if isinstance(value, Session) else None


def _token_client(body: TokenRequest) -> str:
    return client_named(body.form, body.authorization) or "(no client)"


AUDITED: dict[type, Audited] = {
    CreateBudget: Audited(_field("budget_id")),
    UpdateBudget: Audited(_field("budget_id")),
    DebitBudget: Audited(_field("budget_id")),
    RefundBudget: Audited(_field("budget_id")),
    IssuePoints: Audited(_field("person_id")),
    OpenFunding: Audited(_field("account_id")),
    Deposit: Audited(_field("account_id")),
    Allocate: Audited(_field("budget_id")),
    SetFxRate: Audited(lambda b: f"{b.base}/{b.quote}"),
    SetPointsRate: Audited(_field("currency")),
    CreateClient: Audited(lambda b: b.name),
    RotateClientSecret: Audited(_field("client_id")),
    RevokeClient: Audited(_field("client_id")),
    TokenRequest: Audited(_token_client, omit=("form", "authorization")),
    IssueNatsCredentials: Audited(lambda b: "nats-credentials"),
    CurateProduct: Audited(_field("product_id")),
    AddCustomProduct: Audited(lambda b: b.product.id),
    ImportCodes: Audited(_field("product_id"), omit=("rows",)),
    GenerateCodes: Audited(_field("product_id")),
    RevealCodes: Audited(lambda b: ",".join(b.code_ids)[:200]),
    PlaceOrder: Audited(_field("product_id")),
    CancelOrder: Audited(_field("order_id")),
    ReviewOrder: Audited(_field("order_id")),
    ResendOrder: Audited(_field("order_id")),
    StartBulk: Audited(_field("job_id")),
    RescheduleBulk: Audited(_field("job_id")),
    CancelBulk: Audited(_field("job_id")),
    CreatePerson: Audited(_field("person_id"), omit=("password",)),
    UpdatePerson: Audited(_field("person_id")),
    SetPassword: Audited(_field("person_id"), omit=("new_password", "current_password")),
    SignIn: Audited(_field("email"), omit=("password",), by_target=True, failures=True),
    SignInExternal: Audited(_field("email"), by_target=True, failures=True),
    SignOut: Audited(lambda b: "session", omit=("refresh_token",)),
    AskPasswordLink: Audited(_field("email"), by_target=True),
    SendPasswordLink: Audited(_field("person_id")),
    IssuePasswordLink: Audited(_field("person_id")),
    ResetPassword: Audited(
        lambda b: "password link",
        omit=("token", "new_password"),
        by_target=True,
        failures=True,
        answer_target=_session_person,
    ),
    SetSsoProvider: Audited(_field("issuer"), omit=("client_secret",)),
    RemoveSsoProvider: Audited(lambda b: "sso"),
    # the document itself is in the tenant documents' history, revision by revision
    PutDocument: Audited(_field("name"), omit=("body",)),
    CreateEndpoint: Audited(_field("url")),
    UpdateEndpoint: Audited(_field("endpoint_id")),
    DeleteEndpoint: Audited(_field("endpoint_id")),
    RotateEndpointSecret: Audited(_field("endpoint_id")),
    DisableFailing: Audited(_field("endpoint_id")),
}

AuditSeq = Annotated[int, msgspec.Meta(ge=0, le=2**62)]


class ReadAudit(msgspec.Struct, frozen=True, tag="audit.read"):
    """A page of the tenant's audit log after ``after_seq`` (owner, admin, auditor).

    With ``q`` (words, typo tolerant) or a time bound it is a search of the log (ADR 24):
    entries most relevant first (newest first without ``q``), paged by ``offset``, and
    ``after_seq`` is not used."""

    after_seq: AuditSeq = 0
    limit: Annotated[int, msgspec.Meta(ge=1, le=1000)] = 100
    action: str | None = None
    actor: str | None = None
    q: Annotated[str, msgspec.Meta(max_length=200)] | None = None
    #: ``at_ms`` bounds of a search, inclusive (0: unbounded).
    since_ms: AuditSeq = 0
    until_ms: AuditSeq = 0
    offset: Annotated[int, msgspec.Meta(ge=0, le=10_000)] = 0

    @property
    def is_search(self) -> bool:
        return bool(self.q) or bool(self.since_ms) or bool(self.until_ms)

    @property
    def actor_key(self) -> str:
        return TENANT_WIDE


class RecordRefusal(msgspec.Struct, frozen=True, tag="audit.refusal"):
    """The edge refused the principal a request before it reached an actor (a missing
    permission, grants that do not cover it, a missing CSRF token): recorded as an
    attempt, like the refusals actors make."""

    #: ``METHOD /path`` (or ``graphql``), and why it was refused.
    request: Annotated[str, msgspec.Meta(max_length=300)]
    reason: Annotated[str, msgspec.Meta(max_length=500)]

    @property
    def actor_key(self) -> str:
        return TENANT_WIDE


class Recorded(msgspec.Struct, frozen=True, tag="audit.recorded"):
    pass


AuditCommand = ReadAudit | RecordRefusal


class AuditEntryView(msgspec.Struct, frozen=True):
    seq: int
    at_ms: int
    actor: str
    action: str
    target: str
    outcome: str
    detail: str
    hash: str


class AuditPage(msgspec.Struct, frozen=True, tag="audit.page"):
    entries: tuple[AuditEntryView, ...]
    #: A search's count of every matching entry (None for a page of the log).
    total: int | None = None
    #: A search answered without the search index (unreachable): recent entries only,
    #: words matched by prefix.
    degraded: bool = False
