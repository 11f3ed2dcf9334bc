"""The audit actor: one per tenant, the reader of its audit log (appending happens in
the store, in the transaction of each audited effect: ADR 16).

A search of the log (words, a time range) goes to the search index (ADR 24), which the
search indexer fills from the log. When the index cannot be reached the actor searches
the most recent entries of the log itself, by word prefix, and says so (``degraded``)."""

from __future__ import annotations

import logging
from collections.abc import Sequence

import msgspec

from actors.runtime.actor import ActorKind, Decision, ReadOnlyActor
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
from storage import fuzzy
from storage.ports import AuditEntry, AuditRecord, ChangeSet
from storage.search_ports import AuditQuery

_encode = msgspec.json.Encoder().encode
log = logging.getLogger(__name__)

#: Why a principal narrowed to some budgets reads no audit log.
WHOLE_TENANT = "the audit log covers the whole tenant, not some budgets"

#: How many of the latest entries a search without the index looks through.
FALLBACK_WINDOW = 20_000

#: Roles that may read the audit log: those the role table lets use ``audit:read``
#: (docs/permissions.md), so the edge's check and this one cannot disagree.
READERS = frozenset(role for role, allowed in ROLE_PERMISSIONS.items() if SCOPE_AUDIT in allowed)


class AuditActor(ReadOnlyActor):
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
        if request.principal.grants:  # every command of the tenant is in it (ADR 38)
            return Err.of(ErrorCode.FORBIDDEN, WHOLE_TENANT)
        q = request.body
        if q.is_search:
            return await self._search(q)
        records = await self.ctx.ledger.audit_log(
            self.tenant, q.after_seq, q.limit, q.action, q.actor
        )
        return Ok(AuditPage(tuple(_view(r) for r in records)))

    async def _search(self, q: ReadAudit) -> Reply:
        query = AuditQuery(
            tenant=self.tenant,
            text=q.q or "",
            actor=q.actor,
            action=q.action,
            since_ms=q.since_ms,
            until_ms=q.until_ms,
            limit=q.limit,
            offset=q.offset,
        )
        if self.ctx.search is not None:
            try:
                hits = await self.ctx.search.search_audit(query)
            except Exception as e:
                log.warning("search index unreachable, searching the audit log: %r", e)
            else:
                return Ok(AuditPage(tuple(_view(r) for r in hits.records), hits.total))
        found = await self._search_log(query)
        page = found[q.offset : q.offset + q.limit]
        return Ok(AuditPage(tuple(_view(r) for r in page), len(found), degraded=True))

    async def _search_log(self, query: AuditQuery) -> list[AuditRecord]:
        """The latest entries that match, newest first, read from the log itself."""
        head, _ = await self.ctx.ledger.audit_head(self.tenant)
        after = max(0, head - FALLBACK_WINDOW)
        words = fuzzy.words(query.text)
        found: list[AuditRecord] = []
        while True:
            records = await self.ctx.ledger.audit_log(
                self.tenant, after, 1000, query.action, query.actor
            )
            for r in records:
                if query.since_ms and r.at_ms < query.since_ms:
                    continue
                if query.until_ms and r.at_ms > query.until_ms:
                    continue
                text = set(fuzzy.words(f"{r.actor} {r.action} {r.target} {r.detail}"))
                if all(any(t.startswith(w) for t in text) for w in words):
                    found.append(r)
            if len(records) < 1000:
                break
            after = records[-1].seq
        found.reverse()
        return found


def _view(r: AuditRecord) -> AuditEntryView:
    return AuditEntryView(r.seq, r.at_ms, r.actor, r.action, r.target, r.outcome, r.detail, r.hash)


AUDIT = ActorKind(KIND, AuditActor, accepts=(ReadAudit, RecordRefusal))
