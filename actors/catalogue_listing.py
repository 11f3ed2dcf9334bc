"""A tenant's catalogue sorted once: what the catalogue actor lists from.

A list without a search is ordered by the product's name in the asked locale, folded
(lower case, no accents), then by id. Folding and sorting a catalogue of thousands of
products is milliseconds of Python, and the actor host's event loop is shared by every
tenant (ADR 21): done per request, a tenant paging through a large catalogue stalled the
orders of every other tenant of the host (ADR 22, amendment). So the work is done once per
catalogue and kept:

- per product, its facet values and, per locale, its folded name (and search words):
  these outlive a change of the tenant's catalogue, which then costs a sort of kept keys;
- per locale, the products the tenant shows (active, enabled, its own hiding the
  platform's of the same id), folded and sorted — the whole catalogue's list;
- per filter set (bounded, least recently used first out), the products of that list the
  filter matches, still in order (a filter keeps the order of what it filters), and their
  facets once asked for;
- a cursor ``(folded name, id)`` is found in a list by bisection.

What is kept is the catalogue as it was when it was kept: the actor calls
:meth:`SortedCatalogue.clear` where it changes the catalogue (a curation, a product of its
own, the platform's news, an activation), and a new dictionary of platform products or a
new curation (both replaced, never changed in place) clears it too.

A free-text ``q`` (the degraded search, when the search index is unreachable) still looks
at every product of the filtered list, but the words of each product are folded once per
locale, not once per request, and the matches are kept like a filter's.
"""

from __future__ import annotations

import bisect
import re
import unicodedata
from collections import Counter, OrderedDict
from collections.abc import Iterable, Mapping, Sequence
from itertools import chain

from bus.messages.catalogue import Curation, Facets, Product, ProductFilter
from storage.search_ports import build_facets, product_bands

#: Locales whose sorted list is kept at once (a locale asked for after them pushes out the
#: least recently used).
MAX_LOCALES = 8
#: Filter sets whose matches are kept at once.
MAX_FILTERS = 64


def fold(text: str) -> str:
    """Lower case without accents: "Café" and "cafe" search alike."""
    decomposed = unicodedata.normalize("NFKD", text.casefold())
    return "".join(c for c in decomposed if not unicodedata.combining(c))


def tokens(text: str) -> list[str]:
    """The words of a text as search compares them: folded, split at anything not a
    letter or digit (hyphens too: "Coca-Cola" is "coca" "cola"), as the index does."""
    return _WORD.findall(fold(text))


_WORD = re.compile(r"[^\W_]+")


def words(product: Product, locale: str) -> frozenset[str]:
    """The words a search in ``locale`` finds ``product`` by (and English ones)."""
    parts = [product.brand, product.category]
    for t in {product.text(locale), product.text("en")}:
        parts += [t.name, t.description]
    return frozenset(w for part in parts for w in tokens(part))


def fits(product: Product, f: ProductFilter) -> bool:
    """Whether ``product`` passes the filter's fields other than ``q``."""
    if f.country and f.country not in product.countries:
        return False
    if f.currency and f.currency != product.currency:
        return False
    if f.category and f.category != product.category:
        return False
    low, high = f.min_price or 0, f.max_price if f.max_price is not None else 2**62
    if f.min_price is not None or f.max_price is not None:
        if product.range is not None:
            if product.range.max_minor < low or product.range.min_minor > high:
                return False
        elif not any(low <= d <= high for d in product.denominations):
            return False
    return True


class Traits:
    """What is worked out of one product, once: its facet values, and its folded name and
    search words per locale. Kept across changes of the tenant's catalogue (a curation
    does not change a product), dropped with the platform's products when they reload."""

    __slots__ = ("_names", "_words", "facets", "product")

    def __init__(self, product: Product) -> None:
        self.product = product
        p = product
        #: What :func:`count` counts, each value after its facet's index (category 0,
        #: brand 1, country 2, price band 3): strings, whose hashes Python keeps.
        self.facets = (
            f"0{p.category}",
            f"1{p.brand}",
            *(f"2{c}" for c in set(p.countries)),
            *(f"3{band}" for band in product_bands(p)),
        )
        self._names: dict[str, str] = {}
        self._words: dict[str, frozenset[str]] = {}

    def name(self, locale: str) -> str:
        if (folded := self._names.get(locale)) is None:
            folded = self._names[locale] = fold(self.product.text(locale).name)
        return folded

    def words(self, locale: str) -> frozenset[str]:
        if (found := self._words.get(locale)) is None:
            found = self._words[locale] = words(self.product, locale)
        return found


def count(traits: Iterable[Traits]) -> Facets:
    """:func:`storage.search_ports.count_facets` of the products, from their kept values
    (counted in one pass of :class:`collections.Counter`, in C)."""
    counts: tuple[dict[str, int], ...] = ({}, {}, {}, {})
    for tagged, n in Counter(chain.from_iterable(t.facets for t in traits)).items():
        counts[int(tagged[0])][tagged[1:]] = n
    return build_facets(*(c.items() for c in counts))


class Matches:
    """The products of one filter set, in list order, with each one's sort key."""

    __slots__ = ("_facets", "keys", "products", "traits")

    def __init__(self, keys: list[tuple[str, str]], traits: list[Traits]) -> None:
        self.keys = keys
        self.traits = traits
        self.products = [t.product for t in traits]
        self._facets: Facets | None = None

    def facets(self) -> Facets:
        """Counts over every match, worked out on the first ask."""
        if self._facets is None:
            self._facets = count(self.traits)
        return self._facets

    def start_after(self, after: tuple[str, str]) -> int:
        """The index of the first match whose key comes after ``after`` (a cursor)."""
        return bisect.bisect_right(self.keys, after)


def sort_shown(
    platform: Mapping[str, Product],
    custom: Mapping[str, Product],
    curation: Curation,
    locale: str,
    known: dict[str, Traits],
) -> Matches:
    """The products the tenant shows in ``locale``, by (folded name, id): the one O(n log n)
    step, run once per change of the catalogue and locale (names folded once per product
    and locale, kept in ``known``)."""
    # the tenant's own product hides the platform's of the same id, as in orders
    shown = (*(p for p in platform.values() if p.id not in custom), *custom.values())
    rows = []
    for p in shown:
        if p.status != "active" or p.id in curation.disabled:
            continue
        t = known.get(p.id)
        if t is None or t.product is not p:
            t = known[p.id] = Traits(p)
        rows.append(((t.name(locale), p.id), t))
    rows.sort(key=lambda row: row[0])
    return Matches([k for k, _ in rows], [t for _, t in rows])


class SortedCatalogue:
    """One tenant's kept lists (the catalogue actor's; not shared between actors)."""

    def __init__(self, max_locales: int = MAX_LOCALES, max_filters: int = MAX_FILTERS) -> None:
        self._max_locales = max_locales
        self._max_filters = max_filters
        self._platform: Mapping[str, Product] | None = None
        self._curation: Curation | None = None
        self._known: dict[str, Traits] = {}
        self._locales: OrderedDict[str, Matches] = OrderedDict()
        self._filters: OrderedDict[tuple[str, ProductFilter], Matches] = OrderedDict()

    def clear(self) -> None:
        """The tenant's catalogue changed: every list kept is dropped."""
        self._locales.clear()
        self._filters.clear()

    def matching(
        self,
        platform: Mapping[str, Product],
        custom: Mapping[str, Product],
        curation: Curation,
        locale: str,
        f: ProductFilter,
    ) -> Matches:
        """The products shown in ``locale`` that ``f`` matches, in list order."""
        # Both are replaced, never changed in place, when they change: held here, their
        # identity cannot be reused by another object.
        if platform is not self._platform:
            self._known = {}  # every product is a new one
        if platform is not self._platform or curation is not self._curation:
            self.clear()
            self._platform, self._curation = platform, curation
        whole = self._locales.get(locale)
        if whole is None:
            whole = sort_shown(platform, custom, curation, locale, self._known)
            self._locales[locale] = whole
            if len(self._locales) > self._max_locales:
                self._locales.popitem(last=False)
        else:
            self._locales.move_to_end(locale)
        if f == _NO_FILTER:
            return whole
        kept = (locale, f)
        found = self._filters.get(kept)
        if found is None:
            found = _narrow(whole, f, locale)
            self._filters[kept] = found
            if len(self._filters) > self._max_filters:
                self._filters.popitem(last=False)
        else:
            self._filters.move_to_end(kept)
        return found


_NO_FILTER = ProductFilter()


def _narrow(whole: Matches, f: ProductFilter, locale: str) -> Matches:
    """The products of a sorted list that ``f`` matches: one pass, no sort."""
    picked: Sequence[int] = range(len(whole.traits))
    if f != ProductFilter(q=f.q):  # some field other than q
        picked = [i for i in picked if fits(whole.products[i], f)]
    if f.q:
        asked = tokens(f.q)
        every = whole.traits
        picked = [
            i
            for i in picked
            if all(any(w.startswith(q) for w in every[i].words(locale)) for q in asked)
        ]
    return Matches([whole.keys[i] for i in picked], [whole.traits[i] for i in picked])
