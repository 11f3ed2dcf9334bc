"""Price bands: the face-value ranges a catalogue list is counted by ("up to 10 €",
"10 to 25 €" …), per currency, in minor units.

Bands are the same everywhere (the search index stores each product's bands as keywords
and counts them; the in-memory list counts them alike), so they are defined once here.
Each currency's edges are the edges 10, 25, 50, 100, 250 of its major unit, scaled for
currencies whose unit is worth much less than a dollar or euro (1,000 yen, not 10), in
minor units of the currency (so times 100 for cents, times 1 for the yen).
"""

from __future__ import annotations

from collections.abc import Iterable

#: Edges in major units before scaling.
_MAJOR_EDGES = (10, 25, 50, 100, 250)
#: Currencies without minor units (ISO 4217 exponent 0) among those the platform sells.
_EXPONENT_0 = frozenset({"JPY", "KRW", "VND", "CLP", "ISK", "UGX", "XAF", "XOF"})
#: How many major units make a band edge's "1" (so bands mean similar amounts).
_SCALE = {
    "JPY": 100,
    "KRW": 1000,
    "INR": 50,
    "IDR": 10_000,
    "VND": 20_000,
    "CLP": 500,
    "HUF": 300,
    "ISK": 100,
    "PHP": 50,
    "THB": 30,
    "MXN": 20,
    "ZAR": 20,
    "TRY": 30,
    "CZK": 20,
    "SEK": 10,
    "NOK": 10,
    "DKK": 5,
    "PLN": 4,
    "BRL": 5,
    "CNY": 5,
    "HKD": 5,
    "AED": 4,
}


def edges(currency: str) -> tuple[int, ...]:
    """The inner edges of ``currency``'s bands, ascending, in minor units."""
    unit = (1 if currency in _EXPONENT_0 else 100) * _SCALE.get(currency, 1)
    return tuple(e * unit for e in _MAJOR_EDGES)


def bands(currency: str) -> list[tuple[int, int]]:
    """Every band of ``currency`` as ``(min_minor, max_minor)``, ``max_minor`` 0 for the
    last, open one; a value ``v`` is in a band when ``min_minor <= v < max_minor``."""
    inner = edges(currency)
    lows = (0, *inner)
    return [(low, inner[i] if i < len(inner) else 0) for i, low in enumerate(lows)]


def key(currency: str, low: int, high: int) -> str:
    """The keyword a band is stored and counted under: ``EUR:1000-2500``."""
    return f"{currency}:{low}-{high}"


def parse(band: str) -> tuple[str, int, int]:
    """``key``'s inverse."""
    currency, _, span = band.partition(":")
    low, _, high = span.partition("-")
    return currency, int(low), int(high)


def of_product(
    currency: str, denominations: Iterable[int], value_range: tuple[int, int] | None
) -> list[str]:
    """The bands a product falls in: those holding one of its denominations, or, for an
    any-amount product, those its range overlaps."""
    found: list[str] = []
    values = tuple(denominations)
    for low, high in bands(currency):
        top = high or 2**63
        if value_range is not None:
            hit = value_range[0] < top and value_range[1] >= low
        else:
            hit = any(low <= v < top for v in values)
        if hit:
            found.append(key(currency, low, high))
    return found
