"""The ``bulk`` scenario: one perkbus bulk rewards job of N rows (a distinct person each),
uploaded as CSV over REST; rewards/s from the upload until the job is done, then the
invariants (books, and succeeded rows = points issued)."""

from __future__ import annotations

import asyncio
import logging
import tempfile
import time
from pathlib import Path

import aiohttp

from bench.harness.bursts import log_tails
from bench.harness.options import BenchOptions
from bench.harness.perkbus_invariants import check_bulk, open_query
from bench.harness.perkbus_system import SEED_SCOPES, Perkbus, cpu_names, started_perkbus
from bench.harness.processes import cpu_by_process, cpu_delta
from bench.harness.report import BulkRun
from bench.harness.system import BALANCE_MINOR, StartFailed
from bus.scopes import SCOPE_BULK

log = logging.getLogger("bench")
TENANT, BUDGET = "bulk", "bulk"
POINTS = 10


async def _run_job(pb: Perkbus, rows: int) -> tuple[str, float]:
    token = pb.token(TENANT, [*SEED_SCOPES, SCOPE_BULK], ["owner"])
    headers = {"Authorization": f"Bearer {token}"}
    csv = "person_id,points\n" + "".join(f"p{i},{POINTS}\n" for i in range(rows))
    async with aiohttp.ClientSession(headers=headers) as session:
        initial = {"amount_minor": BALANCE_MINOR, "currency": "EUR"}
        body = {"id": BUDGET, "name": BUDGET, "initial": initial}
        async with session.post(f"{pb.url}/api/v1/budgets", json=body) as r:
            if r.status != 201:
                raise StartFailed(f"opening the bulk budget: {r.status} {await r.text()}")
        began = time.monotonic()
        url = f"{pb.url}/api/v1/rewards/bulk?budget_id={BUDGET}"
        async with session.post(url, data=csv.encode(), headers={"Content-Type": "text/csv"}) as r:
            if r.status != 202:
                raise StartFailed(f"starting the bulk job: {r.status} {await r.text()}")
            job_id = str((await r.json())["id"])
        while True:
            async with session.get(f"{pb.url}/api/v1/rewards/bulk/{job_id}") as r:
                job = await r.json()
            if job.get("status") != "running":
                return job_id, time.monotonic() - began
            await asyncio.sleep(0.1)


async def bulk(options: BenchOptions) -> BulkRun:
    store = "mariadb" if options.mysql else "sqlite"
    rows = options.bulk_rewards
    with tempfile.TemporaryDirectory(prefix="perkbus-bench-bulk-") as tmp:
        workdir = Path(tmp)
        try:
            started = started_perkbus(workdir, options.mysql, options.settings, options.redis)
            async with started as (pb, up):
                names = cpu_names(options.mysql, options.redis)
                before = cpu_by_process([up.pid], names)
                log.info("bulk/perkbus: %d rewards in one job", rows)
                job_id, seconds = await _run_job(pb, rows)
                after = cpu_by_process([up.pid], names)
                await asyncio.to_thread(up.terminate)
                await asyncio.to_thread(up.wait, 90)
                invariants = await check_bulk(open_query(pb.ledger), TENANT, job_id, rows)
                return BulkRun(
                    "perkbus",
                    store,
                    rows,
                    round(seconds, 2),
                    round(rows / seconds, 1),
                    cpu_delta(before, after),
                    invariants,
                )
        except Exception as e:
            log.exception("bulk/perkbus failed")
            failure = f"{type(e).__name__}: {e} {log_tails(workdir)}".strip()
            return BulkRun("perkbus", store, rows, 0.0, 0.0, {}, None, failure=failure)
