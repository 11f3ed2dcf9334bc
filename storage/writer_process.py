"""The host's end of a ledger's writer process (ADR 29): group commits sent, encoded with
msgspec, over a socket to a child process that holds the ledger's writing connection,
commits each group and answers ``None`` or why not.

The children: :mod:`storage.sqlite_writer` (SQLite) and :mod:`storage.mysql_writer`
(MySQL/MariaDB). A child that dies (killed, out of memory) fails the group in flight with
:class:`StoreUnavailable` — a transaction it did not commit is rolled back by the store —
and the next group starts a new one (as does a group that finds it died while idle). A
child exits when its socket closes: when the ledger closes it, or when the host dies. It
ignores SIGINT and SIGTERM, which a terminal or a supervisor sends to the whole process
group: it finishes the commit in hand and waits for the host to close.
"""

from __future__ import annotations

import asyncio
import os
import socket
import struct
import sys
from pathlib import Path
from typing import Any

import msgspec

from storage.errors import StaleWrite, StorageError, StoreUnavailable
from storage.ports import ChangeSet

#: Each message: its length (4 bytes, big-endian), then msgpack. To the child, a group of
#: change sets; back, ``None`` (committed, or started) or ``[kind, what, expected]``, kind
#: ``stale`` (a fenced write), ``unavailable`` (the store cannot be reached) or ``error``.
LENGTH = struct.Struct(">I")
encoder = msgspec.msgpack.Encoder()
group_decoder = msgspec.msgpack.Decoder(list[ChangeSet])
#: How long a new writer may take to open the database and say so.
START_TIMEOUT_S = 30.0
#: How long a writer asked to stop may take to finish its commit before it is killed.
STOP_TIMEOUT_S = 10.0

Refusal = tuple[str, str, int | str]


class WriterProcess:
    """The host's end of a writer process (started on first use, again after it died):
    ``python -m <module> --<option>=<value> … --fd=<socket>``, with ``secrets`` in its
    environment rather than on its command line."""

    def __init__(
        self,
        module: str,
        options: dict[str, str],
        what: str,
        secrets: dict[str, str] | None = None,
    ) -> None:
        self.module = module
        self.options = options
        #: What the writer writes, for messages (never a password).
        self.what = what
        self.secrets = secrets or {}
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

    async def start(self) -> None:
        async with self._lock:
            await self._connected()

    async def apply(self, batch: list[ChangeSet]) -> None:
        """Commit ``batch`` in one transaction, or raise (:class:`StaleWrite`, a
        :class:`StorageError` for any other refusal, :class:`StoreUnavailable` if the
        writer is gone)."""
        payload = encoder.encode(batch)
        async with self._lock:
            reader, writer = await self._connected()
            try:
                writer.write(LENGTH.pack(len(payload)) + payload)
                answer = await _receive(reader)
            except (ConnectionError, asyncio.IncompleteReadError) as e:
                self._retire()
                raise StoreUnavailable(f"the writer of {self.what} stopped: {e!r}") from e
            except BaseException:  # cancelled mid-exchange: its answer would come to the next
                self._retire()
                raise
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
                self.module,
                *(f"--{name}={value}" for name, value in self.options.items()),
                f"--fd={theirs.fileno()}",
                pass_fds=(theirs.fileno(),),
                stdin=asyncio.subprocess.DEVNULL,
                env=_child_env() | self.secrets,
            )
        except OSError as e:
            ours.close()
            raise StoreUnavailable(f"cannot start the writer of {self.what}: {e}") from e
        finally:
            theirs.close()
        self._stream = await asyncio.open_connection(sock=ours)
        try:
            async with asyncio.timeout(START_TIMEOUT_S):
                answer = await _receive(self._stream[0])
        except (TimeoutError, ConnectionError, asyncio.IncompleteReadError) as e:
            self._retire()
            raise StoreUnavailable(f"the writer of {self.what} did not start: {e!r}") from e
        if answer is not None:
            self._retire()
            raise StoreUnavailable(str(answer[1]))
        self.starts += 1
        return self._stream

    def _retire(self) -> None:
        """Close the socket (the writer finishes what it has and exits)."""
        if self._stream is not None:
            self._stream[1].close()
            self._stream = None
        if self._child is not None:
            self._retired.append(self._child)
            self._child = None


async def _receive(reader: asyncio.StreamReader) -> Any:
    length = LENGTH.unpack(await reader.readexactly(LENGTH.size))[0]
    return msgspec.msgpack.decode(await reader.readexactly(length))


def _raise_refusal(answer: Any) -> None:
    if answer is None:
        return
    kind, what, expected = answer
    if kind == "stale":
        raise StaleWrite(what, expected)
    if kind == "unavailable":
        raise StoreUnavailable(what)
    raise StorageError(what)  # retryable: the group committer tries its change sets apart


def _child_env() -> dict[str, str]:
    """This environment, with the directory ``storage`` was imported from first on the
    child's path (the host may run from anywhere)."""
    root = str(Path(__file__).resolve().parent.parent)
    path = os.environ.get("PYTHONPATH")
    return {**os.environ, "PYTHONPATH": root if not path else f"{root}{os.pathsep}{path}"}


def options(argv: list[str]) -> dict[str, str]:
    """A child's ``--name=value`` arguments."""
    return dict(a.removeprefix("--").split("=", 1) for a in argv)


def refusal(error: BaseException) -> Refusal:
    """The answer for a group that was not committed: a fenced write that found another
    version, or any other refusal (which the group committer retries apart)."""
    if isinstance(error, StaleWrite):
        return ("stale", error.what, error.expected_version)
    if isinstance(error, StoreUnavailable):
        return ("unavailable", str(error), 0)
    return ("error", f"{type(error).__name__}: {error}", 0)
