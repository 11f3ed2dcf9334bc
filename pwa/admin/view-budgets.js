// Budgets: every budget the session may read (staff with grants see theirs), with what
// it holds; open one, change its settings, and fund it from a funding account.

import { field, fill, form, h, loadInto, money, option, section, table, toMinor } from "./ui.js";

const enc = encodeURIComponent;

export async function render(into, app) {
  const list = h("div", { class: "pa-list" });
  const parts = [section("All budgets", list)];
  let shown = [];

  const load = async (cursor) => {
    const page = await app.api.get(`/budgets?limit=50${cursor ? `&cursor=${enc(cursor)}` : ""}`);
    shown = cursor ? shown.concat(page.budgets) : page.budgets;
    const more = page.next_cursor
      ? h(
          "button",
          {
            type: "button",
            onclick: async () => {
              await loadInto(list, () => load(page.next_cursor));
              settingsForm?.update(); // the budgets just shown can be changed too
            },
          },
          "Show more",
        )
      : null;
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
      more,
    ];
  };
  const settingsForm = app.can("budgets:admin") ? settings(app, () => shown, () => refresh()) : null;
  const refresh = async () => {
    await loadInto(list, () => load());
    settingsForm?.update();
  };

  if (settingsForm) parts.push(openBudget(app, refresh), settingsForm);
  if (app.can("funding:write")) parts.push(fund(app, refresh), deposit(app));
  fill(into, parts);
  await refresh();
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

function fund(app, refresh) {
  return form(
    "Fund a budget",
    [
      field("Budget id", { name: "budget", required: true }),
      field("From funding account", { name: "account", required: true }),
      field("Amount", { name: "amount", required: true, inputmode: "decimal" }),
      field("Currency", { name: "currency", required: true, pattern: "[A-Z]{3}", value: "EUR", maxlength: 3 }),
    ],
    "Move funds",
    async (v, _status, _el, once) => {
      const amount = { amount_minor: toMinor(v.amount, v.currency), currency: v.currency };
      const path = `/budgets/${enc(v.budget.trim())}/allocations`;
      const body = { from_account: v.account.trim(), amount };
      await once((key) => app.api.post(path, body, { "Idempotency-Key": key }));
      await refresh();
      return `${money(amount)} moved to ${v.budget.trim()}.`;
    },
    "console-allocation",
  );
}

function deposit(app) {
  return form(
    "Record a deposit into a funding account",
    [
      field("Funding account", { name: "account", required: true }),
      field("Amount", { name: "amount", required: true, inputmode: "decimal" }),
      field("Currency", { name: "currency", required: true, pattern: "[A-Z]{3}", value: "EUR", maxlength: 3 }),
      field("Reference", { name: "reference", maxlength: 200 }, "A bank transfer's reference, for finance."),
    ],
    "Record deposit",
    async (v, _status, _el, once) => {
      const amount = { amount_minor: toMinor(v.amount, v.currency), currency: v.currency };
      const account = v.account.trim();
      const path = `/funding-accounts/${enc(account)}/deposits`;
      const body = { amount, reference: v.reference.trim() };
      await once((key) => app.api.post(path, body, { "Idempotency-Key": key }));
      const after = await app.api.get(`/funding-accounts/${enc(account)}`);
      return `${money(amount)} deposited; ${account} now holds ${money(after.balance)}.`;
    },
    "console-deposit",
  );
}
