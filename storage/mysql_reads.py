"""Lookups by (tenant, key) asked for in one turn of the event loop, sent as one query.

Under orders spread over many tenants, each tenant's treasury decides batches of one
order, and each batch looks up its idempotency replies and its orders: two queries per
order, each a pooled connection, a round trip and a result set for the driver to parse —
most of the actor host's CPU on MariaDB. The lookups of many tenants arrive in the same
turn of the event loop (the NATS client hands over what one socket read brought); they
are gathered and sent at the turn's end as ``WHERE (tenant_id, key) IN ((…), …)``, which
MariaDB and MySQL answer with a range scan of the primary key or unique index. The SQLite
ledger does the same for its read thread (:mod:`storage.sqlite_db`).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

#: (tenant, key) pairs per query at most: well under the server's 65,535 placeholders.
MAX_PAIRS = 1_000

Row = tuple[Any, ...]


class TurnReads:
    """Rows looked up by (tenant, key), gathered over one turn of the event loop.

    ``statement(n)`` selects rows whose first two columns are the tenant and the key,
    for ``n`` pairs given as ``tenant, key, tenant, key, …``; ``fetch`` runs it.
    """

    def __init__(
        self,
        statement: Callable[[int], str],
        fetch: Callable[[str, tuple[Any, ...]], Awaitable[list[Row]]],
    ) -> None:
        self._statement = statement
        self._fetch = fetch
        self._asked: list[tuple[str, Sequence[str], asyncio.Future[list[Row]]]] = []
        self._sending: set[asyncio.Task[None]] = set()

    async def get(self, tenant: str, keys: Sequence[str]) -> list[Row]:
        """The rows of ``tenant`` whose key is one of ``keys`` (those that exist)."""
        loop = asyncio.get_running_loop()
        done: asyncio.Future[list[Row]] = loop.create_future()
        if not self._asked:
            loop.call_soon(self._send)
        self._asked.append((tenant, keys, done))
        return await done

    def _send(self) -> None:
        asked, self._asked = self._asked, []
        pairs = list(dict.fromkeys((tenant, key) for tenant, keys, _ in asked for key in keys))
        task = asyncio.create_task(self._answer(asked, pairs))
        self._sending.add(task)
        task.add_done_callback(self._sending.discard)

    async def _answer(
        self,
        asked: list[tuple[str, Sequence[str], asyncio.Future[list[Row]]]],
        pairs: list[tuple[str, str]],
    ) -> None:
        try:
            chunks = [pairs[i : i + MAX_PAIRS] for i in range(0, len(pairs), MAX_PAIRS)]
            found: dict[tuple[str, str], Row] = {}
            for rows in await asyncio.gather(*(self._query(chunk) for chunk in chunks)):
                found.update(((row[0], row[1]), row) for row in rows)
        except BaseException as e:
            for _, _, done in asked:
                if not done.done():
                    done.set_exception(e)
            if not isinstance(e, Exception):
                raise
            return
        for tenant, keys, done in asked:
            if not done.done():  # its asker may have given up
                done.set_result([r for k in keys if (r := found.get((tenant, k))) is not None])

    async def _query(self, pairs: list[tuple[str, str]]) -> list[Row]:
        return await self._fetch(self._statement(len(pairs)), tuple(v for p in pairs for v in p))
