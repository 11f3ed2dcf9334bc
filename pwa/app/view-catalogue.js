// Browse the catalogue: search (the API forgives typos), narrow by category, country,
// currency and price band (the API's facets say which values exist), page with a cursor.

import { fill, h, uid } from "./dom.js";

const PAGE = 24;

// the search and filters outlive a reload (a tab's session), so the page reloaded
// offline asks for the very URL the service worker kept
const QUERY_KEY = "perkbus:catalogue-query";

function query(app) {
  if (!app.catalogueQuery) {
    let saved = null;
    try {
      saved = JSON.parse(app.store.session.get(QUERY_KEY) || "null");
    } catch {
      saved = null;
    }
    app.catalogueQuery = { q: "", category: "", country: "", currency: "", band: "", ...saved };
  }
  return app.catalogueQuery;
}

function save(app, state) {
  app.store.session.set(QUERY_KEY, JSON.stringify(state)); // none kept: a reload starts afresh
}

/** A filter: a labelled select drawn once; ``filter.set(options, value)`` changes its
 * choices in place (a select drawn anew would drop the keyboard's focus, and a select
 * changes on each arrow key). The focused one keeps its choices: they are the same
 * whatever it is set to (see ``facetsWithout``), and changing them under the keyboard
 * would move it. */
function filterSelect(label, name, onchange) {
  const id = uid(name);
  const control = h("select", { id, name, onchange });
  const box = h("div", { class: "pb-field" }, h("label", { for: id }, label), control);
  box.set = (options, value, focused) => {
    const same =
      control.options.length === options.length &&
      options.every(([v, text], i) => control.options[i].value === v && control.options[i].text === text);
    if (!same && !(focused === control && control.options.length)) {
      control.replaceChildren(...options.map(([v, text]) => h("option", { value: v }, text)));
    }
    control.value = value;
  };
  return box;
}

export function productCard(app, product) {
  const t = app.t;
  const values = product.denominations.length
    ? product.denominations
    : product.range
      ? [product.range.min_minor, product.range.max_minor]
      : [];
  const price = values.length
    ? values.length === 1
      ? t.money(values[0], product.currency)
      : t("product.from_to", {
          from: t.money(Math.min(...values), product.currency),
          to: t.money(Math.max(...values), product.currency),
        })
    : "";
  return h(
    "li",
    { class: "pb-product" },
    h("span", { class: "pb-tile", "aria-hidden": "true", "data-category": product.category }, product.brand.slice(0, 1)),
    h(
      "a",
      {
        lang: t.textLang(product), // a name in English where the app is not
        href: app.options.embedded ? "#" : `#/product/${encodeURIComponent(product.id)}`,
        onclick: (e) => {
          e.preventDefault();
          app.lastProduct = { ...product, locale: app.locale };
          app.go("product", product.id);
        },
      },
      h("span", { class: "pb-product-name", dir: "auto" }, product.name),
    ),
    h("span", { class: "pb-muted" }, `${product.brand} · ${t.category(product.category)}`),
    h("span", { class: "pb-price" }, price),
  );
}

export async function render(app) {
  const t = app.t;
  const state = query(app);
  const searchId = uid("search");
  const list = h("ul", { class: "pb-grid", "aria-labelledby": searchId + "-results" });
  const summary = h("p", { id: searchId + "-results", class: "pb-summary" });
  const filters = h("div", { class: "pb-filters" });
  const more = h("div", { class: "pb-more" });
  const notice = h("p", { class: "pb-notice", hidden: true });
  const search = h("input", {
    id: searchId,
    type: "search",
    name: "q",
    value: state.q,
    autocomplete: "off",
    placeholder: t("catalogue.search_hint"),
  });

  /** The API's query for ``wanted`` (the state, or the state without one filter). */
  const paramsOf = (wanted, limit, cursor) => {
    const band = wanted.band ? wanted.band.split(":") : [];
    return {
      q: wanted.q,
      category: wanted.category,
      country: wanted.country,
      currency: band[0] || wanted.currency,
      min_price: band[1] && band[1] !== "0" ? band[1] : "",
      max_price: band[2] && band[2] !== "0" ? Number(band[2]) - 1 : "",
      locale: app.locale,
      limit,
      cursor,
    };
  };

  /** Each set filter's choices come from the list without that filter (the page's own
   * facets only have the value chosen): one small look per filter set. A look that fails
   * leaves the page's facets. */
  const facetsWithout = async (facets) => {
    const looks = [
      ["category", { category: "" }],
      ["country", { country: "" }],
      ["currency", { currency: "", band: "" }],
      ["band", { band: "" }],
    ].filter(([name]) => state[name]);
    const found = await Promise.all(
      looks.map(([, without]) =>
        app.api.products(paramsOf({ ...state, ...without }, 1)).then((p) => p.facets || {}, () => facets),
      ),
    );
    const own = { category: facets, country: facets, currency: facets, band: facets };
    looks.forEach(([name], i) => {
      own[name] = found[i];
    });
    return own;
  };

  let latest = 0; // the newest search's number: an older answer arriving later is dropped
  const load = async (cursor) => {
    const asked = cursor ? latest : ++latest; // "More" belongs to the search shown
    save(app, state);
    const params = paramsOf(state, PAGE, cursor);
    let page;
    let facets;
    try {
      page = await app.api.products(params);
      if (!cursor) facets = await facetsWithout(page.facets || {});
    } catch (e) {
      if (asked !== latest) return;
      notice.hidden = false;
      notice.textContent = app.problem(e);
      app.announce(notice.textContent);
      return;
    }
    if (asked !== latest) return; // a newer search was started meanwhile
    notice.hidden = !page.stale && !page.degraded;
    notice.textContent = page.degraded
      ? t("catalogue.degraded")
      : page.stale
        ? t("catalogue.stale")
        : "";
    if (!cursor) {
      list.replaceChildren();
      drawFilters(facets);
    }
    list.append(...page.products.map((p) => productCard(app, p)));
    const text = page.total
      ? t.plural("catalogue.count", page.total, { count: t.number(page.total) })
      : t("catalogue.none");
    summary.textContent = text;
    app.announce(text);
    fill(
      more,
      page.next_cursor
        ? h(
            "button",
            { type: "button", class: "pb-button", onclick: () => load(page.next_cursor) },
            t("catalogue.more"),
          )
        : null,
    );
  };

  const change = (name) => (e) => {
    state[name] = e.target.value;
    if (name === "currency") state.band = "";
    load();
  };

  const boxes = {
    category: filterSelect(t("filter.category"), "category", change("category")),
    country: filterSelect(t("filter.country"), "country", change("country")),
    currency: filterSelect(t("filter.currency"), "currency", change("currency")),
    band: filterSelect(t("filter.price"), "price", change("band")),
  };
  fill(filters, boxes.category, boxes.country, boxes.currency, boxes.band);
  boxes.band.hidden = true;

  const drawFilters = (facets) => {
    const any = [["", t("filter.any")]];
    const focused = app.focused();
    const categories = (facets.category.category || []).map((f) => f.value);
    if (state.category && !categories.includes(state.category)) categories.push(state.category);
    const countries = (facets.country.country || []).map((f) => f.value);
    if (state.country && !countries.includes(state.country)) countries.push(state.country);
    const currencies = [...new Set((facets.currency.price || []).map((b) => b.currency))].sort();
    if (state.currency && !currencies.includes(state.currency)) currencies.push(state.currency);
    const bands = (facets.band.price || []).filter((b) => b.currency === state.currency);
    const bandValue = (b) => `${b.currency}:${b.min_minor}:${b.max_minor}`;
    if (state.band && !bands.some((b) => bandValue(b) === state.band)) {
      const [currency, min, max] = state.band.split(":");
      bands.push({ currency, min_minor: Number(min), max_minor: Number(max) });
    }
    boxes.category.set([...any, ...categories.map((c) => [c, t.category(c)])], state.category, focused);
    boxes.country.set([...any, ...countries.map((c) => [c, t.country(c)])], state.country, focused);
    boxes.currency.set([...any, ...currencies.map((c) => [c, c])], state.currency, focused);
    boxes.band.hidden = !state.currency;
    boxes.band.set(
      [
        ...any,
        ...bands.map((b) => [
          bandValue(b),
          b.max_minor
            ? `${t.money(b.min_minor, b.currency)} – ${t.money(b.max_minor, b.currency)}`
            : t("filter.over", { amount: t.money(b.min_minor, b.currency) }),
        ]),
      ],
      state.band,
      focused,
    );
  };

  let timer = 0;
  const form = h(
    "form",
    {
      role: "search",
      class: "pb-search",
      onsubmit: (e) => {
        e.preventDefault();
        clearTimeout(timer);
        state.q = search.value.trim();
        load();
      },
    },
    h("label", { for: searchId }, t("catalogue.search")),
    h(
      "div",
      { class: "pb-row" },
      search,
      h("button", { type: "submit", class: "pb-primary" }, t("catalogue.search_button")),
    ),
  );
  search.addEventListener("input", () => {
    clearTimeout(timer);
    timer = setTimeout(() => {
      if (search.value.trim() !== state.q) {
        state.q = search.value.trim();
        load();
      }
    }, 350);
  });

  await load();
  return h(
    "section",
    { class: "pb-catalogue", "aria-labelledby": searchId + "-title" },
    h("h1", { id: searchId + "-title" }, t("catalogue.title")),
    form,
    filters,
    notice,
    summary,
    list,
    more,
  );
}
