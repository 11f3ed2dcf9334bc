"""Print the fastest build of this Python version on the machine, for ``make`` to build
the virtualenv with (ADR 35).

Builds of one CPython version differ a lot in speed: one compiled with profile-guided and
link-time optimisation, its interpreter linked statically (as Debian's is), runs our code
about a quarter faster than one built without (as pyenv builds by default). ``make``
runs this with the ``python3`` on the PATH; it looks at that interpreter and at the other
builds of the same version it can find, keeps those that can make a virtualenv with pip
and have the modules we need, times a short loop of ordinary Python on each, and prints
the fastest. Run as a script, with the standard library only.
"""

from __future__ import annotations

import math
import os
import shutil
import subprocess
import sys
from collections.abc import Sequence

#: Where other builds of the version usually live, besides the PATH.
PLACES = ("/usr/bin", "/usr/local/bin")

#: Imports a build must have to be worth taking: a virtualenv with pip, and our stdlib.
NEEDED = "import ensurepip, venv, sqlite3, ssl, ctypes, hashlib, lzma"

#: A short loop of the kind of Python our processes run (calls, attributes, dicts, str).
PROBE = """
import time
class Item:
    __slots__ = ("key", "value")
    def __init__(self, key, value):
        self.key = key
        self.value = value
def work(n):
    seen = {}
    for i in range(n):
        item = Item(f"k{i % 97}", i)
        seen[item.key] = seen.get(item.key, 0) + item.value
    return len(seen)
best = 1e9
for _ in range(5):
    start = time.perf_counter()
    work(20_000)
    best = min(best, time.perf_counter() - start)
print(best)
"""


def candidates(version: str, path: str | None = None, places: Sequence[str] = PLACES) -> list[str]:
    """``python<version>`` and ``python3`` on ``path`` (the PATH), and ``python<version>``
    in ``places``: each file once, however many names lead to it."""
    found = [shutil.which(name, path=path) for name in (f"python{version}", "python3")]
    found += [os.path.join(place, f"python{version}") for place in places]
    unique: dict[str, str] = {}
    for file in found:
        if file and os.access(file, os.X_OK):
            unique.setdefault(os.path.realpath(file), file)
    return list(unique.values())


def usable(python: str, version: str) -> bool:
    """Whether ``python`` is ``version`` and can make our virtualenv."""
    check = f"import sys; {NEEDED}; print('%d.%d' % sys.version_info[:2])"
    try:
        out = subprocess.run([python, "-c", check], capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired):
        return False
    return out.returncode == 0 and out.stdout.strip() == version


def seconds(python: str) -> float:
    """The probe's best time on ``python`` (infinite if it could not say)."""
    try:
        out = subprocess.run([python, "-c", PROBE], capture_output=True, text=True, timeout=60)
        return float(out.stdout)
    except (OSError, subprocess.TimeoutExpired, ValueError):
        return math.inf


def fastest(pythons: Sequence[str], version: str, rounds: int = 7) -> str | None:
    """The usable build whose best time over ``rounds`` is least. Timed in turn, round by
    round, each round a process of its own: the machine's speed drifts, and a process runs
    the probe in one of two speeds (about a third of them ~1.7 times slower, measured
    here), so a build is only as fast as its fastest process."""
    usable_ = [p for p in pythons if usable(p, version)]
    best = dict.fromkeys(usable_, math.inf)
    for _ in range(rounds if len(usable_) > 1 else 0):
        for python in usable_:
            best[python] = min(best[python], seconds(python))
    return min(usable_, key=lambda p: best[p]) if usable_ else None


def main() -> None:
    version = f"{sys.version_info.major}.{sys.version_info.minor}"
    print(fastest(candidates(version), version) or sys.executable)


if __name__ == "__main__":
    main()
