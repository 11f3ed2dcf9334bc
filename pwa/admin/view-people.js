// People: who may sign in, with their roles and grants (docs/permissions.md); add a person,
// change roles or grants, disable or enable them. Only an owner touches an owner (the API
// says so when asked by anyone else).

import { field, fill, form, h, loadInto, option, section, table, uid, when } from "./ui.js";

const enc = encodeURIComponent;
export const ROLES = ["end_user", "programme_manager", "finance", "auditor", "admin", "owner"];

/** Role checkboxes; ``checked`` the roles ticked at first. */
export function roleBoxes(legend, roles, checked) {
  return h(
    "fieldset",
    { class: "pa-choices" },
    h("legend", {}, legend),
    roles.map((role) =>
      h("label", {}, h("input", { type: "checkbox", name: `role:${role}`, checked: checked.includes(role) }), ` ${role}`),
    ),
  );
}

export function ticked(values, prefix) {
  return Object.keys(values)
    .filter((k) => k.startsWith(prefix))
    .map((k) => k.slice(prefix.length));
}

/** "eng, sales" → ["budget:eng", "budget:sales"]; empty or "all" → [] (the whole tenant). */
export function grantsFrom(text) {
  const budgets = text.split(/[\s,]+/).filter(Boolean);
  if (budgets.length === 1 && budgets[0].toLowerCase() === "all") return [];
  return budgets.map((b) => (b.startsWith("budget:") ? b : `budget:${b}`));
}

/** Grants as people read them. */
export function grantsText(grants) {
  return grants.length ? grants.map((g) => g.replace(/^budget:/, "")).join(", ") : "whole tenant";
}

/** Rows drawn at once: a tenant of thousands is filtered, not scrolled. */
const SHOWN = 200;

export async function render(into, app) {
  const list = h("div", { class: "pa-list" });
  const filter = h("input", {
    type: "search",
    "aria-label": "Filter people",
    placeholder: "Filter by name, email, id or role",
  });
  let people = [];
  const draw = () => {
    const words = filter.value.trim().toLowerCase();
    const matching = words
      ? people.filter((p) => `${p.name} ${p.email} ${p.id} ${p.roles.join(" ")}`.toLowerCase().includes(words))
      : people;
    const note =
      matching.length > SHOWN
        ? h("p", { class: "pa-muted" }, `The first ${SHOWN} of ${matching.length} are shown: filter to find others.`)
        : null;
    return [
      note,
      table(
        "People",
        [
          { title: "Person", cell: (p) => h("span", {}, h("strong", {}, p.name), h("br"), p.email) },
          { title: "Id", cell: (p) => h("code", {}, p.id) },
          { title: "Roles", cell: (p) => p.roles.join(", ") },
          { title: "Acts on", cell: (p) => grantsText(p.grants) },
          { title: "Status", cell: (p) => p.status },
          { title: "Sign-in", cell: (p) => (p.has_password ? "password" : "single sign-on only") },
          { title: "Added", cell: (p) => when(p.created_at) },
        ],
        matching.slice(0, SHOWN),
        words ? "Nobody matches." : "Nobody yet.",
      ),
    ];
  };
  const load = async () => {
    people = (await app.api.get("/people")).people;
    return draw();
  };
  filter.addEventListener("input", () => fill(list, draw()));
  const changeForm = change(app, () => people, () => refresh());
  const refresh = async () => {
    await loadInto(list, load);
    changeForm.update();
  };
  fill(into, section("Everyone", filter, list), add(app, refresh), changeForm);
  await refresh();
}

function add(app, refresh) {
  return form(
    "Add a person",
    [
      field("Email", { name: "email", type: "email", required: true, autocomplete: "off" }),
      field("Name", { name: "name", required: true, maxlength: 200 }),
      field("Id", { name: "id", autocomplete: "off" }, "Leave empty to use the email."),
      roleBoxes("Roles", ROLES, ["end_user"]),
      field("Only these budgets", { name: "grants" }, "Budget ids, comma-separated; empty (or “all”) for the whole tenant."),
      field(
        "Password",
        { name: "password", type: "password", autocomplete: "new-password", minlength: 12 },
        "12 characters or more; leave empty for people who sign in with single sign-on.",
      ),
    ],
    "Add person",
    async (v) => {
      const email = v.email.trim();
      const body = {
        id: v.id.trim() || email,
        email,
        name: v.name.trim(),
        roles: ticked(v, "role:"),
        grants: grantsFrom(v.grants),
      };
      if (!body.roles.length) throw new Error("Tick at least one role.");
      if (v.password) body.password = v.password;
      const person = await app.api.post("/people", body);
      await refresh();
      return `${person.name} (${person.id}) added as ${person.roles.join(", ")}.`;
    },
  );
}

function change(app, people, refresh) {
  const listId = uid("people");
  const choose = field("Person", { name: "person", required: true, list: listId, autocomplete: "off" }, "Their id (or email): suggestions as you type.");
  const known = h("datalist", { id: listId });
  const el = form(
    "Change a person",
    [
      choose,
      known,
      roleBoxes("New roles (none ticked: keep them)", ROLES, []),
      field("Only these budgets", { name: "grants" }, "Budget ids, comma-separated; leave empty to keep them, “all” for the whole tenant."),
      field("Status", {
        tag: "select",
        name: "status",
        options: [option("", "keep"), option("active"), option("disabled", "disabled (cannot sign in)")],
      }),
    ],
    "Save person",
    async (v) => {
      const body = {};
      const roles = ticked(v, "role:");
      if (roles.length) body.roles = roles;
      const grants = v.grants.trim();
      if (grants) body.grants = grantsFrom(grants);
      if (v.status) body.status = v.status;
      const who = v.person.trim();
      const person = people().find((p) => p.id === who || p.email.toLowerCase() === who.toLowerCase());
      if (!person) throw new Error(`Nobody here has the id or email “${who}”.`);
      if (!Object.keys(body).length) throw new Error("Nothing to change.");
      const changed = await app.api.patch(`/people/${enc(person.id)}`, body);
      await refresh();
      return `${changed.id}: ${changed.roles.join(", ")}, ${changed.status}.`;
    },
  );
  el.update = () => {
    fill(known, people().slice(0, 1_000).map((p) => option(p.id, `${p.name} (${p.email})`)));
  };
  return el;
}
