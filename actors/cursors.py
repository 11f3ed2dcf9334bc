"""Opaque page cursors of the listings read by key (budgets by id, pools by product and
face value): the position of a page's last row, as base64url of its JSON.

A page resumes after that position, so rows added meanwhile never shift the pages still
to come. A cursor is decoded against the type of its position, so one this API did not
give (garbled, crafted, of another listing) is refused, never read as another position.
"""

from __future__ import annotations

import base64
from typing import TypeVar

import msgspec

T = TypeVar("T")

BAD_CURSOR = "the cursor is not one this API gave"


def encode_cursor(position: object) -> str:
    return base64.urlsafe_b64encode(msgspec.json.encode(position)).decode().rstrip("=")


def decode_cursor(cursor: str, position: msgspec.json.Decoder[T]) -> T | None:
    """The position ``cursor`` names, or None if it is not one this API gave."""
    try:
        return position.decode(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
    except (ValueError, msgspec.DecodeError):  # binascii.Error is a ValueError
        return None
