"""Stopping a background task for sure.

On Python 3.11 ``asyncio.wait_for`` swallows a cancellation that arrives in the same loop
turn as the result it was waiting for (python/cpython#86296), and nats-py's requests (the
JetStream API's among them) wait with it. A background loop that retries on errors can
then outlive one ``cancel()`` — and whoever awaits it next waits forever. :func:`stop`
cancels again until the task has finished.
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any


async def stop(task: asyncio.Task[Any] | None, again_after_s: float = 0.05) -> None:
    """Cancel ``task`` and wait until it has finished, cancelling it again each
    ``again_after_s`` while it runs on. What it raised, cancellation included, is
    dropped: a stopped task's outcome is of no further use."""
    if task is None:
        return
    while not task.done():
        task.cancel()
        await asyncio.wait({task}, timeout=again_after_s)
    with contextlib.suppress(BaseException):
        task.result()
