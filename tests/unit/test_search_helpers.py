"""Price bands and the embedded search's typo tolerance."""

from __future__ import annotations

import itertools

import pytest

from bus import price_bands
from storage import fuzzy


def test_bands_cover_every_value_once_in_minor_units() -> None:
    for currency in ("EUR", "JPY", "INR", "USD"):
        bands = price_bands.bands(currency)
        assert bands[0][0] == 0
        assert bands[-1][1] == 0  # the last is open
        for (_, high), (low, _) in itertools.pairwise(bands):
            assert high == low  # no gap, no overlap
        for value in (1, 999, 1000, 2499, 2500, 10**9):
            hits = price_bands.of_product(currency, [value], None)
            assert len(hits) == 1, (currency, value, hits)


def test_bands_are_scaled_to_what_a_currency_is_worth() -> None:
    assert price_bands.edges("EUR") == (1000, 2500, 5000, 10000, 25000)  # 10 € in cents
    assert price_bands.edges("JPY")[0] == 1000  # yen have no minor unit: 1,000 yen
    assert price_bands.edges("INR")[0] == 50_000  # 500 rupees in paise


def test_a_range_falls_in_every_band_it_overlaps() -> None:
    keys = price_bands.of_product("EUR", [], (2000, 6000))
    assert [price_bands.parse(k) for k in keys] == [
        ("EUR", 1000, 2500),
        ("EUR", 2500, 5000),
        ("EUR", 5000, 10000),
    ]


@pytest.mark.parametrize(
    ("a", "b", "limit", "expected"),
    [
        ("amazon", "amazon", 0, True),
        ("amazn", "amazon", 1, True),
        ("amzaon", "amazon", 1, True),  # a swap of neighbours is one edit
        ("amzn", "amazon", 1, False),
        ("amzn", "amazon", 2, True),
        ("cat", "dog", 2, False),
    ],
)
def test_edit_distance(a: str, b: str, limit: int, expected: bool) -> None:
    assert fuzzy.within(a, b, limit) is expected
    assert fuzzy.within(b, a, limit) is expected


def test_short_words_must_be_exact_longer_ones_may_have_more_typos() -> None:
    vocabulary = ["ab", "abc", "abd", "zalando", "zalondo", "spotify"]
    assert fuzzy.candidates("ac", vocabulary) == []
    assert fuzzy.candidates("abx", vocabulary) == ["ab", "abc", "abd"]  # one edit each
    assert fuzzy.candidates("zalnado", vocabulary) == ["zalando", "zalondo"]  # 1 and 2
    assert fuzzy.candidates("spotfy", vocabulary) == ["spotify"]
    assert fuzzy.candidates("sptfy", vocabulary) == []  # three edits away


def test_query_words_keep_marks() -> None:
    assert fuzzy.query_words("गिफ्ट कार्ड, café!") == ["गिफ्ट", "कार्ड", "café"]
