"""The SQLite search index at the size of a large tenant (ADR 24, 2026-11-28): searches
are driven by their words, a time range is read newest first without sorting the log,
typo tolerance looks only at the tenant's own words (never an id's), and a search past
its deadline is interrupted with a retryable error. The index is built through the
store's own writes; plans are read with EXPLAIN QUERY PLAN of the statements the store
ran (timings are printed, never asserted)."""

from __future__ import annotations

import asyncio
import random
import re
import sqlite3
import time
from pathlib import Path

import pytest

from bus.messages.catalogue import Product, Texts
from storage.errors import QueryTimedOut, StorageError
from storage.ports import AuditRecord
from storage.search_ports import AuditQuery, ProductQuery
from storage.sqlite_db import within_deadline
from storage.sqlite_search import SqliteSearch
from storage.sqlite_search_terms import AUDIT, MAX_EXPANSIONS, PRODUCT, backfill

ENTRIES = 20_000
T0 = 1_700_000_000_000
WORDS = ["coffee", "music", "travel", "fashion", "premium"]
WORDS += ["streaming", "cinema", "books", "grocery", "hotel"]
#: 40 words a letter away from "kolor" (and from each other's neighbours).
KOLORS = [f"kol{c}r" for c in "abcdefghijklmnpqrstu"] + [f"ko{c}or" for c in "abcdefghijkmnpqrstu"]


def entry(tenant: str, seq: int, rnd: random.Random) -> AuditRecord:
    if seq % 10 == 0:
        action, detail = "wallet.issue", f'{{"reason":"{rnd.choice(WORDS)} anniversary"}}'
    else:
        product = f"p{rnd.randrange(5000):05d}"
        detail = f'{{"product":"{product}","reason":"order for {rnd.choice(WORDS)}"}}'
        action = "order.place"
    if tenant == "big" and seq <= len(KOLORS):
        detail += f" {KOLORS[seq - 1]}"
    elif tenant == "big" and seq <= len(KOLORS) + 5:
        detail += " kolar"  # the commonest of them
    return AuditRecord(
        tenant, seq, T0 + seq * 1000, f"admin{seq % 7}", action, f"o{seq:06d}", "ok", detail,
        f"h{seq - 1}", f"h{seq}",
    )  # fmt: skip


def records() -> list[AuditRecord]:
    rnd = random.Random(42)
    big = [entry("big", seq, rnd) for seq in range(1, ENTRIES + 1)]
    return big + [entry("small", seq, rnd) for seq in range(1, 21)]


def products() -> list[Product]:
    return [
        Product(
            id=f"p{i:05d}",
            brand="Brand",
            kind="gift_card",
            category=WORDS[i % 10],
            currency="EUR",
            countries=("DE",),
            denominations=(1000,),
            tenant="big" if i % 2 else "",
            texts={"en": Texts(f"{WORDS[i % 10].title()} card", f"product number p{i:05d}")},
        )
        for i in range(300)
    ]


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("search") / "search.sqlite3"

    async def build() -> None:
        index = SqliteSearch(path)
        await index.migrate()
        started = time.perf_counter()
        everything = records()
        for n in range(0, len(everything), 2000):
            await index.put_audit(everything[n : n + 2000])
        await index.put_products(products())
        print(f"indexed {len(everything)} entries in {time.perf_counter() - started:.2f} s")
        await index.close()

    asyncio.run(build())
    return path


class Seen:
    """The statements a store's reader connection ran (values in place)."""

    def __init__(self) -> None:
        self.statements: list[str] = []

    def selects(self, word: str) -> list[str]:
        return [s for s in self.statements if s.startswith("SELECT") and word in s]


async def opened(path: Path, seen: Seen) -> SqliteSearch:
    index = SqliteSearch(path)
    await index.db.read(lambda con: con.set_trace_callback(seen.statements.append))
    seen.statements.clear()
    return index


def plan(path: Path, statement: str) -> list[str]:
    with sqlite3.connect(path) as con:
        return [row[3] for row in con.execute(f"EXPLAIN QUERY PLAN {statement}")]


def matching(text: str) -> list[AuditRecord]:
    return [r for r in records() if r.tenant == "big" and text in f"{r.action} {r.detail}".lower()]


async def test_an_audit_search_is_driven_by_its_words(built: Path) -> None:
    seen = Seen()
    index = await opened(built, seen)
    started = time.perf_counter()
    found = await index.search_audit(AuditQuery("big", "anniversary", limit=5))
    print(f"q=anniversary: {time.perf_counter() - started:.3f} s")
    expected = matching("anniversary")
    assert found.total == len(expected) == ENTRIES // 10
    assert {r.seq for r in found.records} <= {r.seq for r in expected}
    # a count and a page, each a walk through the words' entries, once
    statements = seen.selects("MATCH")
    assert len(statements) == 2
    for statement in statements:
        steps = plan(built, statement)
        assert steps[0].startswith("SCAN audit_text VIRTUAL TABLE"), steps
        assert steps[1] == "SEARCH a USING INTEGER PRIMARY KEY (rowid=?)", steps
    # relevance first, then newest first: the same entries as before, in the same order
    page = await index.search_audit(AuditQuery("big", "anniversary", limit=3, offset=3))
    assert [r.seq for r in page.records] == sorted((r.seq for r in page.records), reverse=True)
    await index.close()


async def test_a_product_search_is_driven_by_its_words(built: Path) -> None:
    seen = Seen()
    index = await opened(built, seen)
    found = await index.search_products(ProductQuery("big", "coffee card", limit=500))
    assert {pid for _, pid in found.hits} == {f"p{i:05d}" for i in range(0, 300, 10)}
    (statement,) = seen.selects("MATCH")
    assert plan(built, statement)[0].startswith("SCAN product_text VIRTUAL TABLE")
    await index.close()


async def test_a_time_range_is_read_newest_first_without_sorting_the_log(built: Path) -> None:
    seen = Seen()
    index = await opened(built, seen)
    since, until = T0 + 2_000 * 1000, T0 + 18_000 * 1000
    started = time.perf_counter()
    first = await index.search_audit(AuditQuery("big", since_ms=since, until_ms=until, limit=50))
    print(f"a time range's first page: {time.perf_counter() - started:.3f} s")
    second = await index.search_audit(
        AuditQuery("big", since_ms=since, until_ms=until, limit=50, offset=50)
    )
    assert first.total == second.total == 16_001
    assert [r.seq for r in first.records + second.records] == list(range(18_000, 17_900, -1))
    for statement in seen.selects("FROM audit a"):
        steps = " | ".join(plan(built, statement))
        assert "TEMP B-TREE" not in steps, steps
    page = seen.selects("ORDER BY a.seq DESC")[0]
    assert plan(built, page) == [
        "SEARCH a USING INDEX sqlite_autoindex_audit_1 (tenant=? AND seq>? AND seq<?)"
    ]
    # a range with nothing in it; an actor's entries in a range, newest first
    empty = await index.search_audit(AuditQuery("big", since_ms=1, until_ms=2))
    assert (empty.total, empty.records) == (0, ())
    by = await index.search_audit(AuditQuery("big", actor="admin3", since_ms=since, limit=3))
    expected = [r.seq for r in records() if r.tenant == "big" and r.actor == "admin3"]
    assert [r.seq for r in by.records] == sorted(expected, reverse=True)[:3]
    await index.close()


def expression(seen: Seen) -> str:
    """The FTS5 expression of the last search (its words, and what they may stand for)."""
    found = re.findall(r"MATCH '([^']*)'", seen.selects("MATCH")[-1])
    return str(found[0])


async def test_ids_are_not_looked_up_typo_tolerant(built: Path) -> None:
    seen = Seen()
    index = await opened(built, seen)
    found = await index.search_products(ProductQuery("big", "p00042"))
    assert [pid for _, pid in found.hits] == ["p00042"]  # not p00041, p00043, p00142 …
    assert expression(seen).endswith(': (("p00042"*))')
    await index.close()


async def test_a_misspelling_stands_for_the_commonest_few_words_of_the_tenant(
    built: Path,
) -> None:
    seen = Seen()
    index = await opened(built, seen)
    found = await index.search_audit(AuditQuery("big", "kolor"))
    options = re.findall(r'"(\w+)"', expression(seen))
    assert options[0] == "kolor"
    assert len(options) == 1 + MAX_EXPANSIONS < 1 + len(KOLORS)
    assert "kolar" in options  # in six entries, the commonest
    assert found.total == sum(1 for r in matching("") if any(w in r.detail for w in options[1:]))
    # Another tenant's words are not this tenant's misspellings.
    await index.search_audit(AuditQuery("small", "kolor"))
    assert expression(seen).endswith(': (("kolor"*))')
    await index.close()


async def test_the_words_kept_follow_the_index_and_match_a_rebuild(built: Path) -> None:
    index = SqliteSearch(built)
    await index.remove_products("", [f"p{i:05d}" for i in range(0, 300, 2)])  # the platform's
    kept = await index.db.run(
        lambda con: con.execute("SELECT * FROM terms ORDER BY 1, 2, 3, 4").fetchall()
    )
    assert ("product", "") not in {(k, t) for k, t, *_ in kept}

    def rebuild(con: sqlite3.Connection) -> list[tuple[object, ...]]:
        con.execute("DELETE FROM terms")
        for statement in (*backfill(AUDIT, "audit_text", "audit"),
                          *backfill(PRODUCT, "product_text", "products")):  # fmt: skip
            con.execute(statement)
        return con.execute("SELECT * FROM terms ORDER BY 1, 2, 3, 4").fetchall()

    assert await index.db.run(rebuild) == kept  # what migration 2 fills in, the same
    await index.put_products(products())  # as built, for the other tests
    await index.close()


def test_a_read_past_its_deadline_is_interrupted_with_a_retryable_error() -> None:
    con = sqlite3.connect(":memory:", isolation_level=None)
    # Seconds of work (bounded: an interrupt is the only way out of a statement, so
    # without one the test would hang rather than fail).
    endless = (
        "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 50000000)"
        " SELECT count(*) FROM n"
    )
    read = within_deadline(lambda c: c.execute(endless).fetchone(), time.monotonic() + 0.2, "x")
    with pytest.raises(QueryTimedOut) as raised:
        read(con)
    assert isinstance(raised.value, StorageError)
    assert raised.value.retryable
    assert con.execute("SELECT 1").fetchone() == (1,)  # usable again: no transaction left
    assert not con.in_transaction


async def test_a_slow_search_is_interrupted_and_the_next_one_answered(built: Path) -> None:
    index = SqliteSearch(built, deadline_s=0.002)
    words = "o* a* p* r* f* h* c* m* s* t* b* g*"  # every entry, twelve times over
    with pytest.raises(QueryTimedOut):
        await index.search_audit(AuditQuery("big", words))
    index.deadline_s = 4.0
    assert (await index.search_audit(AuditQuery("big", "anniversary"))).total == ENTRIES // 10
    await index.close()
