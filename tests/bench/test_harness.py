"""``perkbus bench``'s own parts, on real parts: wrk's result as the generated Lua script
prints it, the ceiling system end to end, perkbus's invariant checker against a real
ledger with real orders, and the report rendered from a real (tiny) measurement. No test
asserts a timing."""

from __future__ import annotations

import shutil
from pathlib import Path

import msgspec
import pytest

from bench.harness import wrk
from bench.harness.ceiling_system import ceiling
from bench.harness.options import BenchOptions, parse_settings
from bench.harness.perkbus_invariants import check_orders, open_query
from bench.harness.perkbus_system import GENERATE_MAX, Perkbus, cpu_names, seeding_at_once
from bench.harness.processes import cpu_by_process, cpu_delta, listen_overflows
from bench.harness.report import (
    BenchReport,
    BurstRun,
    ratios,
    render,
    round_ratios,
    speed_shifts,
    targets,
    to_json,
)
from bench.harness.run import run_bench
from bench.harness.system import Scenario, redis_prefix
from bus.messages import Ok, Principal
from bus.messages.vouchers import GenerateCodes
from storage.ports import CatalogueStore
from storage.redis_wire import RedisUnavailable, RedisWire
from tests.conftest import Cluster
from tests.support import gift_card, raw_execute, unavailable

needs_wrk = pytest.mark.skipif(shutil.which("wrk") is None, reason="wrk is not installed")


def test_the_result_line_is_read_back() -> None:
    line = (
        'WRK_RESULT {"answers":{"ok":90,"201:insufficient_funds":3,"409:out_of_stock":2},'
        '"socket_errors":{"connect":0,"read":1,"write":0,"status":5,"timeout":4},'
        '"requests":100,"duration_us":2000000,"p50_us":1500,"p95_us":9000,"p99_us":12000}'
    )
    result = wrk.parse(f"Running 2s test\n{line}\n  100 requests in 2.00s\n", cpu_s=0.5)
    assert result.successes == 90
    assert result.seconds == 2.0
    assert result.latency_ms == {"p50": 1.5, "p95": 9.0, "p99": 12.0}
    # non-2xx answers are counted by kind already; wrk's "status" errors would count them twice
    assert result.errors == {
        "201:insufficient_funds": 3,
        "409:out_of_stock": 2,
        "socket:read": 1,
        "socket:timeout": 4,
    }


def test_output_without_the_result_line_is_an_error() -> None:
    with pytest.raises(wrk.WrkOutputError):
        wrk.parse("unable to connect to 127.0.0.1:1 Connection refused\n")


@needs_wrk
async def test_the_ceiling_end_to_end_and_its_report(tmp_path: Path) -> None:
    """A tiny burst against the real ceiling (nats-server, actor, edge) through the real
    Lua script; the rows in its database match the successes wrk counted; the report
    renders the measurement."""
    scenario = Scenario("spread", tenants=3)
    async with ceiling(scenario, tmp_path, mysql=False, seconds=1) as started:
        script = tmp_path / "orders.lua"
        script.write_text(wrk.script(started.targets, started.body, started.fulfilled_marker))
        before = cpu_by_process(started.pids)
        result = await wrk.burst(script, started.url, "t", 1, connections=8, threads=1)
        after = cpu_by_process(started.pids)
        await started.stop()
        checked = await started.check(result.successes, 8)
        assert checked.ok, checked.violations
        assert checked.facts["orders"] >= result.successes > 0
        assert result.errors == {}
        too_many = await started.check(result.successes + 9, 8)
        assert not too_many.ok
    cpu = cpu_delta(before, after)
    assert {"nats-server", "ceiling actor", "ceiling edge"} <= set(cpu)

    run = BurstRun(
        "spread", "ceiling", "sqlite", result.successes, result.seconds,
        round(result.successes / result.seconds, 1), result.latency_ms, result.errors,
        cpu, {k: 50.0 for k in cpu}, 0, checked,
    )  # fmt: skip
    slower = msgspec.structs.replace(
        run, system="perkbus", successes_per_s=run.successes_per_s / 2, errors={"503:?": 1}
    )
    runs = [slower, run]
    report = BenchReport(
        "now", "perkbus bench", {"cores": 2}, {}, "rule", runs, [], ratios(runs),
        targets(runs, []), ["a note"], ok=True,
    )  # fmt: skip
    assert report.ratios == {"spread: perkbus/ceiling": 0.5}
    met = {t.name: t.met for t in report.targets}
    assert met["spread: perkbus/ceiling"] is False
    assert met["hot: perkbus/classic"] is None
    text = render(report)
    assert f"{run.successes_per_s:,.0f}" in text
    assert "spread: perkbus/ceiling = 0.50" in text
    assert "503:?=1" in text
    assert "ceiling edge 50%" in text
    decoded = msgspec.json.decode(to_json(report), type=BenchReport)
    assert decoded.runs[1].invariants == checked


async def test_perkbus_invariants_on_a_real_ledger(
    cluster: Cluster, catalogue: CatalogueStore, ledger_url: str
) -> None:
    await catalogue.put_products([gift_card()])
    await cluster.open_budget("acme", "b1", 10_000)
    admin = Principal("admin@acme", roles=("admin",))
    generated = await cluster.bus.request(
        "acme", "vouchers", GenerateCodes("card-de", 2500, "EUR", 10), admin, 10
    )
    assert isinstance(generated, Ok)
    headers = cluster.keys.headers("acme")
    order = {"product_id": "card-de", "face_value_minor": 2500, "recipient": "ann"}
    order["budget_id"] = "b1"
    statuses = []
    for n in range(5):  # the fifth is refused: 4 x 2500 spent the budget
        headers["Idempotency-Key"] = f"k{n}"
        async with cluster.client.post("/api/v1/orders", json=order, headers=headers) as r:
            assert r.status == 201
            statuses.append((await r.json())["status"])
    assert statuses == ["fulfilled"] * 4 + ["failed"]
    query = open_query(ledger_url)

    checked = await check_orders(query, successes=4, allowance=0)
    assert checked.ok, checked.violations
    assert checked.facts["orders_fulfilled"] == 4
    assert checked.facts["orders_failed"] == 1
    assert checked.facts["codes_allocated"] == 4
    assert not (await check_orders(query, successes=5, allowance=0)).ok
    assert not (await check_orders(query, successes=2, allowance=1)).ok
    assert (await check_orders(query, successes=2, allowance=2)).ok

    # books that do not balance are caught
    await raw_execute(
        cluster.ledger,
        "INSERT INTO ledger_entries (tenant_id, txn_id, account, amount_minor, currency,"
        " created_ms) VALUES (?, ?, ?, ?, ?, ?)",
        ("acme", "forged", "budget:b1", -20_000, "EUR", 0),
    )
    await raw_execute(
        cluster.ledger,
        "UPDATE accounts SET balance_minor = -10000 WHERE tenant_id = ? AND account_id = ?",
        ("acme", "budget:b1"),
    )
    broken = await check_orders(query, successes=4, allowance=0)
    assert broken.facts["negative_balances"] == 1
    assert broken.facts["unbalanced_transactions"] == 1
    assert len(broken.violations) == 3, broken.violations


def test_settings_given_to_the_bench_reach_perkbus_and_only_those(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PERKBUS_ACTORS_BATCH_MAX", "1")  # the caller's own: not for the bench
    given = parse_settings(["SQLITE_WRITER=thread", "perkbus_edge_reuse_port=true"])
    assert given == (("SQLITE_WRITER", "thread"), ("EDGE_REUSE_PORT", "true"))
    env = Perkbus(tmp_path, None, given).env
    assert env["PERKBUS_SQLITE_WRITER"] == "thread"
    assert env["PERKBUS_EDGE_REUSE_PORT"] == "true"
    assert "PERKBUS_ACTORS_BATCH_MAX" not in env
    with pytest.raises(ValueError, match="NAME=VALUE"):
        parse_settings(["SQLITE_WRITER"])


@pytest.mark.redis
async def test_a_run_on_redis_keeps_to_a_prefix_of_its_own_and_leaves_no_key() -> None:
    client = RedisWire("redis://127.0.0.1:6379/0")
    try:
        async with redis_prefix("pbtest") as (_, prefix), redis_prefix("pbtest") as (_, other):
            assert prefix != other  # two runs on one Redis keep apart
            for i in range(1500):  # past one SCAN page
                await client.call("SET", f"{prefix}k{i}", "v", "EX", 600)
            await client.call("SET", f"{other}k", "v", "EX", 600)
        _, left = await client.call("SCAN", 0, "MATCH", "pbtest:*", "COUNT", 100_000)
    except RedisUnavailable as e:
        unavailable(f"Redis at 127.0.0.1:6379 is not reachable: {e}")
    finally:
        await client.aclose()
    assert [k for k in left if k.startswith((prefix.encode(), other.encode()))] == []
    assert cpu_names(mysql=False, redis=True) == ("redis-server",)  # its CPU is counted


def burst_run(system: str, rate: float, round_: int, p99: float = 50.0) -> BurstRun:
    return BurstRun(
        "hot", system, "sqlite", int(rate * 10), 10.0, rate, {"p99": p99}, {}, {}, {}, 0, None,
        round=round_,
    )  # fmt: skip


def test_rounds_compare_the_systems_of_each_round_and_report_medians() -> None:
    # the machine slows down in round 2; each round is compared with itself
    runs = [
        burst_run("perkbus", 3000, 1, p99=90), burst_run("classic", 1000, 1),
        burst_run("perkbus", 2000, 2, p99=300), burst_run("classic", 450, 2),
        burst_run("perkbus", 3200, 3, p99=120), burst_run("classic", 800, 3),
    ]  # fmt: skip
    assert round_ratios(runs) == {"hot: perkbus/classic": [3.0, 4.44, 4.0]}
    assert ratios(runs) == {"hot: perkbus/classic": 4.0}
    found = {t.name: t for t in targets(runs, [])}
    assert found["hot: perkbus/classic"].met is True
    assert found["hot: perkbus p99"].measured == "120 ms"  # the median, one line per scenario
    report = BenchReport(
        "now", "perkbus bench --rounds 3", {"cores": 2}, {}, "rule", runs, [], ratios(runs),
        list(found.values()), [], ok=True, ratios_by_round=round_ratios(runs),
    )  # fmt: skip
    text = render(report)
    assert "hot: perkbus/classic = 4.00 (median of rounds: 3.00, 4.44, 4.00)" in text
    assert "hot #2" in text
    # a round where one system failed gives no ratio for that round
    failed = msgspec.structs.replace(runs[3], failure="did not start")
    assert round_ratios([*runs[:3], failed, *runs[4:]]) == {"hot: perkbus/classic": [3.0, 4.0]}


def test_a_burst_that_ran_out_of_codes_says_its_figure_understates() -> None:
    run = msgspec.structs.replace(
        burst_run("perkbus", 4000, 1), errors={"201:out_of_stock": 1200, "socket:read": 3}
    )
    classic = msgspec.structs.replace(burst_run("classic", 1000, 1), errors={"socket:read": 2})
    warning = _the_warning_under_perkbus_alone(run, classic, "STOCK RAN OUT")
    assert "1,200 orders found no code" in warning


def test_each_run_says_the_cpu_each_process_spent_per_successful_order() -> None:
    run = msgspec.structs.replace(
        burst_run("perkbus", 1000, 1),
        cpu_s={"perkbus edge": 1.26, "wrk": 0.24, "perkbus up": 0.001},
    )  # 10,000 successes
    idle = msgspec.structs.replace(burst_run("classic", 0, 1), successes=0, cpu_s={"wrk": 0.1})
    report = BenchReport(
        "now", "perkbus bench", {"cores": 2}, {}, "rule", [run, idle], [], {}, [], [], ok=True
    )  # fmt: skip
    lines = [line.strip() for line in render(report).splitlines()]
    assert "µs/ok  perkbus edge 126 wrk 24 = 150 µs" in lines  # perkbus up: counted, not shown
    assert "µs/ok  -" in lines  # no success: nothing to divide by


def test_the_kernels_listen_queue_overflows_are_read(tmp_path: Path) -> None:
    netstat = tmp_path / "netstat"
    netstat.write_text(
        "TcpExt: SyncookiesSent ListenOverflows ListenDrops\n"
        "TcpExt: 0 2134 2140\n"
        "IpExt: InNoRoutes ListenOverflows\n"
        "IpExt: 0 7\n"
    )
    assert listen_overflows(netstat) == 2134
    assert listen_overflows(tmp_path / "missing") is None
    assert listen_overflows() is not None  # this machine's own (Linux)


def test_a_burst_whose_handshakes_were_dropped_says_so() -> None:
    dropped = msgspec.structs.replace(burst_run("perkbus", 4000, 1), listen_overflows=2134)
    clean = msgspec.structs.replace(burst_run("classic", 1000, 1), listen_overflows=0)
    warning = _the_warning_under_perkbus_alone(dropped, clean, "LISTEN QUEUE FULL")
    assert "2,134 handshakes dropped" in warning


def _the_warning_under_perkbus_alone(perkbus: BurstRun, classic: BurstRun, marker: str) -> str:
    """The one line with ``marker`` the report prints, found under perkbus's run and not
    under the classic service's, which follows it."""
    runs = [perkbus, classic]
    report = BenchReport(
        "now", "perkbus bench", {"cores": 2}, {}, "rule", runs, [], {}, [], [], ok=True
    )  # fmt: skip
    lines = render(report).splitlines()
    warned = [i for i, line in enumerate(lines) if marker in line]
    assert len(warned) == 1
    of_perkbus = next(i for i, line in enumerate(lines) if "hot/perkbus: errors" in line)
    of_classic = next(i for i, line in enumerate(lines) if "hot/classic: errors" in line)
    assert of_perkbus < warned[0] < of_classic
    return lines[warned[0]]


def test_tenants_are_seeded_a_few_at_once_when_each_needs_many_codes() -> None:
    """Few tenants with many codes each are seeded one or two at a time, so no generate
    request waits behind the others' past its deadline; many small ones go 32 at once."""
    ten_tenants = Scenario("spread", tenants=10).codes_per_tenant(13)
    assert ten_tenants > GENERATE_MAX  # the case that timed out: ten tenants of ~11,700 codes
    assert seeding_at_once(ten_tenants) == 1
    assert seeding_at_once(GENERATE_MAX // 2) == 2
    assert seeding_at_once(Scenario("spread", tenants=1000).codes_per_tenant(13)) == 32
    assert seeding_at_once(0) == 32


def test_wrk_gets_no_more_threads_than_connections() -> None:
    """wrk refuses ``-t2 -c1`` ("number of connections must be >= threads"): one client
    runs on one thread, and more clients keep the threads asked for."""
    one = wrk.wrk_command(Path("s.lua"), "http://h", "r", 3, connections=1, threads=2, timeout_s=10)
    assert one[1:3] == ["-t1", "-c1"]
    many = wrk.wrk_command(
        Path("s.lua"), "http://h", "r", 3, connections=256, threads=2, timeout_s=10
    )
    assert many[1:3] == ["-t2", "-c256"]
    assert many[-2:] == ["--", "r"]


async def test_a_run_records_how_fast_the_machine_was_before_and_after() -> None:
    """Absolute figures move with the machine's speed from hour to hour: each report says
    what a fixed Python loop took before and after its runs, in its JSON and its notes."""
    report = await run_bench(BenchOptions(scenarios=()))
    before = report.machine["python_loop_s_before"]
    after = report.machine["python_loop_s_after"]
    assert isinstance(before, float)
    assert before > 0
    assert isinstance(after, float)
    assert after > 0
    (note,) = [n for n in report.notes if n.startswith("machine speed:")]
    assert f"{before:.2f} s before" in note
    assert f"{after:.2f} s after" in note


def test_a_round_whose_systems_ran_at_different_speeds_says_so() -> None:
    """The ratio of a round compares its systems; if the machine slowed between them by
    more than a fifth, a note names the round and both loop times."""
    runs = [
        msgspec.structs.replace(burst_run("perkbus", 4000, 1), python_loop_s=0.24),
        msgspec.structs.replace(burst_run("classic", 1000, 1), python_loop_s=0.27),
        msgspec.structs.replace(burst_run("perkbus", 4000, 2), python_loop_s=0.24),
        msgspec.structs.replace(burst_run("classic", 700, 2), python_loop_s=0.48),
        msgspec.structs.replace(burst_run("ceiling", 9000, 2), python_loop_s=0.25),
        burst_run("perkbus", 4000, 3),  # not timed: nothing to say
        msgspec.structs.replace(burst_run("classic", 1000, 3), python_loop_s=0.9),
    ]
    (note,) = speed_shifts(runs)
    assert note.startswith("hot, round 2: the machine's speed moved between the systems")
    assert "0.24 s before perkbus, 0.48 s before classic)" in note
    assert "ceiling" not in note  # steady against perkbus's run
    report = BenchReport(
        "now", "perkbus bench", {"cores": 2}, {}, "rule", runs, [], {}, [], [note], ok=True
    )  # fmt: skip
    lines = [line.strip() for line in render(report).splitlines()]
    assert "hot/classic #2: errors -; machine loop 0.48 s" in lines
    assert "hot/perkbus #3: errors -" in lines


@needs_wrk
async def test_each_system_is_preceded_by_the_timed_loop(tmp_path: Path) -> None:
    """``run_bench`` times the loop before each system it starts and keeps the figure
    with that system's run (a real, tiny burst against the ceiling)."""
    options = BenchOptions(
        scenarios=("spread",), systems=("ceiling",), duration_s=1, warmup_s=0.5,
        connections=8, tenants=3, rounds=2, json_path=str(tmp_path / "r.json"),
    )  # fmt: skip
    report = await run_bench(options)
    assert [r.round for r in report.runs] == [1, 2]
    for run in report.runs:
        assert run.ok, run.failure
        assert run.python_loop_s is not None
        assert run.python_loop_s > 0
