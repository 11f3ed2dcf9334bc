// People: who may sign in, with their roles and grants (docs/permissions.md); add a person,
// change roles or grants, disable or enable them. Only an owner touches an owner (the API
// says so when asked by anyone else).

import { field, fill, form, h, loadInto, more, option, section, table, uid, when } from "./ui.js";

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

/** People asked for at once; a tenant of thousands is searched (by the API), not scrolled. */
const PAGE = 50;

export async function render(into, app) {
  const list = h("div", { class: "pa-list" });
  const filter = h("input", {
    type: "search",
    "aria-label": "Filter people",
    placeholder: "Search by name or email",
  });
  let people = [];
  const load = async (cursor) => {
    const words = filter.value.trim();
    const query = `limit=${PAGE}${words ? `&q=${enc(words)}` : ""}${cursor ? `&cursor=${enc(cursor)}` : ""}`;
    const page = await app.api.get(`/people?${query}`);
    people = cursor ? people.concat(page.people) : page.people;
    const next = more("Show more", list, page.next_cursor, load, () => changeForm.update());
    return [
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
        people,
        words ? "Nobody matches." : "Nobody yet.",
      ),
      next,
    ];
  };
  let typing = null;
  filter.addEventListener("input", () => {
    clearTimeout(typing); // one search when typing pauses, not one per key
    typing = setTimeout(() => refresh(), 250);
  });
  const changeForm = change(app, () => people, () => refresh());
  const refresh = async () => {
    await loadInto(list, () => load());
    changeForm.update();
  };
  fill(into, section("Everyone", filter, list), add(app, refresh), changeForm, sendLink(app, () => people));
  await refresh();
}

/** The person with this id or email: among those shown, else asked of the API. */
async function findPerson(app, shown, who) {
  const known = shown.find((p) => p.id === who || p.email.toLowerCase() === who.toLowerCase());
  if (known) return known;
  if (who.includes("@")) {
    const page = await app.api.get(`/people?limit=10&q=${enc(who)}`);
    const found = page.people.find((p) => p.email.toLowerCase() === who.toLowerCase() || p.id === who);
    if (found) return found;
  }
  try {
    return await app.api.get(`/people/${enc(who)}`);
  } catch (error) {
    if (error?.status === 404) return null;
    throw error;
  }
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
      const person = await findPerson(app, people(), who);
      if (!person) throw new Error(`Nobody here has the id or email “${who}”.`);
      if (!Object.keys(body).length) throw new Error("Nothing to change.");
      const changed = await app.api.patch(`/people/${enc(person.id)}`, body);
      await refresh();
      return `${changed.id}: ${changed.roles.join(", ")}, ${changed.status}.`;
    },
  );
  el.update = () => {
    fill(known, people().map((p) => option(p.id, `${p.name} (${p.email})`)));
  };
  return el;
}

/** An email with a link to choose a password (ADR 42): an invitation to someone with no
 * password yet, a reset to others. The API allows it where changing the person is. */
function sendLink(app, people) {
  const listId = uid("people");
  const known = h("datalist", { id: listId });
  const el = form(
    "Send a password link",
    [
      field("Person", { name: "person", required: true, list: listId, autocomplete: "off" }, "Their id or email. Someone without a password gets an invitation (the link works a week); others a reset link (an hour)."),
      known,
    ],
    "Email a link",
    async (v, _status, _el, once) => {
      const who = v.person.trim();
      const person = await findPerson(app, people(), who);
      if (!person) throw new Error(`Nobody here has the id or email “${who}”.`);
      const sent = await once((key) => app.api.post(`/people/${enc(person.id)}/password-reset`, undefined, { "Idempotency-Key": key }));
      const what = sent.kind === "invitation" ? "An invitation" : "A link to reset their password";
      return `${what} is on its way to ${sent.email}.`;
    },
  );
  el.addEventListener("focusin", () => fill(known, people().map((p) => option(p.id, `${p.name} (${p.email})`))));
  return el;
}
