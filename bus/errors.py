"""Errors that cross the bus.

Every failure an actor reports travels as ``Err(code, message, retryable)`` with a stable
machine code from :class:`ErrorCode`; the edge maps codes to HTTP statuses and GraphQL
results. Client-side failures of the transport are raised as exceptions::

    BusError                 base of transport failures (always retryable)
    ├── BusTimeout           no reply before the request's deadline
    └── BusUnavailable       no responder, or the connection is gone
"""

from __future__ import annotations

import enum


class ErrorCode(enum.StrEnum):
    """Stable machine codes. Never rename one; add new codes at the end."""

    INVALID_REQUEST = "invalid_request"
    NOT_FOUND = "not_found"
    ALREADY_EXISTS = "already_exists"
    INSUFFICIENT_FUNDS = "insufficient_funds"
    CURRENCY_MISMATCH = "currency_mismatch"
    FORBIDDEN = "forbidden"
    UNAVAILABLE = "unavailable"
    DEADLINE_EXCEEDED = "deadline_exceeded"
    INTERNAL = "internal"
    IDEMPOTENCY_KEY_REUSED = "idempotency_key_reused"
    OUT_OF_STOCK = "out_of_stock"
    #: The tenant's points rate cannot change once points have been issued.
    RATE_LOCKED = "rate_locked"
    #: A request with this Idempotency-Key is still being answered: retry shortly.
    IDEMPOTENCY_KEY_IN_USE = "idempotency_key_in_use"
    #: Wrong credentials, or a refresh token that is spent, revoked or expired.
    UNAUTHENTICATED = "unauthenticated"
    #: More orders by one principal in the last hour than the edge allows (fraud
    #: velocity): retry after the ``Retry-After`` the edge gives.
    VELOCITY_LIMITED = "velocity_limited"
    #: A write named a revision that is no longer the current one: read again, then write.
    STALE_REVISION = "stale_revision"
    #: The person placed as many orders as their programme allows in a day or a week (a
    #: failed order's reason; nothing was taken).
    ORDER_LIMIT_REACHED = "order_limit_reached"
    #: A reviewer rejected an order held for review (a failed order's reason; the held
    #: funds went back).
    REVIEW_REJECTED = "review_rejected"


#: Codes whose requests may be sent again unchanged.
RETRYABLE_CODES = frozenset(
    {
        ErrorCode.UNAVAILABLE,
        ErrorCode.DEADLINE_EXCEEDED,
        ErrorCode.IDEMPOTENCY_KEY_IN_USE,
        ErrorCode.VELOCITY_LIMITED,
    }
)


class BusError(Exception):
    """A request did not get an answer; the effect is unknown, so retry with the same key."""

    code = ErrorCode.UNAVAILABLE
    retryable = True


class BusTimeout(BusError):
    code = ErrorCode.DEADLINE_EXCEEDED


class BusUnavailable(BusError):
    code = ErrorCode.UNAVAILABLE
