"""The MySQL/MariaDB ledger's group commits, written by a process of its own.

As for SQLite (ADR 29, :mod:`storage.sqlite_writer`): a group commit's Python work —
turning change sets into statements, escaping every value into the query text (the
driver does that in the client), reading each packet's results — ran on the actor host's
event loop, a third of it under orders spread over many tenants, and each of the
commit's round trips waited for that loop to come back to its answer. The child holds one
connection and does nothing else; the host sends each group and waits for its answer.
Reads stay in the host, on its pool: the server answers them with what is committed.

The URL (with its password) comes in the child's environment (``PERKBUS_WRITER_URL``),
not on its command line, which every user of the machine can read.
"""

from __future__ import annotations

import asyncio
import gc
import os
import signal
import socket
import sys
from typing import Any

import asyncmy
from asyncmy.constants import CLIENT
from asyncmy.errors import OperationalError

from storage import mysql_writes, sql, writer_process
from storage.errors import StoreUnavailable
from storage.mysql import connect_args
from storage.ports import ChangeSet
from storage.writer_process import LENGTH, Refusal, encoder, group_decoder, refusal

URL_VARIABLE = "PERKBUS_WRITER_URL"

_st = sql.Statements("%s")


class MysqlWriterProcess(writer_process.WriterProcess):
    """The host's end of a MySQL ledger's writer process."""

    def __init__(self, url: str, connect_timeout_s: int, read_timeout_s: int) -> None:
        args = connect_args(url)
        super().__init__(
            "storage.mysql_writer",
            {"connect-timeout": str(connect_timeout_s), "read-timeout": str(read_timeout_s)},
            f"mysql://{args['host']}:{args['port']}/{args['db']}",
            secrets={URL_VARIABLE: url},
        )


# --- the writer process --------------------------------------------------------------


class _Writer:
    def __init__(self, args: dict[str, Any]) -> None:
        self.args = args
        self.conn: Any = None

    async def connect(self) -> None:
        try:
            self.conn = await asyncmy.connect(
                autocommit=True,
                charset="utf8mb4",
                client_flag=CLIENT.MULTI_STATEMENTS,
                **self.args,
            )
        except (OperationalError, OSError) as e:
            raise StoreUnavailable(f"cannot reach MySQL: {e}") from e

    async def commit(self, group: list[ChangeSet]) -> Refusal | None:
        try:
            if self.conn is None:
                await self.connect()
            async with self.conn.cursor() as cur:
                try:
                    await mysql_writes.commit_group(cur, _st, group)
                except BaseException:
                    await self.conn.rollback()
                    raise
        except (OperationalError, OSError, TimeoutError) as e:
            self.drop()
            return refusal(StoreUnavailable(f"MySQL: {e!r}"))
        except Exception as e:  # every refusal goes back to the host
            return refusal(e)
        return None

    def drop(self) -> None:
        """Forget a connection that failed (the next group opens another)."""
        if self.conn is not None:
            self.conn.close()
            self.conn = None


async def serve(url: str, connect_timeout_s: int, read_timeout_s: int, fd: int) -> None:
    """Commit each group that arrives on the socket ``fd`` until it closes."""
    reader, out = await asyncio.open_connection(sock=socket.socket(fileno=fd))
    args = connect_args(url) | {"connect_timeout": connect_timeout_s}
    args["read_timeout"] = read_timeout_s
    writer = _Writer(args)
    try:
        await writer.connect()
    except StoreUnavailable as e:
        await _send(out, refusal(e))
        return
    await _send(out, None)
    try:
        while True:
            try:
                head = await reader.readexactly(LENGTH.size)
            except asyncio.IncompleteReadError:
                return  # the host closed: what was committed stays
            body = await reader.readexactly(LENGTH.unpack(head)[0])
            await _send(out, await writer.commit(group_decoder.decode(body)))
    except (ConnectionError, asyncio.IncompleteReadError):
        pass  # the host went away: what was committed stays, the rest rolled back
    finally:
        writer.drop()
        out.close()


async def _send(out: asyncio.StreamWriter, answer: Refusal | None) -> None:
    body = encoder.encode(answer)
    out.write(LENGTH.pack(len(body)) + body)
    await out.drain()


def main(argv: list[str]) -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    gc.freeze()  # as the host's (perkbus/gc_tuning.py, ADR 21)
    gc.set_threshold(50_000, 20, 100)
    options = writer_process.options(argv)
    url = os.environ.get(URL_VARIABLE, "")
    asyncio.run(
        serve(
            url, int(options["connect-timeout"]), int(options["read-timeout"]), int(options["fd"])
        )
    )


if __name__ == "__main__":
    main(sys.argv[1:])
