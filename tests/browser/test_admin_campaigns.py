"""Campaigns in the admin console's Rewards view (ADR 36, 39) in real Chromium against
``perkbus up --demo``: a bulk job uploaded with a name and a time to start waits for it,
is moved, started now or cancelled from the list of the tenant's jobs — checked through
the API, not only on the page. The browser runs in India's time zone (UTC+05:30, no summer
time), so a time typed in it reaches the API as that instant only if it was converted."""

from __future__ import annotations

import json
import re
import time
import urllib.request
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta, timezone
from typing import Any
from urllib.parse import urlencode

import pytest
from playwright.sync_api import expect

from tests.browser.conftest import Live
from tests.browser.pwa_support import Person, points
from tests.browser.test_admin_console import end_user, go, owner, sign_in
from tests.browser.test_admin_funding import api, eur, rows

pytestmark = [pytest.mark.browser, pytest.mark.slow]

BULK = "/api/v1/rewards/bulk"
#: The browser's time zone, and its offset from UTC the whole year.
ZONE, OFFSET = "Asia/Kolkata", timezone(timedelta(hours=5, minutes=30))
#: The console's pages of jobs, asked for two at a time instead (by rewriting ``limit``).
PAGED = re.compile(r".*/api/v1/rewards/bulk\?.*")


@pytest.fixture
def desk(browser: Any, live: Live) -> Iterator[Any]:
    """The console's desk (conftest's), in the browser time zone of :data:`ZONE`."""
    context = browser.new_context(
        viewport={"width": 1280, "height": 900}, base_url=live.base, timezone_id=ZONE
    )
    try:
        yield context.new_page()
    finally:
        context.close()


def funded_budget(live: Live, minor: int) -> str:
    budget = f"b-{uuid.uuid4().hex[:8]}"
    api(live, "POST", "/api/v1/budgets", {"id": budget, "name": "Campaigns", "initial": eur(minor)})
    return budget


def balance(live: Live, budget: str) -> Any:
    return api(live, "GET", f"/api/v1/budgets/{budget}")["balance"]


def in_an_hour() -> datetime:
    """A time to start an hour ahead, to the minute, in the browser's time zone."""
    return (datetime.now(OFFSET) + timedelta(hours=1)).replace(second=0, microsecond=0)


def typed(at: datetime) -> str:
    """``at`` as a person types it into a datetime-local field in the browser's zone."""
    return at.astimezone(OFFSET).strftime("%Y-%m-%dT%H:%M")


def shown(page: Any, at: datetime) -> str:
    """``at`` as the console shows times (ui.js ``when``), by the browser's own Intl."""
    return str(
        page.evaluate(
            """iso => new Intl.DateTimeFormat(navigator.language || "en",
                 {dateStyle: "medium", timeStyle: "short"}).format(new Date(iso))""",
            at.isoformat(),
        )
    )


def jobs(live: Live, status: str = "") -> list[dict[str, Any]]:
    """The tenant's bulk jobs (of ``status``), every page, newest first, as the API lists them."""
    found: list[dict[str, Any]] = []
    cursor = ""
    while True:
        query = f"limit=100{f'&status={status}' if status else ''}"
        page = api(live, "GET", f"{BULK}?{query}{f'&cursor={cursor}' if cursor else ''}")
        found += page["jobs"]
        if not page["next_cursor"]:
            return found
        cursor = page["next_cursor"]


def named(live: Live, name: str) -> list[dict[str, Any]]:
    return [j for j in jobs(live) if j["name"] == name]


def job(live: Live, job_id: str) -> dict[str, Any]:
    return dict(api(live, "GET", f"{BULK}/{job_id}"))


def csv(people: list[Person], *given: int) -> str:
    lines = [f"{p.email},{n},campaign thanks" for p, n in zip(people, given, strict=True)]
    return "person_id,points,memo\n" + "\n".join(lines) + "\n"


def upload(desk: Any, budget: str, name: str, start: str, text: str) -> Any:
    """The bulk form filled in and sent; the form."""
    form = desk.get_by_role("form", name="Upload a bulk job")
    form.get_by_label("From budget").fill(budget)
    form.get_by_label("Campaign name").fill(name)
    form.get_by_label("Start at").fill(start)
    form.get_by_label("CSV file").set_input_files(
        {"name": "campaign.csv", "mimeType": "text/csv", "buffer": text.encode()}
    )
    form.get_by_role("button", name="Start job").click()
    return form


def row(desk: Any, name: str) -> Any:
    listed = desk.get_by_role("table", name="Campaigns and bulk jobs")
    return listed.get_by_role("row").filter(has_text=name)


def scheduled_by_api(live: Live, budget: str, name: str, text: str, at: datetime) -> str:
    """A campaign made through the API (not the console): its id."""
    query = urlencode({"budget_id": budget, "name": name, "start_at": at.isoformat()})
    request = urllib.request.Request(
        f"{live.base}{BULK}?{query}",
        method="POST",
        data=text.encode(),
        headers={"Authorization": f"Bearer {live.demo['token']}", "Content-Type": "text/csv"},
    )
    with urllib.request.urlopen(request, timeout=30) as answer:
        made = json.loads(answer.read())
    assert made["status"] == "scheduled", made
    return str(made["id"])


def test_a_campaign_uploaded_here_waits_for_its_time_and_is_cancelled_here(
    desk: Any, live: Live
) -> None:
    budget = funded_budget(live, 10_000)
    people = [end_user(live) for _ in range(2)]
    name = f"Winter thanks {uuid.uuid4().hex[:6]}"
    start = in_an_hour()
    sign_in(desk, owner(live))
    go(desk, "Rewards")
    form = upload(desk, budget, name, typed(start), csv(people, 100, 200))
    form.get_by_role("status").get_by_text(f"scheduled for {shown(desk, start)}").wait_for()

    (made,) = named(live, name)
    assert (made["status"], made["budget_id"], made["total"], made["points"]) == (
        "scheduled",
        budget,
        2,
        300,
    )
    assert datetime.fromisoformat(made["start_at"]) == start  # the instant typed, to the minute
    assert made["done"] == 0
    listed = row(desk, name)
    listed.get_by_text("scheduled", exact=True).wait_for()
    assert rows(desk.get_by_role("table", name="Campaigns and bulk jobs"))[0][:6] == [
        f"{name}\n{made['id']}",  # newest first
        budget,
        "scheduled",
        shown(desk, start),
        "2",
        "300",
    ]

    asked: list[str] = []

    def not_sure(dialog: Any) -> None:
        asked.append(dialog.message)
        dialog.dismiss()

    desk.once("dialog", not_sure)
    listed.get_by_role("button", name=f"Cancel {name}").click()
    assert len(asked) == 1
    assert name in asked[0]
    assert job(live, made["id"])["status"] == "scheduled"  # not sure: nothing was done
    desk.once("dialog", lambda dialog: dialog.accept())
    listed.get_by_role("button", name=f"Cancel {name}").click()
    desk.get_by_role("status").get_by_text(f"{name} is cancelled").wait_for()
    listed.get_by_text("cancelled", exact=True).wait_for()
    assert listed.get_by_role("button").count() == 0  # nothing more to do with it
    assert job(live, made["id"])["status"] == "cancelled"
    assert balance(live, budget) == eur(10_000)
    assert [points(live, p) for p in people] == [0, 0]

    finder = desk.get_by_role("form", name="Find jobs")
    finder.get_by_label("Status").select_option("scheduled")
    finder.get_by_role("button", name="Show jobs").click()
    expect(finder.get_by_role("button", name="Show jobs")).to_be_enabled()  # loaded
    assert listed.count() == 0
    statuses = desk.locator(".pa-list .pa-status").all_inner_texts()
    assert set(statuses) <= {"scheduled"}
    finder.get_by_label("Status").select_option("cancelled")
    finder.get_by_role("button", name="Show jobs").click()
    listed.wait_for()


def test_a_scheduled_campaign_is_moved_then_started_now_here(desk: Any, live: Live) -> None:
    budget = funded_budget(live, 10_000)
    people = [end_user(live) for _ in range(2)]
    name = f"Spring bonus {uuid.uuid4().hex[:6]}"
    made = scheduled_by_api(live, budget, name, csv(people, 150, 250), in_an_hour())
    sign_in(desk, owner(live))
    go(desk, "Rewards")
    listed = row(desk, name)
    listed.get_by_role("button", name=f"Change start {name}").click()
    editor = listed.get_by_role("form", name=f"Change the start of {name}")
    later = in_an_hour() + timedelta(days=1, minutes=17)
    editor.get_by_label("New start").fill(typed(later))
    editor.get_by_role("button", name="Save").click()
    desk.get_by_role("status").get_by_text(f"{name} now starts {shown(desk, later)}").wait_for()
    moved = job(live, made)
    assert (moved["status"], datetime.fromisoformat(moved["start_at"])) == ("scheduled", later)
    listed.get_by_text(shown(desk, later)).wait_for()  # the row shows its new time
    assert balance(live, budget) == eur(10_000)

    desk.once("dialog", lambda dialog: dialog.accept())
    listed.get_by_role("button", name=f"Start now {name}").click()
    desk.get_by_role("status").get_by_text(f"{name} has started.").wait_for()
    desk.get_by_text("done: 2 of 2 rows done, 2 rewarded, 0 failed").wait_for(timeout=15_000)
    listed.get_by_text("done", exact=True).wait_for()  # the row follows it to its end
    ran = job(live, made)
    assert (ran["status"], ran["succeeded"], ran["failed"]) == ("done", 2, 0)
    assert datetime.fromisoformat(ran["start_at"]) < datetime.now(UTC)  # now, not its time
    assert balance(live, budget) == eur(10_000 - 400)  # a point costs a cent here
    assert [points(live, p) for p in people] == [150, 250]


def test_a_time_to_start_in_the_past_is_refused_and_starts_nothing(desk: Any, live: Live) -> None:
    budget = funded_budget(live, 10_000)
    people = [end_user(live)]
    name = f"Too late {uuid.uuid4().hex[:6]}"
    sign_in(desk, owner(live))
    go(desk, "Rewards")
    an_hour_ago = in_an_hour() - timedelta(hours=2)
    form = upload(desk, budget, name, typed(an_hour_ago), csv(people, 500))
    form.get_by_role("alert").get_by_text("start_at is in the past").wait_for()
    assert named(live, name) == []
    assert balance(live, budget) == eur(10_000)
    assert points(live, people[0]) == 0
    desk.get_by_role("table", name="Campaigns and bulk jobs").wait_for()
    assert row(desk, name).count() == 0


def test_jobs_are_listed_newest_first_page_by_page(desk: Any, live: Live) -> None:
    budget = funded_budget(live, 10_000)
    people = [end_user(live)]
    for n in range(3):
        scheduled_by_api(live, budget, f"Paged {n}", csv(people, 10), in_an_hour())
        time.sleep(0.01)  # distinct creation times
    desk.route(
        PAGED,
        lambda route: route.continue_(url=re.sub(r"limit=\d+", "limit=2", route.request.url)),
    )
    sign_in(desk, owner(live))
    go(desk, "Rewards")
    listed = desk.get_by_role("table", name="Campaigns and bulk jobs")
    listed.get_by_role("row").nth(2).wait_for()
    assert len(rows(listed)) == 2
    desk.get_by_role("button", name="Show older jobs").click()
    listed.get_by_role("row").nth(4).wait_for()
    everything = jobs(live)
    assert [r[0].split("\n")[-1] for r in rows(listed)] == [j["id"] for j in everything[:4]]
    assert [r[0].split("\n")[0] for r in rows(listed)][:3] == ["Paged 2", "Paged 1", "Paged 0"]
