"""A webhook receiver for tests: a real HTTP server on 127.0.0.1 that keeps every request
and answers with the statuses it is told, in order (then 200); a 3xx points back to it."""

from __future__ import annotations

import asyncio
import json
from collections import deque
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    body: bytes

    @property
    def event(self) -> Any:
        return json.loads(self.body)


@dataclass
class Receiver:
    url: str
    received: list[Received] = field(default_factory=list)
    #: Statuses to answer with, first first; once used up, 200.
    statuses: deque[int] = field(default_factory=deque)
    #: How long each answer takes.
    delay_s: float = 0.0
    #: Answer with the body received (as receivers that echo what they got do).
    echo: bool = False
    arrived: asyncio.Condition = field(default_factory=asyncio.Condition)

    async def wait_for(self, count: int, timeout_s: float = 15.0) -> list[Received]:
        """Once ``count`` requests have arrived, all that have."""
        async with self.arrived:
            await asyncio.wait_for(
                self.arrived.wait_for(lambda: len(self.received) >= count), timeout_s
            )
        return list(self.received)

    def of_type(self, event_type: str) -> list[Received]:
        return [r for r in self.received if r.event["type"] == event_type]


@asynccontextmanager
async def receiver() -> AsyncIterator[Receiver]:
    app = web.Application()
    box = Receiver("")

    async def take(request: web.Request) -> web.Response:
        body = await request.read()
        await asyncio.sleep(box.delay_s)
        status = box.statuses.popleft() if box.statuses else 200
        async with box.arrived:
            box.received.append(Received(request.path, dict(request.headers), body))
            box.arrived.notify_all()
        # a redirect points back here: followed, it would arrive as one more request
        moved = {"Location": box.url} if 300 <= status < 400 else None
        text = body.decode() if box.echo else f"answered {status}"
        return web.Response(status=status, text=text, headers=moved)

    app.router.add_post("/{tail:.*}", take)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    box.url = f"http://127.0.0.1:{port}/hooks"
    try:
        yield box
    finally:
        await runner.cleanup()
