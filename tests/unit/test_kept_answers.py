"""Answers kept for the treasury (products here): used while fresh, dropped by any change
of the tenant's (or every tenant's) answers, never kept from an answer asked before a
change."""

from __future__ import annotations

from actors.catalogue import view
from actors.kept_answers import KeptAnswers
from bus.errors import ErrorCode
from bus.messages import Err, Ok, Reply
from tests.support import gift_card


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def answer(markup_bps: int) -> Reply:
    return Ok(view(gift_card("card"), "en", enabled=True, markup_bps=markup_bps))


def views(clock: Clock, max_views: int = 100) -> KeptAnswers:
    return KeptAnswers(ttl_s=2.0, max_views=max_views, clock=clock)


def test_an_answer_is_used_until_it_is_older_than_its_time_to_live() -> None:
    clock = Clock()
    kept = views(clock)
    assert kept.get("acme", "card") is None
    kept.keep("acme", "card", answer(1), kept.generation("acme"))
    clock.now += 1.9
    assert kept.get("acme", "card") == answer(1)
    assert kept.get("globex", "card") is None  # another tenant's product is its own
    clock.now += 0.1
    assert kept.get("acme", "card") is None


def two_tenants_views() -> KeptAnswers:
    """Views holding acme's and globex's ``card``, both answered ``answer(1)``."""
    kept = views(Clock())
    for tenant in ("acme", "globex"):
        kept.keep(tenant, "card", answer(1), kept.generation(tenant))
    return kept


def test_a_change_of_a_tenants_products_drops_its_views_only() -> None:
    kept = two_tenants_views()
    kept.changed("acme")
    assert kept.get("acme", "card") is None
    assert kept.get("globex", "card") == answer(1)
    kept.keep("acme", "card", answer(2), kept.generation("acme"))
    assert kept.get("acme", "card") == answer(2)  # asked again after the change: kept


def test_a_change_of_the_platforms_products_drops_every_view() -> None:
    kept = two_tenants_views()
    kept.changed("")
    assert kept.get("acme", "card") is None
    assert kept.get("globex", "card") is None


def test_an_answer_asked_for_before_a_change_is_not_kept() -> None:
    clock = Clock()
    kept = views(clock)
    for change in ("acme", ""):
        asked_at = kept.generation("acme")
        kept.changed(change)  # while the catalogue actor was being asked
        kept.keep("acme", "card", answer(1), asked_at)
        assert kept.get("acme", "card") is None


def test_refusals_are_asked_for_again() -> None:
    kept = views(Clock())
    refused = Err.of(ErrorCode.UNAVAILABLE, "the catalogue actor did not answer")
    kept.keep("acme", "card", refused, kept.generation("acme"))
    assert kept.get("acme", "card") is None


def test_the_least_recently_kept_go_first() -> None:
    kept = views(Clock(), max_views=2)
    for product in ("a", "b", "c"):
        kept.keep("acme", product, answer(1), kept.generation("acme"))
    assert kept.get("acme", "a") is None
    assert kept.get("acme", "b") == answer(1)
    assert kept.get("acme", "c") == answer(1)
