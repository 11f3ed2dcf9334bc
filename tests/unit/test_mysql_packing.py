"""How the MySQL ledger packs its statements (storage.mysql_writes, storage.mysql_reads);
what they do is the Ledger contract's (tests/contract/test_ledger.py, run against MariaDB)."""

from __future__ import annotations

from storage import mysql_reads, mysql_writes, sql

ST = sql.Statements("%s")


def test_rows_become_multi_row_statements_keeping_what_follows_the_values() -> None:
    rows = [("acme", 1, "h1"), ("globex", 4, "h4"), ("initech", 2, "h2")]
    (write,) = mysql_writes.many(ST.upsert_audit_head, rows, "an audit chain head")
    assert write.sql == (
        "INSERT INTO audit_heads (tenant_id, seq, hash) VALUES (%s, %s, %s), (%s, %s, %s),"
        " (%s, %s, %s) ON DUPLICATE KEY UPDATE seq = VALUES(seq), hash = VALUES(hash)"
    )
    assert write.params == ("acme", 1, "h1", "globex", 4, "h4", "initech", 2, "h2")
    assert (write.what, write.fenced) == ("an audit chain head", False)


def test_many_rows_are_split_and_none_make_no_statement() -> None:
    rows = [("t", f"k{i}", "f", b"r", 1, 2) for i in range(mysql_writes.ROWS_PER_INSERT + 1)]
    first, second = mysql_writes.many(ST.insert_reply, rows, "a reply")
    assert first.sql.count("(%s, %s, %s, %s, %s, %s)") == mysql_writes.ROWS_PER_INSERT
    assert second.params == rows[-1]
    assert mysql_writes.many(ST.insert_reply, [], "a reply") == []


def test_packets_hold_a_bounded_count_of_statements_and_bytes() -> None:
    small = [sql.Write("DELETE FROM outbox WHERE event_id IN (%s)", ("e",), "x")] * 450
    assert [len(p) for p in mysql_writes._packets(small)] == [200, 200, 50]
    big = [sql.Write("INSERT INTO t VALUES (%s)", (b"x" * 900_000,), "x")] * 5
    assert [len(p) for p in mysql_writes._packets(big)] == [2, 2, 1]


def test_lookups_of_a_turn_are_split_into_statements_of_bounded_keys() -> None:
    wanted = {
        "acme": dict.fromkeys(f"a{i}" for i in range(mysql_reads.MAX_KEYS + 5)),
        "globex": dict.fromkeys(["g1", "g2"]),
    }
    parts = mysql_reads._statements(wanted)
    assert [[(t, len(keys)) for t, keys in part] for part in parts] == [
        [("acme", mysql_reads.MAX_KEYS)],
        [("acme", 5), ("globex", 2)],
    ]
