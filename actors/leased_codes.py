"""The voucher codes a tenant's treasury holds on lease, to give to orders itself.

Placing an order touches the payer's money and a code of the product's pool. Rather than
ask the vouchers actor for each code (a request, a decision and a commit per order on the
way), the treasury leases codes from it a batch ahead (``LeaseCodes``: they become
``leased`` in storage, and the vouchers actor never hands them out) and allocates them in
the same decision — and commit — as the payment (ADR 21). A code taken in a batch whose
commit then fails is still ``leased`` in storage: the reloaded treasury finds it again.
"""

from __future__ import annotations

from collections import deque

Pool = tuple[str, int]

#: The most codes asked for in one lease.
LEASE_MAX = 1000


class LeasedCodes:
    def __init__(self) -> None:
        self._queues: dict[Pool, deque[tuple[str, int]]] = {}
        #: Pools whose lease failed in this batch for a reason that may pass (so running
        #: out is not "out of stock").
        self.unsure: set[Pool] = set()

    def load(self, rows: list[tuple[str, int, str, int]]) -> None:
        """Replace what is held with ``rows`` (product, face value, id, expiry) as stored."""
        self._queues = {}
        self.unsure = set()
        for product_id, face_value, code_id, expires_ms in rows:
            self._queues.setdefault((product_id, face_value), deque()).append((code_id, expires_ms))

    def clear(self) -> None:
        self.load([])

    def held(self, pool: Pool) -> int:
        queue = self._queues.get(pool)
        return len(queue) if queue else 0

    def to_lease(self, pool: Pool, needed: int) -> int:
        """How many to ask for when a batch needs ``needed``: the shortfall and as many
        again for the next batch, or nothing if enough are held."""
        short = needed - self.held(pool)
        return 0 if short <= 0 else min(short + needed, LEASE_MAX)

    def add(self, pool: Pool, codes: list[tuple[str, int]]) -> None:
        self._queues.setdefault(pool, deque()).extend(codes)

    def take(self, pool: Pool, now_ms: int) -> tuple[str, int] | None:
        """The next unexpired code of the pool (expired ones stay leased, never given)."""
        queue = self._queues.get(pool)
        while queue:
            code_id, expires_ms = queue.popleft()
            if not expires_ms or expires_ms > now_ms:
                return code_id, expires_ms
        return None

    def give_back(self, pool: Pool, code: tuple[str, int]) -> None:
        """A code taken for an order that was then refused: first in line again."""
        self._queues.setdefault(pool, deque()).appendleft(code)
