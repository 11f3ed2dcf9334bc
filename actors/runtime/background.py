"""A task that sleeps until woken, and on stop finishes its work before returning."""

from __future__ import annotations

import asyncio


class Background:
    """Base of the host's single-loop workers (the group committer, the outbox relay).

    A subclass implements ``_run``: wait on ``_wakeup``, do the work, and return once
    ``_stopping`` is set and nothing is left to do.
    """

    name = "background"

    def __init__(self) -> None:
        self._wakeup = asyncio.Event()
        self._stopping = False
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        """Start (or, after ``stop``, start again)."""
        self._stopping = False
        self._task = asyncio.create_task(self._run(), name=self.name)

    @property
    def running(self) -> bool:
        return self._task is not None and not self._task.done()

    async def stop(self) -> None:
        """Finish what is pending, then stop."""
        self._stopping = True
        self._wakeup.set()
        if self._task is not None:
            await self._task
            self._task = None

    async def _run(self) -> None:
        raise NotImplementedError
