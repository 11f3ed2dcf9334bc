// The catalogue as this tenant sells it (ADR 22): every product, the platform's and the
// tenant's own, with whether it is offered and its markup; turn a product on or off and
// set its markup (basis points on the face value: 250 = 2.5%).

import { field, fill, form, h, loadInto, money, number, section, table, toCount } from "./ui.js";

const enc = encodeURIComponent;

export async function render(into, app) {
  const list = h("div", { class: "pa-list" });
  const filter = h("input", { type: "search", "aria-label": "Filter the products shown", placeholder: "Filter by name, brand or id" });
  let shown = [];
  let cursor = null;

  const draw = () => {
    const words = filter.value.trim().toLowerCase();
    const rows = words
      ? shown.filter((p) => `${p.name} ${p.brand} ${p.id} ${p.category}`.toLowerCase().includes(words))
      : shown;
    const more = cursor
      ? h("button", { type: "button", onclick: () => loadInto(list, () => load(cursor)) }, "Show more products")
      : null;
    return [
      h("p", { class: "pa-muted" }, `${number(rows.length)} of ${number(shown.length)} products loaded${cursor ? " (more to load)" : ""}.`),
      table(
        "Products",
        [
          { title: "Product", cell: (p) => h("span", {}, h("strong", {}, p.name), h("br"), h("code", {}, p.id)) },
          { title: "Category", cell: (p) => p.category },
          {
            title: "Face values",
            cell: (p) =>
              p.range
                ? `${money({ amount_minor: p.range.min_minor, currency: p.currency })} to ${money({ amount_minor: p.range.max_minor, currency: p.currency })}`
                : p.denominations.map((d) => money({ amount_minor: d, currency: p.currency })).join(", "),
          },
          { title: "Countries", cell: (p) => p.countries.join(" ") },
          { title: "Offered", cell: (p) => (p.enabled ? "yes" : "no") },
          { title: "Markup", numeric: true, cell: (p) => `${(p.markup_bps / 100).toFixed(2)}%` },
          { title: "Own product", cell: (p) => (p.custom ? "yes" : "") },
        ],
        rows,
        words ? "No loaded product matches." : "The catalogue is empty.",
      ),
      more,
    ];
  };
  const load = async (after) => {
    const page = await app.api.get(`/catalogue/export?limit=100${after ? `&cursor=${enc(after)}` : ""}`);
    shown = after ? shown.concat(page.products) : page.products;
    cursor = page.next_cursor;
    return draw();
  };
  filter.addEventListener("input", () => fill(list, draw()));
  const refresh = () => loadInto(list, () => load());
  fill(into, curate(app, refresh), section("Products", filter, list));
  await refresh();
}

function curate(app, refresh) {
  return form(
    "Offer a product or not, and its markup",
    [
      field("Product id", { name: "product", required: true, autocomplete: "off" }),
      field("Offered", {
        tag: "select",
        name: "enabled",
        options: [h("option", { value: "yes" }, "yes: people can redeem it"), h("option", { value: "no" }, "no: hidden from people")],
      }),
      field("Markup in basis points", { name: "markup", inputmode: "numeric" }, "0 to 10,000 (250 = 2.5%); empty keeps it."),
    ],
    "Save",
    async (v) => {
      const body = { enabled: v.enabled === "yes" };
      if (v.markup.trim()) {
        const markup = toCount(v.markup, "The markup");
        if (markup > 10_000) throw new Error("The markup is at most 10,000 basis points (100%).");
        body.markup_bps = markup;
      }
      const product = await app.api.put(`/catalogue/products/${enc(v.product.trim())}/curation`, body);
      await refresh();
      return `${product.name}: ${product.enabled ? "offered" : "not offered"}, markup ${(product.markup_bps / 100).toFixed(2)}%.`;
    },
  );
}
