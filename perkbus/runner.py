"""``perkbus up``: the whole system on one machine, on embedded defaults.

It starts the embedded nats-server (unless ``PERKBUS_NATS_URL`` names one; it requires
credentials, and the children get the service user's, ADR 17), then an actor host, the
warehouse, the webhook relay and an edge (or several sharing its port:
``edge.processes``) as child processes — the same ``perkbus actors`` / ``perkbus
warehouse`` / ``perkbus webhooks`` / ``perkbus edge`` that run alone in production —
waits until ``/readyz`` answers, seeds the demo tenant when asked, and prints where
everything is. Ctrl-C (or SIGTERM) stops the edges, then the webhook relay and the
warehouse, then the actor host (which finishes and commits what it holds), then NATS.
Every child is in its own session, so a Ctrl-C reaches only this process and the
shutdown order holds, and is tied to this process with PR_SET_PDEATHSIG, so none
outlives it even after a SIGKILL.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import logging
import os
import signal
import socket
import ssl
import subprocess
import sys
import time
import urllib.error
import urllib.request
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TextIO

from bus import tls as nats_tls
from bus.client import Bus, without_password
from bus.embedded import EmbeddedNats, EmbeddedNatsError, die_with_parent, terminate
from bus.errors import BusError
from perkbus import demo, tokens
from perkbus.settings import Settings, app_url, edge_url

log = logging.getLogger("perkbus.up")


class StartupFailed(RuntimeError):
    pass


class Interrupted(Exception):
    """Ctrl-C or SIGTERM arrived while starting up."""


def spawn(role: str, config_path: str | None, env: dict[str, str]) -> subprocess.Popen[bytes]:
    command = [sys.executable, "-m", "perkbus", role]
    if config_path:
        command += ["--config", config_path]
    return subprocess.Popen(
        command,
        env=env,
        stdin=subprocess.DEVNULL,
        preexec_fn=die_with_parent,
        start_new_session=True,
    )


def stop_child(process: subprocess.Popen[bytes] | None, timeout_s: float) -> None:
    if terminate(process, timeout_s):
        log.warning("%s did not stop in %.0fs and was killed", process and process.args, timeout_s)


async def wait_for_actor_host(
    url: str,
    credentials: str | None,
    tls: ssl.SSLContext | None,
    child: subprocess.Popen[bytes],
    timeout_s: float,
    stop: asyncio.Event,
) -> None:
    bus = await Bus.connect(url, "perkbus-up", credentials, tls)
    try:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if stop.is_set():
                raise Interrupted
            if child.poll() is not None:
                raise StartupFailed(f"the actor host exited with {child.returncode}")
            try:
                health = await bus.host_health(timeout_s=1.0)
            except BusError:
                await asyncio.sleep(0.1)
                continue
            if health.ok:
                return
            await asyncio.sleep(0.2)
        raise StartupFailed(f"the actor host was not ready within {timeout_s:.0f}s")
    finally:
        await bus.close()


async def wait_for_edge(
    base_url: str, child: subprocess.Popen[bytes], timeout_s: float, stop: asyncio.Event
) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if stop.is_set():
            raise Interrupted
        if child.poll() is not None:
            raise StartupFailed(f"the edge exited with {child.returncode}")
        try:
            status = await asyncio.to_thread(_http_status, f"{base_url}/readyz")
        except OSError:
            status = 0
        if status == 200:
            return
        await asyncio.sleep(0.1)
    raise StartupFailed(f"{base_url}/readyz did not answer 200 within {timeout_s:.0f}s")


def _http_status(url: str) -> int:
    # probing our own child: its certificate (perhaps self-signed) is not what is tested
    local = ssl.create_default_context()
    local.check_hostname = False
    local.verify_mode = ssl.CERT_NONE
    try:
        with urllib.request.urlopen(url, timeout=2, context=local) as response:
            return int(response.status)
    except urllib.error.HTTPError as e:
        return e.code


async def seed_demo(
    url: str, credentials: str | None, tls: ssl.SSLContext | None, points_currency: str
) -> None:
    bus = await Bus.connect(url, "perkbus-demo-seed", credentials, tls)
    try:
        await demo.seed(bus, points_currency)
    finally:
        await bus.close()


def hold_var_dir(var_dir: str) -> TextIO:
    """Lock ``var_dir`` for this ``perkbus up`` (for as long as the file stays open): a
    second one on the same data would start a second nats-server on its JetStream store
    and a second actor host on its ledger before its edge failed to listen."""
    Path(var_dir).mkdir(parents=True, exist_ok=True)
    held = (Path(var_dir) / "perkbus-up.lock").open("a+")
    try:
        fcntl.flock(held, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        held.seek(0)
        pid = held.read().strip() or "?"
        held.close()
        raise SystemExit(
            f"perkbus: another `perkbus up` (pid {pid}) is using {var_dir}: stop it first, or"
            " give this one its own PERKBUS_VAR_DIR (and PERKBUS_EDGE_PORT)"
        ) from None
    held.seek(0)
    held.truncate()
    held.write(f"{os.getpid()}\n")
    held.flush()
    return held


def require_free_port(host: str, port: int) -> None:
    """Before anything starts: the edge's port must be free."""
    try:
        socket.create_server((host, port)).close()
    except OSError as e:
        raise SystemExit(
            f"perkbus: cannot listen on {host}:{port} ({e.strerror}): set PERKBUS_EDGE_PORT"
            " to a free port"
        ) from None


def daily_report_path() -> str:
    """The daily report of the last 30 days (a report needs its range)."""
    today = datetime.now(UTC).date()
    return f"/api/v1/reports/daily?from={today - timedelta(days=29)}&to={today}"


def prepare(settings: Settings) -> None:
    Path(settings.var_dir).mkdir(parents=True, exist_ok=True)
    tokens.ensure_keypair(settings.auth.signing_key_file, settings.edge.jwt_public_key_file)
    # made here, for the actor host it starts (which makes none beside a shared ledger)
    tokens.master_key(settings.security.master_key, settings.security.master_key_file)


async def up(settings: Settings, config_path: str | None, with_demo: bool) -> int:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)

    held = hold_var_dir(settings.var_dir)  # kept open, so locked, until up returns
    require_free_port(settings.edge.host, settings.edge.port)
    await asyncio.to_thread(prepare, settings)
    embedded: EmbeddedNats | None = None
    actors = warehouse = webhooks = None
    edges: list[subprocess.Popen[bytes]] = []
    base_url = edge_url(settings)
    try:
        url, nats_credentials = settings.nats.url, settings.nats.credentials_file
        if not url:
            embedded = EmbeddedNats(
                settings.nats.data_dir,
                settings.nats.port,
                settings.nats.partitions,
                auth_dir=settings.nats.auth_dir,
            )
            url = await embedded.astart()
            nats_credentials = str(embedded.credentials)
            log.info("embedded nats-server on %s (data in %s)", url, embedded.data_dir)
        env = {**os.environ, "PERKBUS_NATS_URL": url}
        if nats_credentials:
            env["PERKBUS_NATS_CREDENTIALS_FILE"] = nats_credentials
        actors = spawn("actors", config_path, env)
        tls = nats_tls.for_config(settings.nats)
        await wait_for_actor_host(url, nats_credentials, tls, actors, timeout_s=60, stop=stop)
        # after the host: it has made the event stream the warehouse loads (ADR 26)
        # only the actor host opens sealed data: the others never see the master key
        keyless = {k: v for k, v in env.items() if not k.startswith("PERKBUS_SECURITY_")}
        warehouse = spawn("warehouse", config_path, keyless)
        # its emails link to the app this edge serves (``perkbus webhooks`` alone needs it set)
        mailing = {"PERKBUS_MAIL_APP_URL": app_url(settings)}
        webhooks = spawn("webhooks", config_path, {**keyless, **mailing})
        credentials = None
        if with_demo:  # seeded and written before the edge is ready, never after
            await seed_demo(url, nats_credentials, tls, settings.actors.points_currency)
            added = await demo.seed_catalogue(settings)
            if added:
                log.info("demo catalogue: %d products", added)
            credentials = await asyncio.to_thread(demo.write_credentials, settings, base_url)
        edges = await start_edges(settings, config_path, keyless, base_url, stop)
        _banner(settings, base_url, url, credentials)
        children = [("actor host", actors), ("warehouse", warehouse), ("webhook relay", webhooks)]
        if embedded is not None and embedded.process is not None:
            children.append(("embedded nats-server", embedded.process))
        children += [("edge", edge) for edge in edges]
        while not stop.is_set():
            for name, child in children:
                if child.poll() is not None:
                    raise StartupFailed(f"the {name} exited with {child.returncode}")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), 0.5)
        log.info("stopping")
        return 0
    except (StartupFailed, EmbeddedNatsError) as e:  # one line, not a traceback
        log.error("%s", e)
        return 1
    except Interrupted:
        log.info("interrupted while starting")
        return 130
    finally:
        await stop_edges(edges)
        await asyncio.to_thread(stop_child, webhooks, 10)
        await asyncio.to_thread(stop_child, warehouse, 10)
        await asyncio.to_thread(stop_child, actors, 30)
        if embedded is not None:
            await embedded.astop()
        held.close()  # var/ is free for the next
        log.info("stopped")


async def start_edges(
    settings: Settings,
    config_path: str | None,
    env: dict[str, str],
    base_url: str,
    stop: asyncio.Event,
) -> list[subprocess.Popen[bytes]]:
    """``settings.edge.processes`` edges on one port (SO_REUSEPORT when more than one),
    returned once each listens (it says so with its ready file: /readyz answering says
    only that one of them does) and the port answers /readyz."""
    count = settings.edge.processes
    if count > 1:
        env = {**env, "PERKBUS_EDGE_REUSE_PORT": "true"}
        if not settings.redis.url:
            log.warning(
                "%d edge processes without Redis: each counts its own rate limits and"
                " fraud velocity (set PERKBUS_REDIS_URL to share them)",
                count,
            )
    edges: list[subprocess.Popen[bytes]] = []
    try:
        for number in range(count):
            ready = Path(settings.var_dir) / f"edge-{number}.ready"
            await asyncio.to_thread(ready.unlink, missing_ok=True)
            edges.append(spawn("edge", config_path, {**env, "PERKBUS_EDGE_READY_FILE": str(ready)}))
            await wait_for_file(ready, edges[-1], timeout_s=30, stop=stop)
        await wait_for_edge(base_url, edges[0], timeout_s=30, stop=stop)
    except BaseException:
        await stop_edges(edges)
        raise
    return edges


async def stop_edges(edges: list[subprocess.Popen[bytes]]) -> None:
    """Stop every edge at once (each may take its time to finish its requests)."""
    await asyncio.gather(*(asyncio.to_thread(stop_child, edge, 10) for edge in edges))


async def wait_for_file(
    path: Path, child: subprocess.Popen[bytes], timeout_s: float, stop: asyncio.Event
) -> None:
    deadline = time.monotonic() + timeout_s
    while not await asyncio.to_thread(path.exists):
        if stop.is_set():
            raise Interrupted
        if child.poll() is not None:
            raise StartupFailed(f"the edge exited with {child.returncode}")
        if time.monotonic() > deadline:
            raise StartupFailed(f"the edge did not listen within {timeout_s:.0f}s")
        await asyncio.sleep(0.05)


def _banner(settings: Settings, base_url: str, nats_url: str, credentials: Path | None) -> None:
    store = "MySQL" if settings.mysql.url else f"SQLite {settings.sqlite.path}"
    lines = [
        "",
        "perkbus is up",
        f"  app           {base_url}/?tenant={demo.TENANT}"
        f"   (installable; embed: {base_url}/embed.js)",
        f"  admin console {base_url}/admin/?tenant={demo.TENANT}",
        f"  REST API      {base_url}/api/v1",
        f"  OpenAPI       {base_url}/api/v1/openapi.json",
        f"  health        {base_url}/healthz   {base_url}/readyz"
        f"   metrics: {base_url}/metrics (Prometheus, from this machine)",
        f"  NATS          {without_password(nats_url)}",
        f"  NATS creds    {own_command()} nats-creds --tenant <tenant>"
        "  (a tenant's events, read-only)",
        f"  ledger        {store}",
        f"  warehouse     {warehouse_of(settings)}   reports at {base_url}{daily_report_path()}",
        f"  webhooks      {base_url}/api/v1/webhooks   (relay: perkbus webhooks)",
        f"  emails        {mail_of(settings)}",
    ]
    if credentials is not None:
        lines += [
            f"  demo tenant   {demo.TENANT} (budget {demo.BUDGET_ID}, opened with 10,000.00 EUR)",
            f"  credentials   {credentials} (bearer token inside)",
            f"  sign in       {demo.ADMIN_EMAIL} (owner: app and admin console)"
            f" or {', '.join(demo.PEOPLE)},"
            f" password {demo.DEMO_PASSWORD}",
            '  try           TOKEN=$(python3 -c "import json;print(json.load(open('
            f"'{credentials}'))['token'])\")",
            f'                curl -s -H "Authorization: Bearer $TOKEN" '
            f"{base_url}/api/v1/budgets/{demo.BUDGET_ID}",
        ]
    lines += ["  Ctrl-C stops everything", ""]
    print("\n".join(lines), flush=True)


def own_command() -> str:
    """This ``perkbus`` as one would type it here (``.venv/bin/perkbus`` under make run)."""
    command = Path(sys.executable).parent / "perkbus"
    with contextlib.suppress(ValueError):
        return os.path.relpath(command) if command.is_relative_to(Path.cwd()) else str(command)
    return str(command)


def warehouse_of(settings: Settings) -> str:
    if settings.warehouse.url:
        return "PostgreSQL " + settings.warehouse.url.rpartition("@")[2]  # no password
    return f"DuckDB {settings.warehouse.path}"


def mail_of(settings: Settings) -> str:
    mail = settings.mail
    if not mail.enabled:
        return "off (PERKBUS_MAIL_ENABLED)"
    if mail.smtp_url:
        return "SMTP " + mail.smtp_url.rpartition("@")[2]  # no password
    return f"kept in {mail.maildir} (Maildir; PERKBUS_MAIL_SMTP_URL sends them)"
