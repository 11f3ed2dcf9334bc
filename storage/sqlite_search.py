"""SQLite FTS5 search: the embedded search index (catalogue and audit log).

Texts go into FTS5 tables tokenised by ``unicode61 remove_diacritics 2`` (case and accents
folded), one name and one description column per analysed locale (``search_ports``), so a
search in French looks in the French and English columns and weighs the French names
highest. A query word matches as a prefix of an indexed word ("spoti" finds Spotify) or,
misspelt, as a word of the index's vocabulary within Elasticsearch's AUTO edit distance
(``storage.fuzzy``); every query word must match. Relevance is FTS5's BM25.
"""

from __future__ import annotations

import json
import sqlite3
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path
from typing import Any, TypeVar

from bus.messages.catalogue import Product
from storage import fuzzy
from storage.errors import QueryTimedOut
from storage.migrations import Migration
from storage.ports import AuditRecord
from storage.search_ports import (
    ANALYSED_LOCALES,
    OTHER,
    AuditHits,
    AuditQuery,
    ProductHits,
    ProductQuery,
    build_facets,
    digest,
    locale_group,
    product_bands,
    texts_by_group,
)
from storage.sqlite_db import SqliteDatabase, SqliteStore, transaction, within_deadline
from storage.sqlite_search_terms import (
    AUDIT,
    MAX_EXPANSIONS,
    PRODUCT,
    TOKENIZE,
    backfill,
    change_terms,
    count_terms,
    fuzzable,
    near_terms,
    query_words,
)

T = TypeVar("T")
GROUPS = (*ANALYSED_LOCALES, OTHER)
TEXT_COLUMNS = (
    "brand",
    "category",
    *(f"{kind}_{g}" for g in GROUPS for kind in ("name", "desc")),
)

#: How long a search may take, from when it is asked: the bus gives a request 5 s
#: (``edge.config.request_timeout_s``), and past this the actor still has a second to
#: answer from its fallback. Searches of every tenant share one reader thread: a slow
#: one is interrupted rather than holding the others (ADR 24, 2026-11-28).
SEARCH_DEADLINE_S = 4.0

MIGRATIONS = (
    Migration(
        1,
        "product and audit search",
        sqlite=(
            """CREATE TABLE products (
                id INTEGER PRIMARY KEY, tenant TEXT NOT NULL, product_id TEXT NOT NULL,
                digest TEXT NOT NULL, status TEXT NOT NULL, category TEXT NOT NULL,
                brand TEXT NOT NULL, currency TEXT NOT NULL, countries TEXT NOT NULL,
                bands TEXT NOT NULL, prices TEXT NOT NULL, range_min INTEGER,
                range_max INTEGER, UNIQUE (tenant, product_id))""",
            f"CREATE VIRTUAL TABLE product_text USING fts5({', '.join(TEXT_COLUMNS)}, {TOKENIZE})",
            "CREATE VIRTUAL TABLE product_vocab USING fts5vocab(product_text, 'row')",
            """CREATE TABLE audit (
                id INTEGER PRIMARY KEY, tenant TEXT NOT NULL, seq INTEGER NOT NULL,
                at_ms INTEGER NOT NULL, actor TEXT NOT NULL, action TEXT NOT NULL,
                target TEXT NOT NULL, outcome TEXT NOT NULL, detail TEXT NOT NULL,
                prev_hash TEXT NOT NULL, hash TEXT NOT NULL, UNIQUE (tenant, seq))""",
            "CREATE INDEX audit_at ON audit (tenant, at_ms)",
            "CREATE VIRTUAL TABLE audit_text USING"
            f" fts5(actor, action, target, detail, {TOKENIZE})",
            "CREATE VIRTUAL TABLE audit_vocab USING fts5vocab(audit_text, 'row')",
            "CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)",
        ),
        mysql=(),
    ),
    Migration(
        2,
        "audit entries by time with their number; each tenant's words for typo tolerance",
        sqlite=(
            # A time range is read as a range of entry numbers, newest first: the bounds
            # come from this index alone (ADR 24, 2026-11-28).
            "CREATE INDEX audit_at_seq ON audit (tenant, at_ms, seq)",
            "DROP INDEX audit_at",
            """CREATE TABLE terms (
                kind TEXT NOT NULL, tenant TEXT NOT NULL, length INTEGER NOT NULL,
                term TEXT NOT NULL, docs INTEGER NOT NULL,
                PRIMARY KEY (kind, tenant, length, term)) WITHOUT ROWID""",
            *backfill(AUDIT, "audit_text", "audit"),
            *backfill(PRODUCT, "product_text", "products"),
        ),
        mysql=(),
    ),
)


#: Words of a query that count (a longer query is cut), and of those the ones looked up
#: typo tolerant: each costs an edit distance against the words of its length.
MAX_WORDS = 12
FUZZY_WORDS = 6


def _match(
    text: str,
    con: sqlite3.Connection,
    scratch: sqlite3.Connection,
    kind: str,
    tenants: Sequence[str],
    columns: Sequence[str],
    deadline: float,
) -> str | None:
    """The FTS5 expression of a query: every word as a prefix, or as one of the
    ``MAX_EXPANSIONS`` commonest words of ``tenants``' vocabulary it may be a misspelling
    of; None if the query has no word. ``scratch`` splits the query into words."""
    # A word of nothing but combining marks is folded away to nothing (the vocabulary
    # gives None for it): it is no word.
    words = [w for w in query_words(scratch, text) if w][:MAX_WORDS] if text.strip() else []
    if not words:
        return None
    clauses = []
    for n, word in enumerate(words):
        options = [f'"{word}"*']
        limit = fuzzy.allowed_edits(word)
        if n < FUZZY_WORDS and limit and fuzzable(word):  # bounded Python work per query
            near = near_terms(con, kind, tenants, len(word) - limit, len(word) + limit)
            found = fuzzy.candidates(word, (t for t in near if fuzzable(t)))
            found.sort(key=lambda t: (-near[t], t))
            options += [f'"{c}"' for c in found[:MAX_EXPANSIONS]]
            if time.monotonic() >= deadline:
                raise QueryTimedOut("a search ran past its deadline (typo tolerance)")
        clauses.append("(" + " OR ".join(options) + ")")
    return "{" + " ".join(columns) + "} : (" + " AND ".join(clauses) + ")"


def _columns(locale: str) -> list[str]:
    group = locale_group(locale)
    wanted = ["brand", "category", "name_en", "desc_en"]
    if group != "en":
        wanted += [f"name_{group}", f"desc_{group}"]
    return wanted


def _weights(locale: str) -> list[float]:
    """BM25 weights per column: the asked locale's names first, then brand, English."""
    group = locale_group(locale)
    weights = {"brand": 4.0, "category": 2.0, "name_en": 3.0, "desc_en": 1.0}
    weights[f"name_{group}"] = 5.0
    weights[f"desc_{group}"] = 1.5
    return [weights.get(c, 0.5) for c in TEXT_COLUMNS]


class SqliteSearch(SqliteStore):
    migrations = MIGRATIONS
    name = "search:sqlite"

    def __init__(self, path: str | Path, deadline_s: float = SEARCH_DEADLINE_S) -> None:
        self.db = SqliteDatabase(path, "NORMAL", "sqlite-search")
        self.deadline_s = deadline_s
        #: Splits queries into words on the thread that reads (the reader connection is
        #: read-only, and so cannot hold the scratch table).
        self._scratch: sqlite3.Connection | None = None

    def _read(
        self, what: str, fn: Callable[[sqlite3.Connection, sqlite3.Connection, float], T]
    ) -> Awaitable[T]:
        """Run a search on the reader connection (never queued behind the indexer's
        writes), within its deadline."""
        deadline = time.monotonic() + self.deadline_s

        def run(con: sqlite3.Connection) -> T:
            if self._scratch is None:
                self._scratch = sqlite3.connect(
                    ":memory:", isolation_level=None, check_same_thread=False
                )
            return fn(con, self._scratch, deadline)

        return self.db.read(within_deadline(run, deadline, what))

    async def close(self) -> None:
        await super().close()
        if self._scratch is not None:
            self._scratch.close()
            self._scratch = None

    async def put_products(self, products: Sequence[Product]) -> None:
        rows = []
        for p in products:
            grouped = texts_by_group(p)
            texts: list[str] = [p.brand, p.category]
            for g in GROUPS:
                name, description = grouped.get(g, ("", ""))
                texts += [name, description]
            meta = (
                p.tenant,
                p.id,
                digest(p),
                p.status,
                p.category,
                p.brand,
                p.currency,
                json.dumps(list(p.countries)),
                json.dumps(product_bands(p)),
                json.dumps(list(p.denominations)),
                p.range.min_minor if p.range else None,
                p.range.max_minor if p.range else None,
            )
            rows.append((meta, texts))

        def _put(con: sqlite3.Connection) -> None:
            removed: list[tuple[str, str]] = []
            for meta, texts in rows:
                removed += _delete_product(con, meta[0], meta[1])
                cur = con.execute(
                    "INSERT INTO products (tenant, product_id, digest, status, category, brand,"
                    " currency, countries, bands, prices, range_min, range_max)"
                    " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    meta,
                )
                con.execute(
                    f"INSERT INTO product_text (rowid, {', '.join(TEXT_COLUMNS)})"
                    f" VALUES (?{', ?' * len(TEXT_COLUMNS)})",
                    (cur.lastrowid, *texts),
                )
            delta = count_terms(con, [(meta[0], " ".join(texts)) for meta, texts in rows])
            delta.subtract(count_terms(con, removed))
            change_terms(con, PRODUCT, delta)

        await self.db.run(transaction(_put))

    async def remove_products(self, tenant: str, product_ids: Sequence[str]) -> None:
        def _remove(con: sqlite3.Connection) -> None:
            removed: list[tuple[str, str]] = []
            for pid in product_ids:
                removed += _delete_product(con, tenant, pid)
            delta: Counter[tuple[str, str]] = Counter()
            delta.subtract(count_terms(con, removed))
            change_terms(con, PRODUCT, delta)

        await self.db.run(transaction(_remove))

    async def product_digests(self, tenant: str) -> dict[str, str]:
        rows = await self.db.run(
            lambda con: con.execute(
                "SELECT product_id, digest FROM products WHERE tenant = ?", (tenant,)
            ).fetchall()
        )
        return {r[0]: r[1] for r in rows}

    async def search_products(self, query: ProductQuery) -> ProductHits:
        return await self._read(
            "a product search",
            lambda con, scratch, deadline: _search_products(con, scratch, deadline, query),
        )

    async def put_audit(self, records: Sequence[AuditRecord]) -> None:
        def _put(con: sqlite3.Connection) -> None:
            added: list[tuple[str, str]] = []
            for r in records:
                old = con.execute(
                    "SELECT id FROM audit WHERE tenant = ? AND seq = ?", (r.tenant, r.seq)
                ).fetchone()
                if old is not None:
                    continue  # entries never change: indexed once
                cur = con.execute(
                    "INSERT INTO audit (tenant, seq, at_ms, actor, action, target, outcome,"
                    " detail, prev_hash, hash) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    (
                        r.tenant,
                        r.seq,
                        r.at_ms,
                        r.actor,
                        r.action,
                        r.target,
                        r.outcome,
                        r.detail,
                        r.prev_hash,
                        r.hash,
                    ),
                )
                con.execute(
                    "INSERT INTO audit_text (rowid, actor, action, target, detail)"
                    " VALUES (?, ?, ?, ?, ?)",
                    (cur.lastrowid, r.actor, r.action, r.target, r.detail),
                )
                added.append((r.tenant, f"{r.actor} {r.action} {r.target} {r.detail}"))
            change_terms(con, AUDIT, count_terms(con, added))

        await self.db.run(transaction(_put))

    async def search_audit(self, query: AuditQuery) -> AuditHits:
        return await self._read(
            "an audit search",
            lambda con, scratch, deadline: _search_audit(con, scratch, deadline, query),
        )

    async def get_meta(self, key: str) -> str | None:
        row = await self.db.run(
            lambda con: con.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        )
        return None if row is None else str(row[0])

    async def set_meta(self, key: str, value: str) -> None:
        await self.db.run(
            lambda con: con.execute(
                "INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)", (key, value)
            )
        )


def _delete_product(con: sqlite3.Connection, tenant: str, product_id: str) -> list[tuple[str, str]]:
    """Delete a product from the index; its texts (``[(tenant, text)]``), if it was in."""
    row = con.execute(
        "SELECT id FROM products WHERE tenant = ? AND product_id = ?", (tenant, product_id)
    ).fetchone()
    if row is None:
        return []
    texts = con.execute(
        f"SELECT {', '.join(TEXT_COLUMNS)} FROM product_text WHERE rowid = ?", (row[0],)
    ).fetchone()
    con.execute("DELETE FROM product_text WHERE rowid = ?", (row[0],))
    con.execute("DELETE FROM products WHERE id = ?", (row[0],))
    return [(tenant, " ".join(t for t in texts or () if t))]


def _search_products(
    con: sqlite3.Connection, scratch: sqlite3.Connection, deadline: float, query: ProductQuery
) -> ProductHits:
    f = query.filter
    where = [
        "p.tenant IN ('', ?)",
        "p.status = 'active'",
        "p.product_id NOT IN (SELECT value FROM json_each(?))",
    ]
    args: list[Any] = [query.tenant, json.dumps(sorted(query.exclude))]
    if f.country:
        where.append("EXISTS (SELECT 1 FROM json_each(p.countries) WHERE value = ?)")
        args.append(f.country)
    if f.currency:
        where.append("p.currency = ?")
        args.append(f.currency)
    if f.category:
        where.append("p.category = ?")
        args.append(f.category)
    if f.min_price is not None or f.max_price is not None:
        low, high = f.min_price or 0, f.max_price if f.max_price is not None else 2**62
        where.append(
            "((p.range_min IS NOT NULL AND p.range_min <= ? AND p.range_max >= ?)"
            " OR EXISTS (SELECT 1 FROM json_each(p.prices) WHERE value BETWEEN ? AND ?))"
        )
        args += [high, low, low, high]
    owners = ("", query.tenant)
    match = _match(query.text, con, scratch, PRODUCT, owners, _columns(query.locale), deadline)
    if match is None:
        sql = f"SELECT p.tenant, p.product_id, p.category, p.brand, p.countries, p.bands FROM products p WHERE {' AND '.join(where)} ORDER BY p.product_id"  # noqa: E501
    else:
        weights = ", ".join(str(w) for w in _weights(query.locale))
        sql = (
            "SELECT p.tenant, p.product_id, p.category, p.brand, p.countries, p.bands"
            # CROSS JOIN: the words find the products (once), never the other way round
            " FROM product_text CROSS JOIN products p ON p.id = product_text.rowid"
            f" WHERE product_text MATCH ? AND {' AND '.join(where)}"
            f" ORDER BY bm25(product_text, {weights}), p.product_id"
        )
        args.insert(0, match)
    rows = con.execute(sql, args).fetchall()
    counts: tuple[dict[str, int], ...] = ({}, {}, {}, {})
    for _, _, category, brand, countries, bands in rows:
        values = ([category], [brand], json.loads(countries), json.loads(bands))
        for into, vs in zip(counts, values, strict=True):
            for v in vs:
                into[v] = into.get(v, 0) + 1
    page = rows[query.offset : query.offset + query.limit]
    return ProductHits(
        hits=tuple((r[0], r[1]) for r in page),
        total=len(rows),
        facets=build_facets(*(c.items() for c in counts)),
    )


_AUDIT_COLUMNS = "a.tenant, a.seq, a.at_ms, a.actor, a.action, a.target, a.outcome, a.detail, a.prev_hash, a.hash"  # noqa: E501


def _search_audit(
    con: sqlite3.Connection, scratch: sqlite3.Connection, deadline: float, query: AuditQuery
) -> AuditHits:
    where = ["a.tenant = ?"]
    args: list[Any] = [query.tenant]
    for column, value in (
        ("actor", query.actor),
        ("action", query.action),
        ("outcome", query.outcome),
    ):
        if value is not None:
            where.append(f"a.{column} = ?")
            args.append(value)
    if query.since_ms:
        where.append("a.at_ms >= ?")
        args.append(query.since_ms)
    if query.until_ms:
        where.append("a.at_ms <= ?")
        args.append(query.until_ms)
    columns = ("actor", "action", "target", "detail")
    match = _match(query.text, con, scratch, AUDIT, (query.tenant,), columns, deadline)
    if match is None:
        return _audit_newest_first(con, query, where, args)
    # The words find the entries, once: the FTS5 table must drive. Joined the other way
    # round, SQLite ran the full-text query again for every entry of the tenant (> 60 s
    # for 46,000 entries).
    source = "audit_text CROSS JOIN audit a ON a.id = audit_text.rowid"
    condition = " AND ".join(["audit_text MATCH ?", *where])
    (total,) = con.execute(
        f"SELECT count(*) FROM {source} WHERE {condition}", [match, *args]
    ).fetchone()
    rows = con.execute(
        f"SELECT {_AUDIT_COLUMNS} FROM {source} WHERE {condition}"
        " ORDER BY bm25(audit_text), a.seq DESC LIMIT ? OFFSET ?",
        [match, *args, query.limit, query.offset],
    ).fetchall()
    return AuditHits(tuple(AuditRecord(*r) for r in rows), int(total))


def _audit_newest_first(
    con: sqlite3.Connection, query: AuditQuery, where: list[str], args: list[Any]
) -> AuditHits:
    """Entries without words, newest first. Read through the index by time, a time range
    would be sorted whole for every page (1.1 s a page for 46,000 entries): the index by
    time gives the range's lowest and highest entry numbers, and the page is read from
    the index by number, newest first, between them. The bounds hold whether or not
    time and number rise together."""
    condition = " AND ".join(where)
    total, low, high = con.execute(
        f"SELECT count(*), min(a.seq), max(a.seq) FROM audit a WHERE {condition}", args
    ).fetchone()
    if not total:
        return AuditHits((), 0)
    # (the time bounds as unary + terms: filters, not a choice of index)
    paged = " AND ".join(w.replace("a.at_ms", "+a.at_ms") for w in where)
    rows = con.execute(
        f"SELECT {_AUDIT_COLUMNS} FROM audit a WHERE {paged} AND a.seq BETWEEN ? AND ?"
        " ORDER BY a.seq DESC LIMIT ? OFFSET ?",
        [*args, low, high, query.limit, query.offset],
    ).fetchall()
    return AuditHits(tuple(AuditRecord(*r) for r in rows), int(total))
