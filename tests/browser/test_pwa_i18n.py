"""Languages: the switcher changes the strings and the number formats; Arabic lays the
app out right to left."""

from __future__ import annotations

from typing import Any

import pytest

from tests.browser.conftest import Live
from tests.browser.pwa_support import new_person, sign_in

pytestmark = [pytest.mark.browser, pytest.mark.slow]


def test_hindi_strings_and_numbers(phone: Any, live: Live) -> None:
    person = new_person(live, 123_456)
    sign_in(phone, person)
    phone.get_by_label("Language").select_option("hi")
    phone.get_by_role("heading", name="रिवॉर्ड", exact=True).wait_for()
    assert phone.locator("html").get_attribute("lang") == "hi"
    assert phone.locator("html").get_attribute("dir") == "ltr"
    phone.get_by_role("link", name="वॉलेट").click()
    phone.get_by_role("heading", name="वॉलेट").wait_for()
    assert phone.locator(".pb-balance-value").inner_text() == "1,23,456"  # lakh grouping
    phone.get_by_label("भाषा").select_option("en")  # the label is Hindi now too
    phone.get_by_role("heading", name="Wallet").wait_for()


def test_arabic_is_right_to_left(phone: Any, live: Live) -> None:
    person = new_person(live, 1_000)
    sign_in(phone, person)
    english = phone.locator(".pb-brand").bounding_box()
    phone.get_by_label("Language").select_option("ar")
    phone.get_by_role("heading", name="المكافآت", exact=True).wait_for()
    assert phone.locator("html").get_attribute("dir") == "rtl"
    assert phone.locator(".pb-app").get_attribute("dir") == "rtl"
    arabic = phone.locator(".pb-brand").bounding_box()
    assert english is not None
    assert arabic is not None
    width = phone.viewport_size["width"]
    assert english["x"] < width / 2 < arabic["x"] + arabic["width"]  # start is now right
    assert arabic["x"] > english["x"]
    heading = phone.get_by_role("heading", name="المكافآت", exact=True).bounding_box()
    assert heading is not None
    assert heading["x"] + heading["width"] > width - 40


def test_the_language_is_remembered_across_a_reload(phone: Any, live: Live) -> None:
    phone.goto("/?tenant=demo")
    phone.get_by_label("Language").select_option("es")
    phone.get_by_role("heading", name="Inicia sesión en perkbus").wait_for()
    phone.reload()
    phone.get_by_role("heading", name="Inicia sesión en perkbus").wait_for()
    assert phone.get_by_label("Correo electrónico").is_visible()


def test_amounts_use_the_ledgers_minor_digits_not_the_browsers(phone: Any, live: Live) -> None:
    """Chromium's Intl gives HUF and IDR no decimals, where ISO 4217 and the ledger count
    cents: 500,000 minor units of HUF are 5,000 forints, not 500,000. Amounts past 2**53
    are written exactly."""
    phone.goto("/?tenant=demo")
    shown = phone.evaluate(
        """async () => {
          const { translator } = await import('/app/i18n.js');
          const t = await translator('', 'en');
          return [t.money(500000, 'HUF'), t.money(2550, 'EUR'), t.money(1500, 'JPY'),
                  t.money(1234, 'KWD'), t.money(5000, 'XAF'), t.money(-7, 'EUR')];
        }"""
    )
    nbsp = "\u00a0"  # Intl puts a no-break space between a currency code and its amount
    assert shown == [
        f"HUF{nbsp}5,000.00", "€25.50", "¥1,500", f"KWD{nbsp}1.234", f"FCFA{nbsp}5,000", "-€0.07",
    ]  # fmt: skip


def test_a_category_no_locale_names_is_shown_as_it_is(phone: Any, live: Live) -> None:
    phone.goto("/?tenant=demo")
    shown = phone.evaluate(
        """async () => {
          const { translator } = await import('/app/i18n.js');
          const t = await translator('', 'en');
          return [t.category('gaming'), t.category('shopping')];
        }"""
    )
    assert shown == ["gaming", "Shopping"]  # a tenant's own category; a known one in English
