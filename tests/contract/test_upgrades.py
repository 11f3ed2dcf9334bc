"""Upgrades: what an older perkbus left in the ledger is carried into the newer schema."""

from __future__ import annotations

from collections.abc import Sequence

import msgspec
import pytest

from bus.time import now_ms
from storage.audit_chain import verify
from storage.errors import StaleWrite
from storage.ports import AuditEntry, ChangeSet, Ledger, OrderRecord, PutOrder, StoredReply
from tests.conftest import open_test_ledger
from tests.support import order_record, raw_execute

DAY = 86_400_000


async def test_migration_14_carries_points_holds_and_expiry_warnings_over(
    ledger_url: str,
) -> None:
    ledger: Ledger = open_test_ledger(ledger_url)
    try:
        await ledger.migrate(upto=13)
        now = now_ms()
        for statement, params in (
            # 1,000 points issued at the default rate (one point per cent) …
            (
                "INSERT INTO ledger_entries (tenant_id, txn_id, account, amount_minor,"
                " currency, created_ms) VALUES (?, ?, ?, ?, ?, ?)",
                ("acme", "r1", "points:issued", -1000, "PTS", now),
            ),
            (
                "INSERT INTO ledger_entries (tenant_id, txn_id, account, amount_minor,"
                " currency, created_ms) VALUES (?, ?, ?, ?, ?, ?)",
                ("acme", "r1", "points:EUR", 1000, "EUR", now),
            ),
            # … and an exchange "rate" to points that /fx used to accept
            (
                "INSERT INTO fx_rates (tenant_id, base, quote, rate, updated_ms)"
                " VALUES (?, ?, ?, ?, ?)",
                ("acme", "EUR", "PTS", "1", now),
            ),
            (
                "INSERT INTO fx_rates (tenant_id, base, quote, rate, updated_ms)"
                " VALUES (?, ?, ?, ?, ?)",
                ("acme", "JPY", "EUR", "0.0061", now),
            ),
            # a capped budget with 400 set aside by an open hold, and a settled one
            (
                "INSERT INTO accounts (tenant_id, account_id, kind, name, unit, balance_minor,"
                " version, updated_ms, cap_minor) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                ("acme", "budget:q4", "budget", "Q4", "EUR", 600, 2, now, 1000),
            ),
            (
                "INSERT INTO accounts (tenant_id, account_id, kind, name, unit, balance_minor,"
                " version, updated_ms, cap_minor) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                ("acme", "hold:h1", "hold", "budget:q4", "EUR", 400, 1, now, 400),
            ),
            (
                "INSERT INTO accounts (tenant_id, account_id, kind, name, unit, balance_minor,"
                " version, updated_ms, cap_minor) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                ("acme", "hold:h0", "hold", "budget:q4#committed", "EUR", 0, 2, now, 300),
            ),
        ):
            await raw_execute(ledger, statement, params)
        for code_id, created, expires in (
            ("vch_warned", now - DAY, now + 5 * DAY),  # came in inside the window: warned
            ("vch_later", now - DAY, now + 90 * DAY),  # came in outside: not yet
        ):
            await raw_execute(
                ledger,
                "INSERT INTO voucher_codes (tenant_id, code_id, product_id, face_value_minor,"
                " currency, code_hash, code_sealed, pin_sealed, url_sealed, expires_ms, source,"
                " status, order_id, created_ms) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                ("acme", code_id, "p1", 2500, "EUR", code_id, b"x", b"", b"", expires,
                 "imported", "available", "", created),
            )  # fmt: skip

        await ledger.migrate()

        (programme,) = await ledger.load_accounts("acme", ["points:issued"])
        assert (programme.name, programme.unit, programme.balance_minor) == (
            "EUR 100",
            "PTS",
            -1000,
        )
        rates = await ledger.load_fx_rates("acme")
        assert [(r.base, r.quote) for r in rates] == [("JPY", "EUR")]
        budget, settled, held = sorted(
            await ledger.load_accounts("acme", ["budget:q4", "hold:h0", "hold:h1"]),
            key=lambda a: a.account_id,
        )
        assert (budget.held_minor, settled.held_minor, held.held_minor) == (400, 0, 0)
        codes = {c.code_id: c for c in await ledger.load_codes("acme", ["vch_warned", "vch_later"])}
        assert codes["vch_warned"].expiry_warned_ms == now - DAY
        assert codes["vch_later"].expiry_warned_ms == 0
        await ledger.migrate()  # and again: nothing left to do
    finally:
        await ledger.close()


async def test_migration_21_keeps_the_replies_of_used_keys(ledger_url: str) -> None:
    ledger: Ledger = open_test_ledger(ledger_url)
    try:
        await ledger.migrate(upto=20)
        now = now_ms()
        for key, reply in (("k1", b"first"), ("k2", b"second")):
            await raw_execute(
                ledger,
                "INSERT INTO idempotency_replies (tenant_id, key_hash, fingerprint, reply,"
                " created_ms, expires_ms) VALUES (?, ?, ?, ?, ?, ?)",
                ("acme", key, f"fp-{key}", reply, now, now + DAY),
            )
        await ledger.migrate()

        found = {r.key_hash: r for r in await ledger.load_replies("acme", ["k1", "k2", "k3"])}
        assert {k: (r.fingerprint, r.reply) for k, r in found.items()} == {
            "k1": ("fp-k1", b"first"),
            "k2": ("fp-k2", b"second"),
        }
        # the key is still unique: a second reply under it cannot be written
        with pytest.raises(StaleWrite):
            await ledger.apply(
                [ChangeSet("acme", replies=(StoredReply("k1", "fp-x", b"x", now, now + DAY),))]
            )
        await ledger.migrate()  # and again: nothing left to do
    finally:
        await ledger.close()


async def test_migration_23_keeps_orders_found_by_status_and_external_ids_unique(
    ledger_url: str,
) -> None:
    ledger: Ledger = open_test_ledger(ledger_url)
    try:
        await ledger.migrate(upto=22)
        now = now_ms()

        async def insert_order(order_id: str, status: str, external_id: str | None) -> None:
            await raw_execute(
                ledger,
                "INSERT INTO orders (tenant_id, order_id, status, recipient, payer, product_id,"
                " face_value_minor, currency, price_minor, price_unit, code_id, reason,"
                " external_id, created_ms, updated_ms, version)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                ("acme", order_id, status, "ann", "budget:b", "p1", 1000, "EUR", 1000, "EUR",
                 "", "", external_id, now, now, 1),
            )  # fmt: skip

        await insert_order("o1", "fulfilled", None)
        await insert_order("o2", "fulfilled", None)
        await insert_order("o3", "held", "crm-3")
        await insert_order("o4", "paid", None)
        await ledger.migrate()

        def ids(orders: Sequence[OrderRecord]) -> list[str]:
            return sorted(o.order_id for o in orders)

        assert ids(await ledger.list_orders("acme", 10, status="held")) == ["o3"]
        assert ids(await ledger.list_orders("acme", 10, status="fulfilled")) == ["o1", "o2"]
        assert ids(await ledger.unfinished_orders("acme", 10)) == ["o4"]
        assert await ledger.tenants_with_unfinished_orders(10) == ["acme"]
        found = await ledger.order_by_external_id("acme", "crm-3")
        assert found is not None
        assert found.order_id == "o3"
        with pytest.raises(Exception, match=r"(?i)unique|duplicate"):  # still given once
            await insert_order("o5", "fulfilled", "crm-3")
        await ledger.migrate()  # and again: nothing left to do
    finally:
        await ledger.close()


async def test_migration_24_keeps_each_audit_chain_whole_and_its_numbers_unique(
    ledger_url: str,
) -> None:
    ledger: Ledger = open_test_ledger(ledger_url)
    try:
        await ledger.migrate(upto=23)

        def entry(tenant: str, action: str) -> ChangeSet:
            return ChangeSet(tenant, audit=(AuditEntry(1, "admin", action, "t", "ok", "{}"),))

        # two tenants' entries interleaved, as many tenants' groups write them
        for i in range(5):
            await ledger.apply([entry("acme", f"a{i}"), entry("globex", f"g{i}")])
        before = await ledger.audit_log("acme", 0, 100)
        await ledger.migrate()

        assert await ledger.audit_log("acme", 0, 100) == before
        assert [r.seq for r in before] == [1, 2, 3, 4, 5]
        assert [r.action for r in await ledger.audit_log("globex", 2, 100)] == ["g2", "g3", "g4"]
        assert [r.seq for r in await ledger.audit_log("acme", 0, 100, action="a3")] == [4]
        for tenant in ("acme", "globex"):
            assert await verify(ledger, tenant) is None
        await ledger.apply([entry("acme", "a5")])  # the chain goes on after the move
        assert await verify(ledger, "acme") is None
        with pytest.raises(Exception, match=r"(?i)unique|duplicate"):  # a number is given once
            await raw_execute(
                ledger,
                "INSERT INTO audit_log (tenant_id, seq, at_ms, actor, action, target, outcome,"
                " detail, prev_hash, hash) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                ("acme", 6, 1, "x", "x", "x", "ok", "{}", "x", "x"),
            )
        await ledger.migrate()  # and again: nothing left to do
    finally:
        await ledger.close()


async def test_migration_26_keeps_every_order_and_its_id_unique(ledger_url: str) -> None:
    ledger: Ledger = open_test_ledger(ledger_url)

    def put(order_id: str, tenant: str, created_ms: int = 1) -> ChangeSet:
        order = msgspec.structs.replace(
            order_record(order_id), tenant=tenant, created_ms=created_ms
        )
        return ChangeSet(tenant, orders=(PutOrder(order, expected_version=0),))

    try:
        await ledger.migrate(upto=25)
        for i, tenant in enumerate(["acme", "globex", "acme", "acme"]):
            await ledger.apply([put(f"ord_{i}", tenant, created_ms=100 + i)])
        before = await ledger.load_orders("acme", ["ord_0", "ord_2", "ord_3"])
        page = await ledger.list_orders("acme", 10)
        await ledger.migrate()

        after = await ledger.load_orders("acme", ["ord_0", "ord_2", "ord_3"])
        assert len(after) == 3
        assert {o.order_id: o for o in after} == {o.order_id: o for o in before}
        assert await ledger.list_orders("acme", 10) == page
        assert [o.order_id for o in page] == ["ord_3", "ord_2", "ord_0"]
        with pytest.raises(StaleWrite):  # an order id is still given once per tenant
            await ledger.apply([put("ord_2", "acme")])
        await ledger.apply([put("ord_2", "globex")])
        await ledger.migrate()  # and again: nothing left to do
    finally:
        await ledger.close()
