"""Types every context shares: money, the principal, the request envelope, replies.

Internal requests travel as msgpack. An :class:`Envelope` carries who asks (tenant and
principal), a request id, an absolute deadline and, for mutations, an idempotency key;
its body is one of the tagged command Structs of ``bus.messages``. Every reply is
``Ok(value)`` or ``Err(code, message, retryable)``.

Schema evolution follows msgspec's rules: new fields get defaults and go last; a field is
never reordered, renamed or retyped.
"""

from __future__ import annotations

import math
from fractions import Fraction
from typing import Annotated, Generic, TypeVar

import msgspec

from bus.errors import RETRYABLE_CODES, ErrorCode


def whole(pattern: str) -> str:
    """Anchor a pattern to the whole string. Python's ``$`` also matches before a final
    newline; the lookahead forbids that and means nothing to JSON Schema's ECMA regexes."""
    return f"^(?:{pattern})$(?!\n)"


#: A name people type (a person's, a budget's, a client's): one line, no control
#: characters. A NUL fails PostgreSQL's text (the warehouse), a line break forges rows in
#: CSV exports and log lines.
ONE_LINE = whole("[^\\x00-\\x1f\\x7f]+")
#: Free text (a memo, a reason): lines, but no NUL and no other control characters.
FREE_TEXT = whole("[^\\x00-\\x08\\x0b\\x0c\\x0e-\\x1f\\x7f]*")

#: An image people's browsers load: an absolute https URL, or a path on the perkbus site
#: itself (``/static/logo.svg``; not ``//host/…``, which a browser reads as another site).
PUBLIC_URL_PATTERN = whole(
    "https://[A-Za-z0-9.-]+(:[0-9]{1,5})?(/[^\\s\"'<>\\\\]{0,2000})?|/(?!/)[^\\s\"'<>\\\\]{0,2000}"
)

Currency = Annotated[str, msgspec.Meta(pattern=whole("[A-Z]{3}"), description="ISO 4217 code")]
#: The ISO 4217 codes of currencies in use (2025), funds codes included (BOV, CHE, CHW,
#: CLF, COU, MXV, USN, UYI, UYW); not precious metals, SDRs or test codes (XAU, XDR, XTS,
#: XXX), nor points (``PTS``, which are no currency).
ISO_4217 = frozenset(
    [
        "AED",
        "AFN",
        "ALL",
        "AMD",
        "ANG",
        "AOA",
        "ARS",
        "AUD",
        "AWG",
        "AZN",
        "BAM",
        "BBD",
        "BDT",
        "BGN",
        "BHD",
        "BIF",
        "BMD",
        "BND",
        "BOB",
        "BOV",
        "BRL",
        "BSD",
        "BTN",
        "BWP",
        "BYN",
        "BZD",
        "CAD",
        "CDF",
        "CHE",
        "CHF",
        "CHW",
        "CLF",
        "CLP",
        "CNY",
        "COP",
        "COU",
        "CRC",
        "CUP",
        "CVE",
        "CZK",
        "DJF",
        "DKK",
        "DOP",
        "DZD",
        "EGP",
        "ERN",
        "ETB",
        "EUR",
        "FJD",
        "FKP",
        "GBP",
        "GEL",
        "GHS",
        "GIP",
        "GMD",
        "GNF",
        "GTQ",
        "GYD",
        "HKD",
        "HNL",
        "HTG",
        "HUF",
        "IDR",
        "ILS",
        "INR",
        "IQD",
        "IRR",
        "ISK",
        "JMD",
        "JOD",
        "JPY",
        "KES",
        "KGS",
        "KHR",
        "KMF",
        "KPW",
        "KRW",
        "KWD",
        "KYD",
        "KZT",
        "LAK",
        "LBP",
        "LKR",
        "LRD",
        "LSL",
        "LYD",
        "MAD",
        "MDL",
        "MGA",
        "MKD",
        "MMK",
        "MNT",
        "MOP",
        "MRU",
        "MUR",
        "MVR",
        "MWK",
        "MXN",
        "MXV",
        "MYR",
        "MZN",
        "NAD",
        "NGN",
        "NIO",
        "NOK",
        "NPR",
        "NZD",
        "OMR",
        "PAB",
        "PEN",
        "PGK",
        "PHP",
        "PKR",
        "PLN",
        "PYG",
        "QAR",
        "RON",
        "RSD",
        "RUB",
        "RWF",
        "SAR",
        "SBD",
        "SCR",
        "SDG",
        "SEK",
        "SGD",
        "SHP",
        "SLE",
        "SLL",
        "SOS",
        "SRD",
        "SSP",
        "STN",
        "SVC",
        "SYP",
        "SZL",
        "THB",
        "TJS",
        "TMT",
        "TND",
        "TOP",
        "TRY",
        "TTD",
        "TWD",
        "TZS",
        "UAH",
        "UGX",
        "USD",
        "USN",
        "UYI",
        "UYU",
        "UYW",
        "UZS",
        "VED",
        "VES",
        "VND",
        "VUV",
        "WST",
        "XAF",
        "XCD",
        "XCG",
        "XOF",
        "XPF",
        "YER",
        "ZAR",
        "ZMW",
        "ZWG",
        "ZWL",
    ]
)
#: A currency money may be in (budgets, funding, rates, codes, products): an ISO 4217 code
#: of :data:`ISO_4217`. :data:`Currency` also reads points (``PTS``) in replies.
ISO_CURRENCY_PATTERN = whole("|".join(sorted(ISO_4217)))
IsoCurrency = Annotated[
    str,
    msgspec.Meta(pattern=ISO_CURRENCY_PATTERN, description="ISO 4217 code of a currency in use"),
]
#: The largest amount (and balance) in minor units: half of what the ledger's 64-bit
#: integers hold, so that a sum of two never overflows them.
MAX_MINOR = 2**62
MinorUnits = Annotated[
    int,
    msgspec.Meta(
        ge=-MAX_MINOR, le=MAX_MINOR, description="Integer amount in the currency's minor unit"
    ),
]


class Money(msgspec.Struct, frozen=True):
    """An exact amount: integer minor units (cents, paise, yen) and an ISO 4217 currency."""

    amount_minor: MinorUnits
    currency: Currency


class Principal(msgspec.Struct, frozen=True):
    """Who is asking: the token's subject, its roles and its scopes, and the grants that
    narrow its roles to named resources (``budget:<id>``; none: the whole tenant, see
    :mod:`bus.acl`)."""

    subject: str
    roles: tuple[str, ...] = ()
    scopes: tuple[str, ...] = ()
    grants: tuple[str, ...] = ()


#: The key of the actors a tenant has exactly one of (its treasury, its catalogue).
TENANT_WIDE = "all"

#: How many rows a page of a listing holds, and the opaque cursor that resumes one (the
#: ``next_cursor`` of the page before).
PageSize = Annotated[int, msgspec.Meta(ge=1, le=100)]
Cursor = Annotated[str, msgspec.Meta(max_length=200)]

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


#: ISO 4217 minor-unit digits that are not 2 (the ISO 4217 list of 2024; codes without
#: minor units, such as gold's XAU, are not money here and keep 2).
_NO_MINOR_UNITS = "BIF CLP DJF GNF ISK JPY KMF KRW PYG RWF UGX UYI VND VUV XAF XOF XPF"
MINOR_DIGITS = {
    **dict.fromkeys(_NO_MINOR_UNITS.split(), 0),
    **dict.fromkeys(("BHD", "IQD", "JOD", "KWD", "LYD", "OMR", "TND"), 3),
    **dict.fromkeys(("CLF", "UYW"), 4),
    # not ISO 4217: reward points, counted whole (``bus.messages.treasury.POINTS``)
    "PTS": 0,
}

#: An exchange rate written as a decimal: how many units of the quote currency one unit
#: of the base currency buys.
RATE_PATTERN = whole("[0-9]{1,9}(\\.[0-9]{1,12})?")
Rate = Annotated[str, msgspec.Meta(pattern=RATE_PATTERN)]


def minor_digits(currency: str) -> int:
    return MINOR_DIGITS.get(currency, 2)


def convert_exact(
    amount_minor: int | Fraction, base: str, quote: str, rate: str | Fraction
) -> Fraction:
    """``amount_minor`` of ``base`` in minor units of ``quote`` at ``rate``, exactly."""
    if base == quote and rate in ("1", 1):  # the common case: nothing to convert
        return Fraction(amount_minor)
    digits = minor_digits(quote) - minor_digits(base)
    return Fraction(amount_minor) * Fraction(rate) * Fraction(10) ** digits


def convert_minor(amount_minor: int, base: str, quote: str, rate: str) -> int:
    """``amount_minor`` of ``base`` in minor units of ``quote`` at ``rate``, rounded up to a
    whole minor unit (a price is never converted to less than it costs)."""
    return math.ceil(convert_exact(amount_minor, base, quote, rate))
