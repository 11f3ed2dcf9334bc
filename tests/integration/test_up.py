"""``perkbus up --demo`` from an empty directory: ready, seeded, and leaves no orphans."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def get(url: str, token: str | None = None) -> tuple[int, dict[str, object]]:
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


def start_up(workdir: Path, port: int) -> subprocess.Popen[bytes]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PERKBUS_")}
    env["PERKBUS_EDGE_PORT"] = str(port)
    return subprocess.Popen(
        [sys.executable, "-m", "perkbus", "up", "--demo"],
        cwd=workdir,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )


def wait_ready(process: subprocess.Popen[bytes], base: str) -> float:
    started = time.monotonic()
    while time.monotonic() - started < 60:
        assert process.poll() is None, process.stdout.read() if process.stdout else ""
        if get(f"{base}/readyz")[0] == 200:
            return time.monotonic() - started
        time.sleep(0.1)
    raise AssertionError("/readyz did not answer 200 within 60 s")


def test_up_demo_serves_seeds_and_stops_cleanly(tmp_path: Path) -> None:
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    up = start_up(tmp_path, port)
    try:
        wait_ready(up, base)
        children = descendants(up.pid)
        credentials = json.loads((tmp_path / "var" / "demo.json").read_text())
        status, budget = get(
            f"{base}/api/v1/budgets/{credentials['budget_id']}", credentials["token"]
        )
        assert status == 200
        assert budget["balance"] == {"amount_minor": 1_000_000, "currency": "EUR"}
        assert credentials["tenant"] == "demo"
        assert credentials["api"] == f"{base}/api/v1"
        assert len(children) >= 3, "nats-server, actor host and edge"
        assert any("nats-server" in Path(f"/proc/{p}/cmdline").read_text() for p in children)
    finally:
        up.send_signal(signal.SIGINT)
        output = up.communicate(timeout=60)[0].decode()
    assert up.returncode == 0, output
    assert "perkbus is up" in output
    assert "demo.json" in output
    assert alive(children) == set(), output

    # A second start on the same directory finds the demo tenant seeded and keeps its data.
    again = start_up(tmp_path, port)
    try:
        wait_ready(again, base)
        token = json.loads((tmp_path / "var" / "demo.json").read_text())["token"]
        assert get(f"{base}/api/v1/budgets/demo-budget", token)[0] == 200
        children = descendants(again.pid)
    finally:
        again.kill()  # SIGKILL: the children must still not outlive it
        again.communicate(timeout=30)
    deadline = time.monotonic() + 15
    while alive(children) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert alive(children) == set()
