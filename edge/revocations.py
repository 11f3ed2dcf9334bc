"""Access tokens of revoked clients, disabled people and ended sessions, refused at once.

Access tokens are verified locally and live up to their expiry (15 minutes by default):
without more, revoking a client or ending a session would leave its tokens working until
then. Every edge follows the events that revoke — ``identity.client_revoked``,
``people.person_updated``, ``people.password_changed`` and ``people.session_ended`` —
from the event stream, starting ``window_s`` back so that an
edge started late knows the revocations its tokens may still meet, and refuses a token
issued before its subject or session was revoked.

An ended session's tokens are all refused. A revoked client or a disabled person gets no
new token, so every token issued up to the second of the revocation is refused. After a
password change the person signs in again at once: token ``iat`` has whole seconds, so
only tokens of earlier seconds are refused (one issued in the same second just before the
change survives: a sub-second window, rather than refusing the new sign-in). A person
changed otherwise (roles or grants narrowed, say) is cut off the same way: the tokens
they hold carry what they were, and the app's next refresh gets tokens of what they are.
"""

from __future__ import annotations

import asyncio
import logging
import time
from datetime import UTC, datetime

import msgspec
from nats.aio.msg import Msg
from nats.js import JetStreamContext
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy

from bus import subjects, tasks
from edge.auth import Identity

log = logging.getLogger(__name__)

#: (aggregate, event name) of the events that revoke tokens.
REVOKING = (
    ("identity", "client_revoked"),
    ("people", "person_updated"),
    ("people", "password_changed"),
    ("people", "session_ended"),
)


class _Event(msgspec.Struct):
    type: str
    tenant: str
    time: str
    data: dict[str, object]


_decode = msgspec.json.Decoder(_Event).decode


#: The server's heartbeat to each of an edge's consumers: two missed make nats-py make
#: the consumer again (5 s by default: revocations went unheard for 10 s after a stall).
HEARTBEAT_S = 2.0


class Revocations:
    def __init__(self, window_s: float = 86_400.0) -> None:
        self.window_s = window_s
        #: (tenant, subject) → tokens issued before this second are refused.
        self._subjects: dict[tuple[str, str], float] = {}
        #: (tenant, session id) → when the session ended.
        self._sessions: dict[tuple[str, str], float] = {}
        self._subscriptions: list[object] = []
        self._last_prune = time.monotonic()
        self._following: asyncio.Task[None] | None = None
        self._stopping = False

    def refuses(self, identity: Identity) -> str | None:
        """Why the token is revoked; None if it is not."""
        if not self._subjects and not self._sessions:
            return None
        key = (identity.tenant, identity.principal.subject)
        before = self._subjects.get(key)
        if before is not None and identity.issued_at < before:
            return (
                "the token was revoked (client revoked, person changed or disabled, or"
                " password changed)"
            )
        if identity.session_id and (identity.tenant, identity.session_id) in self._sessions:
            return "the session has ended"
        return None

    def note(self, payload: bytes) -> None:
        """Take in one event of the stream."""
        try:
            event = _decode(payload)
            at = datetime.fromisoformat(event.time).timestamp()
        except (msgspec.DecodeError, ValueError):
            log.warning("an event the revocations could not read")
            return
        data, second = event.data, int(at)
        match event.type:
            case "perkbus.identity.client_revoked":
                self._revoke(event.tenant, data.get("client_id"), second + 1)
            case "perkbus.people.person_updated" if data.get("status") == "disabled":
                self._revoke(event.tenant, data.get("person_id"), second + 1)
            case "perkbus.people.person_updated":
                # roles or grants may have narrowed: tokens issued before carry the old
                # ones; the app's next refresh gets tokens with the person as they are
                self._revoke(event.tenant, data.get("person_id"), second)
            case "perkbus.people.password_changed":
                self._revoke(event.tenant, data.get("person_id"), second)
            case "perkbus.people.session_ended":
                self._sessions[(event.tenant, str(data.get("session_id")))] = at
        self._prune()

    def _revoke(self, tenant: str, subject: object, before: int) -> None:
        key = (tenant, str(subject))
        self._subjects[key] = max(before, self._subjects.get(key, 0))

    def _prune(self) -> None:
        """Forget revocations older than any token that could still be alive."""
        if time.monotonic() - self._last_prune < 60:
            return
        self._last_prune = time.monotonic()
        horizon = time.time() - self.window_s
        for table in (self._subjects, self._sessions):
            for key in [k for k, at in table.items() if at < horizon]:
                del table[key]

    def start(self, js: JetStreamContext, retry_s: float = 1.0) -> None:
        """Follow the revoking events in the background until :meth:`stop`."""
        self._stopping = False
        self._following = asyncio.create_task(self.keep_following(js, retry_s))

    async def keep_following(self, js: JetStreamContext, retry_s: float = 1.0) -> None:
        """:meth:`follow`, retried until the event stream exists (the actor hosts make it,
        and may start after the edge)."""
        while not self._stopping:
            try:
                await self.follow(js)
                return
            except Exception as e:  # no stream yet, NATS reconnecting
                await self._unsubscribe()
                log.info("revocations: cannot follow the events yet (%s); retrying", e)
                await asyncio.sleep(retry_s)

    async def follow(self, js: JetStreamContext) -> None:
        """Follow the revoking events from ``window_s`` ago (one ordered consumer each)."""
        first = await self._first_sequence_since(js, time.time() - self.window_s)

        async def on_event(msg: Msg) -> None:
            self.note(msg.data)

        for aggregate, name in REVOKING:
            if self._stopping:
                return
            # From a sequence, not a time: when heartbeats stop (NATS stalled, restarted)
            # nats-py makes the ordered consumer again from the sequence after the last
            # one it saw but keeps the start time, which the server refuses (err 10094)
            # every time: the edge stopped hearing of revocations until it restarted.
            config = ConsumerConfig(
                deliver_policy=DeliverPolicy.BY_START_SEQUENCE,
                opt_start_seq=first,
                idle_heartbeat=HEARTBEAT_S,
            )
            subscription = await js.subscribe(
                subjects.event_of_every_tenant(aggregate, name),
                stream=subjects.EVENTS_STREAM,
                cb=on_event,
                ordered_consumer=True,
                config=config,
            )
            self._subscriptions.append(subscription)

    @staticmethod
    async def _first_sequence_since(js: JetStreamContext, since_s: float) -> int:
        """The sequence of the stream's first event at or after ``since_s``: a consumer
        made to start at that time says, before it delivers anything, that it has
        delivered up to the one before."""
        start = datetime.fromtimestamp(since_s, UTC)
        probe = ConsumerConfig(
            deliver_policy=DeliverPolicy.BY_START_TIME,
            opt_start_time=start,
            ack_policy=AckPolicy.NONE,
            inactive_threshold=10.0,  # gone by itself if this edge dies before it deletes it
        )
        info = await js.add_consumer(subjects.EVENTS_STREAM, probe)
        try:
            delivered = info.delivered
            return (delivered.stream_seq or 0) + 1 if delivered is not None else 1
        finally:
            await js.delete_consumer(subjects.EVENTS_STREAM, info.name)

    async def stop(self) -> None:
        """Stop following (for sure: see :mod:`bus.tasks`) and unsubscribe."""
        self._stopping = True
        following, self._following = self._following, None
        await tasks.stop(following)
        await self._unsubscribe()

    async def _unsubscribe(self) -> None:
        for subscription in self._subscriptions:
            unsubscribe = getattr(subscription, "unsubscribe", None)
            if unsubscribe is not None:
                try:
                    await unsubscribe()
                except Exception:  # the connection may be closing already
                    log.debug("unsubscribe failed", exc_info=True)
        self._subscriptions = []
        await asyncio.sleep(0)
