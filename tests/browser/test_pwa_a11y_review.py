"""What an accessibility review (WCAG 2.2 AA, keyboard and screen reader) asked of the
app: focus is never dropped to the page after an action hides the focused control, the
language and filter selects keep focus while arrow keys change them, a wrong amount is
said at its field, counted strings follow each language's plural rules, each view names
itself in the window's title, and an embed adds no landmarks of a page's own to its host.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pytest

from perkbus import demo_catalogue
from tests.browser.conftest import Live
from tests.browser.pwa_support import (
    new_person,
    open_stocked,
    sign_in,
)

pytestmark = [pytest.mark.browser, pytest.mark.slow]

#: The focused element, inside the embed's shadow root too: (tag, class, text, name).
FOCUSED = """() => {
  let el = document.activeElement;
  while (el && el.shadowRoot && el.shadowRoot.activeElement) el = el.shadowRoot.activeElement;
  if (!el) return null;
  return [el.tagName.toLowerCase(), el.className, (el.textContent || '').trim(), el.name || ''];
}"""


@pytest.fixture
def app(phone: Any) -> Iterator[Any]:
    """The phone, failing the test on any uncaught error of the page's scripts."""
    errors: list[str] = []
    phone.on("pageerror", lambda error: errors.append(str(error)))
    yield phone
    assert errors == []


def focused(page: Any) -> list[str]:
    return list(page.evaluate(FOCUSED))


def test_focus_follows_confirm_show_code_and_sign_out(app: Any, live: Live) -> None:
    sign_in(app, new_person(live, 5_000))
    open_stocked(app)
    # the confirmation is a group named and described by its question
    group = app.get_by_role("group", name="Confirm your reward")
    group.wait_for()
    question = app.locator(f"#{group.get_attribute('aria-describedby')}").inner_text()
    assert question.startswith("Redeem ")
    app.get_by_role("button", name="Confirm").click()
    app.get_by_role("link", name="See my reward").wait_for()
    assert focused(app)[:3] == ["a", "pb-button", "See my reward"]

    app.keyboard.press("Enter")  # the focused link: to the reward
    app.get_by_role("button", name="Show code").wait_for()
    app.get_by_role("button", name="Show code").click()
    app.locator(".pb-code").first.wait_for()
    tag, _, text, _ = focused(app)
    assert (tag, text) == ("button", "Copy code")  # which reads the code out
    code = app.locator(".pb-code").first.inner_text().strip()
    assert (
        app.get_by_role("button", name="Copy code")
        .first.evaluate(
            "b => document.getElementById(b.getAttribute('aria-describedby')).textContent"
        )
        .strip()
        == code
    )

    app.get_by_role("button", name="Sign out").click()
    app.get_by_role("heading", name=re.compile("^Sign in to")).wait_for()
    app.wait_for_function("() => document.activeElement?.tagName === 'H1'", timeout=5_000)
    app.locator(".pb-app > [role=status]").filter(has_text="You are signed out.").wait_for()


def test_the_language_select_keeps_focus_as_arrows_change_it(app: Any, live: Live) -> None:
    sign_in(app, new_person(live, 100))
    language = app.get_by_label("Language")
    assert language.locator("option[value=ar]").get_attribute("lang") == "ar"
    language.focus()
    app.keyboard.press("ArrowDown")  # en → es: the app changes language at once
    app.get_by_role("heading", name="Recompensas", exact=True).wait_for()
    assert focused(app)[:2] == ["select", "pb-locale"]
    app.keyboard.press("ArrowDown")  # and the next arrow reaches the next language
    app.get_by_role("heading", name="Récompenses", exact=True).wait_for()
    assert focused(app)[:2] == ["select", "pb-locale"]
    assert app.locator("html").get_attribute("lang") == "fr"


def test_a_filter_keeps_focus_and_its_other_choices(app: Any, live: Live) -> None:
    sign_in(app, new_person(live, 100))
    category = app.get_by_label("Category")
    category.locator("option").nth(2).wait_for(state="attached")
    choices = category.locator("option").count()
    summary = app.locator(".pb-summary").inner_text()
    category.focus()
    app.keyboard.press("ArrowDown")  # Any → the first category: the list is narrowed
    app.wait_for_function(
        "text => document.querySelector('.pb-summary').textContent !== text", arg=summary
    )
    first = category.input_value()
    assert first
    assert (focused(app)[0], focused(app)[3]) == ("select", "category")
    # its own choices are all still there, so the next arrow reaches the next one
    assert category.locator("option").count() == choices
    app.keyboard.press("ArrowDown")
    app.wait_for_function(
        "v => document.querySelector('select[name=category]').value !== v", arg=first
    )
    assert focused(app)[3] == "category"
    assert category.locator("option").count() == choices
    # drawn again while another control has focus: still every category to choose from
    app.get_by_label("Search rewards").focus()
    with app.expect_response(lambda r: "/catalogue/products?" in r.url and "limit=24" in r.url):
        category.evaluate(
            """el => {
              el.selectedIndex = el.options.length - 1;
              el.dispatchEvent(new Event('change', { bubbles: true }));
            }"""
        )
    app.wait_for_timeout(1_000)  # the filters' own looks, then the filters drawn
    assert category.locator("option").count() == choices


def test_a_wrong_amount_is_said_at_its_field(app: Any, live: Live) -> None:
    product = next(p for p in demo_catalogue.generate() if p.range is not None)
    assert product.range is not None
    sign_in(app, new_person(live, 100))
    app.goto(f"/?tenant=demo#/product/{product.id}")
    amount = app.get_by_label(re.compile("^Amount"))
    for typed in ("0", "", str(product.range.max_minor)):  # nothing, and far too much
        amount.fill(typed)
        app.get_by_role("button", name="Redeem").click()
        assert amount.get_attribute("aria-invalid") == "true"
        said = app.locator(f"#{amount.get_attribute('aria-describedby')}").inner_text()
        assert said.startswith("Enter an amount from ")
        assert focused(app)[0] == "input"
        assert app.get_by_role("button", name="Confirm").count() == 0  # not confirmed
    amount.fill(str(product.range.min_minor / 100))
    assert amount.get_attribute("aria-invalid") is None  # typing again clears it
    app.get_by_role("button", name="Redeem").click()
    app.get_by_role("button", name="Confirm").wait_for()


def test_counted_strings_follow_each_languages_plural_rules(app: Any, live: Live) -> None:
    sign_in(app, new_person(live, 1))
    app.get_by_role("link", name="Wallet").click()
    balance = app.locator(".pb-balance")
    balance.filter(has_text="1 point").wait_for()
    assert "points" not in balance.inner_text()
    forms = app.evaluate(
        """async () => {
          const { translator } = await import('/app/i18n.js');
          const said = {};
          for (const locale of ['en', 'ar']) {
            const t = await translator('', locale);
            said[locale] = [0, 1, 2, 3, 11, 100].map(
              (n) => t.plural('catalogue.count', n, { count: String(n) }));
          }
          return said;
        }"""
    )
    assert forms["en"] == [
        "0 rewards", "1 reward", "2 rewards", "3 rewards", "11 rewards", "100 rewards",
    ]  # fmt: skip
    assert forms["ar"] == [
        "لا توجد مكافآت", "مكافأة واحدة", "مكافأتان", "3 مكافآت", "11 مكافأة", "100 مكافأة",
    ]  # fmt: skip


def test_each_view_names_itself_in_the_title(app: Any, live: Live) -> None:
    app.goto("/?tenant=demo")
    app.get_by_label("Email").wait_for()
    assert app.title().startswith("Sign in — ")
    sign_in(app, new_person(live, 100))
    assert app.title().startswith("Rewards — ")
    app.get_by_role("link", name="Wallet").click()
    app.get_by_role("heading", name="Wallet").wait_for()
    assert app.title().startswith("Wallet — ")
    app.get_by_role("link", name="My rewards").click()
    app.get_by_role("heading", name="My rewards").wait_for()
    assert app.title().startswith("My rewards — ")


HOST = """<!doctype html><html lang="en"><head><title>Intranet</title></head><body>
<header><h1>Our intranet</h1></header><main><h2>Perks</h2>
<script src="/embed.js" data-tenant="demo" data-heading-level="3"></script>
</main></body></html>"""


def test_an_embed_is_a_labelled_region_under_the_hosts_headings(app: Any, live: Live) -> None:
    app.route(
        "**/a11y-intranet.html",
        lambda route: route.fulfill(status=200, content_type="text/html", body=HOST),
    )
    app.goto("/a11y-intranet.html")
    app.locator("perkbus-store[state=ready]").wait_for(state="attached")
    app.get_by_label("Email").wait_for()
    assert app.get_by_role("main").count() == 1  # the host's own
    assert app.get_by_role("banner").count() == 1  # the host's own
    region = app.get_by_role("region", name=re.compile("rewards$"))
    assert region.count() == 1
    # the host asked for level 3: the storefront's title sits under the host's h2
    region.get_by_role("heading", level=3, name=re.compile("^Sign in to")).wait_for()
    assert app.get_by_role("heading", level=1).all_inner_texts() == ["Our intranet"]
    assert app.title() == "Intranet"
