"""Idempotency keys: one effect per key, and the same reply to every retry.

A request may carry an idempotency key, scoped by tenant and caller. Before an actor sees a batch,
its activation screens it:

- a key whose reply is stored — in the activation's memory, else in the ledger (one query
  for the whole batch) — is answered with that reply again, if the request is the same
  one (same fingerprint); another request under a used key gets
  ``idempotency_key_reused``;
- a key that appears twice in one batch is decided once; the repeat gets the same reply;
- a new key goes to the actor, and its reply — unless it is a retryable error, which had
  no effect, or ``not_found``, which a retry may no longer get — is written in the
  **same transaction** as the effect (``ChangeSet.replies``).
  The store's primary key on (tenant, key) makes a second record impossible, even from
  another actor that saw the same key at the same moment: that commit fails and its
  client, retrying, finds the first reply.

Replies are kept for ``ttl_s`` (30 days by default).
"""

from __future__ import annotations

import functools
import hashlib
from collections import OrderedDict
from dataclasses import dataclass, field

import msgspec

from bus.errors import ErrorCode
from bus.messages import Err, Ok, Reply, Request, encoder, reply_decoder
from storage.ports import Ledger, StoredReply

#: Replies an activation keeps in memory; older ones are read back from the ledger.
MEMORY = 4096


def key_hash(subject: str, key: str) -> str:
    """Keys are the caller's own: two callers of a tenant (or a client and the system's
    saga steps) never share one, whatever strings they pick."""
    return hashlib.sha256(f"{subject}\n{key}".encode()).hexdigest()


def fingerprint(request: Request) -> str:
    """What the request asks for, and who asks (their subject, roles and grants): SHA-256
    of a canonical form of the body.

    The canonical form leaves out fields still at their default — so adding an optional
    field to a command (the way contracts evolve) does not change the fingerprint of a
    retry sent before the deploy — and the ids the edge generates afresh for every attempt
    (``generated_ids``): the stored reply carries the first attempt's id. Passwords
    (``secret_fields``) are left out too: a fast hash of one must never be stored.
    """
    who = request.principal
    # roles and grants too (in any order): a person whose id a client's or another's
    # subject matches (or whose rights changed) is not answered with what the other was
    # allowed to see
    rights = [sorted(who.roles), sorted(who.grants)]
    material = encoder.encode([who.subject, *rights, _canonical(request)])
    return hashlib.sha256(material).hexdigest()


def legacy_fingerprint(request: Request) -> str:
    """The fingerprint of replies stored before roles and grants were part of it
    (2026-11-28): a retry sent before that deploy still finds its reply. Replies are kept
    30 days, so after that none is left to match."""
    material = encoder.encode([request.principal.subject, _canonical(request)])
    return hashlib.sha256(material).hexdigest()


def _canonical(request: Request) -> dict[str, object]:
    body = request.body
    tag, plan = _fingerprint_plan(type(body))
    canonical: dict[str, object] = {"type": tag}
    for name, encode_name, default in plan:
        value = getattr(body, name)
        if default is msgspec.NODEFAULT or value != default:
            canonical[encode_name] = value
    return canonical


@functools.cache
def _fingerprint_plan(kind: type) -> tuple[object, tuple[tuple[str, str, object], ...]]:
    """(tag, fields to fingerprint) of a command type; ``structs.fields`` is slow."""
    skip = (*getattr(kind, "generated_ids", ()), *getattr(kind, "secret_fields", ()))
    fields = tuple(
        (f.name, f.encode_name, f.default)
        for f in msgspec.structs.fields(kind)
        if f.name not in skip
    )
    return kind.__struct_config__.tag, fields  # type: ignore[attr-defined]


#: Refusals that may not hold on a retry; they are not remembered.
_NOT_FINAL = frozenset({ErrorCode.NOT_FOUND})


def worth_keeping(reply: Reply) -> bool:
    if isinstance(reply, Ok):
        return bool(getattr(reply.value, "final", True))  # e.g. an order still on its way
    return not (reply.retryable or reply.code in _NOT_FINAL)


def reused(key: str) -> Err:
    return Err.of(
        ErrorCode.IDEMPOTENCY_KEY_REUSED,
        f"the Idempotency-Key {key!r} was already used for a different request",
    )


@dataclass
class Screened:
    """A batch sorted out by :meth:`ReplyMemory.screen`."""

    #: Requests the actor must decide (``None`` key: no idempotency asked).
    to_decide: list[tuple[Request, str | None]] = field(default_factory=list)
    #: Index in the batch → the reply to give without deciding.
    answered: dict[int, Reply] = field(default_factory=dict)
    #: Index in the batch → index of the earlier request with the same key.
    repeats: dict[int, int] = field(default_factory=dict)
    #: Key hashes whose stored replies have expired (to be replaced).
    expired: list[str] = field(default_factory=list)
    #: Index in the batch of each request in ``to_decide``.
    decided_at: list[int] = field(default_factory=list)


class ReplyMemory:
    def __init__(self, ledger: Ledger, tenant: str, ttl_s: float) -> None:
        self._ledger = ledger
        self._tenant = tenant
        self._ttl_ms = int(ttl_s * 1000)
        self._recent: OrderedDict[str, StoredReply] = OrderedDict()  # oldest first

    async def screen(self, batch: list[Request], now_ms: int) -> Screened:
        out = Screened()
        hashes = [
            key_hash(r.principal.subject, r.idempotency_key) if r.idempotency_key else ""
            for r in batch
        ]
        keyed = set(hashes)
        keyed.discard("")
        stored: dict[str, StoredReply] = {}
        for h in keyed:
            remembered = self._recent.get(h)
            if remembered is not None and remembered.expires_ms > now_ms:
                stored[h] = remembered
            elif remembered is not None:
                del self._recent[h]  # expired: the ledger says what the key means now
        missing = [h for h in keyed if h not in stored]
        if missing:
            for record in await self._ledger.load_replies(self._tenant, missing):
                if record.expires_ms > now_ms:
                    stored[record.key_hash] = record
                else:
                    out.expired.append(record.key_hash)
        first_seen: dict[str, int] = {}
        for i, request in enumerate(batch):
            key = request.idempotency_key
            if not key:
                out.decided_at.append(i)
                out.to_decide.append((request, None))
                continue
            h = hashes[i]
            known = stored.get(h)
            if known is not None:
                same = known.fingerprint in (fingerprint(request), legacy_fingerprint(request))
                out.answered[i] = reply_decoder.decode(known.reply) if same else reused(key)
            elif h in first_seen:
                out.repeats[i] = first_seen[h]
            else:
                first_seen[h] = i
                out.decided_at.append(i)
                out.to_decide.append((request, h))
        return out

    def records(
        self, decided: list[tuple[Request, str | None]], replies: list[Reply], now_ms: int
    ) -> tuple[StoredReply, ...]:
        """What to store for the decided requests that carried keys."""
        return tuple(
            StoredReply(
                key_hash=h,
                fingerprint=fingerprint(request),
                reply=encoder.encode(reply),
                created_ms=now_ms,
                expires_ms=now_ms + self._ttl_ms,
            )
            for (request, h), reply in zip(decided, replies, strict=True)
            if h is not None and worth_keeping(reply)
        )

    def remember(self, records: tuple[StoredReply, ...]) -> None:
        """Called once ``records`` are committed."""
        for record in records:
            self._recent.pop(record.key_hash, None)
            self._recent[record.key_hash] = record
        while len(self._recent) > MEMORY:
            self._recent.popitem(last=False)

    def forget_all(self) -> None:
        self._recent.clear()
