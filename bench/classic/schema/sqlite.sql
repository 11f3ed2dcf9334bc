-- The classic baseline's schema for SQLite (created by the service on start).
-- Money is integer minor units with its currency; never floats.
-- A code that never expires has expires_ms = 9223372036854775807, so that "soonest expiry
-- first" is plain index order.

CREATE TABLE IF NOT EXISTS tenant_keys (
    tenant_id TEXT PRIMARY KEY, wrapped BLOB NOT NULL, created_ms INTEGER NOT NULL);

CREATE TABLE IF NOT EXISTS products (
    tenant_id TEXT NOT NULL, product_id TEXT NOT NULL, currency TEXT NOT NULL,
    markup_bps INTEGER NOT NULL, enabled INTEGER NOT NULL,
    denominations TEXT NOT NULL, range_min_minor INTEGER NOT NULL,
    range_max_minor INTEGER NOT NULL,
    PRIMARY KEY (tenant_id, product_id)) WITHOUT ROWID;

CREATE TABLE IF NOT EXISTS budgets (
    tenant_id TEXT NOT NULL, budget_id TEXT NOT NULL, name TEXT NOT NULL,
    currency TEXT NOT NULL, balance_minor INTEGER NOT NULL,
    version INTEGER NOT NULL, updated_ms INTEGER NOT NULL,
    PRIMARY KEY (tenant_id, budget_id)) WITHOUT ROWID;

CREATE TABLE IF NOT EXISTS ledger_entries (
    entry_id INTEGER PRIMARY KEY, tenant_id TEXT NOT NULL, txn_id TEXT NOT NULL,
    account TEXT NOT NULL, amount_minor INTEGER NOT NULL, currency TEXT NOT NULL,
    created_ms INTEGER NOT NULL);
CREATE INDEX IF NOT EXISTS ledger_entries_account ON ledger_entries (tenant_id, account);
-- no index by transaction: nothing reads entries by it (as perkbus, migration 25)

CREATE TABLE IF NOT EXISTS voucher_codes (
    tenant_id TEXT NOT NULL, code_id TEXT NOT NULL, product_id TEXT NOT NULL,
    face_value_minor INTEGER NOT NULL, currency TEXT NOT NULL,
    code_hash TEXT NOT NULL, code_sealed BLOB NOT NULL, pin_sealed BLOB NOT NULL,
    url_sealed BLOB NOT NULL, expires_ms INTEGER NOT NULL, status TEXT NOT NULL,
    order_id TEXT NOT NULL, created_ms INTEGER NOT NULL, allocated_ms INTEGER NOT NULL,
    PRIMARY KEY (tenant_id, code_id)) WITHOUT ROWID;
CREATE UNIQUE INDEX IF NOT EXISTS voucher_codes_hash ON voucher_codes (tenant_id, code_hash);
-- codes given to orders leave the pool index (as perkbus's, its migration 27)
CREATE INDEX IF NOT EXISTS voucher_codes_pool
    ON voucher_codes (tenant_id, product_id, face_value_minor, status, expires_ms)
    WHERE status <> 'allocated';

-- appended under an increasing id, found through (tenant, order id), as perkbus's
-- (its migration 26)
CREATE TABLE IF NOT EXISTS orders (
    row_id INTEGER PRIMARY KEY,
    tenant_id TEXT NOT NULL, order_id TEXT NOT NULL, status TEXT NOT NULL,
    recipient TEXT NOT NULL, payer TEXT NOT NULL, product_id TEXT NOT NULL,
    face_value_minor INTEGER NOT NULL, currency TEXT NOT NULL,
    price_minor INTEGER NOT NULL, price_unit TEXT NOT NULL, code_id TEXT NOT NULL,
    external_id TEXT, created_ms INTEGER NOT NULL, updated_ms INTEGER NOT NULL);
CREATE UNIQUE INDEX IF NOT EXISTS orders_id ON orders (tenant_id, order_id);
-- partial, as perkbus's (its migration 23): no entries for what nothing looks up
CREATE UNIQUE INDEX IF NOT EXISTS orders_external ON orders (tenant_id, external_id)
    WHERE external_id IS NOT NULL;
CREATE INDEX IF NOT EXISTS orders_status ON orders (tenant_id, status, created_ms)
    WHERE status <> 'fulfilled';

CREATE TABLE IF NOT EXISTS outbox (
    event_id TEXT PRIMARY KEY, tenant_id TEXT NOT NULL, subject TEXT NOT NULL,
    payload BLOB NOT NULL, created_ms INTEGER NOT NULL);
CREATE INDEX IF NOT EXISTS outbox_created ON outbox (created_ms);

CREATE TABLE IF NOT EXISTS idempotency_replies (
    tenant_id TEXT NOT NULL, key_hash TEXT NOT NULL, fingerprint TEXT NOT NULL,
    status INTEGER NOT NULL, reply BLOB NOT NULL, created_ms INTEGER NOT NULL,
    expires_ms INTEGER NOT NULL,
    PRIMARY KEY (tenant_id, key_hash)) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS idempotency_replies_expiry ON idempotency_replies (expires_ms);
