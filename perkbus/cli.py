"""perkbus: a self-hostable, multi-tenant rewards platform (gift cards, vouchers, points).

perkbus up [--demo]   the whole system on embedded defaults (NATS, SQLite)
perkbus actors        an actor host, against PERKBUS_NATS_URL
perkbus edge          an HTTP edge, against PERKBUS_NATS_URL
perkbus warehouse     load PB_EVENTS into the reporting warehouse and answer reports
perkbus webhooks      relay events to tenants' webhook endpoints, and email people
perkbus migrate       bring the ledger schema up to date
perkbus audit verify  check the audit logs' hash chains (reads only)
perkbus token ...     mint an access token for a tenant (development and operations)
perkbus bench         the same burst against perkbus, a classic service and a ceiling
perkbus screenshots   PNGs of the end-user app's main screens, phone and desktop sizes
perkbus nats-creds    mint NATS credentials: a tenant's integrator (its events only), or
                      perkbus's service user; or print the server's operator-mode block
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import signal
import sys
from collections.abc import Callable, Coroutine
from typing import Any

from perkbus import settings as settings_module
from perkbus.settings import Settings, SettingsError


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="perkbus", description=__doc__.split("\n\n")[0])
    parser.add_argument("--config", help="TOML settings file (or PERKBUS_CONFIG)")
    parser.add_argument("--log-level", default="INFO")
    sub = parser.add_subparsers(dest="command", required=True)
    up = sub.add_parser("up", help="run the whole system on embedded defaults")
    up.add_argument("--demo", action="store_true", help="seed the demo tenant")
    sub.add_parser("actors", help="run an actor host")
    sub.add_parser("edge", help="run an HTTP edge")
    sub.add_parser("warehouse", help="load the reporting warehouse and answer reports")
    sub.add_parser("webhooks", help="relay events to tenants' webhook endpoints")
    sub.add_parser("migrate", help="migrate the ledger schema")
    token = sub.add_parser("token", help="mint an access token")
    token.add_argument("--tenant", required=True)
    token.add_argument(
        "--subject",
        default="operator:cli",
        help="who the token acts as: a person's id to act as them (operator:cli if none)",
    )
    token.add_argument(
        "--scope",
        action="append",
        default=[],
        help="repeatable; every scope the roles allow if none (docs/permissions.md)",
    )
    token.add_argument(
        "--role",
        action="append",
        default=[],
        help="repeatable; owner if none (owner, admin, programme_manager, finance, auditor,"
        " integrator, end_user)",
    )
    token.add_argument(
        "--grant", action="append", default=[], help="repeatable, budget:<id>; all if none"
    )
    token.add_argument("--ttl", type=int, default=3600, help="seconds, 60 to 31536000")
    nats_creds = sub.add_parser(
        "nats-creds", help="mint NATS credentials (a .creds file, on stdout)"
    )
    who = nats_creds.add_mutually_exclusive_group(required=True)
    who.add_argument("--tenant", help="an integrator: may subscribe to pb.evt.<tenant>.> only")
    who.add_argument(
        "--service", action="store_true", help="perkbus's own processes: every subject"
    )
    who.add_argument(
        "--server-config",
        action="store_true",
        help="print the operator-mode block of an external nats-server's config instead",
    )
    nats_creds.add_argument(
        "--ttl-days", type=int, default=30, help="integrator credentials expire (default 30)"
    )
    _bench_parser(sub)
    shots = sub.add_parser("screenshots", help="PNGs of the end-user app's main screens")
    shots.add_argument("--out", default="var/screenshots", help="folder (var/screenshots)")
    shots.add_argument("--chromium", default="/usr/bin/chromium", help="Chromium to drive")
    audit = sub.add_parser("audit", help="the tenants' hash-chained audit logs")
    audit_sub = audit.add_subparsers(dest="audit_command", required=True)
    verify = audit_sub.add_parser("verify", help="check every entry of the chains")
    verify.add_argument("--tenant", action="append", default=[], help="repeatable; all if none")
    return parser


def _bench_parser(sub: Any) -> None:
    bench = sub.add_parser(
        "bench", help="perkbus against a classic service and a ceiling (bench/README.md)"
    )
    bench.add_argument("--scenario", default="hot,spread,bulk", help="hot,spread,bulk")
    bench.add_argument("--systems", default="perkbus,classic,ceiling")
    bench.add_argument("--duration", type=float, help="seconds per burst (10; --short 4)")
    bench.add_argument("--connections", type=int, default=256)
    bench.add_argument("--tenants", type=int, help="of spread (1000; --short 100)")
    bench.add_argument("--bulk-rewards", type=int, help="rows of the bulk job (100000)")
    bench.add_argument("--warmup", type=float, help="seconds before each burst (3; --short 2)")
    bench.add_argument("--mysql", action="store_true", help="MariaDB at 127.0.0.1:3306 (root)")
    bench.add_argument(
        "--redis", action="store_true", help="perkbus's edge caches in Redis at 127.0.0.1:6379"
    )
    bench.add_argument("--json", default="", help="default var/bench/bench-<timestamp>.json")
    bench.add_argument("--short", action="store_true", help="make bench: shorter, fewer tenants")
    bench.add_argument(
        "--rounds",
        type=int,
        default=1,
        help="measure each scenario's systems in turn this many times; ratios are medians",
    )
    bench.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="a perkbus setting for the system under test, e.g. SQLITE_WRITER=thread",
    )


def _bench(args: argparse.Namespace) -> int:
    from bench.harness.options import SCENARIOS, SHORT, SYSTEMS, BenchOptions, parse_settings, split
    from bench.harness.run import main as run_bench

    given = {
        "duration_s": args.duration,
        "tenants": args.tenants,
        "bulk_rewards": args.bulk_rewards,
        "warmup_s": args.warmup,
    }
    defaults = SHORT if args.short else {}
    try:
        if args.rounds < 1:
            raise ValueError(f"--rounds must be 1 or more (got {args.rounds})")
        options = BenchOptions(
            scenarios=split(args.scenario, SCENARIOS),
            systems=split(args.systems, SYSTEMS),
            connections=args.connections,
            mysql=args.mysql,
            redis=args.redis,
            json_path=args.json,
            short=args.short,
            settings=parse_settings(args.set),
            rounds=args.rounds,
            **{
                k: v
                for k, v in (defaults | {k: v for k, v in given.items() if v is not None}).items()
            },
        )
    except ValueError as e:
        print(f"perkbus bench: {e}", file=sys.stderr)
        return 2
    return run_bench(options)


def _run_until_signal(
    main: Callable[[Settings, asyncio.Event], Coroutine[Any, Any, None]], settings: Settings
) -> int:
    async def wrapper() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        await main(settings, stop)

    import uvloop

    from bus.errors import BusError

    try:
        uvloop.run(wrapper())
    except BusError as e:  # NATS not reachable at start: one line, not a traceback
        logging.getLogger("perkbus").error("%s", e)
        return 1
    return 0


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    logging.basicConfig(
        level=args.log_level.upper(),
        format=f"%(asctime)s %(levelname)s [{args.command}] %(name)s: %(message)s",
    )
    try:
        settings = settings_module.load(args.config)
    except SettingsError as e:
        print(f"perkbus: {e}", file=sys.stderr)
        return 2
    match args.command:
        case "up":
            import uvloop

            from perkbus.runner import up

            return uvloop.run(up(settings, args.config, args.demo))
        case "actors":
            from perkbus.roles import run_actors

            return _run_until_signal(run_actors, settings)
        case "edge":
            from perkbus.roles import run_edge

            return _run_until_signal(run_edge, settings)
        case "warehouse":
            from perkbus.roles import run_warehouse

            return _run_until_signal(run_warehouse, settings)
        case "webhooks":
            from perkbus.roles import run_webhooks

            return _run_until_signal(run_webhooks, settings)
        case "migrate":
            return asyncio.run(_migrate(settings))
        case "audit":
            return asyncio.run(_verify_audit(settings, args.tenant))
        case "bench":
            return _bench(args)
        case "nats-creds":
            return _nats_creds(settings, args)
        case "screenshots":
            from pathlib import Path

            from perkbus import screenshots

            return screenshots.main(Path(args.out), args.chromium)
        case "token":
            from perkbus import tokens

            try:
                roles, scopes = tokens.token_rights(args.tenant, args.role, args.scope, args.grant)
                if not 60 <= args.ttl <= 365 * 86_400:
                    raise ValueError("--ttl is from 60 seconds to a year (31536000)")
            except ValueError as e:
                print(f"perkbus token: {e}", file=sys.stderr)
                return 2
            tokens.ensure_keypair(settings.auth.signing_key_file, settings.edge.jwt_public_key_file)
            print(
                tokens.mint(
                    settings.auth.signing_key_file,
                    tenant=args.tenant,
                    subject=args.subject,
                    scopes=scopes,
                    roles=roles,
                    ttl_s=args.ttl,
                    issuer=settings.edge.jwt_issuer,
                    audience=settings.edge.jwt_audience,
                    grants=args.grant,
                )
            )
            return 0
    return 2


def _nats_creds(settings: Settings, args: argparse.Namespace) -> int:
    """Print a ``.creds`` file (or the server block) signed with the keys in
    ``PERKBUS_NATS_AUTH_DIR`` — the ones the embedded server trusts (ADR 17)."""
    import time

    from bus.nats_auth import NatsAuthority
    from bus.subjects import InvalidToken

    authority = NatsAuthority.load_or_create(settings.nats.auth_dir)
    now = int(time.time())
    if args.server_config:
        print("\n".join(authority.server_config(settings.nats.partitions, now)))
    elif args.service:
        print(authority.service_credentials(now), end="")
    else:
        if args.ttl_days <= 0:
            print("perkbus: --ttl-days must be at least 1", file=sys.stderr)
            return 2
        try:
            creds = authority.tenant_credentials(args.tenant, now, args.ttl_days * 86_400)
        except InvalidToken as e:
            print(f"perkbus: {e}", file=sys.stderr)
            return 2
        print(creds, end="")
    return 0


async def _verify_audit(settings: Settings, tenants: list[str]) -> int:
    """0 if every chain holds; 1, naming the first bad entry of each broken chain (or a
    tenant named that has no audit log), if not. It only reads: no migration, so a
    read-only database user can run it."""
    from storage.audit_chain import verify
    from storage.factory import open_ledger

    ledger = open_ledger(settings.mysql, settings.sqlite)
    failed = 0
    try:
        try:
            audited = await ledger.audited_tenants()
        except Exception as e:  # no schema (a wrong database?), or the store is away
            print(f"perkbus audit: cannot read the audit log of {ledger.name}: {e}")
            return 1
        for tenant in tenants or audited:
            if tenant not in audited:  # "0 entries, chain intact" would reassure wrongly
                failed += 1
                print(f"{tenant}: no audit log in {ledger.name}")
                continue
            problem = await verify(ledger, tenant)
            if problem is None:
                seq, _ = await ledger.audit_head(tenant)
                print(f"{tenant}: {seq} entries, chain intact")
            else:
                failed += 1
                print(f"TAMPERED {problem}")
    finally:
        await ledger.close()
    return 1 if failed else 0


async def _migrate(settings: Settings) -> int:
    from storage.factory import open_ledger

    ledger = open_ledger(settings.mysql, settings.sqlite)
    try:
        await ledger.migrate()
    finally:
        await ledger.close()
    print(f"{ledger.name}: schema up to date")
    return 0
