// Reports from the warehouse (ADR 26): what happened each day — orders by status, rewards
// issued, money in and out of each budget — and the products that sold most. A report
// counts the events the warehouse has loaded so far (its loaded_sequence).

import { field, fill, form, h, money, number, section, table } from "./ui.js";

const DAY_MS = 86_400_000;

function isoDay(ms) {
  return new Date(ms).toISOString().slice(0, 10);
}

export async function render(into, app) {
  const out = h("div", { class: "pa-list" });
  const today = Date.now();
  const run = async (from, to) => {
    const range = new URLSearchParams({ from, to });
    const [daily, top] = await Promise.all([
      app.api.get(`/reports/daily?${range}`),
      app.api.get(`/reports/top-products?${range}&limit=10`),
    ]);
    fill(
      out,
      h("p", { class: "pa-muted" }, `From ${daily.from} to ${daily.to}; events loaded up to number ${number(daily.loaded_sequence)}.`),
      section("Orders", dayTable("Orders by day", daily.days, (d) => d.orders, [
        { title: "Status", cell: (r) => r.status },
        { title: "Orders", numeric: true, cell: (r) => number(r.orders) },
        { title: "Face value", numeric: true, cell: (r) => money({ amount_minor: r.face_minor, currency: r.currency }) },
      ])),
      section("Rewards", dayTable("Rewards by day", daily.days, (d) => d.rewards, [
        { title: "Rewards", numeric: true, cell: (r) => number(r.rewards) },
        { title: "Points", numeric: true, cell: (r) => number(r.points) },
        { title: "Cost", numeric: true, cell: (r) => money({ amount_minor: r.cost_minor, currency: r.currency }) },
      ])),
      section("Money in and out", dayTable("Movements by day", daily.days, (d) => d.movements, [
        { title: "Account", cell: (r) => `${r.account_kind} ${r.account_id}` },
        { title: "Out", numeric: true, cell: (r) => money({ amount_minor: r.debit_minor, currency: r.currency }) },
        { title: "In", numeric: true, cell: (r) => money({ amount_minor: r.credit_minor, currency: r.currency }) },
        { title: "Entries", numeric: true, cell: (r) => number(r.entries) },
      ])),
      section("Top products", table("Top products", [
        { title: "Product", cell: (p) => h("code", {}, p.product_id) },
        { title: "Orders", numeric: true, cell: (p) => number(p.orders) },
        { title: "Face value", numeric: true, cell: (p) => money({ amount_minor: p.face_minor, currency: p.currency }) },
      ], top.products, "No orders in these days.")),
    );
  };
  const choose = form(
    "Days",
    [
      field("From", { name: "from", type: "date", required: true, value: isoDay(today - 6 * DAY_MS) }),
      field("To", { name: "to", type: "date", required: true, value: isoDay(today) }),
    ],
    "Show report",
    async (v) => {
      await run(v.from, v.to);
      return false;
    },
  );
  fill(into, choose, out);
  choose.requestSubmit();
}

/** One row per (day, item): the day named on its first row. */
function dayTable(caption, days, items, columns) {
  const rows = days.flatMap((d) => items(d).map((item, i) => ({ day: i === 0 ? d.day : "", item })));
  return table(
    caption,
    [{ title: "Day", cell: (r) => r.day }, ...columns.map((c) => ({ ...c, cell: (r) => c.cell(r.item) }))],
    rows,
    "Nothing in these days.",
  );
}
