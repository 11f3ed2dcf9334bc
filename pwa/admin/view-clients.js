// API clients: the tenant's systems (an HRIS, a CRM) that call perkbus with OAuth2 client
// credentials (ADR 14). A secret is shown once, when the client is made or its secret is
// rotated, and never again; revoking a client ends its tokens.

import { field, fill, form, h, loadInto, notice, section, table, when } from "./ui.js";
import { grantsFrom, grantsText, roleBoxes, ticked } from "./view-people.js";

const enc = encodeURIComponent;
const CLIENT_ROLES = ["integrator", "programme_manager", "finance", "auditor"];
/** What an integrator usually needs: issue rewards, order, read what it did, follow events. */
const USUAL_SCOPES = ["budgets:read", "catalogue:read", "events:read", "orders:read", "orders:write", "rewards:issue"];

export async function render(into, app) {
  const list = h("div", { class: "pa-list" });
  const secret = h("div", { class: "pa-secret", "aria-live": "polite" });
  const status = notice();
  const refresh = () => loadInto(list, load);
  const load = async () => {
    const { clients } = await app.api.get("/clients");
    return table(
      "API clients",
      [
        { title: "Client", cell: (c) => h("span", {}, h("strong", {}, c.name), h("br"), h("code", {}, c.id)) },
        { title: "Roles", cell: (c) => c.roles.join(", ") },
        { title: "Scopes", cell: (c) => c.scopes.join(" ") },
        { title: "Acts on", cell: (c) => grantsText(c.grants) },
        { title: "Status", cell: (c) => c.status },
        { title: "Made", cell: (c) => when(c.created_at) },
        { title: "Actions", cell: (c) => (c.status === "active" ? actions(app, c, status, secret, refresh) : "") },
      ],
      clients,
      "No API clients yet.",
    );
  };
  fill(into, secret, status, section("Clients", list), create(app, secret, refresh));
  await refresh();
}

/** The one time a secret is shown: with a button to copy it, and a warning. */
function showSecret(into, client, secretText) {
  into.dataset.client = client.id;
  const value = h("input", { type: "text", readonly: true, value: secretText, "aria-label": `Secret of ${client.id}` });
  fill(
    into,
    h(
      "div",
      { class: "pa-notice pa-ok", role: "status" },
      h("p", {}, h("strong", {}, `The secret of ${client.name} (client id ${client.id})`), " — copy it now: it is not shown again."),
      value,
      " ",
      h(
        "button",
        {
          type: "button",
          onclick: async () => {
            value.select();
            try {
              await navigator.clipboard.writeText(secretText);
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

function actions(app, client, status, secret, refresh) {
  const act = (label, question, run) =>
    h(
      "button",
      {
        type: "button",
        "aria-label": `${label} ${client.name}`,
        onclick: async (event) => {
          if (!confirm(question)) return;
          const button = event.currentTarget;
          button.disabled = true;
          try {
            await run();
            await refresh();
          } catch (error) {
            status.fail(error);
          } finally {
            button.disabled = false;
          }
        },
      },
      label,
    );
  return h(
    "div",
    { class: "pa-row-actions" },
    act("Rotate secret", `Give ${client.name} a new secret? The old one stops working at once.`, async () => {
      const rotated = await app.api.post(`/clients/${enc(client.id)}/secret`);
      showSecret(secret, rotated, rotated.client_secret);
      status.ok(`${client.name} has a new secret.`);
    }),
    act("Revoke", `Revoke ${client.name}? Its tokens stop working at once, for good.`, async () => {
      await app.api.delete(`/clients/${enc(client.id)}`);
      if (secret.dataset.client === client.id) fill(secret); // its secret is dead now
      status.ok(`${client.name} is revoked.`);
    }),
  );
}

function create(app, secret, refresh) {
  const scopes = h(
    "fieldset",
    { class: "pa-choices" },
    h("legend", {}, "Scopes its tokens may carry"),
    app.me.permissions.map((scope) =>
      h("label", {}, h("input", { type: "checkbox", name: `scope:${scope}`, checked: USUAL_SCOPES.includes(scope) }), ` ${scope}`),
    ),
  );
  return form(
    "Make an API client",
    [
      field("Name", { name: "name", required: true, maxlength: 100 }, "The system it is for, e.g. “Workday”."),
      roleBoxes("Roles", CLIENT_ROLES, ["integrator"]),
      scopes,
      field("Only these budgets", { name: "grants" }, "Budget ids, comma-separated; empty for the whole tenant."),
    ],
    "Make client",
    async (v, _status, _el, once) => {
      const body = { name: v.name.trim(), roles: ticked(v, "role:"), scopes: ticked(v, "scope:"), grants: grantsFrom(v.grants) };
      if (!body.roles.length) throw new Error("Tick at least one role.");
      if (!body.scopes.length) throw new Error("Tick at least one scope.");
      const client = await once((key) => app.api.post("/clients", body, { "Idempotency-Key": key }));
      showSecret(secret, client, client.client_secret);
      await refresh();
      return `${client.name} is made: its id is ${client.id}.`;
    },
    "console-client",
  );
}
