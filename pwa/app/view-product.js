// A product: what it is, its terms, a face value to choose, and redemption in one
// confirmed tap. The confirmation owns one Attempt (one Idempotency-Key): tapping twice,
// or retrying after the network dropped, can never make two orders.

import { ApiError, OfflineError } from "./api.js";
import { minorDigits } from "./currencies.js";
import { fill, h, uid } from "./dom.js";
import { rememberOrder } from "./my-orders.js";
import { Attempt } from "./redeem.js";

async function loadProduct(app, id) {
  if (app.lastProduct?.id === id && app.lastProduct.locale === app.locale) return app.lastProduct;
  const product = await app.api.product(id, app.locale);
  return product;
}

function outcome(app, order) {
  const t = app.t;
  switch (order.status) {
    case "fulfilled":
      return { kind: "ok", text: t("redeem.done") };
    case "held":
      return { kind: "info", text: t("redeem.held") };
    case "failed": {
      const key = `redeem.failed.${order.failure_reason}`;
      const text = t(key);
      return { kind: "error", text: text === key ? t("redeem.failed", { reason: order.failure_reason }) : text };
    }
    default:
      return { kind: "info", text: t("redeem.pending") };
  }
}

export async function render(app, id) {
  const t = app.t;
  let product;
  try {
    product = await loadProduct(app, id);
  } catch (e) {
    return h(
      "section",
      {},
      h("h1", {}, t("product.missing")),
      h("p", { class: "pb-error", role: "alert" }, app.problem(e)),
    );
  }
  const titleId = uid("product");
  const choices = product.denominations.length ? product.denominations : [];
  let chosen = choices[0] || product.range?.min_minor || 0;
  const valueName = uid("value");
  const picker = choices.length
    ? h(
        "fieldset",
        { class: "pb-values" },
        h("legend", {}, t("product.choose")),
        choices.map((value, i) => {
          const id = `${valueName}-${i}`;
          return h(
            "span",
            { class: "pb-choice" },
            h("input", {
              type: "radio",
              id,
              name: valueName,
              value: String(value),
              checked: i === 0,
              onchange: () => {
                chosen = value;
              },
            }),
            h("label", { for: id }, t.money(value, product.currency)),
          );
        }),
      )
    : product.range
      ? (() => {
          const inputId = uid("amount");
          const scale = 10 ** minorDigits(product.currency);
          return h(
            "div",
            { class: "pb-field" },
            h(
              "label",
              { for: inputId },
              t("product.amount", {
                min: t.money(product.range.min_minor, product.currency),
                max: t.money(product.range.max_minor, product.currency),
              }),
            ),
            h("input", {
              id: inputId,
              type: "number",
              inputmode: "decimal",
              min: String(product.range.min_minor / scale),
              max: String(product.range.max_minor / scale),
              step: String(1 / scale),
              value: String(product.range.min_minor / scale),
              oninput: (e) => {
                chosen = Math.round(Number(e.target.value) * scale);
              },
            }),
          );
        })()
      : null;

  // A live region of its own: what it shows is announced once (app.announce would say it
  // a second time, and show it twice to anything reading the page's text).
  const status = h("div", { class: "pb-status", role: "status", "aria-live": "polite" });
  const confirmBox = h("div", { class: "pb-confirm", hidden: true });
  const redeem = h(
    "button",
    {
      type: "button",
      class: "pb-primary pb-redeem",
      disabled: !product.enabled,
      onclick: () => openConfirm(),
    },
    t("product.redeem"),
  );

  const showResult = (order) => {
    const { kind, text } = outcome(app, order);
    fill(
      status,
      h("p", { class: `pb-${kind}` }, text),
      order.status === "fulfilled" || order.status === "held" || !["failed", "cancelled"].includes(order.status)
        ? h(
            "a",
            {
              class: "pb-button",
              href: app.options.embedded ? "#" : `#/rewards/${encodeURIComponent(order.id)}`,
              onclick: (e) => {
                e.preventDefault();
                app.go("rewards", order.id);
              },
            },
            t("redeem.see_reward"),
          )
        : null,
    );
  };

  const openConfirm = async () => {
    if (!chosen) return;
    // An attempt the server has not answered is taken up again, key and all: after a
    // dropped connection and Cancel, redeeming again must not order twice.
    app.unanswered ??= new Map();
    const slot = `${product.id}:${chosen}`;
    const attempt =
      app.unanswered.get(slot) ??
      new Attempt(app.api, { product_id: product.id, face_value_minor: chosen, recipient: app.person.id });
    app.unanswered.set(slot, attempt);
    const amount = t.money(chosen, product.currency);
    const balance = h("p", { class: "pb-muted" });
    app.api
      .wallet(app.person.id)
      .then((w) => {
        balance.textContent = t("redeem.balance", { points: t.number(w.points) });
      })
      .catch(() => undefined);
    const confirm = h("button", { type: "button", class: "pb-primary pb-confirm-button" }, t("redeem.confirm"));
    const cancel = h("button", { type: "button", class: "pb-button" }, t("redeem.cancel"));
    const close = () => {
      confirmBox.hidden = true;
      redeem.hidden = false;
      redeem.focus();
    };
    cancel.addEventListener("click", close);
    confirmBox.onkeydown = (event) => {
      if (event.key === "Escape" && !cancel.disabled) close();
    };
    confirm.addEventListener("click", async () => {
      if (app.offline || navigator.onLine === false) {
        fill(status, h("p", { class: "pb-error" }, t("redeem.offline")));
        return; // the attempt (and its key) stays: trying again later cannot order twice
      }
      confirm.disabled = true;
      cancel.disabled = true;
      confirm.textContent = t("redeem.busy");
      try {
        let order = await attempt.send();
        app.unanswered.delete(slot); // answered: the next redemption is a new order
        rememberOrder(app, order.id);
        confirmBox.hidden = true;
        redeem.hidden = false;
        showResult(order);
        if (!["fulfilled", "failed", "cancelled", "held"].includes(order.status)) {
          order = await attempt.settle(order);
          showResult(order);
        }
      } catch (e) {
        confirm.disabled = false;
        cancel.disabled = false;
        confirm.textContent = t("redeem.retry");
        let text;
        if (e instanceof OfflineError) text = t("redeem.unsure");
        else if (e instanceof ApiError && e.code === "insufficient_funds") text = t("redeem.failed.insufficient_funds");
        else text = app.problem(e);
        fill(status, h("p", { class: "pb-error" }, text));
        if (!(e instanceof OfflineError) && !(e instanceof ApiError && e.status >= 500)) {
          app.unanswered.delete(slot); // a refusal ends this attempt: the next gets a new key
          confirmBox.hidden = true;
          redeem.hidden = false;
        }
      }
    });
    fill(
      confirmBox,
      h("h2", {}, t("redeem.title")),
      h("p", {}, t("redeem.question", { product: product.name, amount })),
      balance,
      h("div", { class: "pb-row" }, confirm, cancel),
    );
    fill(status);
    redeem.hidden = true;
    confirmBox.hidden = false;
    confirm.focus();
  };

  return h(
    "article",
    { class: "pb-detail", "aria-labelledby": titleId },
    h(
      "p",
      {},
      h(
        "a",
        {
          href: app.options.embedded ? "#" : "#/catalogue",
          onclick: (e) => {
            e.preventDefault();
            app.go("catalogue");
          },
        },
        t("product.back"),
      ),
    ),
    h("span", { class: "pb-tile pb-tile-large", "aria-hidden": "true", "data-category": product.category }, product.brand.slice(0, 1)),
    // the catalogue's texts may be in another language than the app's (dir=auto)
    h("h1", { id: titleId, dir: "auto" }, product.name),
    h("p", { class: "pb-muted" }, `${product.brand} · ${t.category(product.category)}`),
    h("p", { dir: "auto" }, product.description),
    h(
      "p",
      { class: "pb-muted" },
      t("product.countries", { countries: t.list(product.countries.map((c) => t.country(c))) }),
    ),
    picker,
    product.enabled ? null : h("p", { class: "pb-error" }, t("product.unavailable")),
    redeem,
    confirmBox,
    status,
    h("h2", {}, t("product.terms")),
    h("p", { class: "pb-terms", dir: "auto" }, product.terms),
  );
}
