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
  const lang = t.textLang(product); // its texts may be in English where ours are not
  const choices = product.denominations.length ? product.denominations : [];
  let chosen = choices[0] || product.range?.min_minor || 0;
  const valueName = uid("value");
  let amountInput = null;
  let checkAmount = () => chosen; // a variable amount is checked before confirming
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
          const errorId = uid("amount-error");
          const scale = 10 ** minorDigits(product.currency);
          const bounds = {
            min: t.money(product.range.min_minor, product.currency),
            max: t.money(product.range.max_minor, product.currency),
          };
          const error = h("p", { id: errorId, class: "pb-error" });
          const clear = () => {
            amountInput.removeAttribute("aria-invalid");
            amountInput.removeAttribute("aria-describedby");
            error.textContent = "";
          };
          amountInput = h("input", {
            id: inputId,
            type: "number",
            inputmode: "decimal",
            min: String(product.range.min_minor / scale),
            max: String(product.range.max_minor / scale),
            step: String(1 / scale),
            value: String(product.range.min_minor / scale),
            oninput: clear,
          });
          // empty, 0, out of the range or finer than the currency's digits: said at the
          // field (not confirmed, then refused by the server in its English)
          checkAmount = () => {
            const typed = amountInput.value.trim();
            const value = Number(typed);
            const minor = Math.round(value * scale);
            const exact = Math.abs(value * scale - minor) < 1e-6;
            if (typed && Number.isFinite(value) && exact && !amountInput.validity.badInput &&
                minor >= product.range.min_minor && minor <= product.range.max_minor) {
              clear();
              return minor;
            }
            error.textContent = t("product.amount_invalid", bounds);
            amountInput.setAttribute("aria-invalid", "true");
            amountInput.setAttribute("aria-describedby", errorId);
            amountInput.focus();
            return null;
          };
          return h(
            "div",
            { class: "pb-field" },
            h("label", { for: inputId }, t("product.amount", bounds)),
            amountInput,
            error,
          );
        })()
      : null;

  // A live region of its own: what it shows is announced once (app.announce would say it
  // a second time, and show it twice to anything reading the page's text).
  const status = h("div", { class: "pb-status", role: "status", "aria-live": "polite" });
  // a group named and described by its question: focus lands on Confirm, and a screen
  // reader says what is being confirmed
  const confirmTitle = uid("confirm");
  const confirmQuestion = uid("question");
  const confirmBox = h("div", {
    class: "pb-confirm",
    role: "group",
    "aria-labelledby": confirmTitle,
    "aria-describedby": confirmQuestion,
    hidden: true,
  });
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

  /** Say ``text`` in the status region; with ``focus``, focus goes to it (the control
   * that was focused is hidden or about to be). */
  const say = (text, focus) => {
    const message = h("p", { class: "pb-error", tabindex: "-1" }, text);
    fill(status, message);
    if (focus) message.focus();
  };

  /** The order's outcome; focus goes to "See my reward" (or to the message when there is
   * none) when asked, or when it was on the outcome this one replaces. */
  const showResult = (order, focus = false) => {
    const { kind, text } = outcome(app, order);
    const focusHere = focus || Boolean(app.focused() && status.contains(app.focused()));
    const message = h("p", { class: `pb-${kind}`, tabindex: "-1" }, text);
    const link =
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
        : null;
    fill(status, message, link);
    if (focusHere) (link || message).focus();
  };

  const openConfirm = async () => {
    const amount = checkAmount();
    if (!amount) return;
    chosen = amount;
    // An attempt the server has not answered is taken up again, key and all: after a
    // dropped connection and Cancel, redeeming again must not order twice.
    app.unanswered ??= new Map();
    const slot = `${product.id}:${chosen}`;
    const attempt =
      app.unanswered.get(slot) ??
      new Attempt(app.api, { product_id: product.id, face_value_minor: chosen, recipient: app.person.id });
    app.unanswered.set(slot, attempt);
    const worth = t.money(chosen, product.currency);
    const balance = h("p", { class: "pb-muted" });
    app.api
      .wallet(app.person.id)
      .then((w) => {
        balance.textContent = app.pointsName()
          ? t("redeem.balance_named", { amount: app.points(w.points) })
          : t.plural("redeem.balance", w.points, { points: t.number(w.points) });
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
        say(t("redeem.offline"), false); // Confirm stays, focused, for a try later
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
        showResult(order, true); // the focused Confirm is gone: focus goes to the outcome
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
        if (!(e instanceof OfflineError) && !(e instanceof ApiError && e.status >= 500)) {
          app.unanswered.delete(slot); // a refusal ends this attempt: the next gets a new key
          confirmBox.hidden = true;
          redeem.hidden = false;
          say(text, true);
        } else {
          say(text, false);
          confirm.focus(); // "Try again" is where the person is
        }
      }
    });
    fill(
      confirmBox,
      h("h2", { id: confirmTitle }, t("redeem.title")),
      h("p", { id: confirmQuestion }, t("redeem.question", { product: product.name, amount: worth })),
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
    h("h1", { id: titleId, dir: "auto", lang }, product.name),
    h("p", { class: "pb-muted" }, `${product.brand} · ${t.category(product.category)}`),
    h("p", { dir: "auto", lang }, product.description),
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
    h("p", { class: "pb-terms", dir: "auto", lang }, product.terms),
  );
}
