"""The SQLite ledger's group commits, written by a process of its own (ADR 29).

The actor host's event loop decides batches; its group committer hands each group of
change sets to the ledger. Written on a thread of the host, a commit's Python work — turning
change sets into rows, binding them, stepping SQLite — holds the host's one GIL, and the
event loop, the read thread and the writer hand it to each other thousands of times a
second. :class:`WriterProcess` sends each group instead, encoded with msgspec, over a
socket to a child process that holds the ledger's one writing connection, commits it, and
answers ``None`` or the error. Reads stay in the host on their read-only connection: in
WAL mode a reader sees every committed transaction, and the child answers only after
``COMMIT``.

A writer that dies (killed, out of memory) fails the group in flight with
:class:`StoreUnavailable` — a transaction it did not commit is rolled back by SQLite —
and the next group starts a new one (as does a group that finds it died while idle). The
child exits when its socket closes: when the ledger closes it, or when the host dies. It
ignores SIGINT and SIGTERM, which a terminal or a supervisor sends to the whole process
group: it finishes the commit in hand and waits for the host to close.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import gc
import os
import signal
import socket
import sqlite3
import struct
import sys
from pathlib import Path
from typing import Any, BinaryIO, Literal

import msgspec

from storage.errors import StaleWrite, StorageError, StoreUnavailable
from storage.ports import ChangeSet
from storage.sqlite_db import connect
from storage.sqlite_writes import apply_change_sets

#: Where a SQLite ledger's group commits are written: a child process, or a thread of
#: the process that opened the ledger.
SqliteWriter = Literal["process", "thread"]

#: Each message: its length (4 bytes, big-endian), then msgpack. To the child, a group of
#: change sets; back, ``None`` (committed, or started) or ``[kind, what, expected]``.
_LENGTH = struct.Struct(">I")
_encoder = msgspec.msgpack.Encoder()
_group = msgspec.msgpack.Decoder(list[ChangeSet])
#: How long a new writer may take to open the database and say so.
START_TIMEOUT_S = 30.0
#: How long a writer asked to stop may take to finish its commit before it is killed.
STOP_TIMEOUT_S = 10.0
#: How long a group may take to be answered before its writer is taken for hung (a disk
#: that stopped answering, a stopped process) and killed: its group's outcome is then
#: unknown, as when a writer dies, and the next group starts another. Groups take
#: milliseconds (a checkpoint of the log, a tenth of a second).
COMMIT_TIMEOUT_S = 20.0
#: From how long without an answer the ledger's health says the writer is stuck.
STUCK_AFTER_S = 5.0


class WriterProcess:
    """The host's end of a writer process (started on first use, again after it died)."""

    def __init__(
        self, path: Path, synchronous: str, commit_timeout_s: float = COMMIT_TIMEOUT_S
    ) -> None:
        self.path = path
        self.synchronous = synchronous
        self.commit_timeout_s = commit_timeout_s
        self.stuck_after_s = STUCK_AFTER_S
        #: When the group in flight was sent (loop time), or None.
        self._sent_at: float | None = None
        #: How many writers were started (one, unless one died).
        self.starts = 0
        self._child: asyncio.subprocess.Process | None = None
        self._stream: tuple[asyncio.StreamReader, asyncio.StreamWriter] | None = None
        #: Writers whose socket was closed; waited for when the ledger closes.
        self._retired: list[asyncio.subprocess.Process] = []
        #: One group at a time: the answers come back in order on one socket.
        self._lock = asyncio.Lock()

    @property
    def pid(self) -> int | None:
        return self._child.pid if self._child is not None and self._stream else None

    def stuck_for(self) -> float | None:
        """How long the group in flight has waited for its answer, if longer than
        ``stuck_after_s``; else None."""
        if self._sent_at is None:
            return None
        waited = asyncio.get_running_loop().time() - self._sent_at
        return waited if waited > self.stuck_after_s else None

    async def start(self) -> None:
        async with self._lock:
            await self._connected()

    async def apply(self, batch: list[ChangeSet]) -> None:
        """Commit ``batch`` in one transaction, or raise (:class:`StaleWrite`, a
        :class:`StorageError` for any other refusal, :class:`StoreUnavailable` if the
        writer is gone)."""
        payload = _encoder.encode(batch)
        async with self._lock:
            reader, writer = await self._connected()
            self._sent_at = asyncio.get_running_loop().time()
            try:
                writer.write(_LENGTH.pack(len(payload)) + payload)
                async with asyncio.timeout(self.commit_timeout_s):
                    answer = await _receive(reader)
            except TimeoutError as e:
                self._kill()
                raise StoreUnavailable(
                    f"the writer of {self.path} did not answer in {self.commit_timeout_s:g} s"
                    " and was stopped; the group may or may not be written"
                ) from e
            except (ConnectionError, asyncio.IncompleteReadError) as e:
                self._retire()
                raise StoreUnavailable(f"the writer of {self.path} stopped: {e!r}") from e
            except BaseException:  # cancelled mid-exchange: its answer would come to the next
                self._retire()
                raise
            finally:
                self._sent_at = None
        _raise_refusal(answer)

    async def close(self) -> None:
        async with self._lock:  # after the group in flight
            self._retire()
        retired, self._retired = self._retired, []
        for child in retired:
            try:
                async with asyncio.timeout(STOP_TIMEOUT_S):
                    await child.wait()
            except TimeoutError:
                child.kill()
                await child.wait()

    async def _connected(self) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        if self._child is not None and self._child.returncode is not None:
            self._retire()  # died while idle (killed, out of memory): start another
        if self._stream is not None:
            return self._stream
        ours, theirs = socket.socketpair()
        try:
            self._child = await asyncio.create_subprocess_exec(
                sys.executable,
                "-P",  # not the working directory's modules: the ones this host runs
                "-m",
                "storage.sqlite_writer",
                f"--path={self.path}",
                f"--synchronous={self.synchronous}",
                f"--fd={theirs.fileno()}",
                pass_fds=(theirs.fileno(),),
                stdin=asyncio.subprocess.DEVNULL,
                env=_child_env(),
            )
        except OSError as e:
            ours.close()
            raise StoreUnavailable(f"cannot start the writer of {self.path}: {e}") from e
        finally:
            theirs.close()
        self._stream = await asyncio.open_connection(sock=ours)
        try:
            async with asyncio.timeout(START_TIMEOUT_S):
                answer = await _receive(self._stream[0])
        except (TimeoutError, ConnectionError, asyncio.IncompleteReadError) as e:
            self._retire()
            raise StoreUnavailable(f"the writer of {self.path} did not start: {e!r}") from e
        if answer is not None:
            self._retire()
            raise StoreUnavailable(str(answer[1]))
        self.starts += 1
        return self._stream

    def _kill(self) -> None:
        """Kill a hung writer (SIGKILL ends a stopped process too) and retire it."""
        if self._child is not None and self._child.returncode is None:
            self._child.kill()
        self._retire()

    def _retire(self) -> None:
        """Close the socket (the writer finishes what it has and exits)."""
        if self._stream is not None:
            self._stream[1].close()
            self._stream = None
        if self._child is not None:
            self._retired.append(self._child)
            self._child = None


async def _receive(reader: asyncio.StreamReader) -> Any:
    length = _LENGTH.unpack(await reader.readexactly(_LENGTH.size))[0]
    return msgspec.msgpack.decode(await reader.readexactly(length))


def _raise_refusal(answer: Any) -> None:
    if answer is None:
        return
    kind, what, expected = answer
    if kind == "stale":
        raise StaleWrite(what, expected)
    raise StorageError(what)  # retryable: the group committer tries its change sets apart


def _child_env() -> dict[str, str]:
    """This environment, with the directory ``storage`` was imported from first on the
    child's path (the host may run from anywhere)."""
    root = str(Path(__file__).resolve().parent.parent)
    path = os.environ.get("PYTHONPATH")
    return {**os.environ, "PYTHONPATH": root if not path else f"{root}{os.pathsep}{path}"}


# --- the writer process --------------------------------------------------------------


def serve(path: str, synchronous: str, fd: int) -> None:
    """Commit each group that arrives on the socket ``fd`` until it closes."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    _die_with_parent()
    # As the host's (perkbus/gc_tuning.py, ADR 21): a group of a thousand change sets
    # allocates tens of thousands of objects, none of them in cycles.
    gc.freeze()
    gc.set_threshold(50_000, 20, 100)
    with socket.socket(fileno=fd) as sock, sock.makefile("rb") as incoming:
        try:
            con = connect(Path(path), synchronous)
        except StoreUnavailable as e:
            _send(sock, ("error", str(e), 0))
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
    head = incoming.read(_LENGTH.size)
    if len(head) < _LENGTH.size:
        return None
    return _group.decode(incoming.read(_LENGTH.unpack(head)[0]))


def _commit(con: sqlite3.Connection, group: list[ChangeSet]) -> tuple[str, str, Any] | None:
    try:
        con.execute("BEGIN IMMEDIATE")
        try:
            apply_change_sets(con, group)
            con.execute("COMMIT")
        except BaseException:
            con.execute("ROLLBACK")
            raise
    except StaleWrite as e:
        return ("stale", e.what, e.expected_version)
    except Exception as e:  # every refusal goes back to the host
        return ("error", f"{type(e).__name__}: {e}", 0)
    return None


def _die_with_parent() -> None:
    """Be killed when the host dies: a writer stopped (SIGSTOP) when its host was
    killed would otherwise stay, holding the database open, until someone resumed it."""
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)
    if os.getppid() == 1:  # the host died before that took effect
        os._exit(0)


_PR_SET_PDEATHSIG = 1


def _send(sock: socket.socket, answer: tuple[str, str, Any] | None) -> None:
    body = _encoder.encode(answer)
    sock.sendall(_LENGTH.pack(len(body)) + body)


def main(argv: list[str]) -> None:
    options = dict(a.removeprefix("--").split("=", 1) for a in argv)
    serve(options["path"], options["synchronous"], int(options["fd"]))


if __name__ == "__main__":
    main(sys.argv[1:])
