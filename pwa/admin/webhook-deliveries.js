// One webhook's deliveries, newest first, by status, a page at a time: each with its
// event type, status, attempts and last answer; a delivery's detail shows every attempt
// and the event as sent (JSON as text, never markup). A delivery can be sent again.

import { WriteKey, field, fill, form, h, keyed, loadInto, notice, number, option, section, table, when } from "./ui.js";

const enc = encodeURIComponent;
const STATUSES = ["pending", "delivered", "failed", "cancelled"];
const PAGE = "20";
/** How long the console follows a delivery it asked for (a test, a redelivery). */
const FOLLOW_TRIES = 30;
const FOLLOW_EVERY_MS = 1000;

/** What the endpoint last answered: its status code (the error then only restates it),
 * or why there was none (no connection, no answer in time, an address refused). */
export function lastAnswer(d) {
  if (d.last_status_code) return `HTTP ${d.last_status_code}`;
  return d.last_error || (d.attempts ? "no answer" : "not tried yet");
}

export function statusBadge(status) {
  return h("span", { class: `pa-status pa-status-${status}` }, status);
}

/**
 * Polls a delivery until it has more than ``attemptsBefore`` attempts or is no longer
 * pending: the delivery then, or the last one read when the console stops waiting.
 */
export async function follow(app, webhookId, deliveryId, attemptsBefore) {
  let last = null;
  for (let n = 0; n < FOLLOW_TRIES; n += 1) {
    const { delivery } = await app.api.get(`/webhooks/${enc(webhookId)}/deliveries/${enc(deliveryId)}`);
    last = delivery;
    if (delivery.attempts > attemptsBefore || delivery.status !== "pending") return delivery;
    await new Promise((resolve) => setTimeout(resolve, FOLLOW_EVERY_MS));
  }
  return last;
}

/** How a delivery the console followed went, in a line. */
export function outcome(d) {
  if (d.status === "delivered") return `Delivery ${d.id} delivered (${lastAnswer(d)}).`;
  if (d.status === "pending" && d.attempts) {
    return `Delivery ${d.id} not delivered yet (${lastAnswer(d)}); next try ${when(d.next_attempt_at)}.`;
  }
  if (d.status === "pending") return `Delivery ${d.id} is waiting to be sent; refresh the deliveries to see it go.`;
  return `Delivery ${d.id} ${d.status} (${lastAnswer(d)}).`;
}

/**
 * The deliveries of ``webhook``: ``{element, refresh, open(id)}``. Redelivery keys are
 * kept per delivery until the server answers (one click, one redelivery).
 */
export function deliveries(app, webhook) {
  const base = `/webhooks/${enc(webhook.id)}/deliveries`;
  const list = h("div", { class: "pa-list" });
  const detail = h("div", { class: "pa-delivery", "aria-live": "polite" });
  const status = notice();
  const keys = new Map();
  const filters = { status: "" };

  const redeliver = async (d, button) => {
    if (!keys.has(d.id)) keys.set(d.id, new WriteKey("console-webhook-redeliver"));
    button.disabled = true;
    status.busy(`Sending delivery ${d.id} again…`);
    try {
      const again = await keyed(keys.get(d.id), (key) => app.api.post(`${base}/${enc(d.id)}/redeliver`, undefined, { "Idempotency-Key": key }));
      status.busy(`Delivery ${d.id} is being sent again…`);
      await refresh();
      const done = await follow(app, webhook.id, d.id, again.attempts);
      status.ok(outcome(done));
      await refresh();
      if (detail.dataset.delivery === String(d.id)) await open(d.id);
    } catch (error) {
      status.fail(error);
    } finally {
      button.disabled = false;
    }
  };
  const redeliverButton = (d) =>
    h(
      "button",
      { type: "button", "aria-label": `Redeliver delivery ${d.id}`, onclick: (e) => redeliver(d, e.currentTarget) },
      "Redeliver",
    );

  const columns = [
    { title: "Made", cell: (d) => when(d.created_at) },
    { title: "Delivery", cell: (d) => h("code", {}, String(d.id)) },
    { title: "Event type", cell: (d) => h("code", {}, d.event_type) },
    { title: "Status", cell: (d) => statusBadge(d.status) },
    { title: "Attempts", numeric: true, cell: (d) => number(d.attempts) },
    { title: "Last answer", cell: (d) => lastAnswer(d) },
    { title: "Last try", cell: (d) => when(d.last_attempt_at) },
    { title: "Next try", cell: (d) => (d.status === "pending" ? when(d.next_attempt_at) : "") },
    {
      title: "Actions",
      cell: (d) =>
        h(
          "div",
          { class: "pa-row-actions" },
          h("button", { type: "button", "aria-label": `Details of delivery ${d.id}`, onclick: () => open(d.id) }, "Details"),
          redeliverButton(d),
        ),
    },
  ];

  const load = async (cursor, earlier) => {
    const query = new URLSearchParams({ limit: PAGE });
    if (filters.status) query.set("status", filters.status);
    if (cursor) query.set("cursor", cursor);
    const page = await app.api.get(`${base}?${query}`);
    const shown = (earlier || []).concat(page.deliveries);
    const more = page.next_cursor
      ? h("button", { type: "button", onclick: () => loadInto(list, () => load(page.next_cursor, shown)) }, "Show older deliveries")
      : null;
    return [table(`Deliveries to ${webhook.url}`, columns, shown, "No deliveries match."), more];
  };
  const refresh = () => loadInto(list, () => load());

  const open = async (id) => {
    detail.dataset.delivery = String(id);
    await loadInto(detail, async () => {
      const found = await app.api.get(`${base}/${enc(id)}`);
      return deliveryDetail(found, redeliverButton(found.delivery), () => {
        delete detail.dataset.delivery;
        fill(detail);
      });
    });
    detail.querySelector("h3")?.focus();
  };

  const search = form(
    "Find deliveries",
    [
      field("Status", {
        tag: "select",
        name: "status",
        options: [option("", "any status", true), STATUSES.map((s) => option(s, s))],
      }),
    ],
    "Show deliveries",
    async (v) => {
      filters.status = v.status;
      await refresh();
      return false;
    },
  );
  const element = section("Deliveries", search, status, list, detail);
  return { element, refresh, open, status };
}

function deliveryDetail(found, redeliverButton, close) {
  const d = found.delivery;
  const attempts = table(
    `Attempts of delivery ${d.id}`,
    [
      { title: "#", numeric: true, cell: (a) => number(a.n) },
      { title: "Time", cell: (a) => when(a.at) },
      { title: "Status code", cell: (a) => (a.status_code ? String(a.status_code) : "none") },
      { title: "Duration", numeric: true, cell: (a) => `${number(a.duration_ms)} ms` },
      { title: "Error", cell: (a) => a.error },
      { title: "Response", cell: (a) => (a.response ? h("pre", {}, a.response) : "") },
    ],
    found.attempts,
    "Not tried yet.",
  );
  return h(
    "div",
    { class: "pa-detail" },
    h("h3", { tabindex: "-1" }, `Delivery ${d.id}`),
    h(
      "p",
      {},
      statusBadge(d.status),
      ` · ${d.event_type} · event `,
      h("code", {}, d.event_id),
      ` · made ${when(d.created_at)}`,
      d.status === "pending" && d.next_attempt_at ? ` · next try ${when(d.next_attempt_at)}` : "",
    ),
    h("div", { class: "pa-row-actions" }, redeliverButton, h("button", { type: "button", onclick: close }, "Close this delivery")),
    h("h4", {}, "Attempts"),
    attempts,
    h("h4", {}, "The event as sent"),
    // JSON as text: whatever the event holds is never read as markup
    h("pre", { class: "pa-json", "aria-label": `Event of delivery ${d.id}`, tabindex: "0" }, found.event === null
      ? "Not shown: events about people and API clients show only to those who may read them."
      : JSON.stringify(found.event, null, 2)),
  );
}
