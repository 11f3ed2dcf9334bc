"""The processes of a system under test: free ports, spawning, tearing down, and the CPU
time each one used (from ``/proc/<pid>/stat``)."""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path

from bus.embedded import die_with_parent, terminate

#: Ports the machine's own services hold; a system under test never gets one of them.
RESERVED_PORTS = frozenset({3306, 4222, 5432, 6379, 8080})
_TICKS = os.sysconf("SC_CLK_TCK")


def free_port() -> int:
    while True:
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port: int = s.getsockname()[1]
        if port not in RESERVED_PORTS:
            return port


def spawn(
    command: Sequence[str], log: Path, env: Mapping[str, str] | None = None, cwd: Path | None = None
) -> subprocess.Popen[bytes]:
    """A child in its own session (a Ctrl-C reaches only the harness, which stops it in
    order), killed by Linux if the harness dies; its output goes to ``log``."""
    with log.open("ab") as out:
        return subprocess.Popen(
            list(command),
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            env=dict(env) if env is not None else None,
            cwd=cwd,
            preexec_fn=die_with_parent,
            start_new_session=True,
        )


def stop(process: subprocess.Popen[bytes] | None, timeout_s: float = 30) -> None:
    terminate(process, timeout_s)


def _stat(pid: int) -> tuple[str, int, float] | None:
    """(command name, parent pid, CPU seconds user + system) of a live process."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    name = stat[stat.index("(") + 1 : stat.rindex(")")]
    fields = stat[stat.rindex(")") + 2 :].split()
    return name, int(fields[1]), (int(fields[11]) + int(fields[12])) / _TICKS


def _all_processes() -> Iterator[tuple[int, str, int, float]]:
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit() and (found := _stat(int(entry.name))) is not None:
            yield int(entry.name), *found


def label(pid: int, name: str) -> str:
    """A readable name: the role of ``python -m perkbus <role>`` or ``-m bench.x <role>``."""
    try:
        argv = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except OSError:
        return name
    words = [a.decode(errors="replace") for a in argv if a]
    if "-m" not in words[:-1]:
        return name
    module, *rest = words[words.index("-m") + 1 :]
    role, skip = "", False
    for word in rest:  # the first word that is neither an option nor an option's value
        if skip or word.startswith("-"):
            skip = word.startswith("--") and "=" not in word and not skip
            continue
        role = word
        break
    return " ".join(w for w in (module.removeprefix("bench."), role) if w)


def cpu_by_process(roots: Sequence[int], extra_names: Sequence[str] = ()) -> dict[str, float]:
    """CPU seconds so far of each process descending from ``roots`` (themselves included),
    and of any process named in ``extra_names`` (a database server not ours), by label;
    processes with the same label are summed."""
    table = list(_all_processes())
    children: dict[int, list[int]] = {}
    for pid, _, parent, _ in table:
        children.setdefault(parent, []).append(pid)
    wanted: set[int] = set()
    todo = list(roots)
    while todo:
        pid = todo.pop()
        if pid not in wanted:
            wanted.add(pid)
            todo.extend(children.get(pid, ()))
    used: dict[str, float] = {}
    for pid, name, _, seconds in table:
        if pid in wanted or name in extra_names:
            key = name if name in extra_names else label(pid, name)
            used[key] = used.get(key, 0.0) + seconds
    return used


def cpu_delta(before: Mapping[str, float], after: Mapping[str, float]) -> dict[str, float]:
    return {k: round(after[k] - before.get(k, 0.0), 2) for k in sorted(after)}


@contextlib.contextmanager
def all_stopped(processes: list[subprocess.Popen[bytes]]) -> Iterator[None]:
    """Stop every process in the list (last started first) when the block ends, however."""
    try:
        yield
    finally:
        for p in reversed(processes):
            stop(p)


def listen_overflows(netstat: Path = Path("/proc/net/netstat")) -> int | None:
    """This machine's count of connections dropped because a listening socket's queue was
    full (``TcpExt: ListenOverflows``), or None where it cannot be read."""
    try:
        lines = netstat.read_text().splitlines()
    except OSError:
        return None
    for names, values in zip(lines[::2], lines[1::2], strict=False):
        if names.startswith("TcpExt:") and values.startswith("TcpExt:"):
            counts = dict(zip(names.split()[1:], values.split()[1:], strict=False))
            found = counts.get("ListenOverflows")
            return int(found) if found is not None and found.isdigit() else None
    return None
