"""The hash chain of a tenant's audit log (ADR 16): each entry's hash covers the hash of
the one before, so an entry edited, removed or inserted afterwards breaks the chain from
there on. The store appends in the transaction of the audited effect; ``verify`` walks
a tenant's chain and names the first entry that does not hold."""

from __future__ import annotations

import hashlib

import msgspec

from storage.ports import AuditRecord, Ledger

GENESIS = "0" * 64
_encode = msgspec.json.Encoder().encode


def entry_hash(prev_hash: str, record: AuditRecord) -> str:
    canonical = _encode(
        [
            prev_hash,
            record.tenant,
            record.seq,
            record.at_ms,
            record.actor,
            record.action,
            record.target,
            record.outcome,
            record.detail,
        ]
    )
    return hashlib.sha256(canonical).hexdigest()


async def verify(ledger: Ledger, tenant: str, page: int = 1000) -> str | None:
    """None if the tenant's chain holds, else what is wrong, naming the first bad entry."""
    head = await ledger.audit_head(tenant)
    prev_seq, prev_hash = 0, GENESIS
    while True:
        records = await ledger.audit_log(tenant, prev_seq, page)
        for r in records:
            if r.seq != prev_seq + 1:
                return f"{tenant}: entries {prev_seq + 1}..{r.seq - 1} are missing"
            if r.prev_hash != prev_hash:
                return f"{tenant}: entry {r.seq} does not follow entry {prev_seq}"
            if entry_hash(r.prev_hash, r) != r.hash:
                return f"{tenant}: entry {r.seq} ({r.action} by {r.actor}) was altered"
            prev_seq, prev_hash = r.seq, r.hash
        if len(records) < page:
            break
    if head != (prev_seq, prev_hash):
        return f"{tenant}: the log ends at entry {prev_seq}, its head says {head[0]}"
    return None
