"""Password hashing: argon2id (RFC 9106), off the event loop.

A hash costs tens of milliseconds of CPU and 64 MiB by design; it runs in a worker
thread (argon2's C code releases the GIL), so an actor host keeps serving while people
sign in. Verifying against an unknown email still costs one hash (:data:`DUMMY`), so the
time of an answer does not tell whether an address has an account.
"""

from __future__ import annotations

import asyncio

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

_hasher = PasswordHasher()  # argon2id; RFC 9106's second recommended parameter set
DUMMY = _hasher.hash("perkbus: no such person")


class Checked:
    """The outcome of a verification: whether it matched, and whether the hash should be
    replaced by one with today's parameters."""

    __slots__ = ("matches", "rehash")

    def __init__(self, matches: bool, rehash: bool) -> None:
        self.matches = matches
        self.rehash = rehash


def _verify(stored: str, password: str) -> Checked:
    try:
        _hasher.verify(stored or DUMMY, password)
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return Checked(False, False)
    return Checked(bool(stored), bool(stored) and _hasher.check_needs_rehash(stored))


async def verify(stored: str, password: str) -> Checked:
    """Whether ``password`` matches ``stored`` ("" — no password — never matches)."""
    return await asyncio.to_thread(_verify, stored, password)


async def hash_password(password: str) -> str:
    return await asyncio.to_thread(_hasher.hash, password)
