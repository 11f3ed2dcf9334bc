"""What a batch adds to its tenant's audit log (see :mod:`bus.messages.audit`)."""

from __future__ import annotations

from collections.abc import Sequence

import msgspec

from bus.errors import ErrorCode
from bus.messages import Err, Ok, Reply, Request
from bus.messages.audit import AUDITED
from bus.messages.identity import TokenReply, TokenRequest
from storage.ports import AuditEntry

_encode = msgspec.json.Encoder().encode


def audit_entries(
    requests: Sequence[Request], replies: Sequence[Reply], now_ms: int
) -> tuple[AuditEntry, ...]:
    """An entry for each audited request that succeeded or was refused as forbidden."""
    entries = []
    for request, reply in zip(requests, replies, strict=True):
        body = request.body
        spec = AUDITED.get(type(body))
        if spec is None:
            continue
        outcome = _outcome(body, reply, spec.failures)
        if outcome is None:
            continue
        detail = {
            k: v for k, v in msgspec.to_builtins(body).items() if k not in spec.omit and k != "type"
        }
        tag = str(type(body).__struct_config__.tag)
        answered = (
            spec.answer_target(reply.value)
            if spec.answer_target and isinstance(reply, Ok)
            else None
        )
        target = (answered or spec.target(body))[:256]
        # a token request or a sign-in comes from no principal: who asks is the actor
        by_target = spec.by_target or isinstance(body, TokenRequest)
        actor = target if by_target else request.principal.subject
        entries.append(AuditEntry(now_ms, actor, tag, target, outcome, _encode(detail).decode()))
    return tuple(entries)


def _outcome(body: object, reply: Reply, failures: bool) -> str | None:
    if isinstance(reply, Ok):
        if isinstance(body, TokenRequest) and isinstance(reply.value, TokenReply):
            return "ok" if reply.value.status < 400 else f"refused:{reply.value.status}"
        return "ok"
    if isinstance(reply, Err) and (failures or reply.code == ErrorCode.FORBIDDEN):
        return str(reply.code)
    return None
