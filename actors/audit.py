"""The audit actor: one per tenant, the reader of its audit log (appending happens in
the store, in the transaction of each audited effect: ADR 16)."""

from __future__ import annotations

from collections.abc import Sequence

import msgspec

from actors.runtime.actor import ActorContext, ActorKey, ActorKind, Decision
from bus.errors import ErrorCode
from bus.messages import Err, Ok, Reply, Request
from bus.messages.audit import (
    EDGE_PREFIX,
    KIND,
    AuditEntryView,
    AuditPage,
    ReadAudit,
    Recorded,
    RecordRefusal,
)
from bus.scopes import ROLE_PERMISSIONS, SCOPE_AUDIT
from bus.time import now_ms
from storage.ports import AuditEntry, ChangeSet

_encode = msgspec.json.Encoder().encode

#: Roles that may read the audit log: those the role table lets use ``audit:read``
#: (docs/permissions.md), so the edge's check and this one cannot disagree.
READERS = frozenset(role for role, allowed in ROLE_PERMISSIONS.items() if SCOPE_AUDIT in allowed)


class AuditActor:
    def __init__(self, ctx: ActorContext, key: ActorKey) -> None:
        self.ctx = ctx
        self.tenant = key.tenant

    async def on_activate(self) -> None:
        pass

    async def on_deactivate(self, reason: str) -> None:
        pass

    async def handle(self, batch: Sequence[Request]) -> Decision:
        replies: list[Reply] = []
        refusals: list[AuditEntry] = []
        for request in batch:
            body = request.body
            if isinstance(body, RecordRefusal):
                replies.append(self._refusal(request, body, refusals))
            else:
                replies.append(await self._read(request))
        changes = ChangeSet(self.tenant, audit=tuple(refusals)) if refusals else None
        return Decision(replies, changes)

    @staticmethod
    def _refusal(request: Request, body: RecordRefusal, into: list[AuditEntry]) -> Reply:
        if "system" not in request.principal.roles:
            return Err.of(ErrorCode.FORBIDDEN, "only the edge records its refusals")
        detail = _encode({"request": body.request, "reason": body.reason}).decode()
        subject = request.principal.subject.removeprefix(EDGE_PREFIX)
        into.append(
            AuditEntry(now_ms(), subject, "edge.refused", body.request[:256], "forbidden", detail)
        )
        return Ok(Recorded())

    async def _read(self, request: Request) -> Reply:
        if not isinstance(request.body, ReadAudit):
            return Err.of(ErrorCode.INVALID_REQUEST, "not an audit request")
        if not READERS & set(request.principal.roles):
            readers = ", ".join(sorted(READERS))
            return Err.of(ErrorCode.FORBIDDEN, f"only {readers} read the audit log")
        q = request.body
        records = await self.ctx.ledger.audit_log(
            self.tenant, q.after_seq, q.limit, q.action, q.actor
        )
        return Ok(
            AuditPage(
                tuple(
                    AuditEntryView(
                        r.seq, r.at_ms, r.actor, r.action, r.target, r.outcome, r.detail, r.hash
                    )
                    for r in records
                )
            )
        )


AUDIT = ActorKind(KIND, AuditActor, accepts=(ReadAudit, RecordRefusal))
