// The audit log (ADR 16): every command the tenant's actors decided, who asked, and the
// outcome, hash-chained. Without words it reads in order, a page at a time; with words
// it searches (typo tolerant, most relevant first).

import { field, fill, form, h, loadInto, number, section, table, when } from "./ui.js";

const PAGE = 50;

export async function render(into, app) {
  const list = h("div", { class: "pa-list" });
  const filters = {};

  const load = async (at, earlier) => {
    const query = new URLSearchParams({ limit: String(PAGE) });
    for (const [key, value] of Object.entries(filters)) if (value) query.set(key, value);
    if (filters.q) query.set("offset", String(at || 0));
    else if (at) query.set("after", String(at));
    const page = await app.api.get(`/audit?${query}`);
    const entries = (earlier || []).concat(page.entries);
    const next = filters.q ? entries.length : page.next_after;
    const more =
      page.entries.length === PAGE && (!filters.q || page.total === null || entries.length < page.total)
        ? h("button", { type: "button", onclick: () => loadInto(list, () => load(next, entries)) }, "Show more")
        : null;
    const summary = filters.q && page.total !== null ? h("p", { class: "pa-muted" }, `${number(page.total)} entries match.`) : null;
    const degraded = page.degraded
      ? h("p", { class: "pa-notice pa-fail", role: "status" }, "The search index is down: recent entries only, words matched by prefix.")
      : null;
    return [
      summary,
      degraded,
      table(
        "Audit log",
        [
          { title: "#", numeric: true, cell: (e) => number(e.seq) },
          { title: "When", cell: (e) => when(e.at) },
          { title: "Who", cell: (e) => e.actor },
          { title: "Action", cell: (e) => h("code", {}, e.action) },
          { title: "On", cell: (e) => e.target },
          { title: "Outcome", cell: (e) => h("span", { class: e.outcome === "ok" ? "pa-ok-text" : "pa-fail-text" }, e.outcome) },
          {
            title: "Request",
            cell: (e) => h("details", {}, h("summary", { "aria-label": `detail of entry ${e.seq}` }, "detail"), h("pre", {}, e.detail)),
          },
        ],
        entries,
        "No entries match.",
      ),
      more,
    ];
  };
  const search = form(
    "Search the log",
    [
      field("Words", { name: "q", maxlength: 200 }, "Empty: the whole log, oldest first."),
      field("Action", { name: "action", maxlength: 64 }, "e.g. budget.debit"),
      field("Who", { name: "actor", maxlength: 200 }, "A person's or client's id."),
    ],
    "Search",
    async (v) => {
      filters.q = v.q.trim();
      filters.action = v.action.trim();
      filters.actor = v.actor.trim();
      await loadInto(list, () => load());
      return false;
    },
  );
  fill(into, search, section("Entries", list));
  await loadInto(list, () => load());
}
