"""What a group commit writes to MySQL/MariaDB, in as few round trips as it can.

A group commit is one transaction for the change sets of many actors (ADR 2). Each round
trip to the server waits for the server and then for the actor host's event loop to come
back to the answer, which under load is most of the wait: a group of orders spread over
many tenants took about ten (``BEGIN``, the change sets' statements, then one
``executemany`` for each kind of row, the audit heads, ``COMMIT``) and ~40 ms. Now:

1. ``BEGIN`` and every statement of the group but the audit's — the change sets' own,
   then one multi-row ``INSERT`` per kind of row (new orders, entries, outbox rows,
   replies, codes, bulk rows, rates) — in packets of up to :data:`PACKET` statements or
   :data:`PACKET_BYTES` of values;
2. the audit chain heads of the group's tenants, locked (``SELECT … FOR UPDATE``): last,
   so that a second group in flight (ADR 33) waits for the first only here;
3. the audit rows, the new heads and ``COMMIT``, in one packet.

The server runs a packet's statements in order and stops at the first error; each result
says how many rows its statement changed, which a fenced write must make exactly one, and
a duplicate key names the kind of row that already existed (:class:`StaleWrite`).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

from asyncmy import converters
from asyncmy.errors import IntegrityError

from storage import sql
from storage.audit_chain import GENESIS
from storage.errors import StaleWrite
from storage.ports import ChangeSet


class Hex:
    """Bytes to send as a hexadecimal literal (``X'…'``). asyncmy quotes ``bytes`` as an
    escaped string, and its escaping looks every byte above 127 up in a table that raises
    for it: a group's outbox payloads, replies and sealed codes — mostly such bytes — took
    about three quarters of the quoting of a packet (3.5 ms of 4.5 for ~150 KB; as hex,
    0.14 ms)."""

    __slots__ = ("data",)

    def __init__(self, data: bytes) -> None:
        self.data = data


def _hex_literal(value: Hex, mapping: object = None) -> str:
    return f"X'{value.data.hex()}'"


#: The driver's conversions, with :class:`Hex` (the pool's ``conv``).
CONVERSIONS: dict[Any, Any] = {**converters.conversions, Hex: _hex_literal}

#: Statements per packet of a group commit.
PACKET = 200
#: About this many bytes of values per packet and per multi-row statement (the server
#: takes packets of up to ``max_allowed_packet``, 16 MiB by default).
PACKET_BYTES = 2 * 1024 * 1024
#: Rows per multi-row ``INSERT``.
ROWS_PER_INSERT = 200


async def commit_group(cur: Any, st: sql.Statements, batch: list[ChangeSet]) -> None:
    """Write ``batch`` in one transaction and commit it, or raise (the caller rolls back).

    The audit chain heads of the group's tenants are locked last, just before the audit
    rows go in with ``COMMIT``: a group written while another commits waits for the heads
    only, after everything else of it is written."""
    now = sql.now_ms()
    await write_all(cur, [sql.Write("BEGIN", (), "the transaction"), *group_writes(st, batch, now)])
    last: list[sql.Write] = []
    tenants = sql.audit_tenants(batch)
    if tenants:
        heads = await locked_heads(cur, st, tenants)
        rows, new_heads = sql.chain_audit(batch, heads)
        last = many(st.insert_audit, rows, "an audit entry")
        last += many(st.upsert_audit_head, new_heads, "an audit chain head")
    # No fenced write among these: COMMIT can go in their packet (the server stops at the
    # first error, and the caller rolls back).
    await write_all(cur, [*last, sql.Write("COMMIT", (), "the commit")])


async def locked_heads(
    cur: Any, st: sql.Statements, tenants: list[str]
) -> dict[str, tuple[int, str]]:
    """The audit chain heads of ``tenants`` (sorted), each locked until the transaction
    ends: looked up by key in that order (``Statements.audit_heads_of``), so that groups
    holding heads of their own never wait for each other's, and groups wanting the same
    heads take them in one order (ADR 33).

    Under READ COMMITTED a locking read that finds no row locks nothing: two groups in
    flight carrying a tenant's first entries both chained them from genesis, and the
    second failed on the first's entry 1. A tenant without a head gets one at genesis
    (``INSERT IGNORE``: a group making the same head waits for this one, then finds it)
    and is read again, locked — one more round trip, once per tenant."""
    await cur.execute(st.audit_heads_of(len(tenants)), tuple(tenants))
    heads = {r[0]: (int(r[1]), r[2]) for r in await cur.fetchall()}
    missing = [t for t in tenants if t not in heads]
    if missing:
        values = tuple(v for t in missing for v in (t, GENESIS))
        await cur.execute(st.genesis_heads(len(missing)), values)
        await cur.execute(st.audit_heads_of(len(missing)), tuple(missing))
        heads |= {r[0]: (int(r[1]), r[2]) for r in await cur.fetchall()}
    return heads


def group_writes(st: sql.Statements, batch: list[ChangeSet], now_ms: int) -> list[sql.Write]:
    """Every statement of a group commit but the audit's, in the order they must run."""
    writes = [w for cs in batch for w in sql.writes(st, cs, now_ms)]
    writes += many(st.insert_order, sql.order_rows(batch), "an order that exists")
    writes += many(st.insert_entry, sql.entry_rows(batch), "a ledger entry")
    writes += many(st.insert_event, sql.event_rows(batch), "an outbox event")
    writes += deletes_of_published(st, sql.published_ids(batch))
    writes += many(st.insert_reply, sql.reply_rows(batch), "an idempotency key's reply")
    writes += many(st.insert_code, sql.code_rows(batch), "a voucher code that exists")
    writes += many(st.insert_bulk_row, sql.bulk_row_rows(batch), "a bulk row that exists")
    ok_runs, results = sql.bulk_result_rows(batch)
    writes += [sql.Write(st.update_bulk_rows_ok, run, "bulk results") for run in ok_runs]
    writes += [sql.Write(st.update_bulk_row, row, "a bulk result") for row in results]
    writes += many(st.upsert_fx_rate, sql.fx_rows(batch), "an exchange rate")
    return writes


def deletes_of_published(st: sql.Statements, event_ids: Sequence[str]) -> list[sql.Write]:
    """A statement per published id (``Statements.delete_event``), in the order of the
    ids: transactions clearing the same rows (two hosts' relays, one sweeping) take their
    locks in one order, and wait for each other instead of deadlocking."""
    return [sql.Write(st.delete_event, (i,), "published events") for i in sorted(set(event_ids))]


def many(statement: str, rows: list[tuple[Any, ...]], what: str) -> list[sql.Write]:
    """``statement`` (an ``INSERT … VALUES (…)``, perhaps ``… ON DUPLICATE KEY …``) for
    all ``rows``, as multi-row statements of up to :data:`ROWS_PER_INSERT` rows and about
    :data:`PACKET_BYTES` of values each (a row larger than that goes alone)."""
    if not rows:
        return []
    start = statement.index(" VALUES (") + len(" VALUES ")
    end = statement.index(")", start) + 1
    head, values, tail = statement[:start], statement[start:end], statement[end:]
    out = []

    def add(chunk: list[tuple[Any, ...]], weight: int) -> None:
        text = f"{head}{', '.join([values] * len(chunk))}{tail}"
        params = tuple(v for row in chunk for v in row)
        out.append(sql.Write(text, params, what, weight=weight))

    chunk: list[tuple[Any, ...]] = []
    size = 0
    for row in rows:
        weight = _weight(row)
        if chunk and (len(chunk) == ROWS_PER_INSERT or size + weight > PACKET_BYTES):
            add(chunk, size)
            chunk, size = [], 0
        chunk.append(row)
        size += weight
    add(chunk, size)
    return out


def _weight(params: tuple[Any, ...]) -> int:
    """About the bytes ``params`` take in a statement: bytes go as hex (:class:`Hex`)."""
    return sum(
        len(p) if p.__class__ is str else 2 * len(p) + 3 if p.__class__ is bytes else 8
        for p in params
    )


async def write_all(cur: Any, writes: list[sql.Write]) -> None:
    """Run ``writes`` in order, a packet at a time; raise :class:`StaleWrite` if a fenced
    write changed no row or a row already existed."""
    for packet in _packets(writes):
        reading = 0  # the statement whose result is read next
        try:
            await cur.execute(
                "; ".join(w.sql for w in packet),
                tuple(Hex(p) if p.__class__ is bytes else p for w in packet for p in w.params),
            )
            while True:
                w = packet[reading]
                if w.fenced and cur.rowcount != 1:
                    while await cur.nextset():  # leave the connection with nothing unread
                        pass
                    raise StaleWrite(w.what, w.expected_version)
                reading += 1
                if reading == len(packet):
                    break
                await cur.nextset()
        except IntegrityError as e:
            raise StaleWrite(packet[reading].what, 0) from e


def _packets(writes: list[sql.Write]) -> Iterator[list[sql.Write]]:
    packet: list[sql.Write] = []
    size = 0
    for w in writes:
        weight = w.weight if w.weight >= 0 else _weight(w.params)
        if packet and (len(packet) == PACKET or size + weight > PACKET_BYTES):
            yield packet
            packet, size = [], 0
        packet.append(w)
        size += weight
    if packet:
        yield packet
