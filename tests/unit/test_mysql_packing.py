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
    big = [sql.Write("INSERT INTO t VALUES (%s)", ("x" * 900_000,), "x")] * 5
    assert [len(p) for p in mysql_writes._packets(big)] == [2, 2, 1]
    # bytes travel as hex: twice their length
    binary = [sql.Write("INSERT INTO t VALUES (%s)", (b"x" * 600_000,), "x")] * 5
    assert [len(p) for p in mysql_writes._packets(binary)] == [1, 1, 1, 1, 1]


def test_rows_of_large_values_are_split_by_bytes_and_a_huge_row_goes_alone() -> None:
    payload = b"\x93" * 400_000  # hex: 800 KB a row
    rows = [(f"e{i}", "acme", "pb.s", payload, 1) for i in range(5)]
    rows.insert(2, ("huge", "acme", "pb.s", b"\x00" * 3_000_000, 1))
    writes = mysql_writes.many(ST.insert_event, rows, "an outbox event")
    assert [w.params[::5] for w in writes] == [("e0", "e1"), ("huge",), ("e2", "e3"), ("e4",)]
    assert all(w.weight <= mysql_writes.PACKET_BYTES for w in writes if "huge" not in w.params)
    assert [len(p) for p in mysql_writes._packets(writes)] == [1, 1, 1, 1]


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
