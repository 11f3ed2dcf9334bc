"""Identifiers that sort by when they were made.

A row inserted under a random key lands on a random page of its table's B-tree, so every
insert (and every later update of the row and of its index entries) writes a page of its
own. Voucher codes are created in batches and leased and allocated in the order of their
ids, and orders (with their ledger transactions) are written in the order they are
placed: ids that grow with time keep a batch's rows on neighbouring pages, and a group
commit of a hundred orders writes a few pages instead of hundreds (ADR 21).
They are not secrets (a code is; its id is not) and reveal only when they were made;
reading an order takes the caller's tenant and permissions, whatever its id.
"""

from __future__ import annotations

import itertools
import random
import time

_random = random.Random()
#: Starts in the lower half: the first 8 million ids of a process never wrap it.
_counter = itertools.count(_random.getrandbits(23))


def time_ordered_hex() -> str:
    """32 hex digits: milliseconds since the epoch (12), a per-process counter (6) and
    random bits (14). Ids made by one process sort in the order they were made; two
    processes' ids are distinct by their random part."""
    ms = time.time_ns() // 1_000_000 & 0xFFFF_FFFF_FFFF
    return f"{ms:012x}{next(_counter) & 0xFF_FFFF:06x}{_random.getrandbits(56):014x}"
