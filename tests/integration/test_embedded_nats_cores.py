"""The embedded nats-server runs Go on half the cores unless GOMAXPROCS says otherwise."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from bus.embedded import EmbeddedNats, server_env, usable_cores


def _half_the_cores() -> str:
    return str(max(1, len(os.sched_getaffinity(0)) // 2))


def test_usable_cores_are_the_affinity_where_there_is_one(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    assert usable_cores() == len(os.sched_getaffinity(0))
    monkeypatch.delattr(os, "sched_getaffinity")  # as on macOS
    assert usable_cores() == os.cpu_count()


def _child_env(pid: int) -> dict[str, str]:
    raw = Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")
    return dict(item.decode().partition("=")[::2] for item in raw if item)


def test_half_the_cores_unless_the_environment_says() -> None:
    given = {"PATH": "/usr/bin"}
    assert server_env(given) == {"PATH": "/usr/bin", "GOMAXPROCS": _half_the_cores()}
    assert given == {"PATH": "/usr/bin"}  # the caller's mapping is left as it was
    assert server_env({"GOMAXPROCS": "3"})["GOMAXPROCS"] == "3"
    assert server_env({"GOMAXPROCS": ""})["GOMAXPROCS"] == _half_the_cores()


@pytest.mark.parametrize("operator_says", [None, "2"])
def test_the_running_server_gets_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, operator_says: str | None
) -> None:
    if operator_says is None:
        monkeypatch.delenv("GOMAXPROCS", raising=False)
    else:
        monkeypatch.setenv("GOMAXPROCS", operator_says)
    server = EmbeddedNats(tmp_path / "nats", partitions=2)
    server.start()
    try:
        assert server.process is not None
        env = _child_env(server.process.pid)
    finally:
        server.stop()
    assert env["GOMAXPROCS"] == (operator_says or _half_the_cores())
    assert env.get("PATH") == os.environ.get("PATH")  # the rest of the environment is passed on
