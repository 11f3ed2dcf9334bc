"""A barrier on a NATS connection: return once the server has processed every command
the connection wrote or queued before it — subscriptions above all.

``Client.flush()`` is documented as that barrier, and nats-py (2.16) does not quite keep
the promise: ``subscribe()`` *queues* its ``SUB`` for the client's flusher task, while
``flush()`` writes its ``PING`` straight to the socket. The ``PING`` overtakes the
``SUB``; the ``PONG`` can come back, and another connection publish, before the server
has the subscription, so the message is not delivered to it. Under load it happens:
one run in a few dozen of a test that watched requests lost the first one.

:func:`barrier` first waits for the flusher to write what is queued, then sends the
``PING``: the server processes a connection's commands in order, so its ``PONG`` comes
after every one of them. (The wait uses the client's one private method for it; a newer
client without it falls back to a plain ``flush()``.)
"""

from __future__ import annotations

from typing import Any

from nats.aio.client import Client as NatsClient


async def barrier(nc: NatsClient) -> None:
    """Every command ``nc`` wrote or queued so far has been processed by the server."""
    write_queued: Any = getattr(nc, "_flush_pending", None)
    if write_queued is not None and nc.is_connected:
        await write_queued(force_flush=True)
    await nc.flush()
