"""``python -m bench.classic``: serve (the default), ``seed`` or ``check``.

    python -m bench.classic --db sqlite:var/classic.sqlite3 --port 8090 \\
        --public-key var/keys/jwt.pub.pem [--issuer perkbus] [--audience perkbus-api] \\
        [--workers 1] [--pool-size 16] [--reset]
    python -m bench.classic seed --db sqlite:var/classic.sqlite3 --tenants 1000 \\
        --codes 100 --balance 100000000
    python -m bench.classic check --db sqlite:var/classic.sqlite3 [--successes N]
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Sequence

import msgspec

from bench.classic.invariants import check_invariants
from bench.classic.seed import seed
from bench.classic.server import ServeConfig, serve, serve_worker

_json = msgspec.json.Encoder()


def serve_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m bench.classic",
        description="The classic baseline: one database transaction per order request.",
        epilog="Subcommands: 'seed' and 'check' (python -m bench.classic seed --help).",
    )
    p.add_argument("--db", required=True, help="sqlite:PATH or mysql://user@host:port/db")
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--public-key", required=True, help="PEM file of the JWT public key")
    p.add_argument("--issuer", default="perkbus")
    p.add_argument("--audience", default="perkbus-api")
    p.add_argument("--workers", type=int, default=1, help="processes sharing the port")
    p.add_argument("--pool-size", type=int, default=16, help="MariaDB connections per worker")
    p.add_argument("--sqlite-synchronous", default="FULL", choices=["FULL", "NORMAL", "OFF"])
    p.add_argument(
        "--mysql-statements",
        default="batched",
        choices=["batched", "plain"],
        help="MariaDB: an order in 4 round trips (multi-statement) or 1 per statement",
    )
    p.add_argument("--reset", action="store_true", help="drop the tables and create them")
    p.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    return p


def seed_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m bench.classic seed")
    p.add_argument("--db", required=True)
    p.add_argument("--tenants", type=int, required=True)
    p.add_argument("--codes", type=int, required=True, help="voucher codes per tenant")
    p.add_argument("--balance", type=int, required=True, help="budget balance, minor units")
    p.add_argument("--face-value", type=int, default=1000, help="minor units")
    p.add_argument("--currency", default="EUR")
    p.add_argument("--markup-bps", type=int, default=0)
    p.add_argument("--keep", action="store_true", help="add to the tables, do not reset them")
    return p


def check_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m bench.classic check")
    p.add_argument("--db", required=True)
    p.add_argument("--successes", type=int, default=None, help="201 answers counted")
    return p


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if args[:1] == ["seed"]:
        s = seed_parser().parse_args(args[1:])
        report = asyncio.run(
            seed(
                s.db,
                s.tenants,
                s.codes,
                s.balance,
                face_value_minor=s.face_value,
                currency=s.currency,
                markup_bps=s.markup_bps,
                reset=not s.keep,
            )
        )
        print(_json.encode(report).decode())
        return 0
    if args[:1] == ["check"]:
        c = check_parser().parse_args(args[1:])
        checked = asyncio.run(check_invariants(c.db, c.successes))
        print(_json.encode({"ok": checked.ok, **msgspec.to_builtins(checked)}).decode())
        return 0 if checked.ok else 1
    a = serve_parser().parse_args(args)
    config = ServeConfig(
        db=a.db,
        port=a.port,
        public_key=a.public_key,
        issuer=a.issuer,
        audience=a.audience,
        workers=a.workers,
        pool_size=a.pool_size,
        reset=a.reset,
        sqlite_synchronous=a.sqlite_synchronous,
        batched=a.mysql_statements == "batched",
        host=a.host,
    )
    if a.worker:
        serve_worker(config)
    else:
        serve(config)
    return 0


if __name__ == "__main__":
    sys.exit(main())
