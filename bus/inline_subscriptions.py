"""Subscriptions whose messages are handled as the client reads them (ADR 36).

A nats-py subscription with a callback puts each message in a queue, and a task of the
subscription takes it out and awaits the callback: one turn of the event loop between the
socket and the handler, on top of the turn the client's reader took. Under a burst over a
thousand tenants a loop turn of the actor host is several milliseconds, and an order
crosses two such subscriptions (its request into the host, its reply into the edge):
handling both as they are read made `perkbus bench`'s spread scenario ~20% faster.

:func:`subscribe_inline` replaces the subscription's queue with :class:`_HandOver`, which
calls a plain function (no coroutine) with each message the moment nats-py's reader parses
it. The function must be quick and must not wait: the reader reads nothing else while it
runs. What it raises is logged, never passed to the reader.

The queue is a private part of nats-py (``Subscription._pending_queue``, fed with
``put_nowait``). So the first inline subscription of a connection proves that it works:
it sends itself a message and waits for the barrier after it (:mod:`bus.barrier`); a
message to oneself arrives before the barrier's ``PONG``, so had the function not been
called by then, the hand-over does not work with this nats-py. The connection then
subscribes with callbacks as usual, and says so in the log.
"""

from __future__ import annotations

import logging
import weakref
from collections.abc import Callable
from typing import Any

from nats.aio.client import Client as NatsClient
from nats.aio.msg import Msg
from nats.aio.subscription import Subscription

from bus.barrier import barrier

log = logging.getLogger(__name__)

Handle = Callable[[Msg], None]

#: Whether the hand-over was proven to work on a connection.
_works: weakref.WeakKeyDictionary[NatsClient, bool] = weakref.WeakKeyDictionary()


class _HandOver:
    """Stands in for a subscription's queue of messages: hands each one over at once."""

    def __init__(self, sub: Subscription, handle: Handle) -> None:
        self._sub = sub
        self._handle = handle

    def put_nowait(self, msg: Msg) -> None:
        self._sub._pending_size -= len(msg.data)  # counted by the reader as queued
        try:
            self._handle(msg)
        except Exception:
            log.exception("handling a message on %s failed", msg.subject)

    # What nats-py asks of a subscription's queue besides: it is always empty.
    def empty(self) -> bool:
        return True

    def qsize(self) -> int:
        return 0

    def task_done(self) -> None:
        pass

    async def join(self) -> None:
        pass


async def subscribe_inline(
    nc: NatsClient, subject: str, handle: Handle, queue: str = "", **limits: Any
) -> Subscription:
    """Subscribe to ``subject`` (in ``queue``, if given) with ``handle`` called as each
    message is read; with a callback as usual where the hand-over does not work."""
    if await _hand_over_works(nc):
        sub = await nc.subscribe(subject, queue=queue, **limits)
        sub._pending_queue = _HandOver(sub, handle)  # type: ignore[assignment]
        return sub

    async def callback(msg: Msg) -> None:
        handle(msg)

    return await nc.subscribe(subject, queue=queue, cb=callback, **limits)


async def _hand_over_works(nc: NatsClient) -> bool:
    known = _works.get(nc)
    if known is not None:
        return known
    handed: list[Msg] = []
    probe = await nc.subscribe(nc.new_inbox())
    probe._pending_queue = _HandOver(probe, handed.append)  # type: ignore[assignment]
    try:
        await nc.publish(probe.subject, b"")
        await barrier(nc)
    finally:
        await probe.unsubscribe()
    works = _works[nc] = bool(handed)
    if not works:
        log.warning("nats-py does not hand messages over as read: subscribing with callbacks")
    return works
