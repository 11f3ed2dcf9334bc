"""The wheel carries what the edges serve: every file of the app, the embed and the admin
console is package data (an install from the wheel once had no ``pwa/`` at all, so a Nomad
deployment served no app)."""

from __future__ import annotations

import fnmatch
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_every_file_the_edge_serves_is_in_the_wheel() -> None:
    setuptools = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
    assert "pwa*" in setuptools["packages"]["find"]["include"]
    data: dict[str, list[str]] = setuptools["package-data"]
    served = [p for p in (ROOT / "pwa").rglob("*") if p.is_file()]
    assert len(served) > 20
    left_out = []
    for path in served:
        package = ".".join(path.parent.relative_to(ROOT).parts)
        if not any(fnmatch.fnmatch(path.name, glob) for glob in data.get(package, [])):
            left_out.append(str(path.relative_to(ROOT)))
    assert left_out == []
