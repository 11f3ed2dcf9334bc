"""Parts of the webhook relay on their own: the sender's guard against private
addresses and redirects (against a real local receiver), and the directory of endpoints,
which must not keep an answer older than a change it was told of."""

from __future__ import annotations

import asyncio
import socket

import pytest
from aiohttp.abc import AbstractResolver, ResolveResult
from nats.aio.msg import Msg

from actors.webhook_sender import PrivateAddress, PublicResolver, WebhookSender
from actors.webhook_targets import TargetDirectory
from bus import subjects
from bus.barrier import barrier
from bus.client import Bus
from bus.messages import Ok, encoder
from bus.messages.webhooks import DeliveryTarget, DeliveryTargets
from bus.webhook_signatures import new_secret
from tests.webhook_receiver import receiver


async def test_the_sender_signs_and_reads_the_start_of_the_answer() -> None:
    sender = WebhookSender(allow_private=True, timeout_s=5)
    await sender.start()
    try:
        async with receiver() as box:
            box.statuses.extend([302, 500])
            moved = await sender.send(box.url, [new_secret()], "msg_1", b"{}")
            failed = await sender.send(box.url, [new_secret()], "msg_1", b"{}")
            done = await sender.send(box.url, [new_secret()], "msg_1", b"{}")
            assert len(box.received) == 3  # a redirect is not followed: one request each
    finally:
        await sender.close()
    assert (moved.status_code, moved.delivered) == (302, False)
    assert moved.error == "the endpoint answered 302"
    assert (failed.status_code, failed.response) == (500, "answered 500")
    assert (done.status_code, done.delivered, done.error) == (200, True, "")
    assert all(r.headers["webhook-id"] == "msg_1" for r in box.received)


async def test_without_private_targets_nothing_is_sent_to_this_machine() -> None:
    sender = WebhookSender(allow_private=False, timeout_s=5)
    await sender.start()
    try:
        async with receiver() as box:
            port = box.url.split(":")[2].split("/")[0]
            for url in (
                box.url,  # http://127.0.0.1:<port>/hooks
                f"https://127.0.0.1:{port}/hooks",
                f"https://[::ffff:127.0.0.1]:{port}/hooks",
                f"https://localhost:{port}/hooks",
            ):
                outcome = await sender.send(url, [new_secret()], "msg_1", b"{}")
                assert outcome.status_code == 0, url
                assert not outcome.delivered
                assert (
                    "https" in outcome.error
                    or "public" in outcome.error
                    or "machine" in outcome.error
                )
            assert box.received == []
    finally:
        await sender.close()


class _Answers(AbstractResolver):
    """A resolver that answers every name with the given addresses."""

    def __init__(self, *addresses: str) -> None:
        self._addresses = addresses

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        return [
            ResolveResult(hostname=host, host=a, port=port, family=family, proto=0, flags=0)
            for a in self._addresses
        ]

    async def close(self) -> None:
        pass


async def test_a_name_is_connected_to_only_at_its_public_addresses() -> None:
    mixed = PublicResolver(_Answers("10.0.0.7", "93.184.216.34", "169.254.169.254"))
    assert [r["host"] for r in await mixed.resolve("hooks.example.com", 443)] == ["93.184.216.34"]
    rebound = PublicResolver(_Answers("127.0.0.1", "::1"))
    with pytest.raises(PrivateAddress, match="no public address"):
        await rebound.resolve("attacker.example", 443)


def _targets(*endpoint_ids: str) -> bytes:
    targets = tuple(
        DeliveryTarget(e, "https://hooks.example.com", (), (), True, 0, (new_secret(),))
        for e in endpoint_ids
    )
    return encoder.encode(Ok(DeliveryTargets(targets)))


async def test_an_answer_older_than_an_announced_change_is_not_kept(bus: Bus) -> None:
    """The relay asks for acme's endpoints; before the answer (the endpoints as they were)
    reaches it, the change is announced. Kept, that old answer would hide the new endpoint
    from every event for the directory's whole time limit."""
    asked: list[Msg] = []

    async def actor(msg: Msg) -> None:
        asked.append(msg)
        if len(asked) == 1:  # the change lands while this answer is on its way
            await bus.nc.publish(subjects.webhook_targets_changed("acme"), b"")
            await bus.nc.flush()
            await asyncio.sleep(0.1)
            await msg.respond(_targets())
        else:
            await msg.respond(_targets("ep_new"))

    await bus.nc.subscribe(f"{subjects.PARTITIONED_PREFIX}.*.acme.webhooks", cb=actor)
    directory = TargetDirectory(bus, ttl_s=60)
    await directory.start()
    await barrier(bus.nc)
    try:
        found = await directory.of("acme")
        assert [t.endpoint_id for t in found] == ["ep_new"]
        assert len(asked) == 2
        assert [t.endpoint_id for t in await directory.of("acme")] == ["ep_new"]  # kept now
        assert len(asked) == 2
    finally:
        await directory.stop()


async def test_endpoints_stopped_by_a_change_are_reported_for_cancelling(bus: Bus) -> None:
    answers = [_targets("ep_a", "ep_b"), _targets("ep_b")]
    stopped: list[tuple[str, list[str]]] = []

    async def actor(msg: Msg) -> None:
        await msg.respond(answers.pop(0))

    async def on_stopped(tenant: str, endpoint_ids: list[str]) -> None:
        stopped.append((tenant, endpoint_ids))

    await bus.nc.subscribe(f"{subjects.PARTITIONED_PREFIX}.*.acme.webhooks", cb=actor)
    directory = TargetDirectory(bus, ttl_s=60, on_stopped=on_stopped)
    await directory.start()
    await barrier(bus.nc)
    try:
        assert len(await directory.of("acme")) == 2
        await bus.nc.publish(subjects.webhook_targets_changed("acme"), b"")
        for _ in range(100):
            if stopped:
                break
            await asyncio.sleep(0.02)
        assert stopped == [("acme", ["ep_a"])]
    finally:
        await directory.stop()
