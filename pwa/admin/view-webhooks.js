// Webhooks (ADR 37): the addresses perkbus sends the tenant's events to, each request
// signed with the endpoint's secret (Standard Webhooks). The secret is shown once, when
// the endpoint is made or its secret rotated, and never again. A webhook carries the
// whole tenant's events, so staff narrowed to some budgets do not see this view.

import { ApiError } from "/app/api.js";
import { WriteKey, field, fill, form, h, keyed, loadInto, notice, option, section, table, when } from "./ui.js";
import { deliveries, follow, outcome } from "./webhook-deliveries.js";
import { eventTypes, sameTypes, typePicker, typesText } from "./webhook-types.js";

const enc = encodeURIComponent;
/** How long the old secret goes on signing beside the new one after a rotation. */
const KEEP_OLD = [
  ["0", "stops now"],
  ["3600", "1 hour"],
  ["86400", "1 day"],
  ["604800", "7 days"],
];
const URL_HINT = "Where events are sent: an https address that answers POST requests.";

export async function render(into, app) {
  const secret = h("div", { class: "pa-secret", "aria-live": "polite" });
  const status = notice();
  const list = h("div", { class: "pa-list" });
  const panel = h("div", { class: "pa-webhook" });
  let groups = [];
  let typesFailed = "";
  try {
    groups = await eventTypes(app);
  } catch (error) {
    typesFailed = error.message || String(error);
  }
  const page = { app, secret, status, panel, groups, typesFailed, keys: new Map() };

  const load = async () => {
    const { webhooks } = await app.api.get("/webhooks");
    return table(
      "Webhooks",
      [
        {
          title: "Endpoint",
          cell: (w) =>
            h("span", {}, h("code", {}, w.url), w.description ? [h("br"), w.description] : null, h("br"), h("small", { class: "pa-muted" }, w.id)),
        },
        { title: "Events", cell: (w) => typesText(w) },
        { title: "Enabled", cell: (w) => onOff(w) },
        { title: "Made", cell: (w) => when(w.created_at) },
        {
          title: "Actions",
          cell: (w) => h("button", { type: "button", "aria-label": `Manage ${w.url}`, onclick: () => page.open(w.id) }, "Manage"),
        },
      ],
      webhooks,
      "No webhooks yet.",
    );
  };
  page.refresh = () => loadInto(list, load);
  page.open = (id) => openEndpoint(page, id);
  page.close = () => {
    delete panel.dataset.webhook;
    fill(panel);
  };
  // what an action did is said just above the endpoint's panel, where it was asked for
  fill(into, secret, section("Endpoints", list), status, panel, create(page));
  await page.refresh();
}

function onOff(w) {
  const state = h("span", { class: `pa-status pa-status-${w.enabled ? "on" : "off"}` }, w.enabled ? "on" : "off");
  if (w.enabled || w.disabled_reason !== "failing") return state;
  // turned off by perkbus: say why, so that someone fixes the receiver and turns it on
  return h("span", {}, state, ` — failing: turned off ${when(w.disabled_at)} after every retry failed`);
}

/** The one time a secret is shown: with a button to copy it, and a warning. */
function showSecret(into, webhook, note) {
  into.dataset.webhook = webhook.id;
  const value = h("input", { type: "text", readonly: true, value: webhook.secret, "aria-label": `Secret of ${webhook.id}` });
  fill(
    into,
    h(
      "div",
      { class: "pa-notice pa-ok", role: "status" },
      h(
        "p",
        {},
        h("strong", {}, `The signing secret of the webhook to ${webhook.url}`),
        " — copy it now and keep it where the receiver checks signatures: it is not shown again.",
      ),
      note ? h("p", {}, note) : null,
      value,
      " ",
      h(
        "button",
        {
          type: "button",
          onclick: async () => {
            value.select();
            try {
              await navigator.clipboard.writeText(webhook.secret);
            } catch {
              document.execCommand("copy");
            }
          },
        },
        "Copy",
      ),
      " ",
      h("button", { type: "button", onclick: () => fill(into) }, "I have kept it"),
    ),
  );
  value.focus();
}

function create(page) {
  const picker = typePicker(page.groups, [], page.typesFailed);
  return form(
    "Add a webhook",
    [
      field("URL", { name: "url", type: "url", required: true, maxlength: 2000, autocomplete: "off" }, URL_HINT),
      field("Description", { name: "description", maxlength: 200 }, "What receives it, e.g. “CRM sync”."),
      picker,
      h("label", { class: "pa-check" }, h("input", { type: "checkbox", name: "enabled", checked: true }), " Send events to it now"),
    ],
    "Add webhook",
    async (v, _status, _el, once) => {
      const body = {
        url: v.url.trim(),
        description: (v.description || "").trim(),
        event_types: picker.chosen(),
        enabled: v.enabled === "on",
      };
      let made;
      try {
        made = await once((key) => page.app.api.post("/webhooks", body, { "Idempotency-Key": key }));
      } catch (error) {
        // a retry of a create whose answer was lost: made, but the secret went with the
        // answer (the server never keeps a reply that holds one)
        if (!(error instanceof ApiError && error.status === 409 && error.body?.code === "already_exists")) throw error;
        await page.refresh();
        return "The webhook is added, but the answer with its secret was lost on the way: open it (Manage) and rotate its secret to get one.";
      }
      showSecret(page.secret, made);
      await page.refresh();
      return `The webhook to ${made.url} is added (${made.enabled ? "on" : "off"}): its id is ${made.id}.`;
    },
    "console-webhook",
  );
}

/** The panel of one endpoint: what it is, its actions, its settings, its deliveries. */
async function openEndpoint(page, id) {
  const { app, panel } = page;
  panel.dataset.webhook = id;
  let sent = null;
  await loadInto(panel, async () => {
    const w = await app.api.get(`/webhooks/${enc(id)}`);
    sent = deliveries(app, w);
    const view = section(
      `Webhook to ${w.url}`,
      h(
        "p",
        {},
        onOff(w),
        " · ",
        h("code", {}, w.id),
        ` · ${typesText(w)}`,
        ` · made ${when(w.created_at)} · changed ${when(w.updated_at)}`,
        w.old_secret_expires_at ? ` · the old secret signs too until ${when(w.old_secret_expires_at)}` : "",
      ),
      w.description ? h("p", { class: "pa-muted" }, w.description) : null,
      actions(page, w, sent),
      edit(page, w),
      rotate(page, w),
      sent.element,
    );
    view.classList.add("pa-detail");
    return view;
  });
  if (!sent) return; // refused: the panel says why
  const heading = panel.querySelector("h2");
  heading.setAttribute("tabindex", "-1");
  heading.focus();
  await sent.refresh();
}

/** A button that writes once per click: its key outlives a lost answer (ui.WriteKey). */
function writeButton(page, w, label, name, run, question) {
  return h(
    "button",
    {
      type: "button",
      onclick: async (event) => {
        if (question && !confirm(question)) return;
        const button = event.currentTarget;
        const slot = `${w.id}:${name}`;
        if (!page.keys.has(slot)) page.keys.set(slot, new WriteKey(`console-webhook-${name}`));
        button.disabled = true;
        page.status.busy(`${label}…`);
        try {
          page.status.ok(await run((write) => keyed(page.keys.get(slot), write)));
        } catch (error) {
          page.status.fail(error);
        } finally {
          button.disabled = false;
          page.status.focus(); // the panel may be gone: what happened is said here
        }
      },
    },
    label,
  );
}

function actions(page, w, sent) {
  const { app } = page;
  const path = `/webhooks/${enc(w.id)}`;
  const turn = w.enabled ? "Turn off" : "Turn on";
  return h(
    "div",
    { class: "pa-row-actions" },
    writeButton(page, w, "Send a test event", "test", async (once) => {
      const delivery = await once((key) => app.api.post(`${path}/test`, undefined, { "Idempotency-Key": key }));
      page.status.busy(`Test event sent as delivery ${delivery.id}: waiting for the answer…`);
      await sent.refresh();
      const done = await follow(app, w.id, delivery.id, delivery.attempts);
      await sent.refresh();
      return `Test event: ${outcome(done)}`;
    }),
    writeButton(page, w, turn, w.enabled ? "off" : "on", async (once) => {
      const body = { enabled: !w.enabled };
      const changed = await once((key) => app.api.patch(path, body, { "Idempotency-Key": key }));
      await Promise.all([page.refresh(), page.open(w.id)]);
      return changed.enabled
        ? `The webhook to ${w.url} is on: new events are sent to it.`
        : `The webhook to ${w.url} is off: no events are sent to it, and those waiting are cancelled.`;
    }),
    writeButton(
      page,
      w,
      "Delete",
      "delete",
      async (once) => {
        await once((key) => app.api.delete(path, { "Idempotency-Key": key }));
        if (page.secret.dataset.webhook === w.id) fill(page.secret); // its secret is dead now
        page.close();
        await page.refresh();
        return `The webhook to ${w.url} is deleted.`;
      },
      `Delete the webhook to ${w.url}? No more events are sent to it, and those waiting are cancelled.`,
    ),
    h("button", { type: "button", onclick: page.close }, "Close this webhook"),
  );
}

function edit(page, w) {
  const picker = typePicker(page.groups, w.event_types, page.typesFailed);
  return form(
    "Change this webhook",
    [
      field("URL", { name: "url", type: "url", required: true, maxlength: 2000, autocomplete: "off", value: w.url }, URL_HINT),
      field("Description", { name: "description", maxlength: 200, value: w.description }),
      picker,
    ],
    "Save changes",
    async (v, _status, _el, once) => {
      // only what changed: event types sent again would be set again, by this session
      // (and with them which private events it gets)
      const body = {};
      const url = v.url.trim();
      const description = (v.description || "").trim();
      const types = picker.chosen();
      if (url !== w.url) body.url = url;
      if (description !== w.description) body.description = description;
      if (!sameTypes(types, w.event_types)) body.event_types = types;
      if (!Object.keys(body).length) return "Nothing to change.";
      const changed = await once((key) => page.app.api.patch(`/webhooks/${enc(w.id)}`, body, { "Idempotency-Key": key }));
      await Promise.all([page.refresh(), page.open(w.id)]);
      page.status.ok(`The webhook to ${changed.url} is saved: ${typesText(changed)}.`);
      return false;
    },
    "console-webhook-edit",
  );
}

function rotate(page, w) {
  return form(
    "Rotate the secret",
    [
      field(
        "The old secret goes on signing",
        { tag: "select", name: "keep_old_s", options: KEEP_OLD.map(([s, text]) => option(s, text, s === "86400")) },
        "Meanwhile each request carries both signatures, so the receiver can change over.",
      ),
    ],
    "Rotate secret",
    async (v, _status, _el, once) => {
      if (!confirm(`Give the webhook to ${w.url} a new secret?`)) return false;
      const body = { keep_old_s: Number(v.keep_old_s) };
      const rotated = await once((key) => page.app.api.post(`/webhooks/${enc(w.id)}/secret`, body, { "Idempotency-Key": key }));
      const note = rotated.old_secret_expires_at
        ? `The old secret goes on signing until ${when(rotated.old_secret_expires_at)}.`
        : "The old secret no longer signs.";
      showSecret(page.secret, rotated, note);
      await page.open(w.id);
      page.status.ok(`The webhook to ${w.url} has a new secret.`);
      page.secret.querySelector("input")?.focus();
      return false;
    },
    "console-webhook-rotate",
  );
}
