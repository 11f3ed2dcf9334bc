"""The admin console (``/admin/``, ADR 36) in real Chromium against ``perkbus up --demo``:
staff sign in with their password, see the views their permissions allow, and what they
do there reaches the ledger — checked through the API, not the page."""

from __future__ import annotations

import re
import urllib.error
import urllib.parse
import urllib.request
import uuid
from typing import Any

import pytest
from playwright.sync_api import expect

from perkbus import demo_catalogue
from tests.browser.conftest import Live
from tests.browser.pwa_support import (
    Person,
    bearer,
    call,
    edit_programme,
    new_person,
    owner_token,
    points,
)

pytestmark = [pytest.mark.browser, pytest.mark.slow]

ADMIN = "/admin/?tenant=demo"
EVERY_VIEW = [
    "Budgets",
    "Funding",
    "Rewards",
    "Orders",
    "Vouchers",
    "Catalogue",
    "People",
    "API clients",
    "Webhooks",
    "Audit log",
    "Reports",
    "Settings",
]


def staff(live: Live, roles: list[str], grants: list[str] | None = None) -> Person:
    """A new member of the demo tenant's staff, with a password."""
    email = f"staff-{uuid.uuid4().hex[:10]}@demo.example"
    password = "staff-test-password-1"
    body = {"id": email, "email": email, "name": "Staff", "roles": roles, "password": password}
    status, made = call(
        live, "POST", "/api/v1/people", {**body, "grants": grants or []}, live.demo["token"]
    )
    assert status == 201, made
    return Person(email, password)


def end_user(live: Live) -> Person:
    """A new end user of the demo tenant, with no points yet."""
    email = f"user-{uuid.uuid4().hex[:10]}@demo.example"
    body = {"id": email, "email": email, "name": "User", "password": "user-test-password-1"}
    status, made = call(live, "POST", "/api/v1/people", body, live.demo["token"])
    assert status == 201, made
    return Person(email, "user-test-password-1")


def owner(live: Live) -> Person:
    return Person(str(live.demo["sign_in"]["admin"]), live.password)


def sign_in(page: Any, person: Person) -> None:
    page.goto(ADMIN)
    page.get_by_label("Email").fill(person.email)
    page.get_by_label("Password").fill(person.password)
    page.get_by_role("button", name="Sign in", exact=True).click()
    page.get_by_role("navigation", name="Console").wait_for()


def nav(page: Any) -> list[str]:
    return [
        str(t)
        for t in page.get_by_role("navigation", name="Console")
        .get_by_role("link")
        .all_inner_texts()
    ]


def go(page: Any, view: str) -> None:
    page.get_by_role("navigation", name="Console").get_by_role("link", name=view).click()
    page.get_by_role("heading", level=1, name=view).wait_for()


def test_views_follow_the_permissions_of_who_signed_in(desk: Any, live: Live) -> None:
    sign_in(desk, owner(live))
    assert nav(desk) == EVERY_VIEW
    desk.get_by_role("button", name="Sign out").click()
    desk.get_by_role("heading", name="perkbus admin").wait_for()
    assert "pb_access" not in {c["name"] for c in desk.context.cookies()}

    sign_in(desk, staff(live, ["programme_manager"]))
    assert nav(desk) == [
        "Budgets",
        "Rewards",
        "Orders",
        "Vouchers",
        "Catalogue",
        "Reports",
        "Settings",
    ]
    desk.goto(f"{ADMIN}#/people")  # a view it may not use: the first it may is shown
    desk.get_by_role("heading", level=1, name="Budgets").wait_for()
    desk.get_by_role("button", name="Sign out").click()

    sign_in(desk, staff(live, ["auditor"]))
    assert nav(desk) == [
        "Budgets",
        "Funding",
        "Orders",
        "Vouchers",
        "Audit log",
        "Reports",
        "Settings",
    ]


def test_an_end_user_is_told_the_console_is_for_staff(desk: Any, live: Live) -> None:
    person = new_person(live, 10)
    desk.goto(ADMIN)
    desk.get_by_label("Email").fill(person.email)
    desk.get_by_label("Password").fill(person.password)
    desk.get_by_role("button", name="Sign in", exact=True).click()
    desk.get_by_text("This console is for a tenant's staff").wait_for()
    assert "pb_access" not in {c["name"] for c in desk.context.cookies()}  # signed out again


def test_a_wrong_password_is_refused_and_nothing_else_shows(desk: Any, live: Live) -> None:
    desk.goto(ADMIN)
    desk.get_by_label("Email").fill(str(live.demo["sign_in"]["admin"]))
    desk.get_by_label("Password").fill("not-the-password")
    desk.get_by_role("button", name="Sign in", exact=True).click()
    desk.get_by_text("The email or password is not right.").wait_for()
    assert desk.get_by_role("navigation", name="Console").count() == 0


def lose_first_answer(keys: list[str], late: bool = False) -> Any:
    """A route that notes each request's Idempotency-Key; the first request reaches the
    server, and its answer is lost (or, ``late``, replaced by a 504 the API may give)."""

    def route_it(route: Any) -> None:
        keys.append(route.request.headers["idempotency-key"])
        if len(keys) > 1:
            route.continue_()
            return
        route.fetch()  # the server does it…
        if not late:
            route.abort()  # …and its answer never arrives
            return
        problem = {
            "status": 504,
            "code": "timeout",
            "detail": "no answer in time",
            "retryable": True,
        }
        route.fulfill(status=504, content_type="application/problem+json", json=problem)

    return route_it


def reward_form(desk: Any, live: Live, person: Person, points: str) -> Any:
    """The single reward's form, filled in for ``person`` from the demo budget."""
    form = desk.get_by_role("form", name="Issue a reward")
    form.get_by_label("Person id").fill(person.email)
    form.get_by_label("From budget").fill(str(live.demo["budget_id"]))
    form.get_by_label("Points").fill(points)
    return form


def test_a_reward_is_issued_once_even_when_its_answer_is_lost(desk: Any, live: Live) -> None:
    person = end_user(live)
    sign_in(desk, owner(live))
    go(desk, "Rewards")
    keys: list[str] = []
    desk.route("**/api/v1/rewards", lose_first_answer(keys))
    form = reward_form(desk, live, person, "1,250")
    form.get_by_label("Message").fill("Thanks for the launch")
    form.get_by_role("button", name="Issue reward").click()
    form.get_by_text("No answer from the server").wait_for()
    form.get_by_role("button", name="Issue reward").click()  # again, after the lost answer
    form.get_by_text(f"1,250 points given to {person.email} (they hold 1,250)").wait_for()
    assert len(keys) == 2
    assert keys[0] == keys[1]
    assert points(live, person) == 1_250  # once

    form.get_by_role("button", name="Issue reward").click()  # a new reward: a new key
    form.get_by_text("(they hold 2,500)").wait_for()
    assert len(set(keys)) == 2
    assert points(live, person) == 2_500


def test_a_reward_answered_late_is_tried_again_under_its_key(desk: Any, live: Live) -> None:
    person = end_user(live)
    sign_in(desk, owner(live))
    go(desk, "Rewards")
    keys: list[str] = []
    desk.route("**/api/v1/rewards", lose_first_answer(keys, late=True))
    form = reward_form(desk, live, person, "40")
    form.get_by_role("button", name="Issue reward").click()
    form.get_by_text("no answer in time").wait_for()
    form.get_by_role("button", name="Issue reward").click()
    form.get_by_text("(they hold 40)").wait_for()
    assert keys[0] == keys[1]
    assert points(live, person) == 40


def test_a_session_ended_elsewhere_returns_to_sign_in(browser: Any, live: Live) -> None:
    context = browser.new_context(viewport={"width": 1280, "height": 900}, base_url=live.base)
    try:
        first, second = context.new_page(), context.new_page()
        sign_in(first, owner(live))
        second.goto(ADMIN)
        second.get_by_role("navigation", name="Console").wait_for()
        first.get_by_role("button", name="Sign out").click()  # cookies shared: both end
        first.get_by_text("Signed out.").wait_for()
        go_to = second.get_by_role("navigation", name="Console").get_by_role("link", name="Orders")
        go_to.click()
        second.get_by_text("Your session has ended: sign in again.").wait_for()
        second.get_by_role("button", name="Sign in", exact=True).wait_for()
        assert second.get_by_role("navigation", name="Console").count() == 0
    finally:
        context.close()


def test_a_refused_reward_says_why(desk: Any, live: Live) -> None:
    sign_in(desk, owner(live))
    go(desk, "Rewards")
    form = desk.get_by_role("form", name="Issue a reward")
    form.get_by_label("Person id").fill("nobody@demo.example")
    form.get_by_label("From budget").fill("no-such-budget")
    form.get_by_label("Points").fill("10")
    form.get_by_role("button", name="Issue reward").click()
    alert = form.get_by_role("alert")
    alert.wait_for()
    assert "no-such-budget" in alert.inner_text() or "not found" in alert.inner_text().lower()
    form.get_by_label("Points").fill("1.5")
    form.get_by_role("button", name="Issue reward").click()
    form.get_by_text("Points must be a whole number").wait_for()


def test_a_bulk_job_runs_to_its_end_and_its_results_download(desk: Any, live: Live) -> None:
    people = [end_user(live) for _ in range(3)]
    rows = "\n".join(f"{p.email},{100 * (n + 1)},bulk thanks" for n, p in enumerate(people))
    sign_in(desk, owner(live))
    go(desk, "Rewards")
    form = desk.get_by_role("form", name="Upload a bulk job")
    form.get_by_label("From budget").fill(str(live.demo["budget_id"]))

    def upload(csv: str) -> None:
        form.get_by_label("CSV file").set_input_files(
            {"name": "rewards.csv", "mimeType": "text/csv", "buffer": csv.encode()}
        )
        form.get_by_role("button", name="Start job").click()

    upload(f"person_id,points,memo\n{rows}\nghost@demo.example,1.5,\n")
    form.get_by_role("alert").get_by_text("row 3: points must be a whole number").wait_for()
    assert [points(live, p) for p in people] == [0, 0, 0]  # a bad file starts nothing

    upload(f"person_id,points,memo\n{rows}\n")
    desk.get_by_text("done: 3 of 3 rows done, 3 rewarded, 0 failed").wait_for(timeout=30_000)
    with desk.expect_download() as download:
        desk.get_by_role("button", name="Download the results (CSV)").click()
    with open(download.value.path(), encoding="utf-8") as results:
        lines = results.read().splitlines()
    assert len(lines) == 4
    assert all(any(p.email in line for line in lines) for p in people)
    assert [points(live, p) for p in people] == [100, 200, 300]


def _held_order(live: Live) -> tuple[Person, str]:
    """An end user's order held for review: the programme holds orders from 10.00 EUR for
    as long as it takes to place one (other tests of this system redeem that card)."""
    product = next(p for p in demo_catalogue.generate() if p.currency == "EUR" and p.denominations)
    person = new_person(live, 5_000)
    threshold = {"amount_minor": product.denominations[0], "currency": "EUR"}
    edit_programme(live, lambda p: p.update(review_threshold=threshold))
    try:
        order = {
            "product_id": product.id,
            "face_value_minor": product.denominations[0],
            "recipient": person.email,
        }
        status, placed = call(
            live,
            "POST",
            "/api/v1/orders",
            order,
            bearer(live, person),
            {"Idempotency-Key": f"held-{uuid.uuid4().hex}"},
        )
    finally:
        edit_programme(live, lambda p: p.pop("review_threshold", None))
    assert status == 201, placed
    assert placed["status"] == "held", placed
    return person, str(placed["id"])


def test_a_held_order_is_approved_and_another_rejected(desk: Any, live: Live) -> None:
    _, approve = _held_order(live)
    person, reject = _held_order(live)
    sign_in(desk, staff(live, ["finance"]))
    go(desk, "Orders")  # reviewers see the held orders first
    desk.get_by_role("button", name=f"Approve order {approve}").click()
    desk.get_by_text(f"Approve: order {approve} is now fulfilled.").wait_for()

    desk.once("dialog", lambda dialog: dialog.accept("over the gift limit"))
    desk.get_by_role("button", name=f"Reject order {reject}").click()
    desk.get_by_text(f"Reject: order {reject} is now").wait_for()
    token = live.demo["token"]
    assert call(live, "GET", f"/api/v1/orders/{approve}", token=token)[1]["status"] == "fulfilled"
    rejected = call(live, "GET", f"/api/v1/orders/{reject}", token=token)[1]
    assert rejected["status"] in ("rejecting", "failed")
    assert desk.get_by_role("button", name=f"Approve order {approve}").count() == 0
    search = desk.get_by_role("form", name="Find orders")
    search.get_by_label("Status").select_option("fulfilled")
    search.get_by_role("button", name="Show orders").click()
    desk.get_by_role("button", name=f"Cancel order {approve}").wait_for()  # finance cancels

    desk.get_by_role("button", name="Sign out").click()
    sign_in(desk, staff(live, ["programme_manager"]))
    go(desk, "Orders")
    search = desk.get_by_role("form", name="Find orders")
    search.get_by_label("Status").select_option("fulfilled")
    search.get_by_role("button", name="Show orders").click()
    desk.get_by_role("button", name=f"Resend order {approve}").wait_for()
    assert desk.get_by_role("button", name=f"Cancel order {approve}").count() == 0
    assert points(live, person) in (5_000, 4_000)  # refunded, or on its way back


def test_an_api_client_made_here_shows_its_secret_once_and_it_works(desk: Any, live: Live) -> None:
    sign_in(desk, owner(live))
    go(desk, "API clients")
    name = f"Workday {uuid.uuid4().hex[:6]}"
    form = desk.get_by_role("form", name="Make an API client")
    form.get_by_label("Name").fill(name)
    form.get_by_role("button", name="Make client").click()
    secret_box = desk.get_by_label(re.compile("^Secret of "))
    secret_box.wait_for()
    secret = secret_box.input_value()
    client_id = str(secret_box.get_attribute("aria-label")).removeprefix("Secret of ")

    def token(with_secret: str) -> int:
        form_body = urllib.parse.urlencode(
            {
                "grant_type": "client_credentials",
                "client_id": client_id,
                "client_secret": with_secret,
            }
        )
        request = urllib.request.Request(
            f"{live.base}/oauth/token",
            data=form_body.encode(),
            headers={"Content-Type": "application/x-www-form-urlencoded"},
        )
        try:
            with urllib.request.urlopen(request, timeout=10) as r:
                return int(r.status)
        except urllib.error.HTTPError as e:
            return int(e.code)

    assert token(secret) == 200
    desk.reload()
    desk.get_by_role("cell", name=f"{name} {client_id}").wait_for()
    assert desk.get_by_label(re.compile("^Secret of ")).count() == 0  # shown once

    desk.once("dialog", lambda dialog: dialog.accept())
    desk.get_by_role("button", name=f"Rotate secret {name}").click()
    shown = desk.get_by_label(f"Secret of {client_id}")
    shown.wait_for()
    rotated = shown.input_value()
    assert rotated != secret
    assert token(secret) == 401
    assert token(rotated) == 200

    desk.once("dialog", lambda dialog: dialog.accept())
    desk.get_by_role("button", name=f"Revoke {name}").click()
    desk.get_by_text(f"{name} is revoked.").wait_for()
    assert token(rotated) in (400, 401)  # invalid_client: RFC 6749 allows both
    assert shown.count() == 0  # a dead secret is not left on the screen


def test_a_person_added_here_signs_in_with_the_roles_ticked(desk: Any, live: Live) -> None:
    sign_in(desk, owner(live))
    go(desk, "People")
    email = f"new-{uuid.uuid4().hex[:8]}@demo.example"
    form = desk.get_by_role("form", name="Add a person")
    form.get_by_label("Email").fill(email)
    form.get_by_label("Name").fill("Nia Okafor")
    form.get_by_label("end_user").uncheck()
    form.get_by_label("finance").check()
    form.get_by_label("Password").fill("a-long-password-2026")
    form.get_by_role("button", name="Add person").click()
    form.get_by_text(f"Nia Okafor ({email}) added as finance.").wait_for()
    desk.get_by_role("cell", name=email, exact=True).first.wait_for()
    status, session = call(
        live,
        "POST",
        "/auth/sign-in",
        {"tenant": "demo", "email": email, "password": "a-long-password-2026", "mode": "bearer"},
    )
    assert status == 200, session
    assert session["person"]["roles"] == ["finance"]

    change = desk.get_by_role("form", name="Change a person")
    desk.get_by_label("Filter people").fill(email[:10])  # searched by the API, in pages
    expect(desk.get_by_role("table", name="People").get_by_role("row")).to_have_count(2)  # + header
    change.get_by_label("Person").fill(email)
    change.get_by_label("Status").select_option("disabled")
    change.get_by_role("button", name="Save person").click()
    change.get_by_text(f"{email}: finance, disabled.").wait_for()
    status, _ = call(
        live,
        "POST",
        "/auth/sign-in",
        {"tenant": "demo", "email": email, "password": "a-long-password-2026", "mode": "bearer"},
    )
    assert status == 401


def test_people_come_in_pages_and_one_not_shown_is_found_and_changed(desk: Any, live: Live) -> None:
    tag = uuid.uuid4().hex[:6]
    crowd = [f"crowd-{tag}-{n:02d}@demo.example" for n in range(55)]
    for n, email in enumerate(crowd):
        body = {"id": email, "email": email, "name": f"Crowd {tag} {n:02d}"}
        assert call(live, "POST", "/api/v1/people", body, live.demo["token"])[0] == 201
    sign_in(desk, owner(live))
    go(desk, "People")
    rows = desk.get_by_role("table", name="People").get_by_role("row")
    expect(rows).to_have_count(51)  # a page of 50, and the header
    desk.get_by_role("button", name="Show more").click()
    expect(rows.nth(51)).to_be_visible()  # the next page came after the first

    desk.get_by_label("Filter people").fill(f"crowd {tag} 5")  # by name, in any case
    expect(rows).to_have_count(6)
    desk.get_by_label("Filter people").fill("")
    expect(rows).to_have_count(51)
    change = desk.get_by_role("form", name="Change a person")
    change.get_by_label("Person").fill(crowd[-1])  # past the first page: asked of the API
    change.get_by_label("Status").select_option("disabled")
    change.get_by_role("button", name="Save person").click()
    change.get_by_text(f"{crowd[-1]}: end_user, disabled.").wait_for()
    status, person = call(live, "GET", f"/api/v1/people/{crowd[-1]}", None, live.demo["token"])
    assert (status, person["status"]) == (200, "disabled")


def test_the_audit_log_shows_what_the_console_did(desk: Any, live: Live) -> None:
    person = end_user(live)
    sign_in(desk, owner(live))
    go(desk, "Rewards")
    form = reward_form(desk, live, person, "7")
    form.get_by_role("button", name="Issue reward").click()
    form.get_by_text("7 points given").wait_for()
    go(desk, "Audit log")
    search = desk.get_by_role("form", name="Search the log")
    search.get_by_label("Who").fill(str(live.demo["sign_in"]["admin"]))
    search.get_by_label("Action").fill("wallet.issue")
    search.get_by_role("button", name="Search").click()
    desk.get_by_role("cell", name=person.email).wait_for()


def test_a_budget_is_opened_funded_and_set_up_here(desk: Any, live: Live) -> None:
    token = live.demo["token"]
    account, budget = f"bank-{uuid.uuid4().hex[:6]}", f"b-{uuid.uuid4().hex[:6]}"
    opened = {"id": account, "name": "Main account", "currency": "EUR"}
    assert call(live, "POST", "/api/v1/funding-accounts", opened, token)[0] == 201
    paid = {"amount": {"amount_minor": 250_050, "currency": "EUR"}}  # deposits: test_admin_funding
    key = {"Idempotency-Key": f"dep-{account}"}
    deposits = f"/api/v1/funding-accounts/{account}/deposits"
    assert call(live, "POST", deposits, paid, token, key)[0] == 201
    sign_in(desk, owner(live))
    go(desk, "Budgets")
    create = desk.get_by_role("form", name="Open a budget")
    create.get_by_label("Budget id").fill(budget)
    create.get_by_label("Name").fill("Night shift thanks")
    create.get_by_role("button", name="Open budget").click()
    create.get_by_text(f"Budget {budget} is open with €0.00.").wait_for()
    desk.get_by_role("cell", name=f"Night shift thanks {budget}").wait_for()

    fund = desk.get_by_role("form", name="Fund a budget")
    fund.get_by_label("Budget id").fill(budget)
    fund.get_by_label("From funding account").select_option(account)
    fund.get_by_label("Amount").fill("1000.255")  # more digits than EUR has
    fund.get_by_role("button", name="Move funds").click()
    fund.get_by_text("EUR has 2 decimal places").wait_for()
    fund.get_by_label("Amount").fill("1000.25")
    fund.get_by_role("button", name="Move funds").click()
    fund.get_by_text(f"€1,000.25 moved to {budget}.").wait_for()
    row = desk.get_by_role("row").filter(has_text=budget)
    row.get_by_text("€1,000.25").wait_for()

    settings = desk.get_by_role("form", name="Change a budget's settings")
    settings.get_by_label("Budget").select_option(budget)
    settings.get_by_label("Low-balance alert below").fill("100")
    settings.get_by_role("button", name="Save settings").click()
    settings.get_by_text(f"Budget {budget} saved.").wait_for()
    stored = call(live, "GET", f"/api/v1/budgets/{budget}", token=token)[1]
    assert stored["balance"] == {"amount_minor": 100_025, "currency": "EUR"}
    assert stored["low_balance_minor"] == 10_000
    assert call(live, "GET", f"/api/v1/funding-accounts/{account}", token=token)[1]["balance"] == {
        "amount_minor": 150_025,
        "currency": "EUR",
    }


def test_a_manager_narrowed_to_a_budget_sees_only_that_one(desk: Any, live: Live) -> None:
    other = f"b-{uuid.uuid4().hex[:6]}"
    body = {"id": other, "name": "Not theirs", "initial": {"amount_minor": 0, "currency": "EUR"}}
    assert call(live, "POST", "/api/v1/budgets", body, live.demo["token"])[0] == 201
    sign_in(desk, staff(live, ["programme_manager"], [f"budget:{live.demo['budget_id']}"]))
    desk.get_by_role("cell", name=f"Demo programme {live.demo['budget_id']}").wait_for()
    assert "Reports" not in nav(desk)  # reports cover the whole tenant
    assert desk.get_by_role("table", name="Budgets").get_by_role("row").count() == 2  # + header
    assert desk.get_by_text(other).count() == 0


def test_codes_imported_here_fill_their_pool(desk: Any, live: Live) -> None:
    unstocked = [p for p in demo_catalogue.generate() if p.currency == "EUR" and p.denominations]
    product = unstocked[8 + int(uuid.uuid4().hex[:4], 16) % (len(unstocked) - 8)]
    face = product.denominations[0]
    before = call(
        live, "GET", f"/api/v1/vouchers/pools/{product.id}/{face}", token=live.demo["token"]
    )
    had = before[1]["available"] if before[0] == 200 else 0
    codes = [f"CODE-{uuid.uuid4().hex[:12].upper()}" for _ in range(3)]
    csv = "code,pin\n" + "\n".join(f"{c},1234" for c in codes) + f"\n{codes[0]},9999\n"
    sign_in(desk, owner(live))
    go(desk, "Vouchers")
    form = desk.get_by_role("form", name="Import codes from a CSV file")
    form.get_by_label("Product id").fill(product.id)
    form.get_by_label("Face value").fill(f"{face // 100}.{face % 100:02d}")
    form.get_by_label("CSV file").set_input_files(
        {"name": "codes.csv", "mimeType": "text/csv", "buffer": csv.encode()}
    )
    form.get_by_role("button", name="Import codes").click()
    form.get_by_text(f"3 codes added; {had + 3} available now.").wait_for()
    form.get_by_text("Row 3:").wait_for()  # the repeated code, refused
    row = desk.get_by_role("row").filter(has_text=product.id)
    row.get_by_role("cell", name=str(had + 3), exact=True).wait_for()
    pool = call(
        live, "GET", f"/api/v1/vouchers/pools/{product.id}/{face}", token=live.demo["token"]
    )
    assert pool[1]["available"] == had + 3


def found(live: Live, person: Person, words: str) -> list[str]:
    """The ids a person's catalogue search finds."""
    query = urllib.parse.urlencode({"q": words, "limit": 50})
    status, page = call(
        live, "GET", f"/api/v1/catalogue/products?{query}", token=bearer(live, person)
    )
    assert status == 200, page
    return [p["id"] for p in page["products"]]


def test_a_product_turned_off_here_is_hidden_from_people(desk: Any, live: Live) -> None:
    product = demo_catalogue.generate()[-1]  # no other test redeems it
    name = product.texts["en"].name
    person = end_user(live)
    sign_in(desk, owner(live))
    go(desk, "Catalogue")
    form = desk.get_by_role("form", name="Offer a product or not, and its markup")
    try:
        form.get_by_label("Product id").fill(product.id)
        form.get_by_label("Offered").select_option("no")
        form.get_by_label("Markup in basis points").fill("250")
        form.get_by_role("button", name="Save").click()
        form.get_by_text(f"{name}: not offered, markup 2.50%.").wait_for()
        assert product.id not in found(live, person, product.brand)  # hidden from people
        desk.get_by_label("Filter the products shown").fill(product.id)
        row = desk.get_by_role("row").filter(has_text=product.id)
        if row.count() == 0:  # not on the first page loaded
            while desk.get_by_role("button", name="Show more products").count():
                desk.get_by_role("button", name="Show more products").click()
                desk.get_by_label("Filter the products shown").fill(product.id)
                if row.count():
                    break
        assert row.get_by_role("cell", name="no", exact=True).count() == 1
        assert row.get_by_role("cell", name="2.50%").count() == 1
    finally:
        form.get_by_label("Offered").select_option("yes")
        form.get_by_label("Markup in basis points").fill("0")
        form.get_by_role("button", name="Save").click()
        form.get_by_text(f"{name}: offered, markup 0.00%.").wait_for()
    assert product.id in found(live, person, product.brand)


def owner_at_settings(desk: Any, live: Live, tenant: str, token: str) -> None:
    """An owner of ``tenant`` made with ``token``, signed in to the console at Settings."""
    email, password = f"owner@{tenant}.example", "owner-test-password-1"
    made = {"id": email, "email": email, "name": "Owner", "roles": ["owner"], "password": password}
    assert call(live, "POST", "/api/v1/people", made, token)[0] == 201
    desk.goto(f"/admin/?tenant={tenant}")
    desk.get_by_label("Email").fill(email)
    desk.get_by_label("Password").fill(password)
    desk.get_by_role("button", name="Sign in", exact=True).click()
    go(desk, "Settings")


def test_settings_saved_here_reach_the_app_and_a_stale_save_changes_nothing(
    desk: Any, live: Live
) -> None:
    tenant = f"set{uuid.uuid4().hex[:8]}"  # a tenant of its own: demo keeps its looks
    token = owner_token(live, tenant)
    owner_at_settings(desk, live, tenant, token)

    branding = desk.get_by_role("form", name="Branding")
    branding.get_by_label("Name shown to people").fill("Night Shift Perks")
    branding.get_by_role("button", name="Save branding").click()
    desk.get_by_text("Branding saved").wait_for()
    public = call(live, "GET", f"/api/v1/tenants/{tenant}/branding")[1]
    assert public["display_name"] == "Night Shift Perks"

    programme = desk.get_by_role("form", name="Programme")
    programme.get_by_label("Orders wait for review from (face value)").fill("150")
    programme.get_by_role("button", name="Save programme").click()
    desk.get_by_text("Programme saved.").wait_for()
    path = "/api/v1/tenant/config/programme"
    stored = call(live, "GET", path, token=token)[1]
    assert stored["review_threshold"] == {"amount_minor": 15_000, "currency": "EUR"}

    desk.reload()  # reads the revision just saved
    programme = desk.get_by_role("form", name="Programme")
    assert programme.get_by_label("Orders wait for review from (face value)").input_value() == (
        "150.00"
    )
    with urllib.request.urlopen(
        urllib.request.Request(f"{live.base}{path}", headers={"Authorization": f"Bearer {token}"}),
        timeout=10,
    ) as r:
        etag = r.headers["ETag"]
    other = {**stored, "points_name": "stars"}  # someone else saves, meanwhile
    assert call(live, "PUT", path, other, token, {"If-Match": etag})[0] == 200
    programme.get_by_label("Orders a person may place a day").fill("3")
    programme.get_by_role("button", name="Save programme").click()
    programme.get_by_text("Someone else saved these settings").wait_for()
    stored = call(live, "GET", path, token=token)[1]
    assert stored["points_name"] == "stars"
    assert stored.get("max_orders_per_day") is None  # the stale save changed nothing
