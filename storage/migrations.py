"""The ledger's schema, as numbered migrations with a statement list per dialect; the
``schema_migrations`` table records which have run. Migrations are only ever appended."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

Dialect = Literal["sqlite", "mysql"]

_MYSQL_TABLE = " ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin"


@dataclass(frozen=True)
class Migration:
    version: int
    name: str
    sqlite: tuple[str, ...]
    mysql: tuple[str, ...]

    def statements(self, dialect: Dialect) -> tuple[str, ...]:
        return self.sqlite if dialect == "sqlite" else self.mysql


MIGRATIONS: tuple[Migration, ...] = (
    Migration(
        1,
        "budgets, ledger entries, outbox",
        sqlite=(
            """CREATE TABLE budgets (
                tenant_id TEXT NOT NULL, budget_id TEXT NOT NULL, name TEXT NOT NULL,
                currency TEXT NOT NULL, balance_minor INTEGER NOT NULL,
                version INTEGER NOT NULL, updated_ms INTEGER NOT NULL,
                PRIMARY KEY (tenant_id, budget_id)) WITHOUT ROWID""",
            """CREATE TABLE ledger_entries (
                entry_id INTEGER PRIMARY KEY, tenant_id TEXT NOT NULL, txn_id TEXT NOT NULL,
                account TEXT NOT NULL, amount_minor INTEGER NOT NULL, currency TEXT NOT NULL,
                created_ms INTEGER NOT NULL)""",
            "CREATE INDEX ledger_entries_account ON ledger_entries (tenant_id, account)",
            "CREATE INDEX ledger_entries_txn ON ledger_entries (tenant_id, txn_id)",
            """CREATE TABLE outbox (
                event_id TEXT PRIMARY KEY, tenant_id TEXT NOT NULL, subject TEXT NOT NULL,
                payload BLOB NOT NULL, created_ms INTEGER NOT NULL)""",
            "CREATE INDEX outbox_created ON outbox (created_ms)",
        ),
        mysql=(
            """CREATE TABLE budgets (
                tenant_id VARCHAR(64) NOT NULL, budget_id VARCHAR(64) NOT NULL,
                name VARCHAR(200) NOT NULL, currency CHAR(3) NOT NULL,
                balance_minor BIGINT NOT NULL, version BIGINT NOT NULL,
                updated_ms BIGINT NOT NULL,
                PRIMARY KEY (tenant_id, budget_id))"""
            + _MYSQL_TABLE,
            """CREATE TABLE ledger_entries (
                entry_id BIGINT NOT NULL AUTO_INCREMENT PRIMARY KEY,
                tenant_id VARCHAR(64) NOT NULL, txn_id VARCHAR(64) NOT NULL,
                account VARCHAR(200) NOT NULL, amount_minor BIGINT NOT NULL,
                currency CHAR(3) NOT NULL, created_ms BIGINT NOT NULL,
                KEY ledger_entries_account (tenant_id, account),
                KEY ledger_entries_txn (tenant_id, txn_id))"""
            + _MYSQL_TABLE,
            """CREATE TABLE outbox (
                event_id VARCHAR(64) NOT NULL PRIMARY KEY, tenant_id VARCHAR(64) NOT NULL,
                subject VARCHAR(255) NOT NULL, payload MEDIUMBLOB NOT NULL,
                created_ms BIGINT NOT NULL, KEY outbox_created (created_ms))"""
            + _MYSQL_TABLE,
        ),
    ),
)

MIGRATIONS += (
    Migration(
        2,
        "replies kept for idempotency keys",
        sqlite=(
            """CREATE TABLE idempotency_replies (
                tenant_id TEXT NOT NULL, key_hash TEXT NOT NULL, fingerprint TEXT NOT NULL,
                reply BLOB NOT NULL, created_ms INTEGER NOT NULL, expires_ms INTEGER NOT NULL,
                PRIMARY KEY (tenant_id, key_hash)) WITHOUT ROWID""",
            "CREATE INDEX idempotency_replies_expiry ON idempotency_replies (expires_ms)",
        ),
        mysql=(
            """CREATE TABLE idempotency_replies (
                tenant_id VARCHAR(64) NOT NULL, key_hash CHAR(64) NOT NULL,
                fingerprint CHAR(64) NOT NULL, reply BLOB NOT NULL,
                created_ms BIGINT NOT NULL, expires_ms BIGINT NOT NULL,
                PRIMARY KEY (tenant_id, key_hash),
                KEY idempotency_replies_expiry (expires_ms))"""
            + _MYSQL_TABLE,
        ),
    ),
)

MIGRATIONS += (
    Migration(
        3,
        "accounts (budgets and point wallets) replace budgets",
        sqlite=(
            """CREATE TABLE accounts (
                tenant_id TEXT NOT NULL, account_id TEXT NOT NULL, kind TEXT NOT NULL,
                name TEXT NOT NULL, unit TEXT NOT NULL, balance_minor INTEGER NOT NULL,
                version INTEGER NOT NULL, updated_ms INTEGER NOT NULL,
                PRIMARY KEY (tenant_id, account_id)) WITHOUT ROWID""",
            """INSERT INTO accounts SELECT tenant_id, 'budget:' || budget_id, 'budget', name,
                currency, balance_minor, version, updated_ms FROM budgets""",
            "DROP TABLE budgets",
        ),
        mysql=(
            """CREATE TABLE accounts (
                tenant_id VARCHAR(64) NOT NULL, account_id VARCHAR(100) NOT NULL,
                kind VARCHAR(16) NOT NULL, name VARCHAR(200) NOT NULL, unit CHAR(3) NOT NULL,
                balance_minor BIGINT NOT NULL, version BIGINT NOT NULL,
                updated_ms BIGINT NOT NULL,
                PRIMARY KEY (tenant_id, account_id))"""
            + _MYSQL_TABLE,
            """INSERT INTO accounts SELECT tenant_id, CONCAT('budget:', budget_id), 'budget',
                name, currency, balance_minor, version, updated_ms FROM budgets""",
            "DROP TABLE budgets",
        ),
    ),
)

MIGRATIONS += (
    Migration(
        4,
        "voucher codes (sealed) and tenants' wrapped data keys",
        sqlite=(
            """CREATE TABLE tenant_keys (
                tenant_id TEXT PRIMARY KEY, wrapped BLOB NOT NULL, created_ms INTEGER NOT NULL)""",
            """CREATE TABLE voucher_codes (
                tenant_id TEXT NOT NULL, code_id TEXT NOT NULL, product_id TEXT NOT NULL,
                face_value_minor INTEGER NOT NULL, currency TEXT NOT NULL,
                code_hash TEXT NOT NULL, code_sealed BLOB NOT NULL, pin_sealed BLOB NOT NULL,
                url_sealed BLOB NOT NULL, expires_ms INTEGER NOT NULL, source TEXT NOT NULL,
                status TEXT NOT NULL, order_id TEXT NOT NULL, created_ms INTEGER NOT NULL,
                allocated_ms INTEGER NOT NULL DEFAULT 0,
                PRIMARY KEY (tenant_id, code_id)) WITHOUT ROWID""",
            "CREATE UNIQUE INDEX voucher_codes_hash ON voucher_codes (tenant_id, code_hash)",
            """CREATE INDEX voucher_codes_pool ON voucher_codes
                (tenant_id, product_id, face_value_minor, status, expires_ms)""",
        ),
        mysql=(
            """CREATE TABLE tenant_keys (
                tenant_id VARCHAR(64) NOT NULL PRIMARY KEY, wrapped VARBINARY(128) NOT NULL,
                created_ms BIGINT NOT NULL)"""
            + _MYSQL_TABLE,
            """CREATE TABLE voucher_codes (
                tenant_id VARCHAR(64) NOT NULL, code_id VARCHAR(64) NOT NULL,
                product_id VARCHAR(64) NOT NULL, face_value_minor BIGINT NOT NULL,
                currency CHAR(3) NOT NULL, code_hash CHAR(64) NOT NULL,
                code_sealed VARBINARY(600) NOT NULL, pin_sealed VARBINARY(300) NOT NULL,
                url_sealed VARBINARY(1100) NOT NULL, expires_ms BIGINT NOT NULL,
                source VARCHAR(16) NOT NULL, status VARCHAR(16) NOT NULL,
                order_id VARCHAR(64) NOT NULL, created_ms BIGINT NOT NULL,
                allocated_ms BIGINT NOT NULL DEFAULT 0,
                PRIMARY KEY (tenant_id, code_id),
                UNIQUE KEY voucher_codes_hash (tenant_id, code_hash),
                KEY voucher_codes_pool
                    (tenant_id, product_id, face_value_minor, status, expires_ms))"""
            + _MYSQL_TABLE,
        ),
    ),
)


MIGRATIONS += (
    Migration(
        5,
        "orders",
        sqlite=(
            """CREATE TABLE orders (
                tenant_id TEXT NOT NULL, order_id TEXT NOT NULL, status TEXT NOT NULL,
                recipient TEXT NOT NULL, payer TEXT NOT NULL, product_id TEXT NOT NULL,
                face_value_minor INTEGER NOT NULL, currency TEXT NOT NULL,
                price_minor INTEGER NOT NULL, price_unit TEXT NOT NULL, code_id TEXT NOT NULL,
                reason TEXT NOT NULL, external_id TEXT, created_ms INTEGER NOT NULL,
                updated_ms INTEGER NOT NULL, version INTEGER NOT NULL,
                PRIMARY KEY (tenant_id, order_id)) WITHOUT ROWID""",
            "CREATE UNIQUE INDEX orders_external ON orders (tenant_id, external_id)",
            "CREATE INDEX orders_status ON orders (tenant_id, status, created_ms)",
        ),
        mysql=(
            """CREATE TABLE orders (
                tenant_id VARCHAR(64) NOT NULL, order_id VARCHAR(64) NOT NULL,
                status VARCHAR(16) NOT NULL, recipient VARCHAR(100) NOT NULL,
                payer VARCHAR(100) NOT NULL, product_id VARCHAR(64) NOT NULL,
                face_value_minor BIGINT NOT NULL, currency CHAR(3) NOT NULL,
                price_minor BIGINT NOT NULL, price_unit CHAR(3) NOT NULL,
                code_id VARCHAR(64) NOT NULL, reason VARCHAR(300) NOT NULL,
                external_id VARCHAR(100) NULL, created_ms BIGINT NOT NULL,
                updated_ms BIGINT NOT NULL, version BIGINT NOT NULL,
                PRIMARY KEY (tenant_id, order_id),
                UNIQUE KEY orders_external (tenant_id, external_id),
                KEY orders_status (tenant_id, status, created_ms))"""
            + _MYSQL_TABLE,
        ),
    ),
)

MIGRATIONS += (
    Migration(
        6,
        "bulk reward jobs and their rows",
        sqlite=(
            """CREATE TABLE bulk_jobs (
                tenant_id TEXT NOT NULL, job_id TEXT NOT NULL, budget_id TEXT NOT NULL,
                status TEXT NOT NULL, total INTEGER NOT NULL, next_row INTEGER NOT NULL,
                succeeded INTEGER NOT NULL, failed INTEGER NOT NULL,
                created_ms INTEGER NOT NULL, updated_ms INTEGER NOT NULL,
                version INTEGER NOT NULL, PRIMARY KEY (tenant_id, job_id)) WITHOUT ROWID""",
            "CREATE INDEX bulk_jobs_status ON bulk_jobs (status)",
            """CREATE TABLE bulk_rows (
                tenant_id TEXT NOT NULL, job_id TEXT NOT NULL, row_no INTEGER NOT NULL,
                person_id TEXT NOT NULL, points INTEGER NOT NULL, memo TEXT NOT NULL,
                status TEXT NOT NULL, reason TEXT NOT NULL, reward_id TEXT NOT NULL,
                PRIMARY KEY (tenant_id, job_id, row_no)) WITHOUT ROWID""",
        ),
        mysql=(
            """CREATE TABLE bulk_jobs (
                tenant_id VARCHAR(64) NOT NULL, job_id VARCHAR(64) NOT NULL,
                budget_id VARCHAR(64) NOT NULL, status VARCHAR(16) NOT NULL,
                total INT NOT NULL, next_row INT NOT NULL, succeeded INT NOT NULL,
                failed INT NOT NULL, created_ms BIGINT NOT NULL, updated_ms BIGINT NOT NULL,
                version BIGINT NOT NULL, PRIMARY KEY (tenant_id, job_id),
                KEY bulk_jobs_status (status))"""
            + _MYSQL_TABLE,
            """CREATE TABLE bulk_rows (
                tenant_id VARCHAR(64) NOT NULL, job_id VARCHAR(64) NOT NULL,
                row_no INT NOT NULL, person_id VARCHAR(100) NOT NULL, points BIGINT NOT NULL,
                memo VARCHAR(500) NOT NULL, status VARCHAR(16) NOT NULL,
                reason VARCHAR(100) NOT NULL, reward_id VARCHAR(100) NOT NULL,
                PRIMARY KEY (tenant_id, job_id, row_no))"""
            + _MYSQL_TABLE,
        ),
    ),
)

MIGRATIONS += (
    Migration(
        7,
        "stored replies up to 16 MiB on MySQL (a voucher import's report can pass 64 KiB)",
        sqlite=(),
        mysql=("ALTER TABLE idempotency_replies MODIFY reply MEDIUMBLOB NOT NULL",),
    ),
)

MIGRATIONS += (
    Migration(
        8,
        "exchange rates per tenant; the rate locked into each order",
        sqlite=(
            """CREATE TABLE fx_rates (
                tenant_id TEXT NOT NULL, base TEXT NOT NULL, quote TEXT NOT NULL,
                rate TEXT NOT NULL, updated_ms INTEGER NOT NULL,
                PRIMARY KEY (tenant_id, base, quote)) WITHOUT ROWID""",
            "ALTER TABLE orders ADD COLUMN fx_rate TEXT NOT NULL DEFAULT ''",
        ),
        mysql=(
            """CREATE TABLE fx_rates (
                tenant_id VARCHAR(64) NOT NULL, base CHAR(3) NOT NULL, quote CHAR(3) NOT NULL,
                rate VARCHAR(32) NOT NULL, updated_ms BIGINT NOT NULL,
                PRIMARY KEY (tenant_id, base, quote))"""
            + _MYSQL_TABLE,
            "ALTER TABLE orders ADD COLUMN fx_rate VARCHAR(32) NOT NULL DEFAULT ''",
        ),
    ),
)

MIGRATIONS += (
    Migration(
        9,
        "budgets' hard caps",
        sqlite=("ALTER TABLE accounts ADD COLUMN cap_minor INTEGER NOT NULL DEFAULT 0",),
        mysql=("ALTER TABLE accounts ADD COLUMN cap_minor BIGINT NOT NULL DEFAULT 0",),
    ),
)

MIGRATIONS += (
    Migration(
        10,
        "the points rate locked into each points order",
        sqlite=("ALTER TABLE orders ADD COLUMN points_rate TEXT NOT NULL DEFAULT ''",),
        mysql=("ALTER TABLE orders ADD COLUMN points_rate VARCHAR(32) NOT NULL DEFAULT ''",),
    ),
)

MIGRATIONS += (
    Migration(
        11,
        "which voucher codes an expiry warning has counted, found by a sweep",
        sqlite=(
            "ALTER TABLE voucher_codes ADD COLUMN expiry_warned_ms INTEGER NOT NULL DEFAULT 0",
            "CREATE INDEX voucher_codes_expiry ON voucher_codes (expiry_warned_ms, expires_ms)",
        ),
        mysql=(
            "ALTER TABLE voucher_codes ADD COLUMN expiry_warned_ms BIGINT NOT NULL DEFAULT 0,"
            " ADD INDEX voucher_codes_expiry (expiry_warned_ms, expires_ms)",
        ),
    ),
)

MIGRATIONS += (
    Migration(
        12,
        "what holds set aside from an account, so that a budget's cap bounds balance + held",
        sqlite=("ALTER TABLE accounts ADD COLUMN held_minor INTEGER NOT NULL DEFAULT 0",),
        mysql=("ALTER TABLE accounts ADD COLUMN held_minor BIGINT NOT NULL DEFAULT 0",),
    ),
)

MIGRATIONS += (
    Migration(
        13,
        "budgets' low-balance thresholds",
        sqlite=("ALTER TABLE accounts ADD COLUMN alert_minor INTEGER NOT NULL DEFAULT 0",),
        mysql=("ALTER TABLE accounts ADD COLUMN alert_minor BIGINT NOT NULL DEFAULT 0",),
    ),
)

# Frozen as they were when this migration was written: a migration must do the same
# wherever it runs, whatever the table of minor digits says later.
_ZERO_DIGITS = "'JPY', 'KRW', 'CLP', 'ISK', 'VND', 'UGX', 'XOF'"
_THREE_DIGITS = "'BHD', 'KWD', 'OMR', 'JOD', 'TND', 'LYD', 'IQD'"

#: The default points rate of a currency: 10 ** its minor digits (``minor_digits``).
_DEFAULT_POINTS_RATE = (
    f"CASE WHEN p.currency IN ({_ZERO_DIGITS}) THEN '1'"
    f" WHEN p.currency IN ({_THREE_DIGITS}) THEN '1000' ELSE '100' END"
)
#: Tenants that issued points before the rate had a record: at the default rate of the
#: currency their points pool holds.
_POINTS_PROGRAMME_FROM = (
    " FROM (SELECT tenant_id, SUM(amount_minor) AS total FROM ledger_entries"
    " WHERE account = 'points:issued' GROUP BY tenant_id) i"
    " JOIN (SELECT tenant_id, MIN(currency) AS currency FROM ledger_entries"
    " WHERE account LIKE 'points:%' AND account NOT IN ('points:issued', 'points:redeemed')"
    " GROUP BY tenant_id) p ON p.tenant_id = i.tenant_id"
    " WHERE NOT EXISTS (SELECT 1 FROM accounts a WHERE a.tenant_id = i.tenant_id"
    " AND a.account_id = 'points:issued')"
)
_POINTS_PROGRAMME_INSERT = (
    "INSERT INTO accounts (tenant_id, account_id, kind, name, unit, balance_minor, version,"
    " updated_ms, cap_minor, held_minor, alert_minor) SELECT i.tenant_id, 'points:issued',"
    " 'points', {name}, 'PTS', i.total, 1, 0, 0, 0, 0" + _POINTS_PROGRAMME_FROM
)
#: Codes that arrived already inside the (default, 30-day) window were warned of on import.
_EXPIRY_BACKFILL = (
    "UPDATE voucher_codes SET expiry_warned_ms = created_ms WHERE expiry_warned_ms = 0"
    " AND expires_ms > 0 AND expires_ms <= created_ms + 2592000000"
)

MIGRATIONS += (
    Migration(
        14,
        "the points rate on the points:issued account (fenced, fixed once points are"
        " issued); backfills: held amounts of open holds, codes warned of on import",
        sqlite=(
            "DELETE FROM fx_rates WHERE base = 'PTS' OR quote = 'PTS'",
            _POINTS_PROGRAMME_INSERT.format(name=f"p.currency || ' ' || {_DEFAULT_POINTS_RATE}"),
            "UPDATE accounts SET held_minor = COALESCE((SELECT SUM(h.balance_minor)"
            " FROM accounts h WHERE h.tenant_id = accounts.tenant_id AND h.kind = 'hold'"
            " AND h.name = accounts.account_id), 0) WHERE kind IN ('budget', 'wallet')",
            _EXPIRY_BACKFILL,
        ),
        mysql=(
            "DELETE FROM fx_rates WHERE base = 'PTS' OR quote = 'PTS'",
            _POINTS_PROGRAMME_INSERT.format(
                name=f"CONCAT(p.currency, ' ', {_DEFAULT_POINTS_RATE})"
            ),
            "UPDATE accounts a LEFT JOIN (SELECT tenant_id, name, SUM(balance_minor) AS s"
            " FROM accounts WHERE kind = 'hold' GROUP BY tenant_id, name) h"
            " ON h.tenant_id = a.tenant_id AND h.name = a.account_id"
            " SET a.held_minor = COALESCE(h.s, 0) WHERE a.kind IN ('budget', 'wallet')",
            _EXPIRY_BACKFILL,
        ),
    ),
)

MIGRATIONS += (
    Migration(
        15,
        "OAuth2 clients per tenant; the keys that sign access tokens",
        sqlite=(
            """CREATE TABLE oauth_clients (
                tenant_id TEXT NOT NULL, client_id TEXT NOT NULL, name TEXT NOT NULL,
                secret_hash TEXT NOT NULL, scopes TEXT NOT NULL, roles TEXT NOT NULL,
                status TEXT NOT NULL, created_ms INTEGER NOT NULL, updated_ms INTEGER NOT NULL,
                version INTEGER NOT NULL,
                PRIMARY KEY (tenant_id, client_id)) WITHOUT ROWID""",
            """CREATE TABLE signing_keys (
                kid TEXT PRIMARY KEY, algorithm TEXT NOT NULL, private_sealed BLOB NOT NULL,
                public_pem BLOB NOT NULL, created_ms INTEGER NOT NULL)""",
        ),
        mysql=(
            """CREATE TABLE oauth_clients (
                tenant_id VARCHAR(64) NOT NULL, client_id VARCHAR(128) NOT NULL,
                name VARCHAR(200) NOT NULL, secret_hash CHAR(64) NOT NULL,
                scopes VARCHAR(1000) NOT NULL, roles VARCHAR(500) NOT NULL,
                status VARCHAR(16) NOT NULL, created_ms BIGINT NOT NULL,
                updated_ms BIGINT NOT NULL, version INT NOT NULL,
                PRIMARY KEY (tenant_id, client_id))"""
            + _MYSQL_TABLE,
            """CREATE TABLE signing_keys (
                kid VARCHAR(64) NOT NULL PRIMARY KEY, algorithm VARCHAR(16) NOT NULL,
                private_sealed BLOB NOT NULL, public_pem BLOB NOT NULL,
                created_ms BIGINT NOT NULL)"""
            + _MYSQL_TABLE,
        ),
    ),
)

MIGRATIONS += (
    Migration(
        16,
        "per-tenant hash-chained audit log, and each chain's head",
        sqlite=(
            """CREATE TABLE audit_log (
                tenant_id TEXT NOT NULL, seq INTEGER NOT NULL, at_ms INTEGER NOT NULL,
                actor TEXT NOT NULL, action TEXT NOT NULL, target TEXT NOT NULL,
                outcome TEXT NOT NULL, detail TEXT NOT NULL, prev_hash TEXT NOT NULL,
                hash TEXT NOT NULL, PRIMARY KEY (tenant_id, seq)) WITHOUT ROWID""",
            """CREATE TABLE audit_heads (
                tenant_id TEXT PRIMARY KEY, seq INTEGER NOT NULL, hash TEXT NOT NULL)""",
        ),
        mysql=(
            """CREATE TABLE audit_log (
                tenant_id VARCHAR(64) NOT NULL, seq BIGINT NOT NULL, at_ms BIGINT NOT NULL,
                actor VARCHAR(200) NOT NULL, action VARCHAR(64) NOT NULL,
                target VARCHAR(256) NOT NULL, outcome VARCHAR(64) NOT NULL,
                detail MEDIUMTEXT NOT NULL, prev_hash CHAR(64) NOT NULL, hash CHAR(64) NOT NULL,
                PRIMARY KEY (tenant_id, seq))"""
            + _MYSQL_TABLE,
            """CREATE TABLE audit_heads (
                tenant_id VARCHAR(64) NOT NULL PRIMARY KEY, seq BIGINT NOT NULL,
                hash CHAR(64) NOT NULL)"""
            + _MYSQL_TABLE,
        ),
    ),
)

MIGRATIONS += (
    Migration(
        17,
        "grants narrowing an OAuth2 client's roles to named resources",
        sqlite=("ALTER TABLE oauth_clients ADD COLUMN grants TEXT NOT NULL DEFAULT ''",),
        mysql=("ALTER TABLE oauth_clients ADD COLUMN grants VARCHAR(4000) NOT NULL DEFAULT ''",),
    ),
)

MIGRATIONS += (
    Migration(
        18,
        "people of a tenant (argon2id password hashes) and their sessions' refresh tokens",
        sqlite=(
            """CREATE TABLE people (
                tenant_id TEXT NOT NULL, person_id TEXT NOT NULL, email TEXT NOT NULL,
                name TEXT NOT NULL, password_hash TEXT NOT NULL, roles TEXT NOT NULL,
                grants TEXT NOT NULL, status TEXT NOT NULL, failed_signins INTEGER NOT NULL,
                locked_until_ms INTEGER NOT NULL, created_ms INTEGER NOT NULL,
                updated_ms INTEGER NOT NULL, version INTEGER NOT NULL,
                PRIMARY KEY (tenant_id, person_id), UNIQUE (tenant_id, email)) WITHOUT ROWID""",
            """CREATE TABLE person_sessions (
                tenant_id TEXT NOT NULL, token_hash TEXT NOT NULL, family_id TEXT NOT NULL,
                person_id TEXT NOT NULL, status TEXT NOT NULL, created_ms INTEGER NOT NULL,
                expires_ms INTEGER NOT NULL, version INTEGER NOT NULL,
                PRIMARY KEY (tenant_id, token_hash)) WITHOUT ROWID""",
            "CREATE INDEX person_sessions_family ON person_sessions (tenant_id, family_id)",
            "CREATE INDEX person_sessions_person ON person_sessions (tenant_id, person_id)",
        ),
        mysql=(
            """CREATE TABLE people (
                tenant_id VARCHAR(64) NOT NULL, person_id VARCHAR(90) NOT NULL,
                email VARCHAR(254) NOT NULL, name VARCHAR(200) NOT NULL,
                password_hash VARCHAR(200) NOT NULL, roles VARCHAR(500) NOT NULL,
                grants VARCHAR(4000) NOT NULL, status VARCHAR(16) NOT NULL,
                failed_signins INT NOT NULL, locked_until_ms BIGINT NOT NULL,
                created_ms BIGINT NOT NULL, updated_ms BIGINT NOT NULL, version INT NOT NULL,
                PRIMARY KEY (tenant_id, person_id), UNIQUE KEY people_email (tenant_id, email))"""
            + _MYSQL_TABLE,
            """CREATE TABLE person_sessions (
                tenant_id VARCHAR(64) NOT NULL, token_hash CHAR(64) NOT NULL,
                family_id VARCHAR(64) NOT NULL, person_id VARCHAR(90) NOT NULL,
                status VARCHAR(16) NOT NULL, created_ms BIGINT NOT NULL,
                expires_ms BIGINT NOT NULL, version INT NOT NULL,
                PRIMARY KEY (tenant_id, token_hash),
                KEY person_sessions_family (tenant_id, family_id),
                KEY person_sessions_person (tenant_id, person_id))"""
            + _MYSQL_TABLE,
        ),
    ),
)

MIGRATIONS += (
    Migration(
        19,
        "each tenant's OpenID Connect provider for single sign-on (client secret sealed)",
        sqlite=(
            """CREATE TABLE sso_providers (
                tenant_id TEXT PRIMARY KEY, issuer TEXT NOT NULL, client_id TEXT NOT NULL,
                client_secret_sealed BLOB NOT NULL, scopes TEXT NOT NULL,
                allowed_domains TEXT NOT NULL, status TEXT NOT NULL,
                updated_ms INTEGER NOT NULL, version INTEGER NOT NULL)""",
        ),
        mysql=(
            """CREATE TABLE sso_providers (
                tenant_id VARCHAR(64) NOT NULL PRIMARY KEY, issuer VARCHAR(500) NOT NULL,
                client_id VARCHAR(500) NOT NULL, client_secret_sealed BLOB NOT NULL,
                scopes VARCHAR(500) NOT NULL, allowed_domains VARCHAR(2000) NOT NULL,
                status VARCHAR(16) NOT NULL, updated_ms BIGINT NOT NULL, version INT NOT NULL)"""
            + _MYSQL_TABLE,
        ),
    ),
)

MIGRATIONS += (
    Migration(
        20,
        "orders by recipient and by time, newest first (a person's orders, the tenant's)",
        sqlite=(
            "CREATE INDEX orders_recipient ON orders (tenant_id, recipient, created_ms)",
            "CREATE INDEX orders_created ON orders (tenant_id, created_ms)",
        ),
        mysql=(
            "CREATE INDEX orders_recipient ON orders (tenant_id, recipient, created_ms)",
            "CREATE INDEX orders_created ON orders (tenant_id, created_ms)",
        ),
    ),
)

MIGRATIONS += (
    Migration(
        21,
        "replies kept in the order they are written, found through an index on their key",
        # A key's hash is random: clustered by it, every reply (half a kilobyte) went to a
        # random page of a deep tree, and a group commit of a hundred orders wrote two
        # hundred pages of replies alone. Now rows are appended, and only a small index
        # entry lands at random (ADR 21, amendment of 2026-11-27).
        sqlite=(
            """CREATE TABLE idempotency_replies_by_time (
                reply_id INTEGER PRIMARY KEY, tenant_id TEXT NOT NULL, key_hash TEXT NOT NULL,
                fingerprint TEXT NOT NULL, reply BLOB NOT NULL, created_ms INTEGER NOT NULL,
                expires_ms INTEGER NOT NULL)""",
            """INSERT INTO idempotency_replies_by_time
                (tenant_id, key_hash, fingerprint, reply, created_ms, expires_ms)
                SELECT tenant_id, key_hash, fingerprint, reply, created_ms, expires_ms
                FROM idempotency_replies ORDER BY created_ms""",
            "DROP TABLE idempotency_replies",
            "ALTER TABLE idempotency_replies_by_time RENAME TO idempotency_replies",
            """CREATE UNIQUE INDEX idempotency_replies_key
                ON idempotency_replies (tenant_id, key_hash)""",
            "CREATE INDEX idempotency_replies_expiry ON idempotency_replies (expires_ms)",
        ),
        mysql=(
            """ALTER TABLE idempotency_replies DROP PRIMARY KEY,
                ADD COLUMN reply_id BIGINT NOT NULL AUTO_INCREMENT PRIMARY KEY FIRST,
                ADD UNIQUE KEY idempotency_replies_key (tenant_id, key_hash)""",
        ),
    ),
)

MIGRATIONS += (
    Migration(
        22,
        "who placed each order (a reviewer may not approve their own)",
        sqlite=("ALTER TABLE orders ADD COLUMN placed_by TEXT NOT NULL DEFAULT ''",),
        mysql=("ALTER TABLE orders ADD COLUMN placed_by VARCHAR(200) NOT NULL DEFAULT ''",),
    ),
)

MIGRATIONS += (
    Migration(
        23,
        "no index entries for orders without an external id, nor for fulfilled orders",
        # Every B-tree an order touches is a page of its tenant's written in each group
        # commit: a NULL external id and the status of the orders most are in (fulfilled)
        # were two of them, looked up by nothing. Queries by another status say
        # ``status <> 'fulfilled'`` (``sql.NOT_FULFILLED``) so that SQLite can use the
        # partial index; MariaDB has no partial indexes and keeps its own (ADR 21).
        sqlite=(
            "DROP INDEX orders_external",
            """CREATE UNIQUE INDEX orders_external ON orders (tenant_id, external_id)
                WHERE external_id IS NOT NULL""",
            "DROP INDEX orders_status",
            """CREATE INDEX orders_status ON orders (tenant_id, status, created_ms)
                WHERE status <> 'fulfilled'""",
        ),
        mysql=(),
    ),
)

MIGRATIONS += (
    Migration(
        24,
        "audit entries kept in the order they are written, found through their chain",
        # Clustered by (tenant, seq), an entry (about 300 bytes) went to its tenant's leaf
        # of a tree with a leaf or two per tenant, and leaves filled by one tenant's
        # entries split often: about two pages written per order under many tenants.
        # Appended, a group's entries share pages, and only a small index entry lands at
        # the tenant's place (as the replies, migration 21; ADR 21).
        sqlite=(
            """CREATE TABLE audit_log_by_time (
                entry_id INTEGER PRIMARY KEY, tenant_id TEXT NOT NULL, seq INTEGER NOT NULL,
                at_ms INTEGER NOT NULL, actor TEXT NOT NULL, action TEXT NOT NULL,
                target TEXT NOT NULL, outcome TEXT NOT NULL, detail TEXT NOT NULL,
                prev_hash TEXT NOT NULL, hash TEXT NOT NULL)""",
            """INSERT INTO audit_log_by_time (tenant_id, seq, at_ms, actor, action, target,
                outcome, detail, prev_hash, hash)
                SELECT tenant_id, seq, at_ms, actor, action, target, outcome, detail,
                prev_hash, hash FROM audit_log ORDER BY at_ms, tenant_id, seq""",
            "DROP TABLE audit_log",
            "ALTER TABLE audit_log_by_time RENAME TO audit_log",
            "CREATE UNIQUE INDEX audit_log_seq ON audit_log (tenant_id, seq)",
        ),
        mysql=(
            """ALTER TABLE audit_log DROP PRIMARY KEY,
                ADD COLUMN entry_id BIGINT NOT NULL AUTO_INCREMENT PRIMARY KEY FIRST,
                ADD UNIQUE KEY audit_log_seq (tenant_id, seq)""",
        ),
    ),
)

MIGRATIONS += (
    Migration(
        25,
        "no index of ledger entries by transaction",
        # Nothing reads entries by transaction (a tenant's account lines go by account):
        # the index only cost a page of the tenant's per order in every group commit
        # (ADR 21). A feature that reads a transaction's entries brings it back.
        sqlite=("DROP INDEX ledger_entries_txn",),
        mysql=("ALTER TABLE ledger_entries DROP INDEX ledger_entries_txn",),
    ),
)

#: The orders' columns as of migration 26 (not ``sql.ORDER_COLUMNS``: a migration is
#: history, and must copy the same columns whatever later versions add).
_ORDER_FIELDS = (
    "tenant_id, order_id, status, recipient, payer, product_id, face_value_minor, currency,"
    " price_minor, price_unit, code_id, reason, external_id, created_ms, updated_ms, version,"
    " fx_rate, points_rate, placed_by"
)

MIGRATIONS += (
    Migration(
        26,
        "orders kept in the order they are written, found through (tenant, order id)",
        # Clustered by (tenant, order id), an order (~200 bytes) went into its tenant's
        # leaf: 1.5 pages written per order under many tenants, and every index entry
        # carried the order id again. Appended under an increasing id, a group's orders
        # share pages, and the indexes hold that id (as the audit log, migration 24).
        sqlite=(
            """CREATE TABLE orders_by_time (
                row_id INTEGER PRIMARY KEY,
                tenant_id TEXT NOT NULL, order_id TEXT NOT NULL, status TEXT NOT NULL,
                recipient TEXT NOT NULL, payer TEXT NOT NULL, product_id TEXT NOT NULL,
                face_value_minor INTEGER NOT NULL, currency TEXT NOT NULL,
                price_minor INTEGER NOT NULL, price_unit TEXT NOT NULL, code_id TEXT NOT NULL,
                reason TEXT NOT NULL, external_id TEXT, created_ms INTEGER NOT NULL,
                updated_ms INTEGER NOT NULL, version INTEGER NOT NULL,
                fx_rate TEXT NOT NULL DEFAULT '', points_rate TEXT NOT NULL DEFAULT '',
                placed_by TEXT NOT NULL DEFAULT '')""",
            f"""INSERT INTO orders_by_time ({_ORDER_FIELDS})
                SELECT {_ORDER_FIELDS} FROM orders ORDER BY created_ms, tenant_id, order_id""",
            "DROP TABLE orders",
            "ALTER TABLE orders_by_time RENAME TO orders",
            "CREATE UNIQUE INDEX orders_id ON orders (tenant_id, order_id)",
            """CREATE UNIQUE INDEX orders_external ON orders (tenant_id, external_id)
                WHERE external_id IS NOT NULL""",
            """CREATE INDEX orders_status ON orders (tenant_id, status, created_ms)
                WHERE status <> 'fulfilled'""",
            "CREATE INDEX orders_recipient ON orders (tenant_id, recipient, created_ms)",
            "CREATE INDEX orders_created ON orders (tenant_id, created_ms)",
        ),
        mysql=(
            """ALTER TABLE orders DROP PRIMARY KEY,
                ADD COLUMN row_id BIGINT NOT NULL AUTO_INCREMENT PRIMARY KEY FIRST,
                ADD UNIQUE KEY orders_id (tenant_id, order_id)""",
        ),
    ),
)

MIGRATIONS += (
    Migration(
        27,
        "no pool index entries for voucher codes given to orders",
        # Giving a code moved its entry in the pool index from ``leased`` to
        # ``allocated``: two pages of the tenant's written per order under many tenants,
        # the largest share of the log (ADR 21), for entries nothing looked up. A given
        # code now leaves the index, and queries by status say ``status <> 'allocated'``
        # (``sql.NOT_ALLOCATED``) so that SQLite can use it. A pool's size, which the
        # admin's figures need, is counted in an index of pools that giving a code does
        # not write. MariaDB has no partial indexes and keeps its own.
        sqlite=(
            "DROP INDEX voucher_codes_pool",
            """CREATE INDEX voucher_codes_pool ON voucher_codes
                (tenant_id, product_id, face_value_minor, status, expires_ms)
                WHERE status <> 'allocated'""",
            """CREATE INDEX voucher_codes_pool_size ON voucher_codes
                (tenant_id, product_id, face_value_minor)""",
        ),
        mysql=(),
    ),
)

MIGRATIONS += (
    Migration(
        28,
        "MariaDB columns as wide as the API lets their values be",
        # An audit entry's actor may be a sign-in email (254 characters); grants may be
        # 100 of 71 characters; an SSO provider may allow 50 domains of 253. MariaDB's
        # narrower columns refused them, and with them the whole batch of changes.
        # SQLite's TEXT columns have no such limit.
        sqlite=(),
        mysql=(
            "ALTER TABLE audit_log MODIFY actor VARCHAR(320) NOT NULL",
            "ALTER TABLE oauth_clients MODIFY grants TEXT NOT NULL",
            "ALTER TABLE people MODIFY grants TEXT NOT NULL",
            "ALTER TABLE sso_providers MODIFY allowed_domains TEXT NOT NULL",
        ),
    ),
)

MIGRATIONS += (
    Migration(
        29,
        "bulk jobs with a name and a time to start (campaigns)",
        sqlite=(
            "ALTER TABLE bulk_jobs ADD COLUMN name TEXT NOT NULL DEFAULT ''",
            "ALTER TABLE bulk_jobs ADD COLUMN start_at_ms INTEGER NOT NULL DEFAULT 0",
            "ALTER TABLE bulk_jobs ADD COLUMN points INTEGER NOT NULL DEFAULT 0",
            # the scheduled jobs that are due, of every tenant; a tenant's jobs, newest first
            "CREATE INDEX bulk_jobs_due ON bulk_jobs (status, start_at_ms)",
            "CREATE INDEX bulk_jobs_created ON bulk_jobs (tenant_id, created_ms, job_id)",
        ),
        mysql=(
            "ALTER TABLE bulk_jobs ADD COLUMN name VARCHAR(480) NOT NULL DEFAULT '',"
            " ADD COLUMN start_at_ms BIGINT NOT NULL DEFAULT 0,"
            " ADD COLUMN points BIGINT NOT NULL DEFAULT 0,"
            " ADD KEY bulk_jobs_due (status, start_at_ms),"
            " ADD KEY bulk_jobs_created (tenant_id, created_ms, job_id)",
        ),
    ),
)

MIGRATIONS += (
    Migration(
        30,
        "MariaDB: the tenant's orders by time and id, each page read in order",
        # Pages of orders newest first are ordered by time, then id. MariaDB's index by
        # (tenant, time) left the id out, and sorted the rest of the range for each page:
        # an export of 60,000 orders took 75 s. SQLite sorts only the orders of one
        # millisecond as it goes, and keeps its narrower index.
        sqlite=(),
        mysql=(
            "ALTER TABLE orders DROP INDEX orders_created,"
            " ADD INDEX orders_created (tenant_id, created_ms, order_id)",
        ),
    ),
)

CREATE_MIGRATIONS_TABLE = {
    "sqlite": """CREATE TABLE IF NOT EXISTS schema_migrations (
        version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_ms INTEGER NOT NULL)""",
    "mysql": """CREATE TABLE IF NOT EXISTS schema_migrations (
        version INT NOT NULL PRIMARY KEY, name VARCHAR(200) NOT NULL,
        applied_ms BIGINT NOT NULL)"""
    + _MYSQL_TABLE,
}
