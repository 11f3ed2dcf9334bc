"""Campaigns over REST and GraphQL: bulk jobs with a name and a time to start, that wait
for it, can be moved or cancelled until then, and are listed in pages (ADR 39)."""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest

from tests.conftest import Cluster
from tests.integration.api import BudgetApi, GraphQL, Rest
from tests.support import outbox_drained

#: Above the ledger (the listing and the due jobs are held equal on both ledgers by the
#: contract suite): SQLite only (ADR 30).
pytestmark = pytest.mark.ledgers("sqlite")

CSV = "person_id,points,memo\nann,300,thanks\nbob,400,\n"
BULK = "/api/v1/rewards/bulk"


@pytest.fixture(params=["rest", "graphql"])
def api(request: pytest.FixtureRequest, cluster: Cluster) -> BudgetApi:
    return Rest(cluster.client) if request.param == "rest" else GraphQL(cluster.client)


def at(delta: timedelta) -> str:
    """A time to start, this far from now, as RFC 3339 in UTC with ``Z``."""
    return (datetime.now(UTC) + delta).isoformat(timespec="seconds").replace("+00:00", "Z")


def ms(text: str) -> int:
    return int(datetime.fromisoformat(text).timestamp() * 1000)


async def until(api: BudgetApi, headers: dict[str, str], job_id: str, status: str) -> Any:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        job = (await api.bulk_job(headers, job_id)).value
        assert job is not None
        if job["status"] == status:
            return job
        await asyncio.sleep(0.1)
    raise AssertionError(f"job {job_id} never became {status}")


async def test_a_campaign_waits_for_its_time_then_runs(api: BudgetApi, cluster: Cluster) -> None:
    acme = cluster.keys.headers("acme")
    await cluster.open_budget("acme", "b1", 1_000)
    start = at(timedelta(seconds=3))
    job = (await api.bulk_start(acme, "b1", CSV, name="Winter thanks", start_at=start)).value
    assert job is not None
    assert (job["status"], job["name"], job["points"], job["done"]) == (
        "scheduled",
        "Winter thanks",
        700,
        0,
    )
    assert ms(job["start_at"]) == ms(start)
    await asyncio.sleep(1)  # the host looks twice a second: nothing is spent before its time
    waiting = (await api.bulk_job(acme, job["id"])).value
    assert waiting is not None
    assert waiting["status"] == "scheduled"
    assert await cluster.ledger.account_balance("acme", "budget:b1") == 1_000
    done = await until(api, acme, job["id"], "done")
    assert time.time() * 1000 >= ms(start)
    assert (done["succeeded"], done["failed"]) == (2, 0)
    assert await cluster.ledger.account_balance("acme", "budget:b1") == 300
    assert await cluster.ledger.account_balance("acme", "wallet:bob") == 400


async def test_until_it_starts_a_campaign_is_moved_or_cancelled(
    api: BudgetApi, cluster: Cluster
) -> None:
    acme = cluster.keys.headers("acme")
    await cluster.open_budget("acme", "b1", 1_000)
    job = (await api.bulk_start(acme, "b1", CSV, start_at=at(timedelta(hours=1)))).value
    assert job is not None
    later = at(timedelta(hours=2))
    moved = (await api.bulk_reschedule(acme, job["id"], later)).value
    assert moved is not None
    assert (moved["status"], ms(moved["start_at"])) == ("scheduled", ms(later))
    cancelled = (await api.bulk_cancel(acme, job["id"])).value
    assert cancelled is not None
    assert cancelled["status"] == "cancelled"
    again = (await api.bulk_cancel(acme, job["id"])).value  # cancelled twice: as it is
    assert again is not None
    assert again["status"] == "cancelled"
    assert (await api.bulk_reschedule(acme, job["id"], None)).code == "invalid_request"
    await asyncio.sleep(1)
    assert ((await api.bulk_job(acme, job["id"])).value or {})["status"] == "cancelled"
    assert await cluster.ledger.account_balance("acme", "budget:b1") == 1_000
    assert [r[3] for r in await api.bulk_rows(acme, job["id"])] == ["pending", "pending"]
    assert (await api.bulk_cancel(acme, "bulk_nope")).code == "not_found"


async def test_moved_to_now_a_campaign_starts_and_can_no_longer_be_cancelled(
    api: BudgetApi, cluster: Cluster
) -> None:
    acme = cluster.keys.headers("acme")
    await cluster.open_budget("acme", "b1", 1_000)
    job = (await api.bulk_start(acme, "b1", CSV, start_at=at(timedelta(days=30)))).value
    assert job is not None
    started = (await api.bulk_reschedule(acme, job["id"], None)).value
    assert started is not None
    assert started["status"] in ("running", "done")
    assert abs(ms(started["start_at"]) - time.time() * 1000) < 60_000
    await until(api, acme, job["id"], "done")
    assert await cluster.ledger.account_balance("acme", "budget:b1") == 300
    assert (await api.bulk_cancel(acme, job["id"])).code == "invalid_request"
    assert (await api.bulk_reschedule(acme, job["id"], at(timedelta(hours=1)))).code == (
        "invalid_request"
    )


async def test_jobs_are_listed_newest_first_in_pages(api: BudgetApi, cluster: Cluster) -> None:
    acme = cluster.keys.headers("acme")
    await cluster.open_budget("acme", "b1", 10_000)
    now_job = (await api.bulk_start(acme, "b1", CSV, name="now")).value
    assert now_job is not None
    ids = [now_job["id"]]
    for n in (1, 2):
        await asyncio.sleep(0.01)  # distinct creation times
        job = (
            await api.bulk_start(acme, "b1", CSV, name=f"later {n}", start_at=at(timedelta(days=n)))
        ).value
        assert job is not None
        ids.append(job["id"])
    first = (await api.bulk_jobs(acme, limit=2)).value
    assert first is not None
    assert [j["id"] for j in first["jobs"]] == ids[::-1][:2]
    assert first["next_cursor"]
    rest = (await api.bulk_jobs(acme, limit=2, cursor=first["next_cursor"])).value
    assert rest is not None
    assert ([j["id"] for j in rest["jobs"]], rest["next_cursor"]) == ([ids[0]], None)
    assert rest["jobs"][0]["name"] == "now"
    scheduled = (await api.bulk_jobs(acme, status="scheduled")).value
    assert scheduled is not None
    assert [j["name"] for j in scheduled["jobs"]] == ["later 2", "later 1"]
    assert (await api.bulk_jobs(acme, cursor="not-a-cursor")).code == "invalid_request"
    assert (await api.bulk_jobs(acme, status="paused")).code == "invalid_request"
    other = (await api.bulk_jobs(cluster.keys.headers("globex"))).value
    assert other == {"jobs": [], "next_cursor": None}


async def test_bad_times_and_names_change_nothing(api: BudgetApi, cluster: Cluster) -> None:
    acme = cluster.keys.headers("acme")
    await cluster.open_budget("acme", "b1", 1_000)
    for start_at in (
        at(timedelta(hours=-1)),  # a likely mistake: a job that starts spends
        at(timedelta(days=400)),
        "2026-12-01",  # no time
        "2026-12-01T09:00:00",  # no offset
        "tomorrow",
        "9" * 41,
        "",
        # ISO 8601 that is not RFC 3339
        at(timedelta(hours=1)).replace("-", "").replace(":", ""),
        at(timedelta(hours=1))[:16] + "Z",  # no seconds
        at(timedelta(hours=1)).replace("Z", "+01"),
        at(timedelta(hours=1)).replace("Z", "+00:00:30"),
        at(timedelta(hours=1))[:11] + "23:59:60Z",  # a leap second
        at(timedelta(days=1))[:8] + "32" + at(timedelta(days=1))[10:],  # no such day
    ):
        outcome = await api.bulk_start(acme, "b1", CSV, start_at=start_at)
        assert outcome.code == "invalid_request", start_at
    for name in ("bell\x07", "two\nlines", "forged\r\n=HYPERLINK(1)"):
        assert (await api.bulk_start(acme, "b1", CSV, name=name)).code == "invalid_request"
    assert (await api.bulk_start(acme, "b1", CSV, name="n" * 121)).code == "invalid_request"
    assert (await api.bulk_jobs(acme)).value == {"jobs": [], "next_cursor": None}
    job = (await api.bulk_start(acme, "b1", CSV, start_at=at(timedelta(hours=1)))).value
    assert job is not None
    for bad in ("yesterday", ""):  # an empty time is not "now": null is
        assert (await api.bulk_reschedule(acme, job["id"], bad)).code == "invalid_request"
    assert ((await api.bulk_job(acme, job["id"])).value or {})["start_at"] == job["start_at"]
    # a few minutes behind is now (a clock a little slow, a form sent late)
    slow = (await api.bulk_start(acme, "b1", CSV, start_at=at(timedelta(minutes=-2)))).value
    assert slow is not None
    assert slow["status"] in ("running", "done")


async def test_time_and_name_errors_point_at_their_field(cluster: Cluster) -> None:
    acme = {**cluster.keys.headers("acme"), "Content-Type": "text/csv"}
    await cluster.open_budget("acme", "b1", 1_000)
    for params, pointer in (
        ({"budget_id": "b1", "start_at": "soon"}, "#/start_at"),
        ({"budget_id": "b1", "name": "\x00"}, "#/name"),
    ):
        async with cluster.client.post(BULK, params=params, data=CSV, headers=acme) as r:
            assert r.status == 422
            assert r.content_type == "application/problem+json"
            assert (await r.json())["errors"][0]["pointer"] == pointer
    patch = {"Content-Type": "application/json", **cluster.keys.headers("acme")}
    async with cluster.client.patch(f"{BULK}/x", json={"when": 1}, headers=patch) as r:
        assert r.status == 422  # an unknown field


async def test_narrowed_operators_see_and_change_their_budgets_jobs_only(
    cluster: Cluster,
) -> None:
    api = Rest(cluster.client)
    acme = cluster.keys.headers("acme")
    for budget in ("b1", "b2"):
        await cluster.open_budget("acme", budget, 1_000)
    later = at(timedelta(hours=1))
    mine = (await api.bulk_start(acme, "b1", CSV, name="mine", start_at=later)).value
    theirs = (await api.bulk_start(acme, "b2", CSV, name="theirs", start_at=later)).value
    assert mine is not None
    assert theirs is not None
    narrowed = cluster.keys.headers(
        "acme", roles=["programme_manager"], subject="pm@acme", grants=["budget:b1"]
    )
    listed = (await api.bulk_jobs(narrowed)).value
    assert listed is not None
    assert [j["name"] for j in listed["jobs"]] == ["mine"]
    assert (await api.bulk_cancel(narrowed, theirs["id"])).code == "not_found"
    assert (await api.bulk_reschedule(narrowed, theirs["id"], None)).code == "not_found"
    assert ((await api.bulk_job(acme, theirs["id"])).value or {})["status"] == "scheduled"
    assert ((await api.bulk_cancel(narrowed, mine["id"])).value or {})["status"] == "cancelled"
    auditor = cluster.keys.headers("acme", roles=["auditor"], scopes=["audit:read"])
    assert (await api.bulk_jobs(auditor)).code == "forbidden"
    async with cluster.client.get("/api/v1/audit?limit=100", headers=acme) as r:
        entries = (await r.json())["entries"]
    actions = {(e["action"], e["target"], e["actor"]) for e in entries}
    assert ("bulk.cancel", mine["id"], "pm@acme") in actions
    assert ("bulk.start", theirs["id"], "user@acme") in actions


async def test_integrators_are_told_when_a_campaign_is_scheduled_starts_ends_or_is_cancelled(
    cluster: Cluster,
) -> None:
    api = Rest(cluster.client)
    acme = cluster.keys.headers("acme")
    await cluster.open_budget("acme", "b1", 500)
    ran = (
        await api.bulk_start(acme, "b1", CSV, name="Spring", start_at=at(timedelta(hours=1)))
    ).value
    dropped = (
        await api.bulk_start(acme, "b1", CSV, name="Dropped", start_at=at(timedelta(hours=1)))
    ).value
    assert ran is not None
    assert dropped is not None
    await api.bulk_reschedule(acme, ran["id"], None)
    await until(api, acme, ran["id"], "done")
    await api.bulk_cancel(acme, dropped["id"])
    await outbox_drained(cluster.ledger)
    async with cluster.client.get("/api/v1/events", params={"limit": "100"}, headers=acme) as r:
        events = [e for e in (await r.json())["events"] if e["type"].startswith("perkbus.bulk.")]
    told = [(e["type"].removeprefix("perkbus.bulk."), e["subject"]) for e in events]
    assert told == [
        ("scheduled", f"bulk/{ran['id']}"),
        ("scheduled", f"bulk/{dropped['id']}"),
        ("started", f"bulk/{ran['id']}"),
        ("finished", f"bulk/{ran['id']}"),
        ("cancelled", f"bulk/{dropped['id']}"),
    ]
    finished = events[3]["data"]
    # 500 points' worth: ann's 300 are issued, bob's 400 no longer fit
    assert {
        k: finished[k] for k in ("name", "status", "total", "succeeded", "failed", "points")
    } == {
        "name": "Spring",
        "status": "done",
        "total": 2,
        "succeeded": 1,
        "failed": 1,
        "points": 700,
    }
    assert events[4]["data"]["status"] == "cancelled"
    async with cluster.client.get(
        "/api/v1/events/schemas/perkbus.bulk.finished", headers=acme
    ) as r:
        schema = await r.json()
    assert set(schema["$defs"]["BulkEvent"]["required"]) <= set(finished)


async def test_rfc_3339_in_its_other_spellings_is_taken(api: BudgetApi, cluster: Cluster) -> None:
    acme = cluster.keys.headers("acme")
    await cluster.open_budget("acme", "b1", 1_000)
    start = datetime.now(UTC).replace(microsecond=0) + timedelta(hours=3)
    for spelled in (
        start.strftime("%Y-%m-%dt%H:%M:%S.250z"),  # lower case, a fraction
        start.astimezone(timezone(timedelta(hours=-5, minutes=-30))).isoformat(),
        start.strftime("%Y-%m-%d %H:%M:%S+00:00"),  # a space, as RFC 3339's note allows
    ):
        job = (await api.bulk_start(acme, "b1", CSV, start_at=spelled)).value
        assert job is not None, spelled
        assert job["status"] == "scheduled"
        assert ms(job["start_at"]) - int(start.timestamp() * 1000) in (0, 250), spelled


async def test_a_campaign_upload_retried_after_its_time_is_the_same_job(
    api: BudgetApi, cluster: Cluster
) -> None:
    """Found by review: the time was made "now" once it had come, and the job's id was
    made from it, so a retry after the time made a second job that paid again."""
    acme = cluster.keys.headers("acme")
    await cluster.open_budget("acme", "b1", 10_000)
    start = at(timedelta(seconds=1))
    first = (await api.bulk_start(acme, "b1", CSV, key="camp-1", name="Now", start_at=start)).value
    assert first is not None
    await until(api, acme, first["id"], "done")
    again = (await api.bulk_start(acme, "b1", CSV, key="camp-1", name="Now", start_at=start)).value
    assert again is not None
    assert again["id"] == first["id"]
    await asyncio.sleep(1)
    assert await cluster.ledger.account_balance("acme", "budget:b1") == 10_000 - 700
    listed = (await api.bulk_jobs(acme)).value
    assert listed is not None
    assert [j["id"] for j in listed["jobs"]] == [first["id"]]
    # starting it now, asked again once it has started, answers the job as it is
    done = (await api.bulk_reschedule(acme, first["id"], None)).value
    assert done is not None
    assert done["status"] == "done"
