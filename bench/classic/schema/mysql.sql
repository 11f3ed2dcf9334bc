-- The classic baseline's schema for MariaDB / MySQL (created by the service on start).
-- Money is integer minor units with its currency; never floats.
-- A code that never expires has expires_ms = 9223372036854775807, so that "soonest expiry
-- first" is plain index order and SELECT ... LIMIT 1 FOR UPDATE SKIP LOCKED reads one
-- index range.

CREATE TABLE IF NOT EXISTS tenant_keys (
    tenant_id VARCHAR(64) NOT NULL PRIMARY KEY, wrapped VARBINARY(128) NOT NULL,
    created_ms BIGINT NOT NULL
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

CREATE TABLE IF NOT EXISTS products (
    tenant_id VARCHAR(64) NOT NULL, product_id VARCHAR(64) NOT NULL,
    currency CHAR(3) NOT NULL, markup_bps INT NOT NULL, enabled BOOLEAN NOT NULL,
    denominations VARCHAR(1000) NOT NULL, range_min_minor BIGINT NOT NULL,
    range_max_minor BIGINT NOT NULL,
    PRIMARY KEY (tenant_id, product_id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

CREATE TABLE IF NOT EXISTS budgets (
    tenant_id VARCHAR(64) NOT NULL, budget_id VARCHAR(64) NOT NULL,
    name VARCHAR(200) NOT NULL, currency CHAR(3) NOT NULL,
    balance_minor BIGINT NOT NULL, version BIGINT NOT NULL, updated_ms BIGINT NOT NULL,
    PRIMARY KEY (tenant_id, budget_id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

CREATE TABLE IF NOT EXISTS ledger_entries (
    entry_id BIGINT NOT NULL AUTO_INCREMENT PRIMARY KEY,
    tenant_id VARCHAR(64) NOT NULL, txn_id VARCHAR(100) NOT NULL,
    account VARCHAR(200) NOT NULL, amount_minor BIGINT NOT NULL,
    currency CHAR(3) NOT NULL, created_ms BIGINT NOT NULL,
    KEY ledger_entries_account (tenant_id, account)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

CREATE TABLE IF NOT EXISTS voucher_codes (
    tenant_id VARCHAR(64) NOT NULL, code_id VARCHAR(64) NOT NULL,
    product_id VARCHAR(64) NOT NULL, face_value_minor BIGINT NOT NULL,
    currency CHAR(3) NOT NULL, code_hash CHAR(64) NOT NULL,
    code_sealed VARBINARY(600) NOT NULL, pin_sealed VARBINARY(300) NOT NULL,
    url_sealed VARBINARY(1100) NOT NULL, expires_ms BIGINT NOT NULL,
    status VARCHAR(16) NOT NULL, order_id VARCHAR(64) NOT NULL,
    created_ms BIGINT NOT NULL, allocated_ms BIGINT NOT NULL,
    PRIMARY KEY (tenant_id, code_id),
    UNIQUE KEY voucher_codes_hash (tenant_id, code_hash),
    KEY voucher_codes_pool (tenant_id, product_id, face_value_minor, status, expires_ms)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

CREATE TABLE IF NOT EXISTS orders (
    row_id BIGINT NOT NULL AUTO_INCREMENT PRIMARY KEY,
    tenant_id VARCHAR(64) NOT NULL, order_id VARCHAR(64) NOT NULL,
    status VARCHAR(16) NOT NULL, recipient VARCHAR(100) NOT NULL,
    payer VARCHAR(100) NOT NULL, product_id VARCHAR(64) NOT NULL,
    face_value_minor BIGINT NOT NULL, currency CHAR(3) NOT NULL,
    price_minor BIGINT NOT NULL, price_unit CHAR(3) NOT NULL,
    code_id VARCHAR(64) NOT NULL, external_id VARCHAR(100) NULL,
    created_ms BIGINT NOT NULL, updated_ms BIGINT NOT NULL,
    UNIQUE KEY orders_id (tenant_id, order_id),
    UNIQUE KEY orders_external (tenant_id, external_id),
    KEY orders_status (tenant_id, status, created_ms)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

CREATE TABLE IF NOT EXISTS outbox (
    event_id VARCHAR(64) NOT NULL PRIMARY KEY, tenant_id VARCHAR(64) NOT NULL,
    subject VARCHAR(255) NOT NULL, payload MEDIUMBLOB NOT NULL,
    created_ms BIGINT NOT NULL, KEY outbox_created (created_ms)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

CREATE TABLE IF NOT EXISTS idempotency_replies (
    tenant_id VARCHAR(64) NOT NULL, key_hash CHAR(64) NOT NULL,
    fingerprint CHAR(64) NOT NULL, status SMALLINT NOT NULL, reply BLOB NOT NULL,
    created_ms BIGINT NOT NULL, expires_ms BIGINT NOT NULL,
    PRIMARY KEY (tenant_id, key_hash),
    KEY idempotency_replies_expiry (expires_ms)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;
