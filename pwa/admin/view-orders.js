// Orders: the tenant's orders (staff with grants: those their budgets paid), newest first,
// by status and recipient; review those held (ADR 32), cancel and resend fulfilled ones;
// staff download the orders of a range of days as CSV (GET /orders/export).

import { download, field, fill, form, h, loadInto, money, notice, option, section, table, when } from "./ui.js";

const enc = encodeURIComponent;
const STATUSES = ["held", "fulfilled", "failed", "cancelled", "approved", "rejecting", "cancelling", "accepted", "paid"];
/** Who cancels others' orders (actors/orders.py ``STAFF``). */
const CANCELLERS = ["owner", "admin", "finance"];
/** Who lists others' orders (docs/permissions.md): an auditor lists those it received. */
const LISTERS = ["owner", "admin", "finance", "programme_manager", "integrator"];

export async function render(into, app) {
  const list = h("div", { class: "pa-list" });
  const status = notice();
  const filters = { status: app.can("orders:review") ? "held" : "", recipient: "" };

  const load = async (cursor, earlier) => {
    const query = new URLSearchParams({ limit: "25" });
    if (filters.status) query.set("status", filters.status);
    if (filters.recipient) query.set("recipient", filters.recipient);
    if (cursor) query.set("cursor", cursor);
    const page = await app.api.get(`/orders?${query}`);
    const orders = (earlier || []).concat(page.orders);
    const more = page.next_cursor
      ? h("button", { type: "button", onclick: () => loadInto(list, () => load(page.next_cursor, orders)) }, "Show older orders")
      : null;
    return [table("Orders", columns(app, status, refresh), orders, "No orders match."), more];
  };
  const refresh = () => loadInto(list, () => load());

  const search = form(
    "Find orders",
    [
      field("Status", {
        tag: "select",
        name: "status",
        options: [option("", "any status", !filters.status), STATUSES.map((s) => option(s, s, s === filters.status))],
      }),
      app.me.roles.some((r) => LISTERS.includes(r))
        ? field("Recipient", { name: "recipient", autocomplete: "off" }, "A person's id; empty for everyone's.")
        : h("p", { class: "pa-muted" }, "Your role lists the orders you received."),
    ],
    "Show orders",
    async (v) => {
      filters.status = v.status;
      filters.recipient = (v.recipient || "").trim();
      await refresh();
      return false;
    },
  );
  const parts = [search, status, section("Orders", list)];
  if (app.me.roles.some((r) => LISTERS.includes(r))) parts.push(section("Export", exporter(app)));
  fill(into, ...parts);
  await refresh();
}

/** The orders placed on a range of UTC days, as a CSV file (at most 367 days). */
function exporter(app) {
  const today = new Date().toISOString().slice(0, 10);
  const monthStart = `${today.slice(0, 8)}01`;
  return form(
    "Download orders as CSV",
    [
      field("From", { name: "from", type: "date", required: true, value: monthStart }, "The first day, in UTC."),
      field("To", { name: "to", type: "date", required: true, value: today }, "The last day, in UTC; at most 367 days in all."),
      field("Status", {
        tag: "select",
        name: "status",
        options: [option("", "any status", true), STATUSES.map((s) => option(s, s, false))],
      }),
    ],
    "Download CSV",
    async (v) => {
      const query = new URLSearchParams({ from: v.from, to: v.to });
      if (v.status) query.set("status", v.status);
      const text = await app.api.text(`/orders/export?${query}`);
      const count = Math.max(text.trim().split("\n").length - 1, 0);
      download(`orders-${v.from}-${v.to}.csv`, text);
      return `${count} ${count === 1 ? "order" : "orders"} downloaded.`;
    },
  );
}

function columns(app, status, refresh) {
  return [
    { title: "Placed", cell: (o) => when(o.created_at) },
    { title: "Order", cell: (o) => h("code", {}, o.id) },
    { title: "Recipient", cell: (o) => o.recipient },
    { title: "Product", cell: (o) => o.product_id },
    { title: "Face value", numeric: true, cell: (o) => money(o.face_value) },
    { title: "Price", numeric: true, cell: (o) => money(o.price) },
    {
      title: "Status",
      cell: (o) => h("span", {}, h("span", { class: `pa-status pa-status-${o.status}` }, o.status), o.failure_reason ? ` — ${o.failure_reason}` : ""),
    },
    { title: "Actions", cell: (o) => actions(app, o, status, refresh) },
  ];
}

function actions(app, order, status, refresh) {
  const buttons = [];
  const act = (label, run) =>
    h(
      "button",
      {
        type: "button",
        "aria-label": `${label} order ${order.id}`,
        onclick: async () => {
          for (const b of buttons) b.disabled = true; // one action on an order at a time
          status.busy(`${label}…`);
          try {
            const done = await run();
            if (done === false) {
              status.clear();
            } else {
              status.ok(`${label}: order ${order.id} is now ${done.status}.`);
              await refresh();
            }
          } catch (error) {
            status.fail(error);
          } finally {
            for (const b of buttons) b.disabled = false;
            status.focus(); // the row may be gone: what happened is said here
          }
        },
      },
      label,
    );
  const path = `/orders/${enc(order.id)}`;
  if (order.status === "held" && app.can("orders:review")) {
    buttons.push(
      act("Approve", () => app.api.post(`${path}/review`, { approve: true })),
      act("Reject", () => {
        const note = prompt(`Why is order ${order.id} rejected? (shown in the audit log)`, "");
        if (note === null) return false;
        return app.api.post(`${path}/review`, { approve: false, note: note.slice(0, 200) });
      }),
    );
  }
  if (order.status === "fulfilled" && app.me.roles.some((r) => CANCELLERS.includes(r))) {
    buttons.push(
      act("Cancel", () => {
        const reason = prompt(`Cancel order ${order.id} and refund its payer? Reason:`, "");
        if (reason === null) return false;
        return app.api.post(`${path}/cancel`, { reason: reason.slice(0, 200) });
      }),
    );
  }
  if (order.status === "fulfilled" && app.can("orders:write")) {
    buttons.push(
      act("Resend", async () => {
        await app.api.post(`${path}/resend`);
        return order;
      }),
    );
  }
  return buttons.length ? h("div", { class: "pa-row-actions" }, buttons) : "";
}
