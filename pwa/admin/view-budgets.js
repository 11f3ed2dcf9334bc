// Budgets: every budget the session may read (staff with grants see theirs), with what
// it holds; open one, change its settings, and fund it from one of the tenant's funding
// accounts (whose deposits and history are in the Funding view).

import { field, fill, form, h, loadInto, money, more, option, section, table, toMinor } from "./ui.js";
import { accountOption, everyPage } from "./view-funding.js";

const enc = encodeURIComponent;

export async function render(into, app) {
  const list = h("div", { class: "pa-list" });
  const parts = [section("All budgets", list)];
  let shown = [];

  const load = async (cursor) => {
    const page = await app.api.get(`/budgets?limit=50${cursor ? `&cursor=${enc(cursor)}` : ""}`);
    shown = cursor ? shown.concat(page.budgets) : page.budgets;
    // the budgets just shown can be changed too
    const next = more("Show more", list, page.next_cursor, load, () => settingsForm?.update());
    return [
      table(
        "Budgets",
        [
          { title: "Budget", cell: (b) => h("span", {}, h("strong", {}, b.name), h("br"), h("code", {}, b.id)) },
          { title: "Balance", numeric: true, cell: (b) => money(b.balance) },
          { title: "Held by orders", numeric: true, cell: (b) => money(b.held) },
          {
            title: "Cap",
            numeric: true,
            cell: (b) => (b.cap_minor === null ? "none" : money({ amount_minor: b.cap_minor, currency: b.balance.currency })),
          },
          {
            title: "Low-balance alert below",
            numeric: true,
            cell: (b) =>
              b.low_balance_minor === null
                ? "none"
                : money({ amount_minor: b.low_balance_minor, currency: b.balance.currency }),
          },
        ],
        shown,
        "No budgets yet.",
      ),
      next,
    ];
  };
  const settingsForm = app.can("budgets:admin") ? settings(app, () => shown, () => refresh()) : null;
  const refresh = async () => {
    await loadInto(list, () => load());
    settingsForm?.update();
  };

  if (settingsForm) parts.push(openBudget(app, refresh), settingsForm);
  // funding is the whole tenant's (ADR 38): staff narrowed to some budgets move none
  const funds = app.can("funding:write") && app.can("funding:read") && app.wholeTenant();
  const fundForm = funds ? fund(app, refresh) : null;
  if (fundForm) {
    parts.push(
      fundForm,
      h(
        "p",
        { class: "pa-muted" },
        "Deposits into funding accounts, and each account's history, are in ",
        h("a", { href: "#/funding" }, "Funding"),
        ".",
      ),
    );
  }
  fill(into, parts);
  await Promise.all([refresh(), fundForm?.load()]);
}

function openBudget(app, refresh) {
  return form(
    "Open a budget",
    [
      field("Budget id", { name: "id", required: true, pattern: "[A-Za-z0-9][A-Za-z0-9_.\\-]{0,63}" }, "Letters, digits, _ . - ; it cannot change."),
      field("Name", { name: "name", required: true, maxlength: 200 }),
      field("Currency", { name: "currency", required: true, pattern: "[A-Z]{3}", value: "EUR", maxlength: 3 }),
      field("Initial funds", { name: "initial", value: "0", inputmode: "decimal" }, "Taken from the tenant's funding; 0 to fund it later."),
      field("Low-balance alert below", { name: "low", inputmode: "decimal" }, "Optional."),
    ],
    "Open budget",
    async (v, _status, _el, once) => {
      const body = {
        id: v.id.trim(),
        name: v.name.trim(),
        initial: { amount_minor: toMinor(v.initial || "0", v.currency), currency: v.currency },
      };
      if (v.low) body.low_balance_minor = toMinor(v.low, v.currency);
      const budget = await once((key) => app.api.post("/budgets", body, { "Idempotency-Key": key }));
      await refresh();
      return `Budget ${budget.id} is open with ${money(budget.balance)}.`;
    },
    "console-budget",
  );
}

function settings(app, shown, refresh) {
  const choose = field("Budget", { tag: "select", name: "budget", required: true, options: [] });
  const select = choose.querySelector("select");
  const el = form(
    "Change a budget's settings",
    [
      choose,
      field("New name", { name: "name", maxlength: 200 }, "Leave empty to keep it."),
      field("Cap", { name: "cap", inputmode: "decimal" }, "Leave empty to keep it; 0 removes the cap."),
      field("Low-balance alert below", { name: "low", inputmode: "decimal" }, "Leave empty to keep it; 0 removes it."),
    ],
    "Save settings",
    async (v) => {
      const budget = shown().find((b) => b.id === v.budget);
      if (!budget) throw new Error("Choose a budget.");
      const currency = budget.balance.currency;
      const body = {};
      if (v.name.trim()) body.name = v.name.trim();
      if (v.cap.trim()) body.cap_minor = toMinor(v.cap, currency);
      if (v.low.trim()) body.low_balance_minor = toMinor(v.low, currency);
      if (!Object.keys(body).length) throw new Error("Nothing to change: fill in at least one field.");
      await app.api.patch(`/budgets/${enc(budget.id)}`, body);
      await refresh();
      return `Budget ${budget.id} saved.`;
    },
  );
  el.update = () => {
    const current = select.value;
    fill(select, shown().map((b) => option(b.id, `${b.name} (${b.id})`, b.id === current)));
  };
  return el;
}

/** Moves money from one of the tenant's funding accounts (every page of them, each in
 * its own currency) to a budget. */
function fund(app, refresh) {
  let accounts = [];
  const choose = field("From funding account", { tag: "select", name: "account", required: true, options: [] });
  const select = choose.querySelector("select");
  const el = form(
    "Fund a budget",
    [
      field("Budget id", { name: "budget", required: true }),
      choose,
      field("Amount", { name: "amount", required: true, inputmode: "decimal" }, "In the funding account's currency."),
    ],
    "Move funds",
    async (v, _status, _el, once) => {
      const from = accounts.find((a) => a.id === v.account);
      if (!from) throw new Error("Choose a funding account.");
      const currency = from.balance.currency;
      const amount = { amount_minor: toMinor(v.amount, currency), currency };
      const path = `/budgets/${enc(v.budget.trim())}/allocations`;
      const body = { from_account: from.id, amount };
      await once((key) => app.api.post(path, body, { "Idempotency-Key": key }));
      await Promise.all([refresh(), el.load()]);
      return `${money(amount)} moved to ${v.budget.trim()}.`;
    },
    "console-allocation",
  );
  /** The accounts as they are now (their balances are in the choices). */
  el.load = async () => {
    try {
      accounts = await everyPage(app, "/funding-accounts", "funding_accounts");
    } catch (error) {
      el.querySelector(".pa-notice").fail(error);
      return;
    }
    const current = select.value;
    fill(select, accounts.map((a) => accountOption(a, a.id === current)));
  };
  return el;
}
