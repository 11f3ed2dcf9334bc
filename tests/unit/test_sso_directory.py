"""The edge's cache of each tenant's sign-on provider: a refusal that may pass (the people
actor failing over, a deadline) is not "this tenant has no single sign-on"."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from bus.errors import ErrorCode
from bus.messages import Err, Ok, Reply
from bus.messages.people import SsoProviderView
from edge.config import EdgeConfig
from edge.http import BUS, CONFIG
from edge.sso_sessions import BusSsoDirectory

VIEW = SsoProviderView("https://id.acme.test", "perkbus", "openid email", ("acme.test",), True, 1)


class ScriptedBus:
    """Answers the directory's asks in turn (the edge's bus, seen from its one caller)."""

    def __init__(self, *replies: Reply) -> None:
        self.replies = list(replies)

    async def request(self, *_: Any) -> Reply:
        return self.replies.pop(0)


def directory(bus: ScriptedBus) -> BusSsoDirectory:
    app = web.Application()
    app[BUS] = bus  # type: ignore[misc]
    app[CONFIG] = EdgeConfig()
    return BusSsoDirectory(app)


async def test_an_unavailable_answer_keeps_what_was_known(monkeypatch: Any) -> None:
    bus = ScriptedBus(
        Ok(VIEW),
        Err.of(ErrorCode.UNAVAILABLE, "failing over"),
        Err.of(ErrorCode.NOT_FOUND, "the tenant has no single sign-on"),
    )
    sso = directory(bus)
    now = [1_000.0]
    monkeypatch.setattr("edge.sso_sessions.time.monotonic", lambda: now[0])
    first = await sso.provider("acme")
    assert first is not None
    assert first.issuer == VIEW.issuer
    now[0] += 60  # past the cache: ask again, and the actor cannot say
    assert await sso.provider("acme") == first
    now[0] += 1  # not kept as an answer: the next call asks again
    assert await sso.provider("acme") is None  # removed, for real
    assert not bus.replies


async def test_unavailable_with_nothing_known_is_not_cached_as_none() -> None:
    bus = ScriptedBus(Err.of(ErrorCode.UNAVAILABLE, "failing over"), Ok(VIEW))
    sso = directory(bus)
    assert await sso.provider("acme") is None
    found = await sso.provider("acme")  # at once: the refusal was not kept for 30 s
    assert found is not None
    assert found.client_id == "perkbus"
