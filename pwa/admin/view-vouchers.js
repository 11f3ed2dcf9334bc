// Vouchers: every pool of codes (one per product and face value) with its stock; import
// codes from a supplier's CSV (code[,pin][,url][,expires_at]) or generate closed-loop codes.
// Codes themselves are never shown here: they are sealed (ADR 11) and go only to orders.

import { csvField, csvText, field, fill, form, h, loadInto, money, number, section, table, toCount, toMinor } from "./ui.js";

const enc = encodeURIComponent;

export async function render(into, app) {
  const list = h("div", { class: "pa-list" });
  const load = async (cursor, earlier) => {
    const page = await app.api.get(`/vouchers/pools?limit=50${cursor ? `&cursor=${enc(cursor)}` : ""}`);
    await currencies(app, page.pools);
    const pools = (earlier || []).concat(page.pools);
    const more = page.next_cursor
      ? h("button", { type: "button", onclick: () => loadInto(list, () => load(page.next_cursor, pools)) }, "Show more")
      : null;
    return [
      table(
        "Voucher pools",
        [
          { title: "Product", cell: (p) => h("code", {}, p.product_id) },
          {
            title: "Face value",
            numeric: true,
            cell: (p) =>
              known.get(p.product_id)
                ? money({ amount_minor: p.face_value_minor, currency: known.get(p.product_id) })
                : `${number(p.face_value_minor)} (minor units)`,
          },
          { title: "Available", numeric: true, cell: (p) => number(p.available) },
          { title: "Given to orders", numeric: true, cell: (p) => number(p.allocated) },
        ],
        pools,
        "No voucher pools yet: import or generate codes for a product.",
      ),
      more,
    ];
  };
  const refresh = () => loadInto(list, () => load());
  const parts = [section("Pools", list)];
  if (app.can("vouchers:admin")) parts.push(importCodes(app, refresh), generate(app, refresh));
  fill(into, parts);
  await refresh();
}

/** Product id → its currency, from the catalogue (a pool names its product and face value
 * in minor units; the product says in what). Products not in the catalogue stay unknown. */
const known = new Map();

async function currencies(app, pools) {
  const missing = [...new Set(pools.map((p) => p.product_id))].filter((id) => !known.has(id));
  await Promise.all(
    missing.map(async (id) => {
      try {
        known.set(id, (await app.api.get(`/catalogue/products/${enc(id)}`)).currency || "");
      } catch {
        // not listed (or not readable here): shown in minor units, asked again next time
      }
    }),
  );
}

function poolPath(v) {
  const face = toMinor(v.face, v.currency);
  return { path: `/vouchers/pools/${enc(v.product.trim())}/${face}`, face };
}

const poolFields = () => [
  field("Product id", { name: "product", required: true, autocomplete: "off" }),
  field("Face value", { name: "face", required: true, inputmode: "decimal" }, "As the product sells it, e.g. 25.00."),
  field("Currency", { name: "currency", required: true, pattern: "[A-Z]{3}", value: "EUR", maxlength: 3 }),
];

function report(result) {
  const lines = [`${number(result.imported)} codes added; ${number(result.pool.available)} available now.`];
  for (const problem of result.rejected.slice(0, 20)) lines.push(`Row ${problem.row}: ${problem.reason}`);
  if (result.rejected.length > 20) lines.push(`…and ${number(result.rejected.length - 20)} more rows refused.`);
  return lines.join(" ");
}

function importCodes(app, refresh) {
  return form(
    "Import codes from a CSV file",
    [
      ...poolFields(),
      csvField("A header row with code and any of pin, url, expires_at; up to 10,000 codes a file."),
    ],
    "Import codes",
    async (v, _status, _el, once) => {
      const text = await csvText(v);
      const { path } = poolPath(v);
      const target = `${path}/codes?currency=${enc(v.currency)}`;
      const result = await once((key) => app.api.csv("POST", target, text, { "Idempotency-Key": key }));
      await refresh();
      return report(result);
    },
    "console-codes",
  );
}

function generate(app, refresh) {
  return form(
    "Generate closed-loop codes",
    [...poolFields(), field("How many", { name: "count", required: true, inputmode: "numeric" }, "1 to 10,000.")],
    "Generate codes",
    async (v, _status, _el, once) => {
      const { path } = poolPath(v);
      const count = toCount(v.count, "How many");
      const body = { currency: v.currency, count };
      const result = await once((key) => app.api.post(`${path}/generate`, body, { "Idempotency-Key": key }));
      await refresh();
      return report(result);
    },
    "console-generate",
  );
}
