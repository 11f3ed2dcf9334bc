"""The SQLite ledger's group commits, written by a process of its own (ADR 29).

The actor host's event loop decides batches; its group committer hands each group of
change sets to the ledger. Written on a thread of the host, a commit's Python work — turning
change sets into rows, binding them, stepping SQLite — holds the host's one GIL, and the
event loop, the read thread and the writer hand it to each other thousands of times a
second. :class:`WriterProcess` sends each group instead, encoded with msgspec, over a
socket to a child process that holds the ledger's one writing connection, commits it, and
answers ``None`` or the error (:mod:`storage.writer_process`: the host's end, and how a
writer that dies or is left is handled). Reads stay in the host on their read-only
connection: in WAL mode a reader sees every committed transaction, and the child answers
only after ``COMMIT``.
"""

from __future__ import annotations

import gc
import signal
import socket
import sqlite3
import sys
from pathlib import Path
from typing import BinaryIO, Literal

from storage import writer_process
from storage.ports import ChangeSet
from storage.sqlite_db import connect
from storage.sqlite_writes import apply_change_sets
from storage.writer_process import LENGTH, Refusal, encoder, group_decoder, refusal

#: Where a SQLite ledger's group commits are written: a child process, or a thread of
#: the process that opened the ledger.
SqliteWriter = Literal["process", "thread"]


class WriterProcess(writer_process.WriterProcess):
    """The host's end of a SQLite ledger's writer process."""

    def __init__(self, path: Path, synchronous: str) -> None:
        super().__init__(
            "storage.sqlite_writer", {"path": str(path), "synchronous": synchronous}, str(path)
        )
        self.path = path
        self.synchronous = synchronous


# --- the writer process --------------------------------------------------------------


def serve(path: str, synchronous: str, fd: int) -> None:
    """Commit each group that arrives on the socket ``fd`` until it closes."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    # As the host's (perkbus/gc_tuning.py, ADR 21): a group of a thousand change sets
    # allocates tens of thousands of objects, none of them in cycles.
    gc.freeze()
    gc.set_threshold(50_000, 20, 100)
    with socket.socket(fileno=fd) as sock, sock.makefile("rb") as incoming:
        try:
            con = connect(Path(path), synchronous)
        except Exception as e:  # StoreUnavailable: it cannot be opened
            _send(sock, refusal(e))
            return
        _send(sock, None)
        try:
            while (group := _next_group(incoming)) is not None:
                _send(sock, _commit(con, group))
        except (BrokenPipeError, ConnectionResetError):
            pass  # the host went away: what was committed stays, the rest rolled back
        finally:
            con.close()


def _next_group(incoming: BinaryIO) -> list[ChangeSet] | None:
    head = incoming.read(LENGTH.size)
    if len(head) < LENGTH.size:
        return None
    return group_decoder.decode(incoming.read(LENGTH.unpack(head)[0]))


def _commit(con: sqlite3.Connection, group: list[ChangeSet]) -> Refusal | None:
    try:
        con.execute("BEGIN IMMEDIATE")
        try:
            apply_change_sets(con, group)
            con.execute("COMMIT")
        except BaseException:
            con.execute("ROLLBACK")
            raise
    except Exception as e:  # every refusal goes back to the host
        return refusal(e)
    return None


def _send(sock: socket.socket, answer: Refusal | None) -> None:
    body = encoder.encode(answer)
    sock.sendall(LENGTH.pack(len(body)) + body)


def main(argv: list[str]) -> None:
    options = writer_process.options(argv)
    serve(options["path"], options["synchronous"], int(options["fd"]))


if __name__ == "__main__":
    main(sys.argv[1:])
