"""What the REST handlers share: reading a JSON body or a query, building the :class:`Caller`,
and answering with JSON or, for an ``Err``, with problem details."""

from __future__ import annotations

from typing import Any, TypeVar

import msgspec
from aiohttp import web

from bus.client import Bus
from bus.messages import Err
from edge.auth import Identity
from edge.caches import EdgeCaches
from edge.client_address import Network
from edge.config import EdgeConfig
from edge.operations import Caller, KeysInFlight
from edge.problems import Throttled, from_error, problem
from edge.ratelimit import ResilientLimiter
from edge.refusals import RefusalRecorder
from edge.validation import Invalid, check_idempotency_key, convert, explain

T = TypeVar("T")

BUS = web.AppKey("bus", Bus)
CONFIG = web.AppKey("config", EdgeConfig)
IN_FLIGHT = web.AppKey("in_flight", KeysInFlight)
IDENTITY = web.RequestKey("identity", Identity)
REFUSALS = web.AppKey("refusals", RefusalRecorder)
CACHES = web.AppKey("caches", EdgeCaches)
LIMITER = web.AppKey("limiter", ResilientLimiter)
#: Proxies whose ``X-Forwarded-For`` names the client (``edge.client_address``).
TRUSTED_PROXIES = web.AppKey("trusted_proxies", tuple[Network, ...])

_json = msgspec.json.Encoder()
_decoders: dict[type[Any], msgspec.json.Decoder[Any]] = {}


class ProblemResponse(Exception):
    """Raised by helpers to answer with a ready problem response."""

    def __init__(self, response: web.Response) -> None:
        super().__init__(response.text)
        self.response = response


def json_response(value: Any, status: int = 200) -> web.Response:
    return web.Response(body=_json.encode(value), status=status, content_type="application/json")


def invalid(error: Invalid, status: int = 422) -> web.Response:
    return problem(
        status,
        "invalid_request",
        f"{error.detail} at {error.pointer}",
        errors=[{"pointer": error.pointer, "detail": error.detail}],
    )


def read_query(request: web.Request, kind: type[T]) -> T:
    """The query string as ``kind`` (strings converted to its field types), or a 422."""
    try:
        return convert(dict(request.query), kind, strict=False)
    except Invalid as e:
        raise ProblemResponse(invalid(e)) from e


async def read_json(request: web.Request, kind: type[T]) -> T:
    content_type = request.content_type
    if content_type != "application/json" and not content_type.endswith("+json"):
        raise ProblemResponse(
            problem(415, "unsupported_media_type", f"got {content_type or 'no content type'}")
        )
    body = await request.read()
    too_deep(body, request.app[CONFIG].max_json_depth)
    decoder = _decoders.get(kind)
    if decoder is None:
        decoder = _decoders[kind] = msgspec.json.Decoder(kind)
    try:
        return decoder.decode(body)  # type: ignore[no-any-return]
    except msgspec.ValidationError as e:
        raise ProblemResponse(invalid(explain(e))) from e
    except msgspec.DecodeError as e:
        raise ProblemResponse(problem(400, "malformed_body", f"invalid JSON: {e}")) from e


async def read_optional_json(request: web.Request, kind: type[T], absent: T) -> T:
    """The body as ``kind``, or ``absent`` when the request has none (no body, or an empty
    one whatever its content type): for operations whose every field is optional."""
    if not request.can_read_body or request.content_length == 0:
        return absent
    if request.content_length is None and not await request.read():
        return absent
    return await read_json(request, kind)


def json_depth(body: bytes) -> int:
    """How deeply arrays and objects nest in a JSON text (brackets inside strings do not
    count)."""
    depth = deepest = 0
    in_string = escaped = False
    for byte in body:
        if in_string:
            if escaped:
                escaped = False
            elif byte == 0x5C:  # backslash
                escaped = True
            elif byte == 0x22:  # quote
                in_string = False
        elif byte == 0x22:
            in_string = True
        elif byte in (0x5B, 0x7B):  # [ {
            depth += 1
            deepest = max(deepest, depth)
        elif byte in (0x5D, 0x7D):  # ] }
            depth -= 1
    return deepest


def too_deep(body: bytes, limit: int) -> None:
    """Refuse a body nested deeper than ``limit`` (cheap when it cannot be: fewer
    brackets than the limit)."""
    if body.count(b"[") + body.count(b"{") > limit and json_depth(body) > limit:
        raise ProblemResponse(
            problem(400, "malformed_body", f"JSON nested deeper than {limit} levels")
        )


async def read_large(request: web.Request, limit: int) -> bytes:
    """The whole body of an upload allowed to exceed the app's body limit, up to ``limit``
    bytes (a problem 413 beyond)."""
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.content.iter_chunked(64 * 1024):
        size += len(chunk)
        if size > limit:
            raise ProblemResponse(
                problem(413, "payload_too_large", f"{limit // (1024 * 1024)} MiB at most")
            )
        chunks.append(chunk)
    return b"".join(chunks)


def caller(request: web.Request) -> Caller:
    """Who asks, and with which ``Idempotency-Key`` (1 to 255 visible ASCII characters)."""
    try:
        key = check_idempotency_key(request.headers.get("Idempotency-Key"))
    except Invalid as e:
        raise ProblemResponse(
            problem(
                400,
                "invalid_request",
                e.detail,
                errors=[{"header": "Idempotency-Key", "detail": e.detail}],
            )
        ) from e
    app = request.app
    return Caller(
        app[BUS],
        request[IDENTITY],
        app[CONFIG].request_timeout_s,
        key,
        app[IN_FLIGHT],
        app[REFUSALS],
        f"{request.method} {request.path}",
        app[CACHES],
    )


def answer(request: web.Request, result: T | Err, status: int = 200) -> web.Response:
    if isinstance(result, Err):
        wait = result.retry_after_s if isinstance(result, Throttled) else 0
        raise ProblemResponse(
            from_error(result.code, result.message, result.retryable, request.path, wait)
        )
    return json_response(result, status)
