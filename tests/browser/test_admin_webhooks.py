"""The admin console's webhooks view (ADR 36, 37) in real Chromium against ``perkbus up
--demo``, whose relay may send to the tests' receivers on 127.0.0.1 (conftest): an
endpoint made here gets events signed with the secret shown here once; its deliveries,
their attempts and redeliveries are shown as the API has them — checked through the API
and at a real receiver, not only on the page."""

from __future__ import annotations

import asyncio
import re
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import Future
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import pytest
from standardwebhooks.webhooks import Webhook, WebhookVerificationError

from tests.browser.conftest import Live
from tests.browser.pwa_support import bearer, call
from tests.browser.test_admin_console import ADMIN, go, nav, owner, sign_in, staff
from tests.webhook_receiver import Received, Receiver, receiver

pytestmark = [pytest.mark.browser, pytest.mark.slow]

EUR_0 = {"amount_minor": 0, "currency": "EUR"}
#: Long enough for the console to follow a delivery (it polls for 30 s at most).
DELIVERED_MS = 40_000


@dataclass
class Box:
    """A receiver running on an event loop of its own, in a thread: Playwright's sync API
    holds this thread's loop while a browser is open."""

    inner: Receiver
    loop: asyncio.AbstractEventLoop

    @property
    def url(self) -> str:
        return self.inner.url

    @property
    def received(self) -> list[Received]:
        return list(self.inner.received)

    def answer(self, *statuses: int) -> None:
        """The statuses of the next requests, in order (then 200)."""
        self.loop.call_soon_threadsafe(self.inner.statuses.extend, statuses)

    def wait_for(self, count: int) -> list[Received]:
        waiting = asyncio.run_coroutine_threadsafe(self.inner.wait_for(count, 20.0), self.loop)
        return waiting.result(30.0)


@contextmanager
def threaded_receiver() -> Iterator[Box]:
    started: Future[Box] = Future()
    stopping: Future[asyncio.Event] = Future()

    async def serve() -> None:
        stop = asyncio.Event()
        async with receiver() as inner:
            stopping.set_result(stop)
            started.set_result(Box(inner, asyncio.get_running_loop()))
            await stop.wait()

    thread = threading.Thread(target=asyncio.run, args=(serve(),), name="webhook-receiver")
    thread.start()
    try:
        box = started.result(10.0)
        yield box
    finally:
        if stopping.done():
            stop = stopping.result()
            box.loop.call_soon_threadsafe(stop.set)
        thread.join(10.0)


@pytest.fixture
def box() -> Iterator[Box]:
    with threaded_receiver() as running:
        yield running


def api(live: Live, method: str, path: str, body: object = None) -> tuple[int, Any]:
    """A request as the demo tenant's owner (its token)."""
    return call(live, method, path, body, live.demo["token"])


def hook_made_by_api(live: Live, url: str, **fields: object) -> dict[str, Any]:
    status, made = api(live, "POST", "/api/v1/webhooks", {"url": url, **fields})
    assert status == 201, made
    return dict(made)


def deliveries(live: Live, hook_id: str) -> list[dict[str, Any]]:
    status, page = api(live, "GET", f"/api/v1/webhooks/{hook_id}/deliveries")
    assert status == 200, page
    return list(page["deliveries"])


def deliveries_until(
    live: Live, hook_id: str, done: Callable[[list[dict[str, Any]]], bool]
) -> list[dict[str, Any]]:
    """The endpoint's deliveries once ``done`` holds of them (the relay fans events out
    as they arrive, and tries each at once)."""
    deadline = time.monotonic() + 20
    while True:
        found = deliveries(live, hook_id)
        if found and done(found):
            return found
        assert time.monotonic() < deadline, found
        time.sleep(0.2)


def open_hook(desk: Any, url: str) -> None:
    """The webhooks view, then the panel of the webhook to ``url``."""
    go(desk, "Webhooks")
    desk.get_by_role("button", name=f"Manage {url}", exact=True).click()
    desk.get_by_role("heading", level=2, name=f"Webhook to {url}").wait_for()


def test_a_webhook_made_here_shows_its_secret_once_and_signs_with_it(
    desk: Any, live: Live, box: Box
) -> None:
    sign_in(desk, owner(live))
    go(desk, "Webhooks")
    label = f"CRM sync {uuid.uuid4().hex[:6]}"
    form = desk.get_by_role("form", name="Add a webhook")
    form.get_by_label("URL").fill(box.url)
    form.get_by_label("Description").fill(label)
    form.get_by_label("all order events (perkbus.order.*)").check()
    form.get_by_label("perkbus.reward.issued", exact=True).check()
    assert form.get_by_label("only those ticked below").is_checked()
    assert form.get_by_label("perkbus.order.fulfilled", exact=True).is_disabled()  # covered
    form.get_by_role("button", name="Add webhook").click()
    shown = desk.get_by_label(re.compile("^Secret of "))
    shown.wait_for()
    secret = shown.input_value()
    hook_id = str(shown.get_attribute("aria-label")).removeprefix("Secret of ")
    form.get_by_text(f"The webhook to {box.url} is added (on): its id is {hook_id}.").wait_for()

    status, stored = api(live, "GET", f"/api/v1/webhooks/{hook_id}")
    assert status == 200, stored
    assert stored["url"] == box.url
    assert stored["description"] == label
    assert sorted(stored["event_types"]) == ["perkbus.order.*", "perkbus.reward.issued"]
    assert stored["enabled"] is True
    assert stored["secret"] is None  # shown once, in the answer that made it
    assert secret.startswith("whsec_")

    desk.reload()
    row = desk.get_by_role("row").filter(has_text=hook_id)
    row.get_by_text("perkbus.order.*, perkbus.reward.issued").wait_for()
    assert desk.get_by_label(re.compile("^Secret of ")).count() == 0  # never again

    open_hook(desk, box.url)
    desk.get_by_role("button", name="Send a test event").click()
    said = desk.get_by_text(re.compile(r"^Test event: Delivery \d+ delivered \(HTTP 200\)\.$"))
    said.wait_for(timeout=DELIVERED_MS)
    [got] = box.wait_for(1)
    event = Webhook(secret).verify(got.body, got.headers)  # the secret shown signs it
    assert event["type"] == "perkbus.webhook.test"
    assert event["data"]["endpoint_id"] == hook_id
    with pytest.raises(WebhookVerificationError):
        Webhook("whsec_" + "A" * 43 + "=").verify(got.body, got.headers)

    [delivery] = deliveries(live, hook_id)
    assert (delivery["status"], delivery["attempts"]) == ("delivered", 1)
    assert delivery["last_status_code"] == 200
    assert delivery["event_id"] == event["id"] == got.headers["webhook-id"]
    row = desk.get_by_role("table", name=f"Deliveries to {box.url}").get_by_role("row").nth(1)
    row.get_by_text("delivered", exact=True).wait_for()
    row.get_by_text("perkbus.webhook.test").wait_for()
    row.get_by_text("HTTP 200").wait_for()

    desk.get_by_role("button", name=f"Details of delivery {delivery['id']}").click()
    desk.get_by_role("heading", level=3, name=f"Delivery {delivery['id']}").wait_for()
    attempts = desk.get_by_role("table", name=f"Attempts of delivery {delivery['id']}")
    attempt = attempts.get_by_role("row").nth(1)
    attempt.get_by_role("cell", name="200", exact=True).wait_for()
    attempt.get_by_text("answered 200", exact=True).wait_for()
    sent = desk.get_by_label(f"Event of delivery {delivery['id']}")
    assert sent.evaluate("e => e.children.length") == 0  # text, never markup
    assert event["id"] in sent.inner_text()
    assert '"type": "perkbus.webhook.test"' in sent.inner_text()


def test_a_failed_delivery_shows_its_answers_and_is_sent_again(
    desk: Any, live: Live, box: Box
) -> None:
    hook = hook_made_by_api(live, box.url, event_types=["perkbus.budget.*"])
    box.answer(500)  # the event's first try fails: it waits for its next (in an hour)
    budget = {"id": f"b-{uuid.uuid4().hex[:6]}", "name": "Hooked", "initial": EUR_0}
    assert api(live, "POST", "/api/v1/budgets", budget)[0] == 201
    [delivery] = deliveries_until(live, hook["id"], lambda d: d[0]["attempts"] == 1)
    assert (delivery["status"], delivery["event_type"]) == ("pending", "perkbus.budget.created")
    assert delivery["last_status_code"] == 500
    assert delivery["next_attempt_at"] is not None
    number = delivery["id"]

    sign_in(desk, owner(live))
    open_hook(desk, box.url)
    table = desk.get_by_role("table", name=f"Deliveries to {box.url}")
    row = table.get_by_role("row").filter(has_text="perkbus.budget.created")
    row.get_by_text("pending", exact=True).wait_for()
    row.get_by_text("HTTP 500").wait_for()
    search = desk.get_by_role("form", name="Find deliveries")
    search.get_by_label("Status").select_option("delivered")
    search.get_by_role("button", name="Show deliveries").click()
    desk.get_by_text("No deliveries match.").wait_for()
    search.get_by_label("Status").select_option("pending")
    search.get_by_role("button", name="Show deliveries").click()
    row.get_by_text("pending", exact=True).wait_for()

    # a redelivery is one more try, now: answered 503, the delivery has failed
    box.answer(503)
    desk.get_by_role("button", name=f"Redeliver delivery {number}").click()
    desk.get_by_text(f"Delivery {number} failed (HTTP 503).").wait_for(timeout=DELIVERED_MS)
    [delivery] = deliveries(live, hook["id"])
    assert (delivery["status"], delivery["attempts"]) == ("failed", 2)

    search.get_by_label("Status").select_option("")
    search.get_by_role("button", name="Show deliveries").click()
    desk.get_by_role("button", name=f"Redeliver delivery {number}").click()
    desk.get_by_text(f"Delivery {number} delivered (HTTP 200).").wait_for(timeout=DELIVERED_MS)
    [delivery] = deliveries(live, hook["id"])
    assert (delivery["status"], delivery["attempts"]) == ("delivered", 3)
    got = box.wait_for(3)
    assert len(got) == 3
    assert {r.headers["webhook-id"] for r in got} == {delivery["event_id"]}  # one event

    desk.get_by_role("button", name=f"Details of delivery {number}").click()
    attempts = desk.get_by_role("table", name=f"Attempts of delivery {number}")
    attempts.wait_for()
    rows = attempts.get_by_role("row")
    assert rows.count() == 4  # + the header
    for n, code in enumerate(("500", "503", "200"), start=1):
        rows.nth(n).get_by_role("cell", name=code, exact=True).wait_for()
        rows.nth(n).get_by_text(f"answered {code}", exact=True).wait_for()
    status, detail = api(live, "GET", f"/api/v1/webhooks/{hook['id']}/deliveries/{number}")
    assert status == 200, detail
    assert [a["status_code"] for a in detail["attempts"]] == [500, 503, 200]
    assert (
        '"type": "perkbus.budget.created"'
        in desk.get_by_label(f"Event of delivery {number}").inner_text()
    )

    box.answer(502)  # a test event is tried once: refused, it has failed
    desk.get_by_role("button", name="Send a test event").click()
    failed = re.compile(r"^Test event: Delivery \d+ failed \(HTTP 502\)\.$")
    desk.get_by_text(failed).wait_for(timeout=DELIVERED_MS)
    latest = deliveries(live, hook["id"])[0]
    assert (latest["event_type"], latest["status"]) == ("perkbus.webhook.test", "failed")


def test_a_webhook_changed_rotated_turned_off_and_deleted_here(
    desk: Any, live: Live, box: Box
) -> None:
    hook = hook_made_by_api(live, box.url, description="before")
    first_secret = hook["secret"]
    sign_in(desk, owner(live))
    open_hook(desk, box.url)

    change = desk.get_by_role("form", name="Change this webhook")
    assert change.get_by_label("every event").is_checked()
    markup = "<b>payroll</b> <img src=x onerror=alert(1)>"
    change.get_by_label("Description").fill(markup)
    change.get_by_label("all budget events (perkbus.budget.*)").check()
    change.get_by_role("button", name="Save changes").click()
    desk.get_by_text(f"The webhook to {box.url} is saved: perkbus.budget.*.").wait_for()
    stored = api(live, "GET", f"/api/v1/webhooks/{hook['id']}")[1]
    assert stored["description"] == markup
    assert stored["event_types"] == ["perkbus.budget.*"]
    row = desk.get_by_role("row").filter(has_text=hook["id"])
    row.get_by_text(markup).wait_for()  # as text: no element made of it
    assert desk.locator(".pa-main b, .pa-main img").count() == 0

    rotate = desk.get_by_role("form", name="Rotate the secret")
    rotate.get_by_label("The old secret goes on signing").select_option(label="1 hour")
    desk.once("dialog", lambda dialog: dialog.accept())
    rotate.get_by_role("button", name="Rotate secret").click()
    shown = desk.get_by_label(f"Secret of {hook['id']}")
    shown.wait_for()
    new_secret = shown.input_value()
    assert new_secret != first_secret
    desk.get_by_text("The old secret goes on signing until").wait_for()
    stored = api(live, "GET", f"/api/v1/webhooks/{hook['id']}")[1]
    assert stored["old_secret_expires_at"] is not None
    desk.get_by_role("button", name="Send a test event").click()
    desk.get_by_text(re.compile(r"^Test event: Delivery \d+ delivered")).wait_for(
        timeout=DELIVERED_MS
    )
    [got] = box.wait_for(1)
    Webhook(new_secret).verify(got.body, got.headers)  # both sign, for an hour
    Webhook(first_secret).verify(got.body, got.headers)

    desk.get_by_role("button", name="Turn off", exact=True).click()
    desk.get_by_text(f"The webhook to {box.url} is off").wait_for()
    assert api(live, "GET", f"/api/v1/webhooks/{hook['id']}")[1]["enabled"] is False
    desk.get_by_role("button", name="Send a test event").click()  # refused, and says why
    desk.get_by_role("alert").get_by_text("disabled").wait_for()
    desk.get_by_role("button", name="Turn on", exact=True).click()
    desk.get_by_text(f"The webhook to {box.url} is on").wait_for()
    assert api(live, "GET", f"/api/v1/webhooks/{hook['id']}")[1]["enabled"] is True

    desk.once("dialog", lambda dialog: dialog.dismiss())  # not yet
    desk.get_by_role("button", name="Delete", exact=True).click()
    assert api(live, "GET", f"/api/v1/webhooks/{hook['id']}")[0] == 200
    desk.once("dialog", lambda dialog: dialog.accept())
    desk.get_by_role("button", name="Delete", exact=True).click()
    desk.get_by_text(f"The webhook to {box.url} is deleted.").wait_for()
    assert api(live, "GET", f"/api/v1/webhooks/{hook['id']}")[0] == 404
    assert desk.get_by_role("button", name=f"Manage {box.url}", exact=True).count() == 0


def test_a_webhook_is_made_once_even_when_its_answer_is_lost(desk: Any, live: Live) -> None:
    url = f"https://hooks-{uuid.uuid4().hex[:8]}.example/perkbus"
    keys: list[str] = []

    def lose_the_first_answer(route: Any) -> None:
        if route.request.method != "POST":
            route.continue_()
            return
        keys.append(route.request.headers["idempotency-key"])
        if len(keys) == 1:
            route.fetch()  # the server makes it…
            route.abort()  # …and its answer never arrives
        else:
            route.continue_()

    sign_in(desk, owner(live))
    go(desk, "Webhooks")
    desk.route("**/api/v1/webhooks", lose_the_first_answer)
    form = desk.get_by_role("form", name="Add a webhook")
    form.get_by_label("URL").fill(url)
    form.get_by_role("button", name="Add webhook").click()
    form.get_by_text("No answer from the server").wait_for()
    form.get_by_role("button", name="Add webhook").click()  # again: the same key
    form.get_by_text("the answer with its secret was lost on the way").wait_for()
    assert len(keys) == 2
    assert keys[0] == keys[1]
    made = [w for w in api(live, "GET", "/api/v1/webhooks")[1]["webhooks"] if w["url"] == url]
    assert len(made) == 1  # once
    # the secret went with the lost answer: the server keeps no reply that holds one
    assert desk.get_by_label(f"Secret of {made[0]['id']}").count() == 0
    assert made[0]["event_types"] == []  # every event
    desk.get_by_role("row").filter(has_text=made[0]["id"]).get_by_text("all events").wait_for()


def test_only_whole_tenant_webhook_admins_see_the_view(desk: Any, live: Live) -> None:
    auditor = staff(live, ["auditor"])
    sign_in(desk, auditor)
    assert "Webhooks" not in nav(desk)
    desk.goto(f"{ADMIN}#/webhooks")  # not theirs: the first view they may use is shown
    desk.get_by_role("heading", level=1, name="Budgets").wait_for()
    assert call(live, "GET", "/api/v1/webhooks", token=bearer(live, auditor))[0] == 403
    desk.get_by_role("button", name="Sign out").click()

    narrowed = staff(live, ["admin"], [f"budget:{live.demo['budget_id']}"])
    sign_in(desk, narrowed)
    assert "Webhooks" not in nav(desk)  # webhooks carry the whole tenant's events
    desk.goto(f"{ADMIN}#/webhooks")
    desk.get_by_role("heading", level=1, name="Budgets").wait_for()
    assert call(live, "GET", "/api/v1/webhooks", token=bearer(live, narrowed))[0] == 403
    desk.get_by_role("button", name="Sign out").click()

    sign_in(desk, owner(live))
    assert "Webhooks" in nav(desk)
