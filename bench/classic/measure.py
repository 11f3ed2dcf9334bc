"""A short measurement of the classic baseline alone, until ``perkbus bench`` runs it side by
side with perkbus: seed, start the service, burst it with wrk, stop it, check invariants.

    python -m bench.classic.measure --db sqlite:/tmp/classic.sqlite3 --scenario hot
    python -m bench.classic.measure --db mysql://root@127.0.0.1:3306/classic_bench \\
        --scenario spread --pool-size 16

``hot``: one tenant, one budget; ``spread``: 1,000 tenants, a budget each, a random one
per request. Every request carries its own Idempotency-Key (as perkbus's keyed bench).
wrk, the service and the database share the machine's cores.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import subprocess
import sys
import tempfile
from pathlib import Path

import msgspec

from bench.classic.invariants import check_invariants
from bench.classic.seed import order_token, seed, tenant_ids
from bench.harness import wrk
from bench.harness.wrk import Target
from perkbus import tokens

REPO = Path(__file__).resolve().parents[2]
SCENARIOS = {"hot": 1, "spread": 1000}


def cpu_seconds(server: int) -> dict[str, float]:
    """CPU time (user + system) so far of the service (its processes together) and of the
    database server, from /proc."""
    ticks = os.sysconf("SC_CLK_TCK")
    totals: dict[str, float] = {"service": 0.0}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        name = stat[stat.index("(") + 1 : stat.rindex(")")]
        fields = stat[stat.rindex(")") + 2 :].split()
        pid, parent = int(entry.name), int(fields[1])
        used = (int(fields[11]) + int(fields[12])) / ticks
        if server in (pid, parent):
            totals["service"] += used
        elif name in ("mariadbd", "mysqld"):
            totals["mariadbd"] = used
    return totals


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--db", required=True)
    p.add_argument("--scenario", choices=sorted(SCENARIOS), default="hot")
    p.add_argument("--duration", type=int, default=10, help="seconds")
    p.add_argument("--connections", type=int, default=256)
    p.add_argument("--threads", type=int, default=2, help="wrk threads")
    p.add_argument("--pool-size", type=int, default=16)
    p.add_argument("--workers", type=int, default=1)
    p.add_argument("--mysql-statements", default="batched", choices=["batched", "plain"])
    p.add_argument("--codes", type=int, default=0, help="per tenant (default: enough)")
    p.add_argument("--port", type=int, default=18990)
    args = p.parse_args()
    tenants = SCENARIOS[args.scenario]
    codes = args.codes or (60_000 if tenants == 1 else 150)
    with tempfile.TemporaryDirectory(prefix="classic-measure-") as tmp:
        private, public = Path(tmp) / "jwt.pem", Path(tmp) / "jwt.pub.pem"
        tokens.ensure_keypair(private, public)
        targets = [Target(t, order_token(private, t)) for t in tenant_ids(tenants)]
        seeded = asyncio.run(seed(args.db, tenants, codes, balance_minor=10**15))
        body = msgspec.json.encode(
            {"product_id": seeded.product_id, "face_value_minor": 1000, "recipient": "p1"}
            | {"budget_id": seeded.budget_id}
        )
        script = Path(tmp) / "orders.lua"
        script.write_text(wrk.script(targets, body, fulfilled_marker=False))
        server = subprocess.Popen(
            [
                *(sys.executable, "-m", "bench.classic", "--db", args.db),
                *("--port", str(args.port), "--public-key", str(public)),
                *("--pool-size", str(args.pool_size), "--workers", str(args.workers)),
                *("--mysql-statements", args.mysql_statements),
            ],
            cwd=REPO,
            stdout=subprocess.PIPE,
        )
        try:
            assert server.stdout is not None
            server.stdout.readline()  # "serving on …"
            before = cpu_seconds(server.pid)
            url = f"http://127.0.0.1:{args.port}"
            burst = wrk.burst(script, url, "run", args.duration, args.connections, args.threads)
            result = asyncio.run(burst)
            after = cpu_seconds(server.pid)
        finally:
            server.send_signal(signal.SIGTERM)
            server.wait(timeout=30)
            if server.stdout is not None:
                server.stdout.close()
    ok = result.successes
    # wrk stops with requests in flight; the service still completes them. So the orders
    # may exceed the 201s wrk saw by at most one per connection, never fall short.
    report = asyncio.run(check_invariants(args.db))
    unanswered = report.orders - ok
    violations = list(report.violations)
    if not 0 <= unanswered <= args.connections:
        violations.append(f"{report.orders} orders but {ok} successful responses")
    if ok == 0:
        violations.append("no order succeeded")
    summary = {
        "scenario": args.scenario,
        "store": args.db.split(":")[0],
        "pool_size": args.pool_size,
        "workers": args.workers,
        "mysql_statements": args.mysql_statements,
        "connections": args.connections,
        "seconds": result.seconds,
        "orders_per_s": round(ok / result.seconds, 1),
        "answers": result.answers,
        "errors": result.errors,
        "latency_ms": result.latency_ms,
        "cpu_s": {k: round(after[k] - before.get(k, 0.0), 2) for k in after},
        "orders": report.orders,
        "unanswered_at_stop": unanswered,
        "invariants_ok": not violations,
        "violations": violations,
    }
    print(json.dumps(summary))
    sys.exit(0 if not violations else 1)


if __name__ == "__main__":
    main()
