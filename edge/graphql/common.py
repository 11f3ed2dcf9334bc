"""What every part of the GraphQL schema shares: the ``MinorUnits`` scalar, ``Money``,
the ``Error`` interface and its types, and the way a resolver validates its input and
builds the :class:`~edge.operations.Caller`."""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from typing import Any, NewType, TypeVar

import strawberry
from aiohttp import web
from graphql import OperationType
from strawberry.types import Info

from bus.errors import ErrorCode
from bus.messages import Err
from edge.http import BUS, CACHES, CONFIG, IDENTITY, IN_FLIGHT, REFUSALS
from edge.operations import Caller
from edge.validation import Invalid, check_idempotency_key, convert

T = TypeVar("T")
D = TypeVar("D")

GqlInfo = Info[dict[str, Any], None]


#: A string MinorUnits: ASCII digits only (int() would also take "1_000", " 12 " and
#: other scripts' digits), and no more than any amount can have (2**62 has 19).
_DIGITS = re.compile(r"-?[0-9]{1,20}")


def _parse_minor(value: Any) -> int:
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    if isinstance(value, str) and _DIGITS.fullmatch(value):
        return int(value)
    raise ValueError("MinorUnits is an integer (or a string of at most 20 ASCII digits)")


MinorUnits = NewType("MinorUnits", int)

MINOR_UNITS = strawberry.scalar(
    name="MinorUnits",
    serialize=int,
    parse_value=_parse_minor,
    description="An integer amount in the currency's minor unit (cents, paise, yen).",
)


Long = NewType("Long", int)

#: A whole number past GraphQL's 32-bit ``Int``: points, milliseconds since 1970, stream
#: sequences. Read as MinorUnits is (a number, or a string of ASCII digits).
#: 0 as a Long (argument defaults).
LONG_ZERO = Long(0)

LONG = strawberry.scalar(
    name="Long",
    serialize=int,
    parse_value=_parse_minor,
    description="A whole number of up to 64 bits (points, milliseconds, sequences).",
)


@strawberry.type
class Money:
    amount_minor: MinorUnits
    currency: str


@strawberry.input
class MoneyInput:
    amount_minor: MinorUnits
    currency: str


def money(m: Any) -> Money:
    return Money(amount_minor=MinorUnits(m.amount_minor), currency=m.currency)


@strawberry.interface
class Error:
    code: str
    message: str
    retryable: bool


@strawberry.type
class FieldError:
    pointer: str
    detail: str


@strawberry.type
class NotFound(Error):
    pass


@strawberry.type
class InsufficientFunds(Error):
    pass


@strawberry.type
class InvalidInput(Error):
    fields: list[FieldError]


@strawberry.type
class Conflict(Error):
    pass


@strawberry.type
class Forbidden(Error):
    pass


@strawberry.type
class Unavailable(Error):
    pass


AnyError = NotFound | InsufficientFunds | InvalidInput | Conflict | Forbidden | Unavailable

_ERROR_TYPES: dict[ErrorCode, type[Error]] = {
    ErrorCode.NOT_FOUND: NotFound,
    ErrorCode.INSUFFICIENT_FUNDS: InsufficientFunds,
    ErrorCode.ALREADY_EXISTS: Conflict,
    ErrorCode.IDEMPOTENCY_KEY_REUSED: Conflict,
    ErrorCode.IDEMPOTENCY_KEY_IN_USE: Conflict,
    ErrorCode.RATE_LOCKED: Conflict,
    ErrorCode.OUT_OF_STOCK: Conflict,
    ErrorCode.STALE_REVISION: Conflict,
    ErrorCode.FORBIDDEN: Forbidden,
    ErrorCode.UNAVAILABLE: Unavailable,
    ErrorCode.DEADLINE_EXCEEDED: Unavailable,
    ErrorCode.INTERNAL: Unavailable,
}


def error(err: Err) -> AnyError:
    if err.code in (ErrorCode.INVALID_REQUEST, ErrorCode.CURRENCY_MISMATCH):
        return InvalidInput(code=err.code.value, message=err.message, retryable=False, fields=[])
    kind = _ERROR_TYPES.get(err.code, Unavailable)
    return kind(code=err.code.value, message=err.message, retryable=err.retryable)  # type: ignore[return-value]


def _camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(part.capitalize() for part in rest)


def invalid(e: Invalid, argument: str = "input") -> InvalidInput:
    """A validation failure, its pointer naming the GraphQL argument and field names
    (``argument`` empty: the fields are the mutation's own arguments)."""
    tokens = [t for t in e.pointer.removeprefix("#").split("/") if t]
    pointer = "#/" + "/".join([*([argument] if argument else []), *(_camel(t) for t in tokens)])
    return InvalidInput(
        code=ErrorCode.INVALID_REQUEST.value,
        message=f"{e.detail} at {pointer}",
        retryable=False,
        fields=[FieldError(pointer=pointer, detail=e.detail)],
    )


def caller(info: GqlInfo, key: str | None = None) -> Caller:
    """Who asks; a mutation without an ``idempotencyKey`` argument takes the request's
    ``Idempotency-Key`` header, as REST does (the view made sure it names the document's
    one mutation)."""
    request: web.Request = info.context["request"]
    if key is None and info.operation.operation == OperationType.MUTATION:
        key = request.headers.get("Idempotency-Key")
    return Caller(
        request.app[BUS],
        request[IDENTITY],
        request.app[CONFIG].request_timeout_s,
        check_idempotency_key(key),
        request.app[IN_FLIGHT],
        request.app[REFUSALS],
        f"graphql {info.field_name}",
        request.app[CACHES],
    )


def page_query(first: int, after: str | None) -> dict[str, Any]:
    """A page's arguments (``first``, ``after``) as the REST query names them."""
    return {"limit": first} if after is None else {"limit": first, "cursor": after}


def plain(value: Any) -> Any:
    """A strawberry input object → plain dicts and lists, for the REST Structs to validate."""
    if hasattr(value, "__strawberry_definition__"):
        return {
            f.python_name: plain(getattr(value, f.python_name))
            for f in value.__strawberry_definition__.fields
        }
    if isinstance(value, list):
        return [plain(v) for v in value]
    return value


async def mutate(
    info: GqlInfo,
    key: str | None,
    raw: Any,
    schema: type[D],
    operation: Callable[[Caller, D], Awaitable[T | Err]],
    present: Callable[[T], Any],
    argument: str = "input",
) -> Any:
    """Validate ``raw`` against the REST Struct ``schema``, run the shared operation, and
    present its result (or its error as an error union member); ``argument`` is where
    ``raw`` came from (empty: the mutation's own arguments)."""
    try:
        who = caller(info, key)
    except Invalid as e:
        return invalid(e, "idempotencyKey")
    try:
        data = convert(plain(raw), schema)
    except Invalid as e:
        return invalid(e, argument)
    result = await operation(who, data)
    return error(result) if isinstance(result, Err) else present(result)


async def act(
    info: GqlInfo,
    key: str | None,
    operation: Callable[[Caller], Awaitable[T | Err]],
    present: Callable[[T], Any],
) -> Any:
    """A mutation with no input object: check the key, run the shared operation, and
    present its result (or its error as an error union member)."""
    try:
        who = caller(info, key)
    except Invalid as e:
        return invalid(e, "idempotencyKey")
    result = await operation(who)
    return error(result) if isinstance(result, Err) else present(result)
