"""After a burst: did the classic service keep its books? A run that breaks one of these
fails, however fast it was.

- no budget is negative, and each budget's balance equals the sum of its ledger entries;
- every ledger transaction sums to zero (per currency);
- every order is paid: its transaction takes exactly its price from its budget;
- voucher codes are distinct, each allocated at most once, and every order holds a code
  allocated to it and to no other order;
- one outbox event per order;
- as many orders as the caller counted successful responses (when it counted).
"""

from __future__ import annotations

from collections import defaultdict

import msgspec

from bench.classic.stores import OrderStore, open_store


class InvariantReport(msgspec.Struct, frozen=True):
    orders: int
    successes: int | None
    budgets: int
    negative_balances: int
    budgets_off_ledger: int
    unbalanced_transactions: int
    unpaid_orders: int
    duplicate_codes: int
    codes_given_twice: int
    orders_without_their_code: int
    codes_allocated_without_order: int
    outbox_events: int
    #: One sentence per broken invariant; empty when all hold.
    violations: list[str]

    @property
    def ok(self) -> bool:
        return not self.violations


def _count(rows: list[tuple[object, ...]]) -> int:
    value = rows[0][0] if rows else 0
    return int(value) if isinstance(value, int | str) else 0


async def check_invariants(db: str, successes: int | None = None) -> InvariantReport:
    """Check ``db`` (``sqlite:PATH`` or a MySQL URL); ``successes`` is how many 201
    answers for new orders the caller counted (``None``: not compared)."""
    store = open_store(db, pool_size=2)
    try:
        return await check_store(store, successes)
    finally:
        await store.close()


async def check_store(store: OrderStore, successes: int | None = None) -> InvariantReport:
    q = store.fetchall
    orders = _count(await q("SELECT COUNT(*) FROM orders"))
    budgets = await q("SELECT tenant_id, budget_id, balance_minor FROM budgets")
    sums: dict[tuple[str, str], int] = defaultdict(int)
    for tenant, account, total in await q(
        "SELECT tenant_id, account, SUM(amount_minor) FROM ledger_entries"
        " WHERE account LIKE 'budget:%' GROUP BY tenant_id, account"
    ):
        sums[(tenant, account)] = int(total)
    negative = sum(1 for _, _, balance in budgets if balance < 0)
    off_ledger = sum(1 for t, b, balance in budgets if sums[(t, f"budget:{b}")] != balance)
    unbalanced = _count(
        await q(
            "SELECT COUNT(*) FROM (SELECT tenant_id, txn_id, currency FROM ledger_entries"
            " GROUP BY tenant_id, txn_id, currency HAVING SUM(amount_minor) <> 0) AS u"
        )
    )
    unpaid = _count(
        await q(
            # (one pass over the entries: there is no index by transaction)
            "SELECT COUNT(*) FROM orders o LEFT JOIN (SELECT tenant_id, txn_id, account,"
            " -SUM(amount_minor) AS paid FROM ledger_entries"
            " GROUP BY tenant_id, txn_id, account) e ON e.tenant_id = o.tenant_id"
            " AND e.txn_id = o.order_id AND e.account = o.payer"
            " WHERE o.price_minor <> COALESCE(e.paid, 0)"
        )
    )
    duplicate_codes = _count(
        await q(
            "SELECT COUNT(*) FROM (SELECT tenant_id, code_hash FROM voucher_codes"
            " GROUP BY tenant_id, code_hash HAVING COUNT(*) > 1) AS d"
        )
    )
    given_twice = _count(
        await q(
            "SELECT COUNT(*) FROM (SELECT tenant_id, code_id FROM orders"
            " GROUP BY tenant_id, code_id HAVING COUNT(*) > 1) AS g"
        )
    )
    without_code = _count(
        await q(
            "SELECT COUNT(*) FROM orders o LEFT JOIN voucher_codes c"
            " ON c.tenant_id = o.tenant_id AND c.code_id = o.code_id"
            " WHERE c.code_id IS NULL OR c.status <> 'allocated' OR c.order_id <> o.order_id"
        )
    )
    stray = _count(
        await q(
            "SELECT COUNT(*) FROM voucher_codes c WHERE c.status = 'allocated' AND NOT EXISTS"
            " (SELECT 1 FROM orders o WHERE o.tenant_id = c.tenant_id"
            " AND o.order_id = c.order_id AND o.code_id = c.code_id)"
        )
    )
    events = _count(await q("SELECT COUNT(*) FROM outbox"))
    violations = [
        message
        for broken, message in (
            (negative, f"{negative} budgets have a negative balance"),
            (off_ledger, f"{off_ledger} budgets' balances differ from their ledger entries"),
            (unbalanced, f"{unbalanced} ledger transactions do not sum to zero"),
            (unpaid, f"{unpaid} orders were not debited exactly their price"),
            (duplicate_codes, f"{duplicate_codes} voucher codes are stored twice"),
            (given_twice, f"{given_twice} voucher codes were given to several orders"),
            (without_code, f"{without_code} orders do not hold a code allocated to them"),
            (stray, f"{stray} codes are allocated to no order"),
            (events != orders, f"{events} outbox events for {orders} orders"),
            (
                successes is not None and successes != orders,
                f"{orders} orders but {successes} successful responses",
            ),
        )
        if broken
    ]
    return InvariantReport(
        orders,
        successes,
        len(budgets),
        negative,
        off_ledger,
        unbalanced,
        unpaid,
        duplicate_codes,
        given_twice,
        without_code,
        stray,
        events,
        violations,
    )
