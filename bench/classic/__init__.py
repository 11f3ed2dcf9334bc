"""The classic baseline: the gift-card order service a competent team would build instead
of perkbus.

A plain aiohttp service (on uvloop) where each HTTP request runs its own database
transaction with row locks: verify the token, then in one transaction check the
Idempotency-Key, read the product, lock a voucher code (``FOR UPDATE SKIP LOCKED``), lock
the budget row (``SELECT … FOR UPDATE``), refuse if it is short, debit it, write two ledger
entries, the order, an outbox event and the stored reply, and commit. Same features and
same stores as perkbus's redemption path (SQLite, the embedded default, and MariaDB), so
that ``perkbus bench`` compares designs, not feature lists. See README.md.

The harness uses :func:`seed`, :func:`check_invariants` and ``python -m bench.classic``.
"""

from bench.classic.invariants import InvariantReport, check_invariants
from bench.classic.seed import SeedReport, seed

__all__ = ["InvariantReport", "SeedReport", "check_invariants", "seed"]
