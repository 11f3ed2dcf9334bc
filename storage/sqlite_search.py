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
from collections import defaultdict
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from bus.messages.catalogue import Product
from storage import fuzzy
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
from storage.sqlite_db import SqliteDatabase, SqliteStore, transaction

GROUPS = (*ANALYSED_LOCALES, OTHER)
TEXT_COLUMNS = (
    "brand",
    "category",
    *(f"{kind}_{g}" for g in GROUPS for kind in ("name", "desc")),
)
#: Marks (M*) are part of words: without them, Hindi words fall apart at every vowel sign.
_TOKENIZER = "unicode61 remove_diacritics 2 categories 'L* N* Co M*'"
_TOKENIZE = f"tokenize = \"{_TOKENIZER}\", prefix = '2 3 4'"


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
            f"CREATE VIRTUAL TABLE product_text USING fts5({', '.join(TEXT_COLUMNS)}, {_TOKENIZE})",
            "CREATE VIRTUAL TABLE product_vocab USING fts5vocab(product_text, 'row')",
            """CREATE TABLE audit (
                id INTEGER PRIMARY KEY, tenant TEXT NOT NULL, seq INTEGER NOT NULL,
                at_ms INTEGER NOT NULL, actor TEXT NOT NULL, action TEXT NOT NULL,
                target TEXT NOT NULL, outcome TEXT NOT NULL, detail TEXT NOT NULL,
                prev_hash TEXT NOT NULL, hash TEXT NOT NULL, UNIQUE (tenant, seq))""",
            "CREATE INDEX audit_at ON audit (tenant, at_ms)",
            "CREATE VIRTUAL TABLE audit_text USING"
            f" fts5(actor, action, target, detail, {_TOKENIZE})",
            "CREATE VIRTUAL TABLE audit_vocab USING fts5vocab(audit_text, 'row')",
            "CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)",
        ),
        mysql=(),
    ),
)


def _query_words(con: sqlite3.Connection, text: str) -> list[str]:
    """The words of a query as the index's tokenizer sees them (so a query is folded and
    split exactly like the texts), read back from a scratch FTS5 table."""
    con.execute(f"CREATE VIRTUAL TABLE IF NOT EXISTS temp.query_text USING fts5(t, {_TOKENIZE})")
    con.execute(
        "CREATE VIRTUAL TABLE IF NOT EXISTS temp.query_words"
        " USING fts5vocab(temp, query_text, instance)"
    )
    con.execute("DELETE FROM temp.query_text")
    con.execute("INSERT INTO temp.query_text (t) VALUES (?)", (text,))
    return [r[0] for r in con.execute("SELECT term FROM temp.query_words ORDER BY offset")]


#: Words of a query that count (a longer query is cut), and of those the ones looked up
#: typo tolerant: each costs an edit distance against the words of its length.
MAX_WORDS = 12
FUZZY_WORDS = 6


def _match(text: str, vocab: str, con: sqlite3.Connection, columns: Sequence[str]) -> str | None:
    """The FTS5 expression of a query: every word as a prefix, or as one of the
    vocabulary's words it may be a misspelling of; None if the query has no word."""
    # A word of nothing but combining marks is folded away to nothing (the vocabulary
    # gives None for it): it is no word.
    words = [w for w in _query_words(con, text) if w][:MAX_WORDS] if text.strip() else []
    if not words:
        return None
    longest = max(len(w) for w in words) + 2
    by_length: dict[int, list[str]] = defaultdict(list)
    for (term,) in con.execute(f"SELECT term FROM {vocab} WHERE length(term) <= ?", (longest,)):
        if term:
            by_length[len(term)].append(term)
    clauses = []
    for n, word in enumerate(words):
        options = [f'"{word}"*']
        if n < FUZZY_WORDS:  # the edit distance is Python work: bounded per query
            limit = fuzzy.allowed_edits(word)
            near = [
                t for k in range(len(word) - limit, len(word) + limit + 1) for t in by_length[k]
            ]
            options += [f'"{c}"' for c in fuzzy.candidates(word, near)]
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

    def __init__(self, path: str | Path) -> None:
        self.db = SqliteDatabase(path, "NORMAL", "sqlite-search")

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
            for meta, texts in rows:
                _delete_product(con, meta[0], meta[1])
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

        await self.db.run(transaction(_put))

    async def remove_products(self, tenant: str, product_ids: Sequence[str]) -> None:
        def _remove(con: sqlite3.Connection) -> None:
            for pid in product_ids:
                _delete_product(con, tenant, pid)

        await self.db.run(transaction(_remove))

    async def product_digests(self, tenant: str) -> dict[str, str]:
        rows = await self.db.run(
            lambda con: con.execute(
                "SELECT product_id, digest FROM products WHERE tenant = ?", (tenant,)
            ).fetchall()
        )
        return {r[0]: r[1] for r in rows}

    async def search_products(self, query: ProductQuery) -> ProductHits:
        return await self.db.run(lambda con: _search_products(con, query))

    async def put_audit(self, records: Sequence[AuditRecord]) -> None:
        def _put(con: sqlite3.Connection) -> None:
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

        await self.db.run(transaction(_put))

    async def search_audit(self, query: AuditQuery) -> AuditHits:
        return await self.db.run(lambda con: _search_audit(con, query))

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


def _delete_product(con: sqlite3.Connection, tenant: str, product_id: str) -> None:
    row = con.execute(
        "SELECT id FROM products WHERE tenant = ? AND product_id = ?", (tenant, product_id)
    ).fetchone()
    if row is not None:
        con.execute("DELETE FROM product_text WHERE rowid = ?", (row[0],))
        con.execute("DELETE FROM products WHERE id = ?", (row[0],))


def _search_products(con: sqlite3.Connection, query: ProductQuery) -> ProductHits:
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
    match = _match(query.text, "product_vocab", con, _columns(query.locale))
    if match is None:
        sql = f"SELECT p.tenant, p.product_id, p.category, p.brand, p.countries, p.bands FROM products p WHERE {' AND '.join(where)} ORDER BY p.product_id"  # noqa: E501
    else:
        weights = ", ".join(str(w) for w in _weights(query.locale))
        sql = (
            "SELECT p.tenant, p.product_id, p.category, p.brand, p.countries, p.bands"
            " FROM product_text JOIN products p ON p.id = product_text.rowid"
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


def _search_audit(con: sqlite3.Connection, query: AuditQuery) -> AuditHits:
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
    match = _match(query.text, "audit_vocab", con, ("actor", "action", "target", "detail"))
    if match is None:
        source, order = "audit a", "a.seq DESC"
    else:
        source = "audit_text JOIN audit a ON a.id = audit_text.rowid"
        order = "bm25(audit_text), a.seq DESC"
        where.insert(0, "audit_text MATCH ?")
        args.insert(0, match)
    condition = " AND ".join(where)
    total = con.execute(f"SELECT count(*) FROM {source} WHERE {condition}", args).fetchone()[0]
    rows = con.execute(
        f"SELECT {_AUDIT_COLUMNS} FROM {source} WHERE {condition} ORDER BY {order}"
        " LIMIT ? OFFSET ?",
        [*args, query.limit, query.offset],
    ).fetchall()
    return AuditHits(tuple(AuditRecord(*r) for r in rows), int(total))
