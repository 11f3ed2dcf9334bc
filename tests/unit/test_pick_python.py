"""``make`` builds the virtualenv on the fastest usable build of python3's version
(``tools/pick_python.py``, ADR 35)."""

from __future__ import annotations

import os
import sys
from pathlib import Path

from tools import pick_python

HERE = f"{sys.version_info.major}.{sys.version_info.minor}"


def fake_python(folder: Path, name: str, version: str, probe_s: str, can_venv: bool = True) -> str:
    """An executable that answers the two questions the picker asks like a Python would:
    its version (if it has what a virtualenv needs), and the probe's time."""
    path = folder / name
    path.write_text(
        "#!/bin/sh\n"
        'case "$2" in\n'
        f"  *ensurepip*) {'echo ' + version if can_venv else 'exit 1'} ;;\n"
        f"  *) echo {probe_s} ;;\n"
        "esac\n"
    )
    path.chmod(0o755)
    return str(path)


def test_the_fastest_usable_build_of_the_version_is_picked(tmp_path: Path) -> None:
    slow = fake_python(tmp_path, "slow", HERE, "0.009")
    fast = fake_python(tmp_path, "fast", HERE, "0.004")
    faster_without_venv = fake_python(tmp_path, "novenv", HERE, "0.001", can_venv=False)
    faster_other_version = fake_python(tmp_path, "other", "2.7", "0.001")
    says_nothing = fake_python(tmp_path, "mute", HERE, "")
    pythons = [slow, faster_without_venv, fast, faster_other_version, says_nothing]
    assert pick_python.fastest(pythons, HERE) == fast
    assert pick_python.fastest([slow, says_nothing], HERE) == slow
    assert pick_python.fastest([faster_without_venv, faster_other_version], HERE) is None


def test_each_interpreter_is_timed_once_whatever_names_lead_to_it(tmp_path: Path) -> None:
    on_path, elsewhere = tmp_path / "bin", tmp_path / "usr-bin"
    on_path.mkdir()
    elsewhere.mkdir()
    real = fake_python(on_path, f"python{HERE}", HERE, "0.005")
    (on_path / "python3").symlink_to(real)  # python3 -> python3.x, as installs do
    other = fake_python(elsewhere, f"python{HERE}", HERE, "0.004")
    found = pick_python.candidates(HERE, path=str(on_path), places=[str(elsewhere)])
    assert sorted(os.path.realpath(f) for f in found) == sorted([real, other])


def test_on_this_machine_the_pick_is_a_usable_build_of_this_version() -> None:
    picked = pick_python.fastest(pick_python.candidates(HERE), HERE)
    assert picked is not None
    assert pick_python.usable(picked, HERE)
