// Rewards: give points to one person from a budget, or to many at once from a CSV file
// (person_id,points[,memo]) as a bulk job, followed until it ends, with its per-row result.
//
// A reward is a write a person asks for once: its Idempotency-Key (ui.WriteKey) stays the
// same until the server gives a definite answer, so a click again after a lost or late
// answer cannot reward twice; a new one once it answered, or once the form is changed.

import { csvField, csvText, download, field, fill, form, h, money, notice, number, section, toCount, when } from "./ui.js";

const enc = encodeURIComponent;
const POLL_MS = 1_000;

export async function render(into, app) {
  const parts = [section("Reward one person", single(app))];
  if (app.can("rewards:bulk")) parts.push(section("Reward many people from a CSV file", bulk(app)));
  fill(into, parts);
}

function single(app) {
  return form(
    "Issue a reward",
    [
      field("Person id", { name: "person", required: true, autocomplete: "off" }, "Their id in perkbus, e.g. their email."),
      field("From budget", { name: "budget", required: true }),
      field("Points", { name: "points", required: true, inputmode: "numeric" }),
      field("Message", { name: "memo", maxlength: 200 }, "Shown to them with the reward."),
    ],
    "Issue reward",
    async (v, _status, _el, once) => {
      const points = toCount(v.points, "Points");
      if (points < 1) throw new Error("Points must be at least 1.");
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

function bulk(app) {
  const progress = h("div", { class: "pa-job", "aria-live": "polite" });
  const el = form(
    "Upload a bulk job",
    [
      field("From budget", { name: "budget", required: true }),
      csvField("A header row person_id,points (and optionally memo), then one row per person; up to 100,000 rows."),
    ],
    "Start job",
    async (v, _status, _el, once) => {
      const text = await csvText(v);
      const path = `/rewards/bulk?budget_id=${enc(v.budget.trim())}`;
      const job = await once((key) => app.api.csv("POST", path, text, { "Idempotency-Key": key }));
      follow(app, job, progress);
      return `Job ${job.id} started with ${number(job.total)} rows.`;
    },
    "console-bulk",
  );
  return h("div", {}, el, progress);
}

function follow(app, job, into) {
  const status = notice();
  const bar = h("progress", { max: String(job.total || 1), value: String(job.done) });
  const line = h("p", {});
  const results = h("div", {});
  fill(into, h("h3", {}, `Job ${job.id}`), bar, line, status, results);
  const show = (j) => {
    bar.value = j.done;
    fill(
      line,
      `${j.status}: ${number(j.done)} of ${number(j.total)} rows done, ${number(j.succeeded)} rewarded, ${number(j.failed)} failed`,
      ` (updated ${when(j.updated_at)})`,
    );
  };
  show(job);
  const finished = (j) => j.status !== "pending" && j.status !== "running";
  const tick = async () => {
    if (!into.isConnected) return; // the person left the view
    try {
      job = await app.api.get(`/rewards/bulk/${enc(job.id)}`);
      status.clear();
    } catch (error) {
      status.fail(error);
    }
    show(job);
    if (!finished(job)) {
      setTimeout(tick, POLL_MS);
      return;
    }
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
  if (finished(job)) tick();
  else setTimeout(tick, POLL_MS);
}
