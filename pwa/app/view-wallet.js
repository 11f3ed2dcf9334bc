// The wallet: the balance in points and its history (what came in, what was spent).

import { ApiError } from "./api.js";
import { fill, h, uid } from "./dom.js";
import { productText } from "./product-names.js";

function kindText(t, kind) {
  const key = `wallet.kind.${kind}`;
  const text = t(key);
  return text === key ? kind : text;
}

/** What a movement was, in the app's words (the API's ``description`` is English, for
 * logs: edge/history.py): its kind, and the product's name for one of an order. */
function movementText(app, entry) {
  const cell = h("td", {}, kindText(app.t, entry.kind));
  const key = { redemption: "wallet.kind.redemption_of", refund: "wallet.kind.refund_of" }[entry.kind];
  if (key && entry.product_id) {
    productText(app, entry.product_id).then(({ name, lang }) => {
      // the name may be in English where the sentence is not: it gets its own lang
      const product = h("span", { lang, dir: "auto" }, name);
      const [before, after] = app.t(key, { product: "\u0000" }).split("\u0000");
      fill(cell, before, product, after ?? "");
    });
  }
  return cell;
}

export async function render(app) {
  const t = app.t;
  const titleId = uid("wallet");
  // the tenant's own name for points if it set one; else the locale's word
  const points = app.pointsName() || t("wallet.points");
  let wallet;
  try {
    wallet = await app.api.wallet(app.person.id);
  } catch (e) {
    return h("section", {}, h("h1", {}, t("wallet.title")), h("p", { class: "pb-error", role: "alert" }, app.problem(e)));
  }
  const history = h("div", { class: "pb-history" });
  const more = h("div", { class: "pb-more" });
  const table = h(
    "table",
    { class: "pb-table" },
    h("caption", {}, t("wallet.history")),
    h(
      "thead",
      {},
      h("tr", {}, h("th", { scope: "col" }, t("wallet.when")), h("th", { scope: "col" }, t("wallet.what")), h("th", { scope: "col" }, points)),
    ),
  );
  const body = h("tbody");
  table.append(body);
  const load = async (cursor) => {
    let page;
    try {
      page = await app.api.history(app.person.id, cursor);
    } catch (e) {
      const missing = e instanceof ApiError && [404, 405].includes(e.status);
      fill(history, h("p", { class: "pb-muted" }, missing ? t("wallet.no_history") : app.problem(e)));
      return;
    }
    if (!cursor) fill(history, page.entries.length ? table : h("p", {}, t("wallet.empty")));
    body.append(
      ...page.entries.map((entry) =>
        h(
          "tr",
          {},
          h("td", {}, t.dateTime(entry.at)),
          movementText(app, entry),
          h("td", { class: entry.points < 0 ? "pb-minus" : "pb-plus" }, (entry.points > 0 ? "+" : "") + t.number(entry.points)),
        ),
      ),
    );
    fill(
      more,
      page.next_cursor
        ? h("button", { type: "button", class: "pb-button", onclick: () => load(page.next_cursor) }, t("catalogue.more"))
        : null,
    );
  };
  await load();
  return h(
    "section",
    { "aria-labelledby": titleId },
    h("h1", { id: titleId }, t("wallet.title")),
    wallet.stale ? h("p", { class: "pb-notice" }, t("catalogue.stale")) : null,
    h(
      "p",
      { class: "pb-balance" },
      h("span", { class: "pb-muted" }, t("wallet.balance")),
      " ",
      h("strong", { class: "pb-balance-value" }, t.number(wallet.points)),
      " ",
      app.pointsName() || t.plural("wallet.points_unit", wallet.points),
    ),
    history,
    more,
  );
}
