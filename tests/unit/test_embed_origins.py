"""The edge's memory of each tenant's allowed embed origins (``edge.cors``): asked once
at a time per tenant, kept, forgotten on a programme change, never a failure."""

from __future__ import annotations

import asyncio

from edge.cors import EmbedOrigins, embeddable, path_tenant


class Tenants:
    """What the tenant config actors would answer, and how often they were asked."""

    def __init__(self) -> None:
        self.origins: dict[str, tuple[str, ...] | None] = {"acme": ("https://a.example",)}
        self.asked: list[str] = []
        self.gate = asyncio.Event()
        self.gate.set()

    async def fetch(self, tenant: str) -> tuple[str, ...] | None:
        self.asked.append(tenant)
        await self.gate.wait()
        if tenant == "broken":
            raise RuntimeError("the bus fell over")
        return self.origins.get(tenant, ())


async def test_concurrent_asks_share_one_question_and_the_answer_is_kept() -> None:
    tenants = Tenants()
    tenants.gate.clear()
    origins = EmbedOrigins(tenants.fetch, ttl_s=60)
    waiting = [asyncio.ensure_future(origins.allows("acme", "https://a.example")) for _ in range(5)]
    await asyncio.sleep(0)
    tenants.gate.set()
    assert await asyncio.gather(*waiting) == [True] * 5
    assert await origins.allows("acme", "https://b.example") is False
    assert tenants.asked == ["acme"]


async def test_a_programme_change_is_asked_again() -> None:
    tenants = Tenants()
    origins = EmbedOrigins(tenants.fetch, ttl_s=60)
    assert await origins.allows("acme", "https://a.example")
    tenants.origins["acme"] = ("https://b.example",)
    origins.forget("acme")
    assert await origins.of("acme") == frozenset({"https://b.example"})
    assert tenants.asked == ["acme", "acme"]


async def test_no_answer_is_not_kept_and_never_raises() -> None:
    tenants = Tenants()
    tenants.origins["away"] = None  # no actor host answered
    origins = EmbedOrigins(tenants.fetch, ttl_s=60)
    assert await origins.of("away") == frozenset()
    assert await origins.of("away") == frozenset()
    assert await origins.of("broken") == frozenset()
    assert tenants.asked == ["away", "away", "broken"]


async def test_names_that_cannot_be_tenants_are_never_asked() -> None:
    tenants = Tenants()
    origins = EmbedOrigins(tenants.fetch, ttl_s=60)
    for name in ("", "Acme", "a b", "../acme", "x" * 64):
        assert await origins.of(name) == frozenset()
    assert tenants.asked == []


async def test_without_a_ttl_every_ask_is_a_question() -> None:
    tenants = Tenants()
    origins = EmbedOrigins(tenants.fetch, ttl_s=0)
    await origins.of("acme")
    await origins.of("acme")
    assert tenants.asked == ["acme", "acme"]


def test_origins_and_paths() -> None:
    assert embeddable("https://intranet.acme.example")
    assert embeddable("http://localhost:8080")
    assert not embeddable("http://intranet.acme.example")
    assert not embeddable("https://acme.example/path")
    assert not embeddable("null")
    assert path_tenant("/api/v1/tenants/acme/branding") == "acme"
    assert path_tenant("/embed/acme") == "acme"
    assert path_tenant("/api/v1/tenants/Acme/branding") is None
    assert path_tenant("/api/v1/orders") is None
