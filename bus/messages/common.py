"""Types every context shares: money, the principal, the request envelope, replies.

Internal requests travel as msgpack. An :class:`Envelope` carries who asks (tenant and
principal), a request id, an absolute deadline and, for mutations, an idempotency key;
its body is one of the tagged command Structs of ``bus.messages``. Every reply is
``Ok(value)`` or ``Err(code, message, retryable)``.

Schema evolution follows msgspec's rules: new fields get defaults and go last; a field is
never reordered, renamed or retyped.
"""

from __future__ import annotations

from typing import Annotated, Generic, TypeVar

import msgspec

from bus.errors import RETRYABLE_CODES, ErrorCode


def whole(pattern: str) -> str:
    """Anchor a pattern to the whole string. Python's ``$`` also matches before a final
    newline; the lookahead forbids that and means nothing to JSON Schema's ECMA regexes."""
    return f"^(?:{pattern})$(?!\n)"


Currency = Annotated[str, msgspec.Meta(pattern=whole("[A-Z]{3}"), description="ISO 4217 code")]
MinorUnits = Annotated[
    int,
    msgspec.Meta(ge=-(2**62), le=2**62, description="Integer amount in the currency's minor unit"),
]


class Money(msgspec.Struct, frozen=True):
    """An exact amount: integer minor units (cents, paise, yen) and an ISO 4217 currency."""

    amount_minor: MinorUnits
    currency: Currency


class Principal(msgspec.Struct, frozen=True):
    """Who is asking: the token's subject, its roles and its scopes."""

    subject: str
    roles: tuple[str, ...] = ()
    scopes: tuple[str, ...] = ()


#: The key of the actors a tenant has exactly one of (its treasury, its catalogue).
TENANT_WIDE = "all"

B = TypeVar("B")


class Envelope(msgspec.Struct, Generic[B], frozen=True):
    tenant: str
    principal: Principal
    request_id: str
    deadline_ms: int
    body: B
    idempotency_key: str | None = None


V = TypeVar("V")


class Ok(msgspec.Struct, Generic[V], frozen=True, tag="ok"):
    value: V


class Err(msgspec.Struct, frozen=True, tag="err"):
    code: ErrorCode
    message: str
    retryable: bool = False

    @classmethod
    def of(cls, code: ErrorCode, message: str) -> Err:
        return cls(code=code, message=message, retryable=code in RETRYABLE_CODES)
