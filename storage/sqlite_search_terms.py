"""The SQLite search index's words: how a text is split, and each tenant's vocabulary for
typo tolerance.

A query word that matches no indexed word as a prefix may be a misspelling of one: the
adapter looks for the indexed words within Elasticsearch's AUTO edit distance
(``storage.fuzzy``). It used to read them from FTS5's own vocabulary (``fts5vocab``),
a walk through every word of every tenant, ids included, for every query: 1 to 3 s of a
shared thread for a large platform (ADR 24). The words are now kept in a table of their
own, ``terms``, per kind (``audit``, ``product``) and per owning tenant, with their
length and the number of documents that hold them, written in the same transaction as
the documents. A query reads only its tenant's words of near length (a range of the
table's key), and keeps the ``MAX_EXPANSIONS`` most common of those within reach.

Words with a digit are ids (``p00042``, order ids, people's ids): they are neither kept
nor looked up typo tolerant — a near id is another thing, not a typo (ADR 24,
2026-11-28).
"""

from __future__ import annotations

import sqlite3
from collections import Counter
from collections.abc import Iterable, Sequence

#: Marks (M*) are part of words: without them, Hindi words fall apart at every vowel sign.
TOKENIZER = "unicode61 remove_diacritics 2 categories 'L* N* Co M*'"
TOKENIZE = f"tokenize = \"{TOKENIZER}\", prefix = '2 3 4'"

#: The misspellings a query word may stand for, the most common first: more only make
#: the query slower (``p00042`` once stood for 619 ids).
MAX_EXPANSIONS = 20

#: Kinds of document whose words are kept.
AUDIT = "audit"
PRODUCT = "product"


def fuzzable(word: str) -> bool:
    """Whether ``word`` may be a misspelling: words with a digit are ids."""
    return not any(c.isdigit() for c in word)


def _scratch(con: sqlite3.Connection) -> None:
    """A temporary FTS5 table of ``con``'s, tokenised like the index, and its words."""
    con.execute(f"CREATE VIRTUAL TABLE IF NOT EXISTS temp.scratch_text USING fts5(t, {TOKENIZE})")
    con.execute(
        "CREATE VIRTUAL TABLE IF NOT EXISTS temp.scratch_words"
        " USING fts5vocab(temp, scratch_text, instance)"
    )


def query_words(con: sqlite3.Connection, text: str) -> list[str]:
    """The words of a query as the index's tokenizer sees them (so a query is folded and
    split exactly like the texts), read back from a scratch FTS5 table of ``con``'s."""
    _scratch(con)
    con.execute("DELETE FROM temp.scratch_text")
    con.execute("INSERT INTO temp.scratch_text (rowid, t) VALUES (1, ?)", (text,))
    return [r[0] for r in con.execute("SELECT term FROM temp.scratch_words ORDER BY doc, offset")]


def count_terms(
    con: sqlite3.Connection, texts: Sequence[tuple[str, str]]
) -> Counter[tuple[str, str]]:
    """For ``(tenant, text)`` pairs, how many of the texts of each tenant hold each word
    (words with a digit left out), tokenised by the scratch table of ``con``."""
    _scratch(con)
    con.execute("DELETE FROM temp.scratch_text")
    con.executemany(
        "INSERT INTO temp.scratch_text (rowid, t) VALUES (?, ?)",
        ((n, text) for n, (_, text) in enumerate(texts, 1)),
    )
    counts: Counter[tuple[str, str]] = Counter()
    for term, doc in con.execute("SELECT DISTINCT term, doc FROM temp.scratch_words"):
        if term and fuzzable(term):
            counts[(texts[doc - 1][0], term)] += 1
    con.execute("DELETE FROM temp.scratch_text")
    return counts


def change_terms(con: sqlite3.Connection, kind: str, delta: Counter[tuple[str, str]]) -> None:
    """Add ``delta`` (documents per tenant and word; negative for documents removed) to
    the kept words of ``kind``, inside the caller's transaction."""
    changes = [(kind, t, len(w), w, n) for (t, w), n in delta.items() if n]
    con.executemany(
        "INSERT INTO terms (kind, tenant, length, term, docs) VALUES (?, ?, ?, ?, ?)"
        " ON CONFLICT (kind, tenant, length, term) DO UPDATE SET docs = docs + excluded.docs",
        changes,
    )
    if any(n < 0 for *_, n in changes):
        con.execute("DELETE FROM terms WHERE kind = ? AND docs <= 0", (kind,))


def near_terms(
    con: sqlite3.Connection, kind: str, tenants: Iterable[str], shortest: int, longest: int
) -> dict[str, int]:
    """The kept words of ``tenants`` of ``kind`` whose length is in the range, with the
    number of documents that hold them."""
    owners = list(dict.fromkeys(tenants))
    found: dict[str, int] = {}
    for term, docs in con.execute(
        "SELECT term, docs FROM terms WHERE kind = ?"
        f" AND tenant IN ({', '.join('?' * len(owners))}) AND length BETWEEN ? AND ?",
        (kind, *owners, shortest, longest),
    ):
        found[term] = found.get(term, 0) + docs
    return found


def backfill(kind: str, table: str, documents: str) -> tuple[str, ...]:
    """Statements that fill ``terms`` from an FTS5 table already indexed (a migration)."""
    return (
        f"CREATE VIRTUAL TABLE temp.{table}_instances USING fts5vocab(main, {table}, instance)",
        "INSERT INTO terms (kind, tenant, length, term, docs)"
        f" SELECT '{kind}', d.tenant, length(v.term), v.term, count(DISTINCT v.doc)"
        f" FROM temp.{table}_instances v JOIN {documents} d ON d.id = v.doc"
        " WHERE v.term NOT GLOB '*[0-9]*' GROUP BY d.tenant, v.term",
        f"DROP TABLE temp.{table}_instances",
    )
