"""The key sealing SSO login cookies, shared by every edge: as 32 raw bytes (made on
first use) or as base64 text, as a secrets store such as Nomad's renders it."""

from __future__ import annotations

import base64
import os
from pathlib import Path

import pytest

from edge.sso_sessions import state_key


def test_a_key_file_made_on_first_use_is_read_back(tmp_path: Path) -> None:
    path = tmp_path / "keys" / "sso-state.key"
    made = state_key(str(path))
    assert len(made) == 32
    assert state_key(str(path)) == made
    assert path.stat().st_mode & 0o777 == 0o600


def test_a_key_rendered_as_base64_text_is_the_same_key(tmp_path: Path) -> None:
    key = os.urandom(32)
    path = tmp_path / "sso-state.key"
    path.write_text(base64.b64encode(key).decode() + "\n")
    assert state_key(str(path)) == key


def test_a_key_of_another_size_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "sso-state.key"
    path.write_text(base64.b64encode(os.urandom(16)).decode())
    with pytest.raises(ValueError, match="32 bytes"):
        state_key(str(path))
