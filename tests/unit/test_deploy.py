"""The Nomad jobs set only names that are settings: perkbus refuses unknown
``PERKBUS_*`` variables at start, so a misspelt one would stop a deployment."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from perkbus.settings import SettingsError, load

NOMAD = Path(__file__).resolve().parents[2] / "deploy" / "nomad"
#: ``PERKBUS_X = …`` (an env block) or ``PERKBUS_X={{ … }}`` (a template's env file,
#: perhaps after a ``{{ if … }}``).
ASSIGNED = re.compile(r"(?:^\s*|\}\})(PERKBUS_[A-Z0-9_]+)\s*=", re.MULTILINE)
#: The jobs that run perkbus (the NATS job runs nats-server alone).
_JOBS = [NOMAD / f"{role}.nomad.hcl" for role in ("actors", "edge", "warehouse", "webhooks")]


def unknown(name: str) -> str | None:
    """The error that ``name`` is not a setting, if it is not one."""
    try:
        load(env={name: "1"})
    except SettingsError as e:
        return str(e) if "is not a setting" in str(e) else None
    return None


@pytest.mark.parametrize("job", _JOBS, ids=lambda p: p.name)
def test_every_variable_a_job_sets_is_a_setting(job: Path) -> None:
    names = set(ASSIGNED.findall(job.read_text()))
    assert "PERKBUS_NATS_URL" in names  # every role needs the bus
    if job.name == "actors.nomad.hcl":  # the stores every host must share, and search
        assert {"PERKBUS_MYSQL_URL", "PERKBUS_CATALOGUE_URL", "PERKBUS_SEARCH_URL"} <= names
    assert [e for e in map(unknown, sorted(names)) if e] == []
    assert unknown("PERKBUS_NATS_ULR") is not None  # a misspelt one would be caught
