"""The voucher codes a tenant's treasury holds on lease, to give to orders itself.

Placing an order touches the payer's money and a code of the product's pool. Rather than
ask the vouchers actor for each code (a request, a decision and a commit per order on the
way), the treasury leases codes from it a batch ahead (``LeaseCodes``: they become
``leased`` in storage, and the vouchers actor never hands them out) and allocates them in
the same decision — and commit — as the payment (ADR 21). A code taken in a batch whose
commit then fails is still ``leased`` in storage: the reloaded treasury finds it again.

Leases are asked for ahead of need: when a batch leaves fewer than ``LOW_WATER`` batches'
worth, the treasury asks for ``REFILL`` batches' worth in the background and goes on
deciding with what it holds; a batch waits for a lease only when it is short (ADR 21).
A lease that lands after the held codes were reloaded from storage (whose answer it
would repeat) is dropped: ``generation`` tells them apart.
"""

from __future__ import annotations

from collections import deque

Pool = tuple[str, int]

#: The most codes asked for in one lease.
LEASE_MAX = 1000
#: The fewest asked for in one lease (unless fewer are needed). A tenant ordering one
#: code at a time — one of many tenants in a burst — would otherwise lease four codes
#: every few orders, each lease a batch of the vouchers actor and a change set of its
#: own; with 32, the host's CPU per order fell by about a tenth (ADR 21).
LEASE_MIN = 32
#: Ask for more in the background when a batch leaves fewer than this many batches' worth.
LOW_WATER = 2
#: How many batches' worth a lease asks for.
REFILL = 4


class LeasedCodes:
    def __init__(self) -> None:
        self._queues: dict[Pool, deque[tuple[str, int]]] = {}
        #: The ids held, so that a code is never queued twice.
        self._ids: set[str] = set()
        #: Bumped by every load: a lease asked for before it is not added after it.
        self.generation = 0
        #: Pools whose lease failed in this batch for a reason that may pass (so running
        #: out is not "out of stock").
        self.unsure: set[Pool] = set()

    def load(self, rows: list[tuple[str, int, str, int]]) -> None:
        """Replace what is held with ``rows`` (product, face value, id, expiry) as stored."""
        self._queues = {}
        self._ids = set()
        self.unsure = set()
        self.generation += 1
        for product_id, face_value, code_id, expires_ms in rows:
            self.add((product_id, face_value), [(code_id, expires_ms)])

    def clear(self) -> None:
        self.load([])

    def held(self, pool: Pool) -> int:
        queue = self._queues.get(pool)
        return len(queue) if queue else 0

    def to_lease(self, pool: Pool, needed: int) -> int:
        """How many to ask for, and wait for, when a batch needs ``needed``: the shortfall
        and a refill, or nothing if enough are held."""
        short = needed - self.held(pool)
        return 0 if short <= 0 else min(short + _refill(needed), LEASE_MAX)

    def to_refill(self, pool: Pool, needed: int) -> int:
        """How many to ask for in the background once a batch has taken ``needed``: a
        refill if fewer than ``LOW_WATER`` batches' worth would be left, else nothing."""
        left = self.held(pool) - needed
        return 0 if left >= LOW_WATER * needed else _refill(needed)

    def add(self, pool: Pool, codes: list[tuple[str, int]]) -> None:
        queue = self._queues.setdefault(pool, deque())
        for code in codes:
            if code[0] not in self._ids:
                self._ids.add(code[0])
                queue.append(code)

    def take(self, pool: Pool, now_ms: int) -> tuple[str, int] | None:
        """The next unexpired code of the pool (expired ones stay leased, never given)."""
        queue = self._queues.get(pool)
        while queue:
            code_id, expires_ms = queue.popleft()
            self._ids.discard(code_id)
            if not expires_ms or expires_ms > now_ms:
                return code_id, expires_ms
        return None

    def give_back(self, pool: Pool, code: tuple[str, int]) -> None:
        """A code taken for an order that was then refused: first in line again."""
        if code[0] not in self._ids:
            self._ids.add(code[0])
            self._queues.setdefault(pool, deque()).appendleft(code)


def _refill(needed: int) -> int:
    """Codes for the batches to come, when a batch needs ``needed``."""
    return min(max(REFILL * needed, LEASE_MIN), LEASE_MAX)
