"""JetStream's fast batches (nats-server 2.14 and later, on a stream with
``allow_batched``): many messages published as one batch, acknowledged together.

A fast batch carries its protocol in each message's reply subject,
``<inbox>.<batch id>.<flow>.fail.<seq>.<op>.$FI``: ``op`` 0 starts the batch (its first
message), 1 adds to it, 2 commits it with its last message. The server stores each
message as it comes. It answers the start, then at most every ``flow`` messages (flow
acks, which a publisher may go on past), and the commit with one ack,
``{"stream", "seq", "batch", "count"}``: ``count`` is the messages it accounted for,
stored or dropped as duplicates of a ``Nats-Msg-Id`` still in the stream's window —
which is what an outbox wants (ADR 7).

With ``fail``, the first message the stream refuses (``{"type": "err"}``) or misses
(``{"type": "gap"}``; a message no stream takes is answered with a 503 and leaves a gap)
ends the batch: the server answers the commit with an ack that counts fewer messages, or
with an error. A publisher then knows that not every message was stored, only that some
may have been: it publishes them again (duplicates are dropped).
"""

from __future__ import annotations

import msgspec

#: Messages between the server's flow acks, at most (the server takes fewer when several
#: batches share the stream).
FLOW = 500
#: The last token of every reply subject of a fast batch.
SUFFIX = ".$FI"


class BatchRefused(Exception):
    """The server ended a fast batch before it accounted for every message."""


class AckError(msgspec.Struct, frozen=True):
    code: int = 0
    err_code: int = 0
    description: str = ""


class Frame(msgspec.Struct, frozen=True):
    """What the server sends a fast batch's publisher: a flow ack (``type`` "ack"), a
    refused message ("err"), a gap ("gap"), or the commit's ack (no ``type``)."""

    type: str = ""
    stream: str = ""
    seq: int = 0
    count: int = 0
    error: AckError | None = None


frame_decoder = msgspec.json.Decoder(Frame)


def reply_subject(prefix: str, seq: int, last: int) -> str:
    """The reply subject of message ``seq`` (from 1) of a batch of ``last`` (2 or more)
    messages; ``prefix`` is the publisher's inbox and the batch id, as one subject."""
    op = 0 if seq == 1 else 2 if seq == last else 1
    return f"{prefix}.{FLOW}.fail.{seq}.{op}{SUFFIX}"


def settled(frame: Frame, sent: int) -> bool:
    """True once the commit's ack says every one of the ``sent`` messages is accounted
    for; False for a flow ack (more is to come); :class:`BatchRefused` otherwise."""
    if frame.error is not None:
        error = frame.error
        raise BatchRefused(f"{error.err_code or error.code}: {error.description}")
    if frame.type == "ack":
        return False
    if frame.type:  # "gap", or a kind this publisher does not know: not all were stored
        raise BatchRefused(f"the stream reported a {frame.type} in the batch")
    if frame.count != sent:
        raise BatchRefused(f"the stream accounted for {frame.count} of {sent} messages")
    return True
