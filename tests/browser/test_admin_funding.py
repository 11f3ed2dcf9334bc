"""The admin console's Funding view (ADR 36, 38) in real Chromium against ``perkbus up
--demo``: funding accounts opened, paid into and allocated from here reach the ledger,
and each account's history shows every movement with the balance after it — checked
through the API, not only on the page. Funding is the whole tenant's: read-only for an
auditor, and not shown to a programme manager nor to staff narrowed to some budgets."""

from __future__ import annotations

import re
import uuid
from typing import Any

import pytest

from tests.browser.conftest import Live
from tests.browser.pwa_support import bearer, call
from tests.browser.test_admin_console import (
    ADMIN,
    go,
    lose_first_answer,
    nav,
    owner,
    sign_in,
    staff,
)

pytestmark = [pytest.mark.browser, pytest.mark.slow]

ACCOUNTS = "/api/v1/funding-accounts"
#: The console's pages of accounts and of a history, asked for two at a time instead
#: (by rewriting ``limit``), so that a few accounts and movements span several pages.
PAGED = re.compile(r".*/api/v1/funding-accounts(/[^/?]+/history)?\?.*")


def eur(minor: int) -> dict[str, object]:
    return {"amount_minor": minor, "currency": "EUR"}


def api(live: Live, method: str, path: str, body: object = None, key: str = "") -> Any:
    """A request as the demo tenant's owner (its token); the answer's body, or fails."""
    headers = {"Idempotency-Key": key} if key else None
    status, answer = call(live, method, path, body, live.demo["token"], headers)
    assert status in (200, 201), answer
    return answer


def new_budget(live: Live, name: str) -> str:
    budget = f"b-{uuid.uuid4().hex[:8]}"
    api(live, "POST", "/api/v1/budgets", {"id": budget, "name": name, "initial": eur(0)})
    return budget


def new_account(live: Live, name: str, currency: str = "EUR", *paid: int) -> str:
    account = f"fa-{uuid.uuid4().hex[:8]}"
    api(live, "POST", ACCOUNTS, {"id": account, "name": name, "currency": currency})
    for n, minor in enumerate(paid):
        body = {"amount": {"amount_minor": minor, "currency": currency}, "reference": "test"}
        api(live, "POST", f"{ACCOUNTS}/{account}/deposits", body, f"{account}-{n}")
    return account


def every_account(live: Live) -> list[dict[str, Any]]:
    """The tenant's funding accounts, every page, as the API lists them."""
    found: list[dict[str, Any]] = []
    cursor = ""
    while True:
        page = api(live, "GET", f"{ACCOUNTS}?limit=100{f'&cursor={cursor}' if cursor else ''}")
        found += page["funding_accounts"]
        if not page["next_cursor"]:
            return found
        cursor = page["next_cursor"]


def history(live: Live, account: str) -> list[dict[str, Any]]:
    return list(api(live, "GET", f"{ACCOUNTS}/{account}/history?limit=100")["entries"])


def two_at_a_time(page: Any) -> None:
    """The console's reads of accounts and histories, asked for in pages of two."""
    page.route(
        PAGED,
        lambda route: route.continue_(url=re.sub(r"limit=\d+", "limit=2", route.request.url)),
    )


def rows(table: Any) -> list[list[str]]:
    """The cells' texts of a table's rows (its header left out)."""
    found = table.get_by_role("row")
    return [
        [str(t) for t in found.nth(n).get_by_role("cell").all_inner_texts()]
        for n in range(1, found.count())
    ]


def test_finance_opens_an_account_pays_in_allocates_and_reads_its_history(
    desk: Any, live: Live
) -> None:
    account = f"bank-{uuid.uuid4().hex[:8]}"
    budget = new_budget(live, "Q3 thanks")
    sign_in(desk, staff(live, ["finance"]))
    go(desk, "Funding")
    opening = desk.get_by_role("form", name="Open a funding account")
    opening.get_by_label("Account id").fill(account)
    opening.get_by_label("Name").fill("Operating account")
    opening.get_by_role("button", name="Open account").click()
    opening.get_by_text(f"Funding account {account} is open in EUR.").wait_for()
    stored = api(live, "GET", f"{ACCOUNTS}/{account}")
    assert (stored["name"], stored["balance"]) == ("Operating account", eur(0))
    listed = desk.get_by_role("table", name="Funding accounts").get_by_role("row")
    listed.filter(has_text=account).get_by_text("€0.00").wait_for()
    opening.get_by_role("button", name="Open account").click()  # a new try: the id is taken
    opening.get_by_role("alert").get_by_text(f"funding account {account} exists").wait_for()

    deposit = desk.get_by_role("form", name="Record a deposit")
    deposit.get_by_label("Funding account").select_option(account)
    deposit.get_by_label("Amount").fill("2,50")  # a decimal comma: never read as 250
    deposit.get_by_role("button", name="Record deposit").click()
    deposit.get_by_text("“2,50” is not an amount").wait_for()
    keys: list[str] = []
    desk.route("**/deposits", lose_first_answer(keys))
    deposit.get_by_label("Amount").fill("2,500.5")
    deposit.get_by_label("Reference").fill("TRF 2026-118")
    deposit.get_by_role("button", name="Record deposit").click()
    deposit.get_by_text("No answer from the server").wait_for()
    deposit.get_by_role("button", name="Record deposit").click()  # again: the same key
    deposit.get_by_text(f"€2,500.50 deposited; {account} now holds €2,500.50.").wait_for()
    assert keys[0] == keys[1]
    deposit.get_by_label("Amount").fill("0.75")
    deposit.get_by_role("button", name="Record deposit").click()
    deposit.get_by_text(f"€0.75 deposited; {account} now holds €2,501.25.").wait_for()
    assert len(set(keys)) == 2  # the second deposit, a new key
    assert api(live, "GET", f"{ACCOUNTS}/{account}")["balance"] == eur(250_125)  # once each

    allocate = desk.get_by_role("form", name="Allocate to a budget")
    allocate.get_by_label("Funding account").select_option(account)
    allocate.get_by_label("Budget", exact=True).select_option(budget)
    allocate.get_by_label("Amount").fill("2501.26")  # a cent more than it holds
    allocate.get_by_role("button", name="Allocate").click()
    allocate.get_by_role("alert").get_by_text(f"funding account {account} has 250125").wait_for()
    allocate.get_by_label("Amount").fill("1,000.25")
    allocate.get_by_role("button", name="Allocate").click()
    allocate.get_by_text(
        f"€1,000.25 allocated to Q3 thanks ({budget}); {account} now holds €1,501.00."
    ).wait_for()
    assert api(live, "GET", f"/api/v1/budgets/{budget}")["balance"] == eur(100_025)
    assert api(live, "GET", f"{ACCOUNTS}/{account}")["balance"] == eur(150_100)
    listed.filter(has_text=account).get_by_text("€1,501.00").wait_for()

    moved = history(live, account)
    assert [(e["kind"], e["amount"], e["balance_after"], e["budget_id"]) for e in moved] == [
        ("allocation", eur(-100_025), eur(150_100), budget),
        ("deposit", eur(75), eur(250_125), None),
        ("deposit", eur(250_050), eur(250_050), None),
    ]
    desk.get_by_role("button", name=f"History of {account}").click()
    desk.get_by_role("heading", level=2, name="History of Operating account").wait_for()
    shown = desk.get_by_role("table", name=f"History of {account}")
    shown.get_by_role("row").nth(3).wait_for()
    assert [row[1:] for row in rows(shown)] == [
        [f"Allocation to Q3 thanks ({budget})", "-€1,000.25", "€1,501.00", moved[0]["id"]],
        ["Deposit", "+€0.75", "€2,501.25", moved[1]["id"]],
        ["Deposit", "+€2,500.50", "€2,500.50", moved[2]["id"]],
    ]
    assert desk.get_by_role("button", name="Show older movements").count() == 0


def test_an_auditor_reads_funding_page_by_page_and_others_do_not_see_it(
    desk: Any, live: Live
) -> None:
    budget = new_budget(live, "Audit trail")
    account = new_account(live, "Reserve", "EUR", 10_000, 5_000)
    body = {"from_account": account, "amount": eur(3_000)}
    api(live, "POST", f"/api/v1/budgets/{budget}/allocations", body, f"alc-{account}")
    new_account(live, "Spare")
    new_account(live, "Petty cash", "USD", 1_234)
    everything = every_account(live)
    assert len(everything) > 2  # more than one page of two

    auditor = staff(live, ["auditor"])
    two_at_a_time(desk)
    sign_in(desk, auditor)
    go(desk, "Funding")
    accounts = desk.get_by_role("table", name="Funding accounts")
    accounts.get_by_role("row").nth(2).wait_for()
    more = desk.get_by_role("button", name="Show more accounts")
    for shown in range(4, len(everything) + 2, 2):  # a page of two at each click
        more.click()
        accounts.get_by_role("row").nth(min(shown, len(everything))).wait_for()
    assert more.count() == 0
    assert [row[0] for row in rows(accounts)] == [f"{a['name']}\n{a['id']}" for a in everything]
    petty = next(a for a in everything if a["name"] == "Petty cash")
    accounts.get_by_role("row").filter(has_text=petty["id"]).get_by_text("$12.34").wait_for()
    assert desk.get_by_role("main").get_by_role("form").count() == 0  # reads, writes nothing

    desk.get_by_role("button", name=f"History of {account}").click()
    moved = desk.get_by_role("table", name=f"History of {account}")
    moved.get_by_role("row").nth(2).wait_for()
    assert len(rows(moved)) == 2  # the newest two
    desk.get_by_role("button", name="Show older movements").click()
    moved.get_by_role("row").nth(3).wait_for()
    assert [row[1:4] for row in rows(moved)] == [
        [f"Allocation to Audit trail ({budget})", "-€30.00", "€120.00"],
        ["Deposit", "+€50.00", "€150.00"],
        ["Deposit", "+€100.00", "€100.00"],
    ]
    assert [row[4] for row in rows(moved)] == [e["id"] for e in history(live, account)]
    desk.get_by_role("button", name="Sign out").click()

    manager = staff(live, ["programme_manager"])
    sign_in(desk, manager)
    assert "Funding" not in nav(desk)
    assert "Audit log" not in nav(desk)  # every deposit and allocation is in it
    desk.goto(f"{ADMIN}#/funding")  # not theirs: the first view they may use instead
    desk.get_by_role("heading", level=1, name="Budgets").wait_for()
    assert desk.get_by_text("Funding accounts").count() == 0
    assert call(live, "GET", ACCOUNTS, token=bearer(live, manager))[0] == 403
    desk.get_by_role("button", name="Sign out").click()

    narrowed = staff(live, ["finance"], [f"budget:{live.demo['budget_id']}"])
    sign_in(desk, narrowed)
    assert "Funding" not in nav(desk)
    assert "Audit log" not in nav(desk)  # every deposit and allocation is in it
    desk.goto(f"{ADMIN}#/funding")
    desk.get_by_role("heading", level=1, name="Budgets").wait_for()
    desk.get_by_role("cell", name=f"Demo programme {live.demo['budget_id']}").wait_for()
    assert desk.get_by_role("form", name="Fund a budget").count() == 0  # funding is not theirs
    assert call(live, "GET", ACCOUNTS, token=bearer(live, narrowed))[0] == 403


def test_the_budgets_fund_form_chooses_among_every_funding_account(desk: Any, live: Live) -> None:
    budget = new_budget(live, "Night shift thanks")
    account = new_account(live, "Treasury", "EUR", 50_000)
    dollars = new_account(live, "US account", "USD", 50_000)
    sign_in(desk, owner(live))
    two_at_a_time(desk)  # the form reads every page of accounts, not only the first
    go(desk, "Budgets")
    fund = desk.get_by_role("form", name="Fund a budget")
    choices = fund.get_by_label("From funding account").get_by_role("option")
    choices.filter(has_text=dollars).wait_for(state="attached")
    offered = [str(o.get_attribute("value")) for o in choices.all()]
    assert offered == [a["id"] for a in every_account(live)]
    assert choices.filter(has_text=account).text_content() == f"Treasury ({account}) · €500.00"

    fund.get_by_label("Budget id").fill(budget)
    fund.get_by_label("From funding account").select_option(dollars)
    fund.get_by_label("Amount").fill("10")
    fund.get_by_role("button", name="Move funds").click()
    refused = "funding is in USD and the budget in EUR, not USD"  # sent in the account's
    fund.get_by_role("alert").get_by_text(refused).wait_for()
    fund.get_by_label("From funding account").select_option(account)
    fund.get_by_label("Amount").fill("120.30")
    fund.get_by_role("button", name="Move funds").click()
    fund.get_by_text(f"€120.30 moved to {budget}.").wait_for()
    desk.get_by_role("row").filter(has_text=budget).get_by_text("€120.30").wait_for()
    choices.filter(has_text="€379.70").wait_for(state="attached")  # the choices, read again

    assert api(live, "GET", f"/api/v1/budgets/{budget}")["balance"] == eur(12_030)
    assert api(live, "GET", f"{ACCOUNTS}/{account}")["balance"] == eur(37_970)
    assert api(live, "GET", f"{ACCOUNTS}/{dollars}")["balance"]["amount_minor"] == 50_000
    newest = history(live, account)[0]
    assert (newest["kind"], newest["amount"], newest["budget_id"]) == (
        "allocation",
        eur(-12_030),
        budget,
    )

    desk.get_by_role("main").get_by_role("link", name="Funding").click()  # the hint's link
    desk.get_by_role("heading", level=1, name="Funding").wait_for()
