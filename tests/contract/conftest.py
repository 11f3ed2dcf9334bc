"""The ledger's contract runs against each adapter: SQLite written from its own thread,
SQLite written by its writer process (what ``perkbus`` runs), and MariaDB."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from tests.conftest import fresh_ledger_url


@pytest.fixture(params=["sqlite", "sqlite+process", pytest.param("mysql", marks=pytest.mark.mysql)])
async def ledger_url(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[str]:
    async for url in fresh_ledger_url(request.param, tmp_path):
        yield url
