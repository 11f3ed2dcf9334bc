"""Typo tolerance for the embedded search: which indexed words a misspelt word may mean.

Elasticsearch's ``fuzziness: AUTO`` allows no edit in words of one or two characters, one
in words of three to five, and two in longer words, a swap of neighbours counting as one
edit. The SQLite adapter reads its index's vocabulary and keeps the words within that
distance of each query word, so both adapters forgive the same typos.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable

from storage.search_ports import fold

_WORD = re.compile(r"\w+")


def words(text: str) -> list[str]:
    """The folded words of a text (punctuation dropped), for matching in memory."""
    return _WORD.findall(fold(text))


def query_words(text: str) -> list[str]:
    """The words of a query as typed (no folding: a search server's analysers fold),
    split at what is neither a letter, a digit nor a mark (vowel signs, viramas)."""
    found: list[str] = []
    current: list[str] = []
    for c in text:
        if c.isalnum() or unicodedata.category(c).startswith("M"):
            current.append(c)
        elif current:
            found.append("".join(current))
            current = []
    if current:
        found.append("".join(current))
    return found


def allowed_edits(word: str) -> int:
    n = len(word)
    return 0 if n < 3 else 1 if n <= 5 else 2


def within(a: str, b: str, limit: int) -> bool:
    """Whether ``a`` and ``b`` are at most ``limit`` edits apart (insert, delete,
    substitute, swap of neighbours), giving up as soon as a row exceeds the limit."""
    if abs(len(a) - len(b)) > limit:
        return False
    previous2: list[int] = []
    previous = list(range(len(b) + 1))
    for i in range(1, len(a) + 1):
        current = [i] + [0] * len(b)
        for j in range(1, len(b) + 1):
            cost = 0 if a[i - 1] == b[j - 1] else 1
            best = min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + cost)
            if i > 1 and j > 1 and a[i - 1] == b[j - 2] and a[i - 2] == b[j - 1]:
                best = min(best, previous2[j - 2] + 1)
            current[j] = best
        if min(current) > limit:
            return False
        previous2, previous = previous, current
    return previous[len(b)] <= limit


def candidates(word: str, vocabulary: Iterable[str]) -> list[str]:
    """The vocabulary's words a query word may be a misspelling of (itself excluded)."""
    limit = allowed_edits(word)
    if limit == 0:
        return []
    return [v for v in vocabulary if v != word and within(word, v, limit)]
