"""Storage errors.

StorageError              base; the transaction was rolled back
├── StaleWrite            a fenced write found a newer version (or revision): the writer's
│                         state is old
├── StoreUnavailable      the backend cannot be reached
└── QueryTimedOut         a read ran past its deadline and was interrupted; the store
                          is fine and the same read may be asked again
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


class QueryTimedOut(StorageError):
    """A read was interrupted at its deadline, so that it does not hold the thread (and
    the connection) that other reads wait for. Retryable: nothing was changed."""
