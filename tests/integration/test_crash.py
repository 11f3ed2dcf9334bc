"""SIGKILL the actor host mid-burst: no debit that was answered with success is lost."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from bus.client import Bus
from bus.embedded import EmbeddedNats
from bus.errors import BusError
from bus.messages import Ok
from bus.messages.budget import CreateBudget
from bus.messages.common import Money, Principal
from edge.app import create_app
from edge.auth import TokenVerifier
from edge.config import EdgeConfig
from storage.ports import Ledger
from tests.conftest import PARTITIONS
from tests.support import AUDIENCE, ISSUER, Keys, budget_record

pytestmark = pytest.mark.slow


class HostProcess:
    """``perkbus actors`` in a child process, as in production."""

    def __init__(self, nats_url: str, ledger_url: str, var_dir: Path) -> None:
        self.env = {
            **os.environ,
            "PERKBUS_NATS_URL": nats_url,
            "PERKBUS_NATS_PARTITIONS": str(PARTITIONS),
            "PERKBUS_VAR_DIR": str(var_dir),
        }
        if ledger_url.startswith("sqlite:"):
            self.env["PERKBUS_SQLITE_PATH"] = ledger_url.removeprefix("sqlite:")
        else:
            self.env["PERKBUS_MYSQL_URL"] = ledger_url
        self.process: subprocess.Popen[bytes] | None = None

    async def start(self, bus: Bus) -> None:
        self.process = subprocess.Popen(
            [sys.executable, "-m", "perkbus", "--log-level", "WARNING", "actors"],
            env=self.env,
        )
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            assert self.process.poll() is None, "the actor host died on start"
            try:
                if (await bus.host_health(timeout_s=0.5)).ok:
                    return
            except BusError:
                await asyncio.sleep(0.05)
        raise AssertionError("the actor host did not become ready")

    def kill(self) -> None:
        assert self.process is not None
        os.kill(self.process.pid, signal.SIGKILL)
        self.process.wait()

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(30)


@pytest.fixture
async def edge_client(
    nats_server: EmbeddedNats, keys: Keys
) -> AsyncIterator[TestClient[web.Request, web.Application]]:
    verifier = TokenVerifier(keys.public.read_bytes(), ISSUER, AUDIENCE)
    app = create_app(EdgeConfig(request_timeout_s=1.0), nats_server.url, verifier)
    client: TestClient[web.Request, web.Application] = TestClient(TestServer(app))
    await client.start_server()
    yield client
    await client.close()


async def test_sigkill_mid_burst_loses_no_acknowledged_debit(
    nats_server: EmbeddedNats,
    bus: Bus,
    ledger: Ledger,
    ledger_url: str,
    keys: Keys,
    edge_client: TestClient[web.Request, web.Application],
    tmp_path: Path,
) -> None:
    host = HostProcess(nats_server.url, ledger_url, tmp_path / "var")
    await host.start(bus)
    try:
        opened = await bus.request(
            "acme",
            "treasury",
            CreateBudget("crash", "Crash", Money(1_000_000, "EUR")),
            Principal("test"),
            timeout_s=5,
        )
        assert isinstance(opened, Ok)
        headers = keys.headers("acme")
        acked: list[str] = []
        phase = {"now": "before"}
        acked_in: dict[str, int] = {"before": 0, "down": 0, "after": 0}
        failures: dict[int, int] = {}
        stop = asyncio.Event()

        async def worker() -> None:
            while not stop.is_set():
                async with edge_client.post(
                    "/api/v1/budgets/crash/debits",
                    json={"amount": {"amount_minor": 1, "currency": "EUR"}},
                    headers=headers,
                ) as r:
                    body = await r.json(content_type=None)
                    if r.status == 201:
                        acked.append(body["id"])
                        acked_in[phase["now"]] += 1
                    else:
                        assert r.status in (503, 504), body
                        assert body["retryable"] is True
                        failures[r.status] = failures.get(r.status, 0) + 1
                        await asyncio.sleep(0.02)

        workers = [asyncio.create_task(worker()) for _ in range(32)]
        await asyncio.sleep(1.0)
        phase["now"] = "down"
        host.kill()
        await asyncio.sleep(0.5)
        await host.start(bus)
        phase["now"] = "after"
        await asyncio.sleep(1.0)
        stop.set()
        await asyncio.gather(*workers)
    finally:
        host.stop()

    assert acked_in["before"] > 50, acked_in
    assert acked_in["after"] > 50, acked_in
    assert failures, "the kill should have failed some requests"
    assert len(set(acked)) == len(acked)
    missing = [d for d in acked if not await ledger.has_transaction("acme", d)]
    assert missing == []
    record = await budget_record(ledger, "acme", "crash")
    assert record is not None
    spent = await ledger.account_balance("acme", "spent:crash")
    assert spent >= len(acked)  # a debit may commit and lose its reply to the kill
    assert record.balance_minor == 1_000_000 - spent
    assert await ledger.account_balance("acme", "budget:crash") == record.balance_minor
    assert await ledger.entries_total("acme") == 0
