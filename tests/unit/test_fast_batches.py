"""How the outbox's publisher reads the server's answers to a fast batch
(``bus.fast_batches``): the frames as nats-server 2.15 sends them."""

from __future__ import annotations

import pytest

from bus.fast_batches import BatchRefused, frame_decoder, reply_subject, settled


def frame(raw: bytes) -> bool:
    return settled(frame_decoder.decode(raw), sent=5)


def test_a_batch_starts_adds_and_commits_in_its_reply_subjects() -> None:
    subjects = [reply_subject("_INBOX.abc.b7", seq, 3) for seq in (1, 2, 3)]
    assert subjects == [
        "_INBOX.abc.b7.500.fail.1.0.$FI",
        "_INBOX.abc.b7.500.fail.2.1.$FI",
        "_INBOX.abc.b7.500.fail.3.2.$FI",
    ]


def test_only_the_commits_ack_for_every_message_settles_the_batch() -> None:
    assert frame(b'{"type":"ack","seq":0,"msgs":500}') is False  # the start
    assert frame(b'{"type":"ack","seq":4,"msgs":2}') is False  # flow
    assert frame(b'{"stream":"PB_EVENTS","seq":41,"batch":"b7","count":5}') is True
    # duplicates are counted as accounted for, and store nothing: seq 0 is fine
    assert frame(b'{"stream":"PB_EVENTS","seq":0,"batch":"b7","count":5}') is True


@pytest.mark.parametrize(
    "raw",
    [
        # a batch abandoned after a refusal or a gap: its commit counts fewer
        b'{"stream":"PB_EVENTS","seq":3,"batch":"b7","count":3}',
        b'{"type":"err","seq":4,"error":{"code":503,"err_code":10077,'
        b'"description":"maximum messages exceeded"}}',
        b'{"type":"gap","last_seq":3,"seq":4}',
        b'{"error":{"code":400,"err_code":10208,"description":"batch publish ID unknown"},'
        b'"stream":"PB_EVENTS","seq":0}',
        b'{"type":"something-new","seq":4}',
    ],
)
def test_anything_short_of_every_message_accounted_for_refuses_the_batch(raw: bytes) -> None:
    with pytest.raises(BatchRefused):
        frame(raw)
