"""``perkbus up --demo`` from an empty directory: ready, seeded, NATS closed to all but
credentials, and leaves no orphans."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any

import nats
import pytest
from nats.aio.client import Client as NatsClient
from nats.aio.msg import Msg
from nats.errors import Error as NatsError

from bus.barrier import barrier
from perkbus import demo
from tests.servers import free_port

pytestmark = pytest.mark.slow


def get(url: str, token: str | None = None) -> tuple[int, dict[str, Any]]:
    request = urllib.request.Request(url)
    if token:
        request.add_header("Authorization", f"Bearer {token}")
    try:
        with urllib.request.urlopen(request, timeout=5) as r:
            return r.status, json.loads(r.read())
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read())
    except OSError:
        return 0, {}


def descendants(pid: int) -> set[int]:
    """Every live process whose ancestry leads to ``pid``."""
    parents: dict[int, int] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            parents[int(entry.name)] = int(stat.rsplit(")", 1)[1].split()[1])
    found: set[int] = set()
    frontier = {pid}
    while frontier:
        frontier = {child for child, parent in parents.items() if parent in frontier}
        found |= frontier
    return found


def alive(pids: set[int]) -> set[int]:
    live = set()
    for pid in pids:
        try:
            state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
        except OSError:
            continue
        if state != "Z":
            live.add(pid)
    return live


def post(url: str, token: str, body: dict[str, Any]) -> int:
    request = urllib.request.Request(url, data=json.dumps(body).encode(), method="POST")
    request.add_header("Authorization", f"Bearer {token}")
    request.add_header("Content-Type", "application/json")
    with urllib.request.urlopen(request, timeout=5) as r:
        return int(r.status)


async def integrator_sees_only_its_events(
    nats_url: str, creds: Path, debit: Callable[[], object]
) -> tuple[list[str], list[str]]:
    """Connect with a tenant's credentials, try its events and another tenant's, then
    ``debit()``; (subjects received, errors reported)."""
    errors: list[str] = []
    received: asyncio.Queue[Msg] = asyncio.Queue()

    async def on_error(e: Exception) -> None:
        errors.append(str(e))

    async def on_event(msg: Msg) -> None:
        await received.put(msg)

    nc = await nats.connect(
        nats_url, user_credentials=str(creds), error_cb=on_error, allow_reconnect=False
    )
    try:
        await nc.subscribe(f"pb.evt.{demo.TENANT}.>", cb=on_event)
        await nc.subscribe("pb.evt.globex.>", cb=on_event)
        await barrier(nc)
        await asyncio.to_thread(debit)
        first = await asyncio.wait_for(received.get(), 10)
        await asyncio.sleep(0.1)
        return [first.subject], errors
    finally:
        await nc.close()


async def refused_without_credentials(nats_url: str) -> str:
    async def quietly(e: Exception) -> None:
        pass

    nc = NatsClient()
    try:
        await nc.connect(nats_url, allow_reconnect=False, error_cb=quietly)
    except NatsError as e:
        return str(e)
    finally:
        await nc.close()
    return "connected"


class Up:
    """``perkbus up --demo`` in a child process, its output going to a file.

    (A file, not a pipe: after a SIGKILL the grandchildren may hold a pipe open a while.)
    """

    def __init__(self, workdir: Path, port: int, settings: dict[str, str] | None = None) -> None:
        env = {k: v for k, v in os.environ.items() if not k.startswith("PERKBUS_")}
        env["PERKBUS_EDGE_PORT"] = str(port)
        env |= settings or {}
        self.env = env
        self.base = f"http://127.0.0.1:{port}"
        self.log = workdir / f"up-{port}-{time.monotonic_ns()}.log"
        with self.log.open("wb") as out:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "perkbus", "up", "--demo"],
                cwd=workdir,
                env=env,
                stdout=out,
                stderr=subprocess.STDOUT,
            )
        self.pid = self.process.pid

    @property
    def output(self) -> str:
        return self.log.read_text(errors="replace")

    def wait_ready(self) -> None:
        """Until /readyz answers 200 and the banner is printed (60 s at most)."""
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            assert self.process.poll() is None, self.output
            if "perkbus is up" in self.output and get(f"{self.base}/readyz")[0] == 200:
                return
            time.sleep(0.1)
        raise AssertionError(f"not ready within 60 s:\n{self.output}")

    def stop(self, sig: signal.Signals) -> int:
        self.process.send_signal(sig)
        return self.process.wait(timeout=60)


def test_up_demo_serves_seeds_and_stops_cleanly(tmp_path: Path) -> None:
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    up = Up(tmp_path, port)
    try:
        up.wait_ready()
        children = descendants(up.pid)
        credentials = json.loads((tmp_path / "var" / "demo.json").read_text())
        status, budget = get(
            f"{base}/api/v1/budgets/{credentials['budget_id']}", credentials["token"]
        )
        assert status == 200
        welcome = sum(demo.PEOPLE.values())  # one point is one cent by default
        assert budget["balance"] == {"amount_minor": 1_000_000 - welcome, "currency": "EUR"}
        assert budget["low_balance_minor"] == 100_000
        status, wallet = get(f"{base}/api/v1/wallets/ann@demo.example", credentials["token"])
        assert (status, wallet["points"]) == (200, demo.PEOPLE["ann@demo.example"])
        products = get(f"{base}/api/v1/catalogue/products?currency=EUR", credentials["token"])
        assert products[0] == 200
        stocked = []
        for p in products[1]["products"]:
            if p["denominations"]:
                pool = f"{base}/api/v1/vouchers/pools/{p['id']}/{p['denominations'][0]}"
                stocked.append(get(pool, credentials["token"])[1]["available"])
        assert demo.CODES_PER_POOL in stocked
        assert credentials["tenant"] == "demo"
        assert credentials["api"] == f"{base}/api/v1"
        # the demo people sign in with the printed password
        sign_in = credentials["sign_in"]
        body = {"tenant": "demo", "email": sign_in["admin"], "password": sign_in["password"]}
        request = urllib.request.Request(
            sign_in["url"],
            data=json.dumps({**body, "mode": "bearer"}).encode(),
            headers={"Content-Type": "application/json"},
        )
        with urllib.request.urlopen(request, timeout=10) as r:
            session = json.loads(r.read())
        assert session["person"]["roles"] == ["owner"]
        status, me = get(f"{base}/auth/me", session["access_token"])
        assert (status, me["subject"]) == (200, "admin@demo.example")
        assert len(children) >= 5, "nats-server, actor host, warehouse, relay and edge"
        assert any("perkbus warehouse" in _cmdline(p) for p in children)
        assert any("perkbus webhooks" in _cmdline(p) for p in children)
        status, ready = get(f"{base}/readyz", None)
        assert [(s["name"], s["ok"]) for s in ready["webhooks"]] == [("webhooks:sqlite", True)]
        # the warehouse has loaded the demo's events: its budget's opening is in the report
        # the banner links to (it once linked to a report without its range: a 422)
        linked = re.search(r"reports at (\S+)", up.output)
        assert linked is not None, up.output
        report = linked[1]
        assert report.startswith(f"{base}/api/v1/reports/daily?from=")
        opened: list[Any] = []
        for _ in range(600):
            status, daily = get(report, credentials["token"])
            assert status == 200, daily
            opened = [
                m
                for d in daily["days"]
                for m in d["movements"]
                if m["account_id"] == demo.BUDGET_ID
            ]
            if opened:
                break
            time.sleep(0.05)
        assert opened[0]["credit_minor"] == 1_000_000
        assert any("nats-server" in Path(f"/proc/{p}/cmdline").read_text() for p in children)

        # NATS: the embedded server wants credentials; a tenant's reach its events only
        nats_url = re.findall(r"NATS +(nats://\S+)", up.output)[0]
        refusal = asyncio.run(refused_without_credentials(nats_url))
        assert "authorization violation" in refusal.lower()
        minted = subprocess.run(
            [sys.executable, "-m", "perkbus", "nats-creds", "--tenant", demo.TENANT],
            cwd=tmp_path,
            env=up.env,
            capture_output=True,
            check=True,
        )
        creds = tmp_path / "demo.creds"
        creds.write_bytes(minted.stdout)
        debits = f"{base}/api/v1/budgets/{credentials['budget_id']}/debits"
        amount = {"amount": {"amount_minor": 1, "currency": "EUR"}, "memo": "seen on NATS"}
        subjects, errors = asyncio.run(
            integrator_sees_only_its_events(
                nats_url, creds, lambda: post(debits, credentials["token"], amount)
            )
        )
        assert subjects == [f"pb.evt.{demo.TENANT}.budget.debited"]
        assert errors == ['nats: permissions violation for subscription to "pb.evt.globex.>"']
    finally:
        code = up.stop(signal.SIGINT)
    output = up.output
    assert code == 0, output
    assert "perkbus is up" in output
    assert "demo.json" in output
    assert alive(children) == set(), output

    # A second start on the same directory finds the demo tenant seeded and keeps its data.
    again = Up(tmp_path, port)
    try:
        again.wait_ready()
        token = json.loads((tmp_path / "var" / "demo.json").read_text())["token"]
        status, budget = get(f"{base}/api/v1/budgets/demo-budget", token)
        assert status == 200
        seen_on_nats = 1  # the debit above
        # seeded once: the second start adds no welcome points
        assert budget["balance"]["amount_minor"] == 1_000_000 - welcome - seen_on_nats
        children = descendants(again.pid)
    finally:
        again.stop(signal.SIGKILL)  # the children must still not outlive it
    deadline = time.monotonic() + 15
    while alive(children) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert alive(children) == set()


def test_ctrl_c_during_start_up_stops_everything(tmp_path: Path) -> None:
    up = Up(tmp_path, free_port())
    deadline = time.monotonic() + 30
    children: set[int] = set()
    while time.monotonic() < deadline and not any(
        "perkbus actors" in _cmdline(p) for p in children
    ):
        children |= descendants(up.pid)
        time.sleep(0.02)
    code = up.stop(signal.SIGINT)  # the actor host is starting; the edge is not up yet
    assert code == 130, up.output
    assert "interrupted while starting" in up.output
    assert alive(children) == set(), up.output


def test_up_starts_several_edges_that_share_the_port(tmp_path: Path) -> None:
    port = free_port()
    up = Up(tmp_path, port, {"PERKBUS_EDGE_PROCESSES": "2"})
    try:
        up.wait_ready()
        children = descendants(up.pid)
        edges = [p for p in children if "perkbus edge" in _cmdline(p)]
        assert len(edges) == 2, up.output
        assert listening_sockets(port) == 2  # one each, SO_REUSEPORT
        token = json.loads((tmp_path / "var" / "demo.json").read_text())["token"]
        for _ in range(20):
            assert get(f"http://127.0.0.1:{port}/api/v1/budgets/demo-budget", token)[0] == 200
        # 32 connections held open: the kernel hands them to both (all to one: 2^-31)
        held = [socket.create_connection(("127.0.0.1", port)) for _ in range(32)]
        try:
            deadline = time.monotonic() + 10
            while time.monotonic() < deadline:
                accepted = {p: accepted_connections(p, port) for p in edges}
                if sum(accepted.values()) == len(held):
                    break
                time.sleep(0.05)
            assert sum(accepted.values()) == len(held), accepted
            assert all(accepted.values()), accepted
        finally:
            for connection in held:
                connection.close()
        assert "2 edge processes without Redis" in up.output
        assert sorted(p.name for p in (tmp_path / "var").glob("edge-*.ready")) == [
            "edge-0.ready",
            "edge-1.ready",
        ]
    finally:
        code = up.stop(signal.SIGTERM)
    assert code == 0, up.output
    assert alive(children) == set(), up.output
    assert list((tmp_path / "var").glob("edge-*.ready")) == []  # gone with their edges


def listening_sockets(port: int) -> int:
    """TCP sockets listening on ``port`` (IPv4), whichever process holds them."""
    rows = Path("/proc/net/tcp").read_text().splitlines()[1:]
    return sum(
        1 for row in rows if row.split()[1].endswith(f":{port:04X}") and row.split()[3] == "0A"
    )


def accepted_connections(pid: int, port: int) -> int:
    """Connections to ``port`` that process ``pid`` has accepted (holds open)."""
    inodes = set()
    for fd in Path(f"/proc/{pid}/fd").iterdir():
        with contextlib.suppress(OSError):
            target = os.readlink(fd)
            if target.startswith("socket:["):
                inodes.add(target[8:-1])
    rows = [row.split() for row in Path("/proc/net/tcp").read_text().splitlines()[1:]]
    return sum(
        1 for row in rows if row[1].endswith(f":{port:04X}") and row[3] == "01" and row[9] in inodes
    )


def _cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
    except OSError:
        return ""


def test_only_the_actor_host_holds_the_master_key(tmp_path: Path) -> None:
    """The master key given to ``perkbus up`` reaches the actor host, which opens sealed
    data, and neither the edge nor the warehouse; the demo's owner token is for this
    machine's user alone."""
    key = base64.b64encode(os.urandom(32)).decode()
    up = Up(tmp_path, free_port(), {"PERKBUS_SECURITY_MASTER_KEY": key})
    try:
        up.wait_ready()
        roles: dict[str, bool] = {}
        for pid in alive(descendants(up.pid)):
            command = _cmdline(pid)
            if (role := command.split("-m perkbus ")[-1].split(" ")[0]) in (
                "actors", "edge", "warehouse",
            ):  # fmt: skip
                environ = Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")
                roles[role] = f"PERKBUS_SECURITY_MASTER_KEY={key}".encode() in environ
        assert roles == {"actors": True, "edge": False, "warehouse": False}
        assert (tmp_path / "var" / "demo.json").stat().st_mode & 0o777 == 0o600
    finally:
        up.stop(signal.SIGTERM)


def test_up_stops_when_its_embedded_nats_server_dies(tmp_path: Path) -> None:
    """Without its bus nothing works: ``perkbus up`` notices the embedded server gone,
    says so, and stops everything, as it does for any other child."""
    up = Up(tmp_path, free_port())
    try:
        up.wait_ready()
        children = descendants(up.pid)
        (server,) = [p for p in alive(children) if "nats-server -c" in _cmdline(p)]
        os.kill(server, signal.SIGKILL)
        assert up.process.wait(timeout=60) != 0
        assert "the embedded nats-server exited" in up.output
        deadline = time.monotonic() + 30
        while alive(children) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert alive(children) == set()
    finally:
        if up.process.poll() is None:
            up.stop(signal.SIGTERM)


def test_an_embedded_nats_port_in_use_is_one_line(tmp_path: Path) -> None:
    """The port asked for the embedded server is taken: ``perkbus up`` says so in a line
    and exits, with no traceback."""
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        up = Up(tmp_path, free_port(), {"PERKBUS_NATS_PORT": str(port)})
        code = up.process.wait(timeout=60)
    assert code == 1, up.output
    assert "Traceback" not in up.output
    assert "nats-server" in up.output
