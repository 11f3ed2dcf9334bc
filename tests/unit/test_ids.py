"""Time-ordered ids: they sort in the order they were made, and never repeat."""

from __future__ import annotations

import re
import time

from bus.ids import time_ordered_hex


def test_ids_sort_in_the_order_they_were_made() -> None:
    ids = [time_ordered_hex() for _ in range(5000)]
    time.sleep(0.002)
    ids.append(time_ordered_hex())
    assert ids == sorted(ids)
    assert len(set(ids)) == len(ids)
    assert all(re.fullmatch(r"[0-9a-f]{32}", i) for i in ids)


def test_an_id_starts_with_the_millisecond_it_was_made() -> None:
    before = time.time_ns() // 1_000_000
    made = int(time_ordered_hex()[:12], 16)
    after = time.time_ns() // 1_000_000
    assert before <= made <= after
