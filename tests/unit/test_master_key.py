"""Where an actor host's master key comes from: beside a shared (MySQL) ledger a host
never makes one of its own, which would seal data the installation's other hosts cannot
open; alone on SQLite, or under ``perkbus up``, it is made on first start."""

from __future__ import annotations

import base64
from pathlib import Path

import pytest

from perkbus.roles import host_master_key
from perkbus.runner import prepare
from perkbus.settings import load

MYSQL = "mysql://root@127.0.0.1:3306/shared"


def test_a_host_beside_a_shared_ledger_refuses_to_make_a_key(tmp_path: Path) -> None:
    settings = load(env={"PERKBUS_VAR_DIR": str(tmp_path), "PERKBUS_MYSQL_URL": MYSQL})
    with pytest.raises(SystemExit, match="PERKBUS_SECURITY_MASTER_KEY"):
        host_master_key(settings)
    assert not Path(settings.security.master_key_file).exists()


def test_given_one_it_uses_that_one(tmp_path: Path) -> None:
    raw = bytes(range(32))
    env = {
        "PERKBUS_VAR_DIR": str(tmp_path),
        "PERKBUS_MYSQL_URL": MYSQL,
        "PERKBUS_SECURITY_MASTER_KEY": base64.b64encode(raw).decode(),
    }
    settings = load(env=env)
    sealed = host_master_key(settings).seal(b"code", "ctx")
    assert host_master_key(settings).unseal(sealed, "ctx") == b"code"
    assert not Path(settings.security.master_key_file).exists()  # none made beside it


def test_alone_on_sqlite_or_under_up_the_key_is_made_once(tmp_path: Path) -> None:
    settings = load(env={"PERKBUS_VAR_DIR": str(tmp_path / "a")})
    sealed = host_master_key(settings).seal(b"code", "ctx")
    assert host_master_key(settings).unseal(sealed, "ctx") == b"code"  # the same key again

    shared = load(env={"PERKBUS_VAR_DIR": str(tmp_path / "b"), "PERKBUS_MYSQL_URL": MYSQL})
    prepare(shared)  # what `perkbus up` does before it starts its actor host
    assert Path(shared.security.master_key_file).exists()
    host_master_key(shared)
