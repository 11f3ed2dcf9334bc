"""Storage errors.

StorageError              base; the transaction was rolled back
├── StaleWrite            a fenced write found a newer version (or revision): the writer's
│                         state is old
└── StoreUnavailable      the backend cannot be reached
"""

from __future__ import annotations


class StorageError(Exception):
    retryable = True


class StaleWrite(StorageError):
    def __init__(self, what: str, expected_version: int | str) -> None:
        super().__init__(f"{what} is no longer at version {expected_version}")
        self.what = what
        self.expected_version = expected_version


class StoreUnavailable(StorageError):
    pass
