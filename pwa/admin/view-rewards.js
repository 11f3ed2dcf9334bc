// Rewards: give points to one person from a budget, or to many at once from a CSV file
// (person_id,points[,memo]) as a bulk job, followed until it ends, with its per-row result.
// A bulk job may have a name and a time to start (a campaign, ADR 39): it then waits as
// "scheduled", and until it starts it may be moved to another time, started now or
// cancelled from the list of the tenant's jobs.
//
// A reward is a write a person asks for once: its Idempotency-Key (ui.WriteKey) stays the
// same until the server gives a definite answer, so a click again after a lost or late
// answer cannot reward twice; a new one once it answered, or once the form is changed.
//
// Times to start are typed in the browser's own time zone (datetime-local) and sent as
// RFC 3339 in UTC: the API refuses a time without its offset.

import {
  csvField,
  csvText,
  download,
  field,
  fieldError,
  fill,
  form,
  h,
  loadInto,
  money,
  more,
  notice,
  number,
  option,
  section,
  table,
  toCount,
  when,
  within,
} from "./ui.js";

const enc = encodeURIComponent;
const POLL_MS = 1_000;
const JOBS_PAGE = 20;
const STATUSES = [
  ["scheduled", "Scheduled"],
  ["running", "Running"],
  ["done", "Done"],
  ["cancelled", "Cancelled"],
];
/** The browser's time zone, named in the hints of the fields that take a time. */
const ZONE = Intl.DateTimeFormat().resolvedOptions().timeZone;
const ZONE_NAME = ZONE ? ` (${ZONE})` : "";

export async function render(into, app) {
  const parts = [section("Reward one person", single(app))];
  let jobs = null;
  if (app.can("rewards:bulk")) {
    // the job's bar and counts are not a live region (refilled every second, a screen
    // reader would say them all again each time): its own line says the start, each
    // quarter and the end
    const progress = h("div", { class: "pa-job" });
    progress.said = h("p", { class: "pa-visually-hidden", role: "status", "aria-live": "polite" });
    jobs = campaigns(app, progress);
    parts.push(
      section("Reward many people from a CSV file", bulk(app, jobs, progress), progress, progress.said),
      section("Campaigns and bulk jobs", jobs.element),
    );
  }
  fill(into, parts);
  if (jobs) await jobs.refresh();
}

function single(app) {
  return form(
    "Issue a reward",
    [
      field("Person id", { name: "person", "data-pointer": "person_id", required: true, autocomplete: "off" }, "Their id in perkbus, e.g. their email."),
      field("From budget", { name: "budget", "data-pointer": "budget_id", required: true }),
      field("Points", { name: "points", required: true, inputmode: "numeric" }),
      field("Message", { name: "memo", maxlength: 200 }, "Shown to them with the reward."),
    ],
    "Issue reward",
    async (v, _status, _el, once) => {
      const points = within("points", () => toCount(v.points, "Points"));
      if (points < 1) throw fieldError("points", "Points must be at least 1.");
      const body = { budget_id: v.budget.trim(), person_id: v.person.trim(), points };
      if (v.memo.trim()) body.memo = v.memo.trim();
      const reward = await once((key) => app.api.post("/rewards", body, { "Idempotency-Key": key }));
      return (
        `${number(points)} points given to ${body.person_id} (they hold ${number(reward.wallet_points_after)});` +
        ` ${money(reward.cost)} from ${body.budget_id}, which holds ${money(reward.budget_balance_after)}.`
      );
    },
    "console-reward",
  );
}

/** A datetime-local value, a time in the browser's zone, as RFC 3339 in UTC ("" if none). */
function startAt(typed) {
  if (!typed) return "";
  const at = new Date(typed); // a date and time without an offset is read as local time
  if (Number.isNaN(at.getTime())) throw new Error(`“${typed}” is not a date and time.`);
  return at.toISOString();
}

/** An RFC 3339 time as a datetime-local value, in the browser's zone. */
function localInput(iso) {
  if (!iso) return "";
  const at = new Date(iso);
  const two = (n) => String(n).padStart(2, "0");
  return (
    `${at.getFullYear()}-${two(at.getMonth() + 1)}-${two(at.getDate())}` +
    `T${two(at.getHours())}:${two(at.getMinutes())}`
  );
}

/** How a job is called in lists and messages: its name, or its id. */
function jobLabel(job) {
  return job.name || job.id;
}

/** A job as a heading or the subject of a sentence. */
function jobTitle(job) {
  return job.name ? `${job.name} (${job.id})` : `Job ${job.id}`;
}

function bulk(app, jobs, progress) {
  return form(
    "Upload a bulk job",
    [
      field("From budget", { name: "budget", required: true }),
      field(
        "Campaign name",
        { name: "name", maxlength: 120, autocomplete: "off" },
        "Optional: how the job is listed, e.g. Winter thanks.",
      ),
      field(
        "Start at",
        { name: "start_at", type: "datetime-local" },
        `Optional, in your time zone${ZONE_NAME}. Empty: the job starts now.`,
      ),
      csvField("A header row person_id,points (and optionally memo), then one row per person; up to 100,000 rows."),
    ],
    "Start job",
    async (v, _status, _el, once) => {
      const text = await csvText(v);
      const query = new URLSearchParams({ budget_id: v.budget.trim() });
      if (v.name.trim()) query.set("name", v.name.trim());
      const at = startAt(v.start_at);
      if (at) query.set("start_at", at);
      const path = `/rewards/bulk?${query}`;
      const job = await once((key) => app.api.csv("POST", path, text, { "Idempotency-Key": key }));
      await jobs.refresh();
      if (job.status === "scheduled") {
        fill(progress); // nothing to follow until it starts
        return `${jobTitle(job)} scheduled for ${when(job.start_at)} with ${number(job.total)} rows (${number(job.points)} points).`;
      }
      jobs.follow(job);
      return `${jobTitle(job)} started with ${number(job.total)} rows.`;
    },
    "console-bulk",
  );
}

/** The tenant's bulk jobs, newest first, a page at a time, with what can be done to each. */
function campaigns(app, progress) {
  const list = h("div", { class: "pa-list" });
  const status = notice();
  const page = { app, list, status, shown: [], filter: "" };

  const load = async (cursor) => {
    const query = new URLSearchParams({ limit: String(JOBS_PAGE) });
    if (page.filter) query.set("status", page.filter);
    if (cursor) query.set("cursor", cursor);
    const got = await app.api.get(`/rewards/bulk?${query}`);
    page.shown = cursor ? page.shown.concat(got.jobs) : got.jobs;
    return [jobTable(page, page.shown), more("Show older jobs", list, got.next_cursor, load)];
  };
  page.refresh = () => loadInto(list, () => load());
  /** A job's row shows it as it is now (the rows around it are left alone, and with
   * them whatever someone is typing there). */
  page.update = (job) => {
    const at = page.shown.findIndex((j) => j.id === job.id);
    const row = at < 0 ? null : list.querySelectorAll("tbody > tr")[at];
    if (!row) return;
    page.shown[at] = job;
    row.replaceWith(jobTable(page, [job]).querySelector("tbody > tr"));
  };
  page.follow = (job, focus = false) => follow(app, job, progress, page.update, focus);

  const find = form(
    "Find jobs",
    [
      field("Status", {
        tag: "select",
        name: "status",
        options: [option("", "All", true), STATUSES.map(([value, text]) => option(value, text))],
      }),
    ],
    "Show jobs",
    async (v) => {
      page.filter = v.status;
      await page.refresh();
      return false;
    },
  );
  page.element = h("div", {}, find, status, list);
  return page;
}

function jobTable(page, jobs) {
  return table(
    "Campaigns and bulk jobs",
    [
      {
        title: "Job",
        cell: (j) => (j.name ? h("span", {}, h("strong", {}, j.name), h("br"), h("code", {}, j.id)) : h("code", {}, j.id)),
      },
      { title: "Budget", cell: (j) => h("code", {}, j.budget_id) },
      { title: "Status", cell: (j) => h("span", { class: `pa-status pa-status-${j.status}` }, j.status) },
      { title: "Starts", cell: (j) => when(j.start_at) },
      { title: "Rows", numeric: true, cell: (j) => number(j.total) },
      { title: "Points", numeric: true, cell: (j) => number(j.points) },
      {
        title: "Progress",
        cell: (j) => `${number(j.done)} of ${number(j.total)} done: ${number(j.succeeded)} rewarded, ${number(j.failed)} failed`,
      },
      { title: "Actions", cell: (j) => jobActions(page, j) },
    ],
    jobs,
    page.filter ? `No ${page.filter} jobs.` : "No bulk jobs yet.",
  );
}

/** A scheduled job is moved, started now or cancelled; one that ran is followed. */
function jobActions(page, job) {
  const label = jobLabel(job);
  const path = `/rewards/bulk/${enc(job.id)}`;
  const el = h("div", { class: "pa-row-actions" });
  const act = (text, question, run) =>
    h(
      "button",
      {
        type: "button",
        "aria-label": `${text} ${label}`,
        onclick: async (event) => {
          if (question && !confirm(question)) return;
          await change(page, job, event.currentTarget, text, run);
        },
      },
      text,
    );
  const rows = `${number(job.total)} rows`;
  const buttons = () => {
    if (job.status === "scheduled") {
      const edit = () => fill(el, reschedule(page, job, path, close));
      return [
        h("button", { type: "button", "aria-label": `Change start ${label}`, onclick: edit }, "Change start"),
        act("Start now", `Start ${label} now? Its ${rows} are rewarded from ${job.budget_id} at once; it can no longer be cancelled.`, async () => {
          const started = await page.app.api.patch(path, { start_at: null });
          page.follow(started);
          return { job: started, text: `${label} has started.` };
        }),
        act("Cancel", `Cancel ${label}? None of its ${rows} will be rewarded, and it cannot be started again.`, async () => {
          const cancelled = await page.app.api.post(`${path}/cancel`);
          return { job: cancelled, text: `${label} is cancelled: none of its rows will be rewarded.` };
        }),
      ];
    }
    if (job.status === "running" || job.status === "done") {
      const text = job.status === "done" ? "Results" : "Progress";
      return h("button", { type: "button", "aria-label": `${text} ${label}`, onclick: () => page.follow(job, true) }, text);
    }
    return null;
  };
  const close = () => {
    fill(el, buttons());
    el.querySelector("button")?.focus(); // back to "Change start", where the person was
  };
  fill(el, buttons());
  return el;
}

/** A change to a job (``run()`` gives the job after it and what to say), said in the
 * list's notice; its row then shows the job as it is. A refused change is looked up again:
 * the job may have started or been cancelled in the meantime. */
async function change(page, job, button, text, run) {
  button.disabled = true;
  page.status.busy(`${text}…`);
  let after = null;
  try {
    const done = await run();
    after = done.job;
    page.status.ok(done.text);
  } catch (error) {
    page.status.fail(error);
    try {
      const now = await page.app.api.get(`/rewards/bulk/${enc(job.id)}`);
      if (now.status !== job.status) after = now;
    } catch {
      // the row stays as it was; the notice says what went wrong
    }
  } finally {
    button.disabled = false;
  }
  if (after) {
    page.update(after);
    page.status.focus(); // the row's buttons were replaced: what happened is said here
  }
}

/** A job's time to start, moved: a form in its row. */
function reschedule(page, job, path, close) {
  const label = jobLabel(job);
  const choose = field(
    "New start",
    { name: "start_at", type: "datetime-local", required: true, value: localInput(job.start_at) },
    `In your time zone${ZONE_NAME}.`,
  );
  const input = choose.querySelector("input");
  const save = h("button", { type: "submit", class: "pa-primary" }, "Save");
  const editor = h(
    "form",
    {
      class: "pa-inline-form",
      "aria-label": `Change the start of ${label}`,
      novalidate: true,
      onsubmit: async (event) => {
        event.preventDefault();
        if (!input.value) {
          input.reportValidity();
          return;
        }
        await change(page, job, save, "Saving", async () => {
          const moved = await page.app.api.patch(path, { start_at: startAt(input.value) });
          return { job: moved, text: `${label} now starts ${when(moved.start_at)}.` };
        });
      },
    },
    choose,
    h("div", { class: "pa-row-actions" }, save, h("button", { type: "button", onclick: close }, "Keep the time")),
  );
  queueMicrotask(() => input.focus());
  return editor;
}

/** A job's progress in ``into`` until it ends, then its per-row results to download.
 * ``changed(job)`` hears of each change of its status. */
function follow(app, job, into, changed = () => {}, focus = false) {
  const status = notice();
  const bar = h("progress", { max: String(job.total || 1), value: String(job.done) });
  const line = h("p", {});
  const results = h("div", {});
  const heading = h("h3", { tabindex: "-1" }, jobTitle(job));
  fill(into, heading, bar, line, status, results);
  if (focus) heading.focus();
  const show = (j) => {
    bar.value = j.done;
    fill(
      line,
      `${j.status}: ${number(j.done)} of ${number(j.total)} rows done, ${number(j.succeeded)} rewarded, ${number(j.failed)} failed`,
      ` (updated ${when(j.updated_at)})`,
    );
  };
  show(job);
  // loading and running jobs move on by themselves; scheduled ones wait for their time
  const moving = (j) => j.status === "loading" || j.status === "running";
  const quarter = (j) => (j.total ? Math.floor((4 * j.done) / j.total) : 0);
  const say = (text) => {
    if (into.said) into.said.textContent = text;
  };
  say(`${jobTitle(job)}: ${job.status}, ${number(job.done)} of ${number(job.total)} rows done.`);
  let said = quarter(job);
  const tick = async () => {
    if (!bar.isConnected) return; // the person left the view, or follows another job
    const before = job.status;
    try {
      job = await app.api.get(`/rewards/bulk/${enc(job.id)}`);
      status.clear();
    } catch (error) {
      status.fail(error);
    }
    show(job);
    if (job.status !== before) changed(job);
    if (moving(job)) {
      if (quarter(job) > said && quarter(job) < 4) {
        said = quarter(job);
        say(`${jobTitle(job)}: ${said * 25}% done.`);
      }
      setTimeout(tick, POLL_MS);
      return;
    }
    if (job.status !== before || moving({ status: before })) {
      say(
        `${jobTitle(job)} ${job.status}: ${number(job.succeeded)} rewarded, ${number(job.failed)} failed` +
          ` of ${number(job.total)} rows.`,
      );
    }
    if (job.status !== "done") return;
    fill(
      results,
      h(
        "button",
        {
          type: "button",
          onclick: async () => {
            try {
              download(`bulk-${job.id}-results.csv`, await app.api.text(`/rewards/bulk/${enc(job.id)}/results`));
            } catch (error) {
              status.fail(error);
            }
          },
        },
        "Download the results (CSV)",
      ),
    );
  };
  if (moving(job)) setTimeout(tick, POLL_MS);
  else tick();
}
