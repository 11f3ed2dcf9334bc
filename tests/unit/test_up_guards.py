"""``perkbus up`` checks, before it starts anything, that no other one is using its var/
(a second one started a second nats-server on the same JetStream store and a second actor
host on the same ledger, for half a minute, before its edge failed to listen) and that
the edge's port is free."""

from __future__ import annotations

import os
import socket
from pathlib import Path

import pytest

from perkbus.runner import hold_var_dir, require_free_port


def test_a_second_up_on_the_same_var_dir_is_refused_until_the_first_stops(
    tmp_path: Path,
) -> None:
    first = hold_var_dir(str(tmp_path / "var"))
    with pytest.raises(SystemExit, match=f"pid {os.getpid()}.*PERKBUS_VAR_DIR"):
        hold_var_dir(str(tmp_path / "var"))
    hold_var_dir(str(tmp_path / "other")).close()  # another var/ is another installation
    first.close()
    hold_var_dir(str(tmp_path / "var")).close()  # free once the first has stopped


def test_a_port_in_use_is_named_before_anything_starts() -> None:
    with socket.create_server(("127.0.0.1", 0)) as taken:
        port = taken.getsockname()[1]
        with pytest.raises(SystemExit, match=f"127.0.0.1:{port}.*PERKBUS_EDGE_PORT"):
            require_free_port("127.0.0.1", port)
    require_free_port("127.0.0.1", port)  # free again
