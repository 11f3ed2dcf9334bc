"""The ceiling's actor process: per-tenant mailboxes and ONE group committer.

Requests arrive on a queue-group subscription; each goes into its tenant's mailbox. The
committer takes everything pending in every mailbox, writes one row per request in one
transaction and, only after the commit, replies to each. While it commits, new requests
gather for the next transaction, so a commit carries as many orders as arrived during the
previous one: the same group commit perkbus's actor host does, without the work.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections import defaultdict

import msgspec
import nats
from nats.aio.msg import Msg

from bench.ceiling.messages import QUEUE, SUBJECT_PREFIX, Failed, Placed, PlaceOrder, Reply
from bench.ceiling.store import MysqlStore, Row, SqliteStore, open_store

log = logging.getLogger("bench.ceiling.actor")

_decode = msgspec.msgpack.Decoder(PlaceOrder).decode
_encode = msgspec.msgpack.Encoder().encode


class Mailboxes:
    """Requests waiting for the committer, by tenant, and a wake-up for it."""

    def __init__(self) -> None:
        self.pending: defaultdict[str, list[tuple[Msg, PlaceOrder]]] = defaultdict(list)
        self.arrived = asyncio.Event()

    def put(self, msg: Msg) -> None:
        order = _decode(msg.data)
        self.pending[order.tenant].append((msg, order))
        self.arrived.set()

    def take_all(self) -> list[tuple[Msg, PlaceOrder]]:
        taken = [item for box in self.pending.values() for item in box]
        self.pending.clear()
        self.arrived.clear()
        return taken


class GroupCommitter:
    def __init__(self, store: SqliteStore | MysqlStore, mailboxes: Mailboxes) -> None:
        self.store, self.mailboxes = store, mailboxes
        self.commits = self.orders = 0

    async def run(self) -> None:
        while True:
            await self.mailboxes.arrived.wait()
            taken = self.mailboxes.take_all()
            rows: list[Row] = [(f"ord_{uuid.uuid4().hex}", order) for _, order in taken]
            reply: list[Reply]
            try:
                await self.store.write(rows)
                reply = [Placed(order_id) for order_id, _ in rows]
            except Exception as e:  # the whole batch fails, each request is told
                log.exception("group commit failed")
                reply = [Failed(type(e).__name__)] * len(rows)
            self.commits += 1
            self.orders += len(rows)
            for (msg, _), answer in zip(taken, reply, strict=True):
                await msg.respond(_encode(answer))


async def run_actor(nats_url: str, db: str, stop: asyncio.Event) -> None:
    store = await open_store(db)
    nc = await nats.connect(nats_url, name="ceiling-actor")
    mailboxes = Mailboxes()
    committer = GroupCommitter(store, mailboxes)

    async def on_request(msg: Msg) -> None:
        mailboxes.put(msg)

    await nc.subscribe(SUBJECT_PREFIX + "*", queue=QUEUE, cb=on_request, pending_msgs_limit=-1)
    await nc.flush()
    task = asyncio.create_task(committer.run())
    print("ceiling actor ready", flush=True)
    try:
        await stop.wait()
    finally:
        await nc.drain()
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        await store.close()
        log.info(
            "group commit: %d orders in %d transactions (%.1f per commit)",
            committer.orders,
            committer.commits,
            committer.orders / max(committer.commits, 1),
        )
