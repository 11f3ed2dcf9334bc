"""``python -m bench.ceiling actor|edge``: one role of the ceiling system per process.

    python -m bench.ceiling actor --nats URL --db sqlite:PATH|mysql://root@127.0.0.1:3306/db
    python -m bench.ceiling edge --nats URL --port PORT [--host 127.0.0.1]

Each prints one line when ready and runs until SIGTERM or SIGINT.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import signal
import sys
from collections.abc import Callable, Coroutine, Sequence
from typing import Any

import uvloop

from perkbus.gc_tuning import tune_gc


def _until_signal(main: Callable[[asyncio.Event], Coroutine[Any, Any, None]]) -> None:
    async def wrapper() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        tune_gc()  # as perkbus's processes do
        await main(stop)

    uvloop.run(wrapper())


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.ceiling", description=__doc__)
    sub = p.add_subparsers(dest="role", required=True)
    actor = sub.add_parser("actor", help="mailboxes and the group committer")
    actor.add_argument("--nats", required=True)
    actor.add_argument("--db", required=True, help="sqlite:PATH or mysql://…/database")
    edge = sub.add_parser("edge", help="the HTTP edge")
    edge.add_argument("--nats", required=True)
    edge.add_argument("--port", type=int, required=True)
    edge.add_argument("--host", default="127.0.0.1")
    args = p.parse_args(sys.argv[1:] if argv is None else argv)
    logging.basicConfig(level=logging.INFO, format=f"%(asctime)s [ceiling {args.role}] %(message)s")
    if args.role == "actor":
        from bench.ceiling.actor import run_actor

        _until_signal(lambda stop: run_actor(args.nats, args.db, stop))
    else:
        from bench.ceiling.edge import run_edge

        _until_signal(lambda stop: run_edge(args.nats, args.host, args.port, stop))
    return 0


if __name__ == "__main__":
    sys.exit(main())
