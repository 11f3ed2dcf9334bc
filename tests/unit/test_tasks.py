"""Stopping a background task whose loop once swallowed a cancellation."""

from __future__ import annotations

import asyncio

from bus import tasks


async def test_a_task_that_swallows_a_cancellation_is_stopped_all_the_same() -> None:
    swallowed = 0
    rounds = 0

    async def retrying() -> None:
        # What a retry loop does when asyncio.wait_for (Python 3.11) turns the
        # cancellation into the result it was waiting for.
        nonlocal swallowed, rounds
        while True:
            rounds += 1
            try:
                await asyncio.sleep(10)
            except asyncio.CancelledError:
                if swallowed:
                    raise
                swallowed += 1

    task = asyncio.create_task(retrying())
    await asyncio.sleep(0)
    async with asyncio.timeout(5):
        await tasks.stop(task)
    assert task.cancelled()
    assert swallowed == 1
    assert rounds == 2


async def test_stopping_a_finished_task_or_none_does_nothing() -> None:
    async def failing() -> None:
        raise RuntimeError("gone")

    task = asyncio.create_task(failing())
    await asyncio.wait({task})
    await tasks.stop(task)  # its error is dropped, not raised
    await tasks.stop(None)
    assert isinstance(task.exception(), RuntimeError)
