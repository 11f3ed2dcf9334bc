"""Running the classic service: aiohttp on uvloop, one process or several sharing the port
(``SO_REUSEPORT``), each with its own store connection(s)."""

from __future__ import annotations

import asyncio
import signal
import subprocess
import sys

import msgspec
import uvloop
from aiohttp import web

from bench.classic.app import create_app
from bench.classic.stores import open_store
from edge.auth import TokenVerifier
from edge.listening import ListenSite
from perkbus.gc_tuning import tune_gc


class ServeConfig(msgspec.Struct, frozen=True):
    db: str
    port: int
    #: Path of the PEM file of the Ed25519 public key that signs the tokens.
    public_key: str
    issuer: str = "perkbus"
    audience: str = "perkbus-api"
    workers: int = 1
    #: MariaDB connections per worker process.
    pool_size: int = 16
    reset: bool = False
    sqlite_synchronous: str = "FULL"
    #: MariaDB: an order's statements in 4 round trips (multi-statement), not 1 each.
    batched: bool = True
    host: str = "127.0.0.1"


def serve(config: ServeConfig) -> None:
    """Serve until SIGTERM or SIGINT. With several workers this process creates the schema,
    starts the others (``--worker``) and serves as the first of them."""
    if config.workers <= 1:
        uvloop.run(_serve(config, create_schema=True, reuse_port=False))
        return
    uvloop.run(_create_schema(config))
    others = [subprocess.Popen(worker_command(config)) for _ in range(config.workers - 1)]
    try:
        uvloop.run(_serve(config, create_schema=False, reuse_port=True))
    finally:
        for p in others:
            p.terminate()
        for p in others:
            p.wait(timeout=10)


def worker_command(config: ServeConfig) -> list[str]:
    return [
        sys.executable,
        "-m",
        "bench.classic",
        "--db",
        config.db,
        "--port",
        str(config.port),
        "--public-key",
        config.public_key,
        "--issuer",
        config.issuer,
        "--audience",
        config.audience,
        "--pool-size",
        str(config.pool_size),
        "--sqlite-synchronous",
        config.sqlite_synchronous,
        "--host",
        config.host,
        "--mysql-statements",
        "batched" if config.batched else "plain",
        "--worker",
    ]


def serve_worker(config: ServeConfig) -> None:
    """One of several processes: the schema exists, the port is shared."""
    uvloop.run(_serve(config, create_schema=False, reuse_port=True))


async def _create_schema(config: ServeConfig) -> None:
    store = open_store(config.db, config.pool_size, config.sqlite_synchronous, config.batched)
    try:
        await store.create_schema(reset=config.reset)
    finally:
        await store.close()


async def _serve(config: ServeConfig, create_schema: bool, reuse_port: bool) -> None:
    if create_schema and config.reset:
        await _create_schema(config)
    store = open_store(config.db, config.pool_size, config.sqlite_synchronous, config.batched)
    verifier = TokenVerifier.from_file(config.public_key, config.issuer, config.audience)
    app = create_app(store, verifier, create_schema=create_schema)
    runner = web.AppRunner(app, access_log=None, handle_signals=False)
    await runner.setup()
    site = ListenSite(runner, config.host, config.port, reuse_port=reuse_port)  # as perkbus's
    await site.start()
    tune_gc()  # as perkbus's processes do: same runtime tuning for both designs
    print(
        f"classic: serving on http://{config.host}:{config.port} ({config.db.split(':')[0]},"
        f" pool {config.pool_size}, workers {config.workers})",
        flush=True,
    )
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    try:
        await stop.wait()
    finally:
        await runner.cleanup()
