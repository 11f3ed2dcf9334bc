"""Tables of versioned records, written from msgspec Structs field by field.

A record Struct's fields are its table's columns, in order (``tenant`` is stored as
``tenant_id``; the last field is ``version``). A record is inserted when new (expected
version 0) or updated only where its row still has the version the writer read — the
fence that makes a stale actor's write fail (``StaleWrite``) rather than win.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

import msgspec

R = TypeVar("R", bound=msgspec.Struct)


def _column(field: str) -> str:
    return "tenant_id" if field == "tenant" else field


@dataclass(frozen=True)
class VersionedTable(Generic[R]):
    name: str
    record: type[R]
    #: The fields that identify a row (besides the tenant).
    keys: tuple[str, ...]

    @property
    def fields(self) -> tuple[str, ...]:
        return tuple(f.name for f in msgspec.structs.fields(self.record))

    def columns(self) -> str:
        return ", ".join(_column(f) for f in self.fields)

    def insert(self, p: str) -> str:
        marks = ", ".join([p] * len(self.fields))
        return f"INSERT INTO {self.name} ({self.columns()}) VALUES ({marks})"

    def update(self, p: str) -> str:
        """Every non-key column, where the keys match and the version is as expected."""
        where = ("tenant", *self.keys)
        sets = ", ".join(f"{_column(f)} = {p}" for f in self.fields if f not in where)
        match = " AND ".join(f"{_column(f)} = {p}" for f in where)
        return f"UPDATE {self.name} SET {sets} WHERE {match} AND version = {p}"

    def select(self, p: str, where: str, order: str = "") -> str:
        """``where`` and ``order`` in column names, with ``{p}`` for parameters."""
        tail = f" ORDER BY {order}" if order else ""
        return f"SELECT {self.columns()} FROM {self.name} WHERE {where.format(p=p)}{tail}"

    def insert_params(self, record: R) -> tuple[Any, ...]:
        return msgspec.structs.astuple(record)

    def update_params(self, record: R, expected_version: int) -> tuple[Any, ...]:
        where = ("tenant", *self.keys)
        values = [getattr(record, f) for f in self.fields if f not in where]
        return (*values, *(getattr(record, f) for f in where), expected_version)

    def from_row(self, row: Iterable[Any]) -> R:
        return self.record(*row)

    def describe(self, record: R) -> str:
        keys = "/".join(str(getattr(record, k)) for k in ("tenant", *self.keys))
        return f"{self.name} {keys}"
