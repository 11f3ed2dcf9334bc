"""The load generator: wrk (the Debian package) with a Lua script written per run.

Each request carries a fresh Idempotency-Key (``<run>-<thread>-<n>``) and a target picked
at random: a tenant's bearer token and its name (``X-Tenant``, read by the ceiling only).
``response()`` counts answers by kind — ``ok`` (201, and for systems that answer a refused
order with a 201, the body says ``"status":"fulfilled"``), ``201:<failure reason>``,
``<status>:<problem code>`` — and ``done()`` prints one line ``WRK_RESULT {json}`` with the
counts, wrk's socket errors and latency percentiles. :func:`parse` reads it back.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
from collections.abc import Sequence
from pathlib import Path

import msgspec

WRK = "/usr/bin/wrk"
MARKER = "WRK_RESULT "


class Target(msgspec.Struct, frozen=True):
    tenant: str
    token: str


class WrkResult(msgspec.Struct, frozen=True):
    #: Answers by kind: "ok" is a success; everything else is an error kind.
    answers: dict[str, int]
    #: wrk's socket errors: connect, read, write, timeout (and status: non-2xx/3xx).
    socket_errors: dict[str, int]
    requests: int
    seconds: float
    latency_ms: dict[str, float]
    #: CPU seconds wrk itself used.
    cpu_s: float = 0.0

    @property
    def successes(self) -> int:
        return self.answers.get("ok", 0)

    @property
    def errors(self) -> dict[str, int]:
        kinds = {k: n for k, n in self.answers.items() if k != "ok"}
        kinds |= {f"socket:{k}": n for k, n in self.socket_errors.items() if n and k != "status"}
        return kinds


def _lua(value: str) -> str:
    return json.dumps(value)  # a JSON string of ASCII is a valid Lua string literal


def script(targets: Sequence[Target], body: bytes, fulfilled_marker: bool) -> str:
    """The Lua script for one system and scenario."""
    listed = ",\n".join(f"{{{_lua(t.tenant)}, {_lua(t.token)}}}" for t in targets)
    check = 'string.find(body, \'"status":"fulfilled"\', 1, true)' if fulfilled_marker else "true"
    return f"""-- written by bench/harness/wrk.py
local targets = {{
{listed}
}}
local body = {_lua(body.decode())}
local run = "run"
local threads = {{}}
local counter = 0
local next_id = 0
thread_id = 0
seen = {{}}

setup = function(thread)
  thread:set("thread_id", next_id)
  next_id = next_id + 1
  table.insert(threads, thread)
end

init = function(args)
  run = args[1] or "run"
  math.randomseed(thread_id * 7919 + os.time())
end

request = function()
  counter = counter + 1
  local target = targets[math.random(#targets)]
  local headers = {{
    ["Content-Type"] = "application/json",
    ["Authorization"] = "Bearer " .. target[2],
    ["X-Tenant"] = target[1],
    ["Idempotency-Key"] = run .. "-" .. thread_id .. "-" .. counter,
  }}
  return wrk.format("POST", "/api/v1/orders", headers, body)
end

response = function(status, headers, body)
  local kind
  if status == 201 and {check} then
    kind = "ok"
  elseif status == 201 then
    kind = "201:" .. (string.match(body, '"failure_reason":"([%w_]*)"') or "?")
  else
    kind = tostring(status) .. ":" .. (string.match(body, '"code":"([%w_]+)"') or "?")
  end
  seen[kind] = (seen[kind] or 0) + 1
end

done = function(summary, latency, requests)
  local total = {{}}
  for _, thread in ipairs(threads) do
    for kind, n in pairs(thread:get("seen")) do total[kind] = (total[kind] or 0) + n end
  end
  local parts = {{}}
  for kind, n in pairs(total) do table.insert(parts, string.format("%q:%d", kind, n)) end
  local e = summary.errors
  io.write(string.format(
    '{MARKER}{{"answers":{{%s}},"socket_errors":{{"connect":%d,"read":%d,"write":%d,' ..
    '"status":%d,"timeout":%d}},"requests":%d,"duration_us":%d,' ..
    '"p50_us":%d,"p95_us":%d,"p99_us":%d}}\\n',
    table.concat(parts, ","), e.connect, e.read, e.write, e.status, e.timeout,
    summary.requests, summary.duration,
    latency:percentile(50), latency:percentile(95), latency:percentile(99)))
end
"""


class WrkOutputError(RuntimeError):
    pass


def parse(output: str, cpu_s: float = 0.0) -> WrkResult:
    """The ``WRK_RESULT`` line of wrk's output."""
    line = next((ln for ln in output.splitlines() if ln.startswith(MARKER)), None)
    if line is None:
        raise WrkOutputError(f"wrk printed no {MARKER.strip()} line:\n{output}")
    try:
        raw = json.loads(line.removeprefix(MARKER))
        return WrkResult(
            answers={str(k): int(n) for k, n in raw["answers"].items()},
            socket_errors={str(k): int(n) for k, n in raw["socket_errors"].items()},
            requests=int(raw["requests"]),
            seconds=int(raw["duration_us"]) / 1e6,
            latency_ms={p: int(raw[f"{p}_us"]) / 1000 for p in ("p50", "p95", "p99")},
            cpu_s=cpu_s,
        )
    except (ValueError, KeyError, TypeError) as e:
        raise WrkOutputError(f"cannot read wrk's result {line!r}: {e}") from e


def _run(command: list[str]) -> tuple[int, str, float]:
    with subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT) as p:
        assert p.stdout is not None
        output = p.stdout.read().decode(errors="replace")
        # wait4 reaps wrk and tells how much CPU it used
        _, status, usage = os.wait4(p.pid, 0)
        p.returncode = os.waitstatus_to_exitcode(status)
    return p.returncode, output, usage.ru_utime + usage.ru_stime


def wrk_command(
    script_file: Path,
    url: str,
    run: str,
    seconds: float,
    connections: int,
    threads: int,
    timeout_s: int,
) -> list[str]:
    """wrk's command line; never more threads than connections (wrk refuses that)."""
    threads = max(1, min(threads, connections))
    return [
        *(WRK, f"-t{threads}", f"-c{connections}", f"-d{max(1, round(seconds))}s"),
        *("--timeout", f"{timeout_s}s", "-s", str(script_file), url, "--", run),
    ]


async def burst(
    script_file: Path,
    url: str,
    run: str,
    seconds: float,
    connections: int,
    threads: int = 2,
    timeout_s: int = 10,
) -> WrkResult:
    """One wrk run of ``seconds`` against ``url``; ``run`` prefixes the Idempotency-Keys."""
    command = wrk_command(script_file, url, run, seconds, connections, threads, timeout_s)
    code, output, cpu = await asyncio.to_thread(_run, command)
    if code != 0:
        raise WrkOutputError(f"wrk exited with {code}:\n{output}")
    return parse(output, round(cpu, 2))
