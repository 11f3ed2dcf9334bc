"""One live actor: its mailbox and the loop that is its only writer.

The loop waits for mail and drains up to ``batch_max`` messages. It answers those whose
deadline has passed without deciding them, and those whose idempotency key already has a
reply (see :mod:`actors.runtime.idempotency`). The actor decides the rest in memory; the
resulting change set — with the replies to remember — goes to the host's group commit,
and only after the commit is every reply sent. Any exception, in ``handle`` or in the
commit, reloads the actor's state and answers the batch with a retryable error; the actor
keeps serving. With an empty mailbox for ``idle_timeout_s`` the activation passivates:
it leaves the registry first (synchronously, so no message can slip in between) and then
calls ``on_deactivate``.
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from msgspec.structs import replace

from actors.runtime.actor import Actor, ActorKey
from actors.runtime.audit import audit_entries
from actors.runtime.committer import CommitExpired, GroupCommitter
from actors.runtime.idempotency import ReplyMemory, Screened, fingerprint, reused
from bus.errors import ErrorCode
from bus.messages import Err, Reply, Request
from bus.time import now_ms
from storage.ports import ChangeSet, Ledger, StoredReply

log = logging.getLogger(__name__)

SendReply = Callable[[str, Reply], Awaitable[None]]


@dataclass(frozen=True, slots=True)
class Mail:
    request: Request
    #: The NATS subject the reply goes to ("" for a told message: nobody waits) …
    reply_to: str
    #: … or, for a request from an actor of the same host, the future it waits on.
    local: asyncio.Future[Reply] | None = None


@dataclass(frozen=True)
class Runtime:
    """What every activation of a host shares."""

    ledger: Ledger
    committer: GroupCommitter
    send: SendReply
    forget: Callable[[Activation], None]
    batch_max: int = 256
    idle_timeout_s: float = 300.0
    reply_ttl_s: float = 30 * 24 * 3600


class Activation:
    def __init__(
        self, key: ActorKey, actor: Actor, runtime: Runtime, pipelined: bool = False
    ) -> None:
        self.key = key
        #: Decide the next batch while the last one commits (see :meth:`_process`): only
        #: for actors that never read back from storage what they have just written.
        self.pipelined = pipelined
        self.actor = actor
        self._rt = runtime
        self._replies = ReplyMemory(runtime.ledger, key.tenant, runtime.reply_ttl_s)
        self._mailbox: deque[Mail] = deque()
        self._wakeup = asyncio.Event()
        self._closing = False
        self.task: asyncio.Task[None] | None = None
        self.batches = 0
        # Passivation: one timer per idle period, not one per wait (``wait_for`` on every
        # empty mailbox made a task and a timer per batch: a few % of a busy host).
        self._last_mail = 0.0
        self._idle = False
        self._idle_timer: asyncio.TimerHandle | None = None
        #: The last batch, while its commit is under way (it answers when that is done).
        self._previous: asyncio.Task[bool] | None = None

    def post(self, mail: Mail) -> None:
        self._mailbox.append(mail)
        self._last_mail = asyncio.get_running_loop().time()
        self._idle = False
        if self._idle_timer is None and self.task is not None:
            self._arm_idle_timer(self._rt.idle_timeout_s)
        self._wakeup.set()

    def start(self) -> None:
        self._last_mail = asyncio.get_running_loop().time()
        self.task = asyncio.create_task(self._run(), name=f"actor {self.key}")
        self._arm_idle_timer(self._rt.idle_timeout_s)

    def _arm_idle_timer(self, delay_s: float) -> None:
        self._idle_timer = asyncio.get_running_loop().call_later(delay_s, self._check_idle)

    def _check_idle(self) -> None:
        self._idle_timer = None
        quiet = asyncio.get_running_loop().time() - self._last_mail
        if quiet < self._rt.idle_timeout_s:
            self._arm_idle_timer(self._rt.idle_timeout_s - quiet)
        elif not self._mailbox:
            self._idle = True
            self._wakeup.set()

    async def close(self) -> None:
        """Finish the mail already queued, then deactivate."""
        self._closing = True
        self._wakeup.set()
        if self.task is not None:
            await self.task

    async def _run(self) -> None:
        try:
            await self._live()
        finally:
            if self._idle_timer is not None:
                self._idle_timer.cancel()
                self._idle_timer = None

    async def _live(self) -> None:
        try:
            await self.actor.on_activate()
        except Exception:
            log.exception("activating %s failed", self.key)
            await self._leave_failing()
            return
        try:
            reason = await self._serve()
        except Exception:
            # Never leave a dead activation registered: its mail would go unread.
            log.exception("actor %s stopped unexpectedly", self.key)
            await self._leave_failing()
            return
        except BaseException:
            self._rt.forget(self)
            raise
        try:
            await self.actor.on_deactivate(reason)
        except Exception:
            log.exception("deactivating %s failed", self.key)

    async def _leave_failing(self) -> None:
        """Leave the registry and answer what is still queued with a retryable error."""
        await self._settle_previous()
        self._rt.forget(self)
        queued = list(self._mailbox)
        self._mailbox.clear()
        await self._fail(queued)

    async def _serve(self) -> str:
        while True:
            if not self._mailbox:
                if self._closing or self._idle:
                    await self._settle_previous()
                    if self._mailbox:  # mail came while the last batch was answered
                        continue
                    self._rt.forget(self)
                    return "shutdown" if self._closing else "idle"
                self._wakeup.clear()
                await self._wakeup.wait()
                continue
            if not await self._process(self._take_batch()):
                # State could not be reloaded: leave, and let the next message activate
                # a fresh instance (which loads state again).
                await self._leave_failing()
                return "reload-failed"

    def _take_batch(self) -> list[Mail]:
        mailbox = self._mailbox
        return [mailbox.popleft() for _ in range(min(self._rt.batch_max, len(mailbox)))]

    async def _process(self, batch: list[Mail]) -> bool:
        """Decide one batch and hand its changes to the group commit; False if the actor
        lost its state.

        For a pipelined actor (ADR 21), while a batch's changes are being committed, the
        next batch is decided on the state they leave — but its own changes go to the
        committer, and any of its replies go out, only once that commit has succeeded.
        If it failed, the next batch is answered with a retryable error and the actor
        loads its state again. A batch's replies are sent only after its own commit."""
        now = now_ms()
        live = [m for m in batch if m.request.deadline_ms > now]
        if len(live) < len(batch):
            expired = Err.of(ErrorCode.DEADLINE_EXCEEDED, "the request expired before it ran")
            for m in batch:
                if m.request.deadline_ms <= now:
                    await self._answer(m, expired)
        if not live:
            return True
        if self._previous is not None and self._previous.done():
            failed = not self._previous.result()
            self._previous = None
            if failed and not await self._reload():  # decided on what was not written
                return False
        self.batches += 1
        requests = [m.request for m in live]
        replies: list[Reply | None] = [None] * len(live)
        screened: Screened | None = None
        changes: ChangeSet | None = None
        records: tuple[StoredReply, ...] = ()
        try:
            screened = await self._replies.screen(requests, now)
            if screened.to_decide:
                decision = await self.actor.handle([r for r, _ in screened.to_decide])
                if len(decision.replies) != len(screened.to_decide):
                    raise RuntimeError("an actor must reply to every message of its batch")
                records = self._replies.records(screened.to_decide, decision.replies, now)
                decided = [r for r, _ in screened.to_decide]
                audit = audit_entries(decided, decision.replies, now)
                changes = decision.changes
                if records or screened.expired or audit:
                    changes = replace(
                        changes or ChangeSet(self.key.tenant),
                        replies=records,
                        expired_replies=tuple(screened.expired),
                        audit=(*(changes.audit if changes else ()), *audit),
                    )
                for i, reply in zip(screened.decided_at, decision.replies, strict=True):
                    replies[i] = reply
        except Exception as e:
            log.warning("batch of %d for %s failed: %r", len(live), self.key, e)
            if await self._settle_previous() and screened is not None:
                for i, reply in screened.answered.items():
                    await self._answer(live[i], reply)
                await self._fail(self._unanswered(live, screened))
            else:
                await self._fail(live)
            return await self._reload()
        if not await self._settle_previous():
            await self._fail(live)  # decided on changes that were not written
            return await self._reload()
        for i, reply in screened.answered.items():  # durable now, whatever comes next
            await self._answer(live[i], reply)
        for i, first in screened.repeats.items():
            same = fingerprint(requests[i]) == fingerprint(requests[first])
            replies[i] = replies[first] if same else reused(str(requests[i].idempotency_key))
        commit: asyncio.Future[None] | None = None
        if changes is not None:
            latest = max(r.deadline_ms for r, _ in screened.to_decide)
            commit = self._rt.committer.submit(changes, latest)
        self._replies.remember(records)  # the next batch's screen sees them; sent later
        self._previous = asyncio.create_task(self._complete(commit, live, screened, replies))
        if not self.pipelined and not await self._settle_previous():
            return await self._reload()
        return True

    async def _complete(
        self,
        commit: asyncio.Future[None] | None,
        live: list[Mail],
        screened: Screened,
        replies: list[Reply | None],
    ) -> bool:
        """Wait for a batch's commit, then answer it; False if the commit failed."""
        if commit is not None:
            try:
                await commit
            except CommitExpired:
                expired = Err.of(ErrorCode.DEADLINE_EXCEEDED, "the request expired before it ran")
                for mail in self._unanswered(live, screened):
                    await self._answer(mail, expired)
                self._replies.forget_all()
                return False
            except Exception as e:
                log.warning("commit of a batch of %d for %s failed: %r", len(live), self.key, e)
                await self._fail(self._unanswered(live, screened))
                self._replies.forget_all()
                return False
        for i, (mail, given) in enumerate(zip(live, replies, strict=True)):
            if i not in screened.answered:
                assert given is not None
                await self._answer(mail, given)
        return True

    async def _settle_previous(self) -> bool:
        """Wait for the batch before to be committed and answered; False if it failed."""
        previous, self._previous = self._previous, None
        return True if previous is None else await previous

    async def _answer(self, mail: Mail, reply: Reply) -> None:
        if mail.local is None:
            await self._rt.send(mail.reply_to, reply)
        elif not mail.local.done():  # its asker may have given up waiting
            mail.local.set_result(reply)

    @staticmethod
    def _unanswered(live: list[Mail], screened: Screened | None) -> list[Mail]:
        answered = screened.answered if screened is not None else {}
        return [m for i, m in enumerate(live) if i not in answered]

    async def _fail(self, batch: list[Mail]) -> None:
        # The outcome may be unknown (a commit can fail after it reached the store), so the
        # client is told to retry with the same idempotency key, never that nothing happened.
        reply = Err(
            code=ErrorCode.UNAVAILABLE,
            message="the request could not be completed; retry it with the same Idempotency-Key",
            retryable=True,
        )
        for mail in batch:
            await self._answer(mail, reply)

    async def _reload(self) -> bool:
        """Throw away in-memory state that may be ahead of storage, and load it again."""
        self._replies.forget_all()
        try:
            await self.actor.on_activate()
        except Exception:
            log.exception("reloading %s failed", self.key)
            return False
        return True
