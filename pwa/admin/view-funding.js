// Funding (ADR 38): the tenant's funding accounts, which hold the money paid in before it
// is given to budgets, each with its balance and its history (every deposit and
// allocation with the balance after it). Finance opens accounts, records deposits and
// allocates to budgets here. Funding is the whole tenant's money: staff narrowed to some
// budgets do not see this view, and the API refuses them too.

import { field, fill, form, h, loadInto, money, more, option, section, table, toMinor, when } from "./ui.js";

const enc = encodeURIComponent;
const PAGE = 50;
const HISTORY_PAGE = 20;

/** Every page of ``GET path`` (a list under ``key``), for the choices of a form. */
export async function everyPage(app, path, key) {
  const all = [];
  let cursor = null;
  do {
    const page = await app.api.get(`${path}?limit=100${cursor ? `&cursor=${enc(cursor)}` : ""}`);
    all.push(...page[key]);
    cursor = page.next_cursor;
  } while (cursor);
  return all;
}

/** A funding account as a choice: which it is, and what it holds (in its currency). */
export function accountOption(a, selected) {
  return option(a.id, `${a.name} (${a.id}) · ${money(a.balance)}`, selected);
}

/** An amount with its sign: money in (+) or out (−, as Intl writes it). */
function signed(amount) {
  return amount.amount_minor > 0 ? `+${money(amount)}` : money(amount);
}

export async function render(into, app) {
  const list = h("div", { class: "pa-list" });
  const panel = h("div", { class: "pa-funding-history" });
  const page = { app, panel, shown: [], budgets: [], forms: [] };

  const load = async (cursor) => {
    const got = await app.api.get(`/funding-accounts?limit=${PAGE}${cursor ? `&cursor=${enc(cursor)}` : ""}`);
    page.shown = cursor ? page.shown.concat(got.funding_accounts) : got.funding_accounts;
    // the accounts just shown can be chosen too
    const next = more("Show more accounts", list, got.next_cursor, load, () => page.update());
    return [
      table(
        "Funding accounts",
        [
          { title: "Account", cell: (a) => h("span", {}, h("strong", {}, a.name), h("br"), h("code", {}, a.id)) },
          { title: "Balance", numeric: true, cell: (a) => money(a.balance) },
          {
            title: "Movements",
            cell: (a) => h("button", { type: "button", "aria-label": `History of ${a.id}`, onclick: () => page.open(a.id) }, "History"),
          },
        ],
        page.shown,
        "No funding accounts yet.",
      ),
      next,
    ];
  };
  page.update = () => page.forms.forEach((f) => f.update());
  page.refresh = async () => {
    await loadInto(list, () => load());
    page.update();
  };
  page.open = (id, focus = true) => openHistory(page, id, focus);
  /** After a write: the accounts again, and the history shown, which it may have moved
   * (focus stays on the form, which says what was done). */
  page.changed = async () => {
    await page.refresh();
    if (panel.dataset.account) await page.open(panel.dataset.account, false);
  };
  page.budgetName = (id) => {
    const budget = page.budgets.find((b) => b.id === id);
    return budget ? `${budget.name} (${id})` : id;
  };

  const parts = [section("Accounts", list), panel];
  if (app.can("funding:write")) {
    page.forms = [deposit(page), allocate(page)];
    parts.push(openAccount(page), ...page.forms);
  }
  fill(into, parts);
  // the budgets' names, for the history's allocations and the allocation form
  const budgets = everyPage(app, "/budgets", "budgets").then(
    (all) => {
      page.budgets = all;
    },
    (error) => {
      page.budgetsFailed = error;
    },
  );
  await Promise.all([page.refresh(), budgets]);
  page.update();
}

function openAccount(page) {
  return form(
    "Open a funding account",
    [
      field("Account id", { name: "id", required: true, pattern: "[A-Za-z0-9][A-Za-z0-9_.\\-]{0,63}" }, "Letters, digits, _ . - ; it cannot change."),
      field("Name", { name: "name", required: true, maxlength: 200 }, "e.g. the bank account it stands for."),
      field("Currency", { name: "currency", required: true, pattern: "[A-Z]{3}", value: "EUR", maxlength: 3 }),
    ],
    "Open account",
    async (v, _status, _el, once) => {
      const body = { id: v.id.trim(), name: v.name.trim(), currency: v.currency.trim() };
      const opened = await once((key) => page.app.api.post("/funding-accounts", body, { "Idempotency-Key": key }));
      await page.refresh();
      return `Funding account ${opened.id} is open in ${opened.balance.currency}.`;
    },
    "console-funding",
  );
}

/** A select of the accounts shown, kept up to date by ``update()``. */
function accountChoice(page) {
  const choose = field("Funding account", { tag: "select", name: "account", required: true, options: [] });
  const select = choose.querySelector("select");
  choose.update = () => {
    const current = select.value;
    fill(select, page.shown.map((a) => accountOption(a, a.id === current)));
  };
  return choose;
}

function chosenAccount(page, id) {
  const account = page.shown.find((a) => a.id === id);
  if (!account) throw new Error("Choose a funding account.");
  return account;
}

function deposit(page) {
  const account = accountChoice(page);
  const el = form(
    "Record a deposit",
    [
      account,
      field("Amount", { name: "amount", required: true, inputmode: "decimal" }, "In the account's currency, e.g. 2500.50."),
      field("Reference", { name: "reference", maxlength: 200 }, "A bank transfer's reference, for finance."),
    ],
    "Record deposit",
    async (v, _status, _el, once) => {
      const into = chosenAccount(page, v.account);
      const amount = { amount_minor: toMinor(v.amount, into.balance.currency), currency: into.balance.currency };
      const body = { amount, reference: v.reference.trim() };
      const path = `/funding-accounts/${enc(into.id)}/deposits`;
      const after = await once((key) => page.app.api.post(path, body, { "Idempotency-Key": key }));
      await page.changed();
      return `${money(amount)} deposited; ${into.id} now holds ${money(after.balance)}.`;
    },
    "console-deposit",
  );
  el.update = account.update;
  return el;
}

function allocate(page) {
  const account = accountChoice(page);
  const budget = field("Budget", { tag: "select", name: "budget", required: true, options: [] });
  const select = budget.querySelector("select");
  const el = form(
    "Allocate to a budget",
    [
      account,
      budget,
      field("Amount", { name: "amount", required: true, inputmode: "decimal" }, "In the account's currency; within the budget's cap."),
    ],
    "Allocate",
    async (v, _status, _el, once) => {
      if (page.budgetsFailed) throw page.budgetsFailed;
      const from = chosenAccount(page, v.account);
      if (!v.budget) throw new Error("Choose a budget.");
      const currency = from.balance.currency;
      const amount = { amount_minor: toMinor(v.amount, currency), currency };
      const body = { from_account: from.id, amount };
      const path = `/budgets/${enc(v.budget)}/allocations`;
      const moved = await once((key) => page.app.api.post(path, body, { "Idempotency-Key": key }));
      await page.changed();
      return `${money(amount)} allocated to ${page.budgetName(moved.budget_id)}; ${from.id} now holds ${money(moved.funding_balance_after)}.`;
    },
    "console-allocation",
  );
  el.update = () => {
    account.update();
    const current = select.value;
    fill(select, page.budgets.map((b) => option(b.id, `${b.name} (${b.id}) · ${b.balance.currency}`, b.id === current)));
  };
  return el;
}

function kindText(page, e) {
  if (e.kind === "deposit") return "Deposit";
  if (e.kind === "allocation") return `Allocation to ${page.budgetName(e.budget_id)}`;
  return "Adjustment";
}

/** One account's history, newest first, a page at a time. */
async function openHistory(page, id, focus) {
  const { app, panel } = page;
  panel.dataset.account = id;
  const entries = h("div", { class: "pa-list" });
  const base = `/funding-accounts/${enc(id)}/history`;

  const load = async (cursor, earlier) => {
    const query = new URLSearchParams({ limit: String(HISTORY_PAGE) });
    if (cursor) query.set("cursor", cursor);
    const got = await app.api.get(`${base}?${query}`);
    const shown = (earlier || []).concat(got.entries);
    const next = more("Show older movements", entries, got.next_cursor, (c) => load(c, shown));
    return [
      table(
        `History of ${id}`,
        [
          { title: "Date", cell: (e) => when(e.at) },
          { title: "Movement", cell: (e) => kindText(page, e) },
          { title: "Amount", numeric: true, cell: (e) => signed(e.amount) },
          { title: "Balance after", numeric: true, cell: (e) => money(e.balance_after) },
          { title: "Id", cell: (e) => h("code", {}, e.id) },
        ],
        shown,
        "Nothing has moved through this account yet.",
      ),
      next,
    ];
  };

  let opened = false;
  await loadInto(panel, async () => {
    const account = await app.api.get(`/funding-accounts/${enc(id)}`);
    const view = section(
      `History of ${account.name}`,
      h("p", {}, h("code", {}, account.id), ` · holds ${money(account.balance)}`),
      h(
        "div",
        { class: "pa-row-actions" },
        h(
          "button",
          {
            type: "button",
            onclick: () => {
              delete panel.dataset.account;
              fill(panel);
            },
          },
          "Close this history",
        ),
      ),
      entries,
    );
    view.classList.add("pa-detail");
    opened = true;
    return view;
  });
  if (!opened) return; // refused: the panel says why
  await loadInto(entries, () => load());
  const heading = panel.querySelector("h2");
  heading.setAttribute("tabindex", "-1");
  if (focus) heading.focus();
}
