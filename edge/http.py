"""Small helpers every handler shares: reading a JSON body, answering JSON, calling a
bus request and turning its ``Err`` into a problem response."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any, TypeVar

import msgspec
from aiohttp import web

from bus.client import Bus
from bus.errors import BusError
from bus.messages import Command, Err, Ok, ReplyValue
from edge.auth import Identity
from edge.config import EdgeConfig
from edge.problems import from_error, problem

T = TypeVar("T")

BUS = web.AppKey("bus", Bus)
CONFIG = web.AppKey("config", EdgeConfig)
IDENTITY = web.RequestKey("identity", Identity)

_json = msgspec.json.Encoder()
_decoders: dict[type[Any], msgspec.json.Decoder[Any]] = {}
_AT = re.compile(r"^(?P<detail>.*?) - at `\$(?P<path>[^`]*)`$")


class ProblemResponse(Exception):
    """Raised by helpers to answer with a ready problem response."""

    def __init__(self, response: web.Response) -> None:
        super().__init__(response.text)
        self.response = response


def json_response(value: Any, status: int = 200) -> web.Response:
    return web.Response(body=_json.encode(value), status=status, content_type="application/json")


def _pointer(path: str) -> str:
    """msgspec's ``$.amount.amount_minor`` / ``$[0]`` → JSON Pointer ``#/amount/amount_minor``."""
    tokens = re.findall(r"\.([^.\[]+)|\[(\d+)\]", path)
    return "#/" + "/".join(name or index for name, index in tokens) if tokens else "#"


async def read_json(request: web.Request, kind: type[T]) -> T:
    content_type = request.content_type
    if content_type != "application/json" and not content_type.endswith("+json"):
        raise ProblemResponse(
            problem(415, "unsupported_media_type", f"got {content_type or 'no content type'}")
        )
    body = await request.read()
    decoder = _decoders.get(kind)
    if decoder is None:
        decoder = _decoders[kind] = msgspec.json.Decoder(kind)
    try:
        return decoder.decode(body)  # type: ignore[no-any-return]
    except msgspec.ValidationError as e:
        match = _AT.match(str(e))
        detail = match["detail"] if match else str(e)
        pointer = _pointer(match["path"]) if match else "#"
        raise ProblemResponse(
            problem(
                422,
                "invalid_request",
                f"{detail} at {pointer}",
                errors=[{"pointer": pointer, "detail": detail}],
            )
        ) from e
    except msgspec.DecodeError as e:
        raise ProblemResponse(problem(400, "malformed_body", f"invalid JSON: {e}")) from e


_IDEMPOTENCY_KEY = re.compile(r"[\x21-\x7e]{1,255}")


def idempotency_key(request: web.Request) -> str | None:
    """The ``Idempotency-Key`` header: 1 to 255 visible ASCII characters, or absent."""
    key = request.headers.get("Idempotency-Key")
    if key is None:
        return None
    if not _IDEMPOTENCY_KEY.fullmatch(key):
        raise ProblemResponse(
            problem(
                400,
                "invalid_request",
                "Idempotency-Key must be 1 to 255 visible ASCII characters",
                errors=[{"header": "Idempotency-Key", "detail": "1-255 visible ASCII characters"}],
            )
        )
    return key


async def ask(request: web.Request, kind: str, body: Command) -> ReplyValue:
    """Send ``body`` to the tenant's ``kind`` actor as the caller; return the Ok value."""
    identity = request[IDENTITY]
    config = request.app[CONFIG]
    try:
        reply = await request.app[BUS].request(
            identity.tenant,
            kind,
            body,
            identity.principal,
            timeout_s=config.request_timeout_s,
            # Reads are never keyed: a key would store, and replay, an old view.
            idempotency_key=None if request.method in ("GET", "HEAD") else idempotency_key(request),
        )
    except BusError as e:
        raise ProblemResponse(from_error(e.code, str(e), True, request.path)) from e
    match reply:
        case Ok(value=value):
            return value
        case Err(code=code, message=message, retryable=retryable):
            raise ProblemResponse(from_error(code, message, retryable, request.path))
    raise AssertionError("unreachable")  # pragma: no cover


def require_scope(request: web.Request, scope: str) -> None:
    if not request[IDENTITY].has_scope(scope):
        raise ProblemResponse(problem(403, "forbidden", f"the token lacks the scope {scope}"))


def rfc3339(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, UTC).isoformat(timespec="milliseconds")
