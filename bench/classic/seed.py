"""Seeding a classic database for a burst: tenants, a budget each, one product, and
voucher codes sealed as perkbus seals them.

Every tenant gets a random data key, stored wrapped under the master key
(:class:`actors.sealing.MasterKey`); each code is sealed with it under the context
``voucher:<tenant>:<code id>:code`` and indexed by an HMAC of the code under the same key,
exactly as perkbus's vouchers actor imports codes. The budget's opening balance is booked
as a ledger transaction from the funding account, so that every budget's balance equals
the sum of its ledger entries (an invariant the checker verifies).
"""

from __future__ import annotations

import hashlib
import hmac
import os
import secrets
import time
from pathlib import Path

import msgspec

from actors.orders import price
from actors.sealing import MasterKey, seal
from bench.classic.orders import NEVER
from bench.classic.stores import OrderStore, open_store
from bus.ids import time_ordered_hex
from perkbus import tokens

TENANT_PREFIX = "bench-"
BUDGET_ID = "b"
PRODUCT_ID = "giftcard"
FUNDING_ACCOUNT = "funding"
#: Rows per INSERT batch while seeding.
CHUNK = 2000


class SeedReport(msgspec.Struct, frozen=True):
    """What a harness needs to aim orders at the seeded data."""

    tenants: list[str]
    budget_id: str
    product_id: str
    face_value_minor: int
    currency: str
    #: What one order costs the budget (face value plus markup, rounded up).
    price_minor: int
    balance_minor: int
    codes_per_tenant: int
    seconds: float


def order_token(private_key: Path, tenant: str) -> str:
    """A bearer token that may place orders paid from the tenant's budgets (an integrator
    client's), signed with ``private_key``."""
    return tokens.mint(
        private_key,
        tenant=tenant,
        subject="bench",
        scopes=["orders:write", "budgets:debit"],
        roles=["integrator"],
        ttl_s=3600,
        issuer="perkbus",
        audience="perkbus-api",
    )


def tenant_ids(count: int) -> list[str]:
    """``bench-0`` … ``bench-<count-1>``: the tenants perkbus's own bench uses."""
    return [f"{TENANT_PREFIX}{i}" for i in range(count)]


async def seed(
    db: str,
    tenants: int,
    codes: int,
    balance_minor: int,
    *,
    face_value_minor: int = 1000,
    currency: str = "EUR",
    markup_bps: int = 0,
    master_key: MasterKey | None = None,
    reset: bool = True,
) -> SeedReport:
    """Create the schema (dropping the old one when ``reset``) in ``db`` and seed it.
    Without ``master_key`` a random one seals the data keys: the codes are stored
    encrypted either way, and the order path never opens them."""
    store = open_store(db, pool_size=2)
    try:
        await store.create_schema(reset=reset)
        return await seed_store(
            store,
            tenants,
            codes,
            balance_minor,
            face_value_minor=face_value_minor,
            currency=currency,
            markup_bps=markup_bps,
            master_key=master_key or MasterKey(os.urandom(32)),
        )
    finally:
        await store.close()


async def seed_store(
    store: OrderStore,
    tenants: int,
    codes: int,
    balance_minor: int,
    *,
    face_value_minor: int,
    currency: str,
    markup_bps: int,
    master_key: MasterKey,
) -> SeedReport:
    """Seed a store whose schema exists."""
    started = time.perf_counter()
    now = int(time.time() * 1000)
    ids = tenant_ids(tenants)
    keys: list[tuple[object, ...]] = []
    products: list[tuple[object, ...]] = []
    budgets: list[tuple[object, ...]] = []
    entries: list[tuple[object, ...]] = []
    code_rows: list[tuple[object, ...]] = []
    for t in ids:
        data_key, wrapped = master_key.new_data_key(t)
        keys.append((t, wrapped, now))
        products.append((t, PRODUCT_ID, currency, markup_bps, 1, str(face_value_minor), 0, 0))
        budgets.append((t, BUDGET_ID, "Bench budget", currency, balance_minor, 1, now))
        txn = f"open:{BUDGET_ID}"
        entries.append((t, txn, FUNDING_ACCOUNT, -balance_minor, currency, now))
        entries.append((t, txn, f"budget:{BUDGET_ID}", balance_minor, currency, now))
        code_rows.extend(_codes(t, data_key, codes, face_value_minor, currency, now))
        if len(code_rows) >= CHUNK:
            await store.executemany(_INSERT_CODE, code_rows)
            code_rows = []
    if code_rows:
        await store.executemany(_INSERT_CODE, code_rows)
    await store.executemany(
        "INSERT INTO tenant_keys (tenant_id, wrapped, created_ms) VALUES (?, ?, ?)", keys
    )
    await store.executemany(
        "INSERT INTO products (tenant_id, product_id, currency, markup_bps, enabled,"
        " denominations, range_min_minor, range_max_minor) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
        products,
    )
    await store.executemany(
        "INSERT INTO budgets (tenant_id, budget_id, name, currency, balance_minor, version,"
        " updated_ms) VALUES (?, ?, ?, ?, ?, ?, ?)",
        budgets,
    )
    for i in range(0, len(entries), CHUNK):
        await store.executemany(
            "INSERT INTO ledger_entries (tenant_id, txn_id, account, amount_minor, currency,"
            " created_ms) VALUES (?, ?, ?, ?, ?, ?)",
            entries[i : i + CHUNK],
        )
    return SeedReport(
        ids,
        BUDGET_ID,
        PRODUCT_ID,
        face_value_minor,
        currency,
        price(face_value_minor, markup_bps),
        balance_minor,
        codes,
        time.perf_counter() - started,
    )


_INSERT_CODE = (
    "INSERT INTO voucher_codes (tenant_id, code_id, product_id, face_value_minor, currency,"
    " code_hash, code_sealed, pin_sealed, url_sealed, expires_ms, status, order_id,"
    " created_ms, allocated_ms) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 'available', '', ?, 0)"
)


def _codes(
    tenant: str, data_key: bytes, count: int, face_value_minor: int, currency: str, now: int
) -> list[tuple[object, ...]]:
    rows: list[tuple[object, ...]] = []
    for _ in range(count):
        code = secrets.token_hex(8).upper()
        code_id = f"vch_{time_ordered_hex()}"
        digest = hmac.new(data_key, code.encode(), hashlib.sha256).hexdigest()
        sealed = seal(data_key, code.encode(), f"voucher:{tenant}:{code_id}:code")
        pool = (PRODUCT_ID, face_value_minor, currency)
        rows.append((tenant, code_id, *pool, digest, sealed, b"", b"", NEVER, now))
    return rows
