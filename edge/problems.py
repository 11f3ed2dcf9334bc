"""RFC 9457 problem details, and the one table from bus error codes to HTTP statuses."""

from __future__ import annotations

from typing import Any

import msgspec
from aiohttp import web

from bus.errors import ErrorCode
from bus.messages import Err

PROBLEM_JSON = "application/problem+json"

STATUS: dict[ErrorCode, int] = {
    ErrorCode.INVALID_REQUEST: 422,
    ErrorCode.NOT_FOUND: 404,
    ErrorCode.ALREADY_EXISTS: 409,
    ErrorCode.INSUFFICIENT_FUNDS: 409,
    ErrorCode.CURRENCY_MISMATCH: 422,
    ErrorCode.FORBIDDEN: 403,
    ErrorCode.UNAVAILABLE: 503,
    ErrorCode.DEADLINE_EXCEEDED: 504,
    ErrorCode.INTERNAL: 500,
    ErrorCode.IDEMPOTENCY_KEY_REUSED: 422,
    ErrorCode.OUT_OF_STOCK: 409,
    ErrorCode.RATE_LOCKED: 409,
    ErrorCode.IDEMPOTENCY_KEY_IN_USE: 409,
    ErrorCode.UNAUTHENTICATED: 401,
    ErrorCode.VELOCITY_LIMITED: 429,
    ErrorCode.STALE_REVISION: 412,
    ErrorCode.ORDER_LIMIT_REACHED: 409,
    ErrorCode.REVIEW_REJECTED: 409,
}

TITLES: dict[str, str] = {
    "invalid_request": "The request is not valid",
    "not_found": "Not found",
    "already_exists": "It exists already",
    "insufficient_funds": "Insufficient funds",
    "currency_mismatch": "Currency does not match",
    "forbidden": "Forbidden",
    "unavailable": "Service unavailable, retry",
    "deadline_exceeded": "No answer in time, retry",
    "internal": "Internal error",
    "idempotency_key_reused": "Idempotency-Key already used for another request",
    "out_of_stock": "No voucher code left in the pool",
    "rate_locked": "The points rate is fixed once points are issued",
    "idempotency_key_in_use": "A request with this Idempotency-Key is in progress, retry",
    "unauthenticated": "Authentication required",
    "stale_revision": "The document changed since it was read",
    "order_limit_reached": "The person's order limit for the day or week is reached",
    "review_rejected": "The order was rejected in review",
    "precondition_required": "Send If-Match with the revision read (If-None-Match: * to create)",
    "malformed_body": "The body cannot be read (not valid JSON, or a CSV not in UTF-8)",
    "unsupported_media_type": "Send application/json",
    "payload_too_large": "The body is too large",
    "method_not_allowed": "Method not allowed",
    "rate_limited": "Too many requests",
    "velocity_limited": "Too many orders in the last hour",
    "sso_invalid_request": "Not a sign-in this site started",
    "sso_rejected": "The identity provider's answer does not prove who signs in",
    "sso_unavailable": "The identity provider cannot be reached, retry",
}

_json = msgspec.json.Encoder()


class Throttled(Err, frozen=True, tag="err.throttled"):
    """A refusal the edge makes itself, with how long to wait before trying again
    (``Retry-After``); never sent over the bus."""

    retry_after_s: int = 1


class Problem(msgspec.Struct, omit_defaults=True):
    type: str
    title: str
    status: int
    detail: str = ""
    code: str = ""
    retryable: bool = False
    instance: str = ""
    errors: list[dict[str, Any]] = msgspec.field(default_factory=list)


def problem(
    status: int,
    code: str,
    detail: str = "",
    *,
    retryable: bool = False,
    instance: str = "",
    errors: list[dict[str, Any]] | None = None,
    headers: dict[str, str] | None = None,
) -> web.Response:
    body = Problem(
        type=f"https://perkbus.dev/problems/{code.replace('_', '-')}",
        title=TITLES.get(code, code.replace("_", " ").capitalize()),
        status=status,
        detail=detail,
        code=code,
        retryable=retryable,
        instance=instance,
        errors=errors or [],
    )
    response = web.Response(
        body=_json.encode(body), status=status, content_type=PROBLEM_JSON, headers=headers
    )
    if retryable and status in (409, 503, 504):
        response.headers.setdefault("Retry-After", "1")
    return response


def from_error(
    code: ErrorCode, message: str, retryable: bool, instance: str, retry_after_s: int = 0
) -> web.Response:
    headers = {"Retry-After": str(retry_after_s)} if retry_after_s else None
    status = STATUS[code]
    return problem(
        status, code.value, message, retryable=retryable, instance=instance, headers=headers
    )
