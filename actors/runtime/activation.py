"""One live actor: its mailbox and the loop that is its only writer.

The loop waits for mail, drains up to ``batch_max`` messages, answers those whose
deadline has passed without deciding them, lets the actor decide the rest, waits for the
group commit of the resulting change set, and then sends every reply. Any exception —
in ``handle`` or in the commit — reloads the actor's state and answers the batch with a
retryable error; the actor keeps serving. With an empty mailbox for ``idle_timeout_s``
the activation passivates: it leaves the registry first (synchronously, so no message can
slip in between) and then calls ``on_deactivate``.
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from actors.runtime.actor import Actor, ActorKey
from actors.runtime.committer import CommitExpired, GroupCommitter
from bus.errors import ErrorCode
from bus.messages import Err, Reply, Request
from bus.time import now_ms

log = logging.getLogger(__name__)

SendReply = Callable[[str, Reply], Awaitable[None]]


@dataclass(frozen=True, slots=True)
class Mail:
    request: Request
    reply_to: str


class Activation:
    def __init__(
        self,
        key: ActorKey,
        actor: Actor,
        committer: GroupCommitter,
        send: SendReply,
        forget: Callable[[Activation], None],
        batch_max: int,
        idle_timeout_s: float,
    ) -> None:
        self.key = key
        self.actor = actor
        self._committer = committer
        self._send = send
        self._forget = forget
        self._batch_max = batch_max
        self._idle_timeout_s = idle_timeout_s
        self._mailbox: deque[Mail] = deque()
        self._wakeup = asyncio.Event()
        self._closing = False
        self.task: asyncio.Task[None] | None = None
        self.batches = 0

    def post(self, mail: Mail) -> None:
        self._mailbox.append(mail)
        self._wakeup.set()

    def start(self) -> None:
        self.task = asyncio.create_task(self._run(), name=f"actor {self.key}")

    async def close(self) -> None:
        """Finish the mail already queued, then deactivate."""
        self._closing = True
        self._wakeup.set()
        if self.task is not None:
            await self.task

    async def _run(self) -> None:
        try:
            await self.actor.on_activate()
        except Exception:
            log.exception("activating %s failed", self.key)
            self._forget(self)
            await self._fail(list(self._mailbox))
            self._mailbox.clear()
            return
        try:
            reason = await self._serve()
        except Exception:
            # Never leave a dead activation registered: its mail would go unread.
            self._forget(self)
            log.exception("actor %s stopped unexpectedly", self.key)
            await self._fail(list(self._mailbox))
            self._mailbox.clear()
            return
        except BaseException:
            self._forget(self)
            raise
        try:
            await self.actor.on_deactivate(reason)
        except Exception:
            log.exception("deactivating %s failed", self.key)

    async def _serve(self) -> str:
        while True:
            if not self._mailbox:
                if self._closing:
                    self._forget(self)
                    return "shutdown"
                self._wakeup.clear()
                try:
                    await asyncio.wait_for(self._wakeup.wait(), self._idle_timeout_s)
                except TimeoutError:
                    if not self._mailbox:
                        self._forget(self)
                        return "idle"
                continue
            if not await self._process(self._take_batch()):
                # State could not be reloaded: leave, and let the next message activate
                # a fresh instance (which loads state again).
                self._forget(self)
                await self._fail(list(self._mailbox))
                self._mailbox.clear()
                return "reload-failed"

    def _take_batch(self) -> list[Mail]:
        mailbox, batch_max = self._mailbox, self._batch_max
        return [mailbox.popleft() for _ in range(min(batch_max, len(mailbox)))]

    async def _process(self, batch: list[Mail]) -> bool:
        """Decide, commit and answer one batch; False if the actor lost its state."""
        now = now_ms()
        live = [m for m in batch if m.request.deadline_ms > now]
        if len(live) < len(batch):
            expired = Err.of(ErrorCode.DEADLINE_EXCEEDED, "the request expired before it ran")
            for m in batch:
                if m.request.deadline_ms <= now:
                    await self._send(m.reply_to, expired)
        if not live:
            return True
        self.batches += 1
        try:
            decision = await self.actor.handle([m.request for m in live])
            if len(decision.replies) != len(live):
                raise RuntimeError("an actor must reply to every message of its batch")
            if decision.changes is not None:
                latest = max(m.request.deadline_ms for m in live)
                await self._committer.commit(decision.changes, latest)
        except CommitExpired:
            expired = Err.of(ErrorCode.DEADLINE_EXCEEDED, "the request expired before it ran")
            for mail in live:
                await self._send(mail.reply_to, expired)
            return await self._reload()
        except Exception as e:
            log.warning("batch of %d for %s failed: %r", len(live), self.key, e)
            await self._fail(live)
            return await self._reload()
        for mail, reply in zip(live, decision.replies, strict=True):
            await self._send(mail.reply_to, reply)
        return True

    async def _fail(self, batch: list[Mail]) -> None:
        # The outcome may be unknown (a commit can fail after it reached the store), so the
        # client is told to retry with the same idempotency key, never that nothing happened.
        reply = Err(
            code=ErrorCode.UNAVAILABLE,
            message="the request could not be completed; retry it with the same Idempotency-Key",
            retryable=True,
        )
        for mail in batch:
            await self._send(mail.reply_to, reply)

    async def _reload(self) -> bool:
        """Throw away in-memory state that may be ahead of storage, and load it again."""
        try:
            await self.actor.on_activate()
        except Exception:
            log.exception("reloading %s failed", self.key)
            return False
        return True
