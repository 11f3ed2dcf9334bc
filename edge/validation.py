"""Turning msgspec validation errors into (detail, JSON Pointer) pairs, for REST problem
details and GraphQL ``InvalidInput`` results alike."""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Callable
from typing import Any, TypeVar

import msgspec

from bus.messages.common import ISO_CURRENCY_PATTERN

T = TypeVar("T")

_AT = re.compile(r"^(?P<detail>.*?) - at `\$(?P<path>[^`]*)`$")
IDEMPOTENCY_KEY = re.compile(r"[\x21-\x7e]{1,255}")
#: A whole number in ASCII digits, short enough to convert (``str.isdigit`` also takes
#: "²" and other digits ``int`` refuses; a bound is checked after).
DIGITS = re.compile(r"[0-9]{1,19}")


class Invalid(Exception):
    """Input that does not fit its schema: what is wrong, and where (a JSON Pointer)."""

    def __init__(self, detail: str, pointer: str = "#") -> None:
        super().__init__(f"{detail} at {pointer}")
        self.detail = detail
        self.pointer = pointer


def pointer(path: str) -> str:
    """msgspec's ``$.amount.amount_minor`` / ``$[0]`` → JSON Pointer ``#/amount/amount_minor``."""
    tokens = re.findall(r"\.([^.\[]+)|\[(\d+)\]", path)
    return "#/" + "/".join(name or index for name, index in tokens) if tokens else "#"


def explain(error: msgspec.ValidationError) -> Invalid:
    text = str(error).replace(_ISO_REGEX, _ISO_WORDS)
    match = _AT.match(text)
    if match is None:
        return Invalid(text)
    return Invalid(match["detail"], pointer(match["path"]))


#: msgspec names the pattern a string missed: for currencies, 168 codes in words.
_ISO_REGEX = f"Expected `str` matching regex {ISO_CURRENCY_PATTERN!r}"
_ISO_WORDS = "Expected the ISO 4217 code of a currency in use (EUR, USD, JPY …)"


def convert(data: Any, kind: type[T], strict: bool = True) -> T:
    """Validate already-parsed input (a GraphQL input, a query string) against a public
    Struct; ``strict=False`` accepts numbers and booleans written as strings."""
    try:
        return msgspec.convert(data, kind, strict=strict)
    except msgspec.ValidationError as e:
        raise explain(e) from e


def read_csv(text: str, parse: Callable[[csv.DictReader[str]], T]) -> T:
    """``parse`` over the rows of a CSV text with a header row. A text that is not CSV
    (a line break in an unquoted field, say) is :class:`Invalid`, not an internal error;
    the reader is lazy, so ``parse`` meets such a row while it reads."""
    try:
        return parse(csv.DictReader(io.StringIO(text)))
    except csv.Error as e:  # "new-line character seen in unquoted field - do you ...?"
        raise Invalid(f"not CSV: {str(e).split(' - ')[0]}") from e


def check_idempotency_key(key: str | None) -> str | None:
    if key is not None and not IDEMPOTENCY_KEY.fullmatch(key):
        raise Invalid("Idempotency-Key must be 1 to 255 visible ASCII characters")
    return key
