// "My rewards": the person's orders, newest first, each code revealed only when asked
// (it is a secret worth money), with a copy button, a QR code and its expiry.

import { ApiError } from "./api.js";
import { fill, h, uid } from "./dom.js";
import { rememberedOrders } from "./my-orders.js";
import { productText } from "./product-names.js";

async function listOrders(app) {
  try {
    const page = await app.api.orders(app.person.id);
    return { orders: page.orders, next: page.next_cursor, stale: page.stale };
  } catch (e) {
    // an older server cannot list them: show the ones this device placed
    if (!(e instanceof ApiError) || ![404, 405].includes(e.status)) throw e;
    const ids = rememberedOrders(app);
    const orders = await Promise.all(ids.map((id) => app.api.order(id).catch(() => null)));
    return { orders: orders.filter(Boolean), next: null, local: true };
  }
}

function statusText(app, order) {
  const t = app.t;
  if (order.status === "failed") {
    const key = `redeem.failed.${order.failure_reason}`;
    const text = t(key);
    return text === key ? t("status.failed") : text;
  }
  return t(`status.${order.status}`);
}

async function reveal(app, order, place, button) {
  const t = app.t;
  button.disabled = true;
  let codes;
  try {
    codes = await app.api.vouchers(order.id);
  } catch (e) {
    button.disabled = false;
    fill(place, h("p", { class: "pb-error", role: "alert" }, app.problem(e)));
    return;
  }
  const { qrSvg } = await import("./qr.js");
  let first = null; // the first code's Copy button: focus goes there once the codes show
  fill(
    place,
    codes.vouchers.map((v) => {
      const copied = h("span", { class: "pb-muted", role: "status" });
      const codeId = uid("code");
      // a link only to https: what a supplier's file says is not trusted to be a web page
      const url = /^https:\/\//i.test(v.url || "") ? v.url : "";
      const scan = url || v.code;
      let qr = null;
      try {
        qr = qrSvg(scan, t("reward.qr", { code: v.code }));
      } catch {
        qr = null; // too long for our encoder: the code as text is enough
      }
      const copy = h(
        "button",
        {
          type: "button",
          class: "pb-button",
          // "Copy code, button: X7K2-…": the code is said where focus lands
          "aria-describedby": `${codeId}-value`,
          onclick: async () => {
            try {
              await navigator.clipboard.writeText(v.code);
              copied.textContent = t("reward.copied");
            } catch {
              copied.textContent = t("reward.copy_failed");
            }
          },
        },
        t("reward.copy"),
      );
      first ??= copy;
      return h(
        "div",
        { class: "pb-voucher" },
        h("p", { class: "pb-muted", id: codeId }, t("reward.code")),
        h("p", { class: "pb-code", id: `${codeId}-value` }, v.code),
        v.pin ? h("p", {}, t("reward.pin", { pin: v.pin })) : null,
        url ? h("p", {}, h("a", { href: url, target: "_blank", rel: "noopener" }, t("reward.open"))) : null,
        h("p", {}, v.expires_at ? t("reward.expires", { date: t.date(v.expires_at) }) : t("reward.no_expiry")),
        h("div", { class: "pb-row" }, copy, copied),
        qr,
      );
    }),
  );
  // Show code is hidden: focus goes to the first code's Copy button (which reads the
  // code out), not to the page
  button.hidden = true;
  if (first) first.focus();
  else (place.setAttribute("tabindex", "-1"), place.focus());
  app.announce(t("reward.shown"));
}

function orderItem(app, order, focus) {
  const t = app.t;
  const name = h("span", { class: "pb-product-name" }, order.product_id);
  productText(app, order.product_id).then(({ name: text, lang }) => {
    name.textContent = text;
    if (lang) name.setAttribute("lang", lang);
  });
  const place = h("div", { class: "pb-codes" });
  const held = order.status === "held";
  const button =
    order.status === "fulfilled"
      ? h("button", { type: "button", class: "pb-primary pb-show-code" }, t("reward.show"))
      : null;
  button?.addEventListener("click", () => reveal(app, order, place, button));
  const item = h(
    "li",
    { class: `pb-order pb-order-${order.status}`, "data-order": order.id },
    h("h2", {}, name),
    h(
      "p",
      {},
      t.money(order.face_value.amount_minor, order.face_value.currency),
      " · ",
      order.price.currency === "PTS"
        ? app.points(order.price.amount_minor)
        : t.money(order.price.amount_minor, order.price.currency),
      " · ",
      t.dateTime(order.created_at),
    ),
    h("p", { class: held ? "pb-info" : "pb-muted" }, statusText(app, order)),
    button,
    place,
  );
  if (focus && button) setTimeout(() => button.focus(), 0);
  return item;
}

export async function render(app, focusId) {
  const t = app.t;
  const titleId = uid("rewards");
  let result;
  try {
    result = await listOrders(app);
  } catch (e) {
    return h(
      "section",
      {},
      h("h1", {}, t("rewards.title")),
      h("p", { class: "pb-error", role: "alert" }, app.problem(e)),
    );
  }
  const list = h("ul", { class: "pb-orders" });
  const more = h("div", { class: "pb-more" });
  const add = (page) => {
    list.append(...page.orders.map((o) => orderItem(app, o, o.id === focusId)));
    fill(
      more,
      page.next
        ? h(
            "button",
            {
              type: "button",
              class: "pb-button",
              onclick: async () => {
                const next = await app.api.orders(app.person.id, page.next).catch((e) => {
                  fill(more, h("p", { class: "pb-error" }, app.problem(e)));
                  return null;
                });
                if (next) add({ orders: next.orders, next: next.next_cursor });
              },
            },
            t("catalogue.more"),
          )
        : null,
    );
  };
  add(result);
  return h(
    "section",
    { "aria-labelledby": titleId },
    h("h1", { id: titleId }, t("rewards.title")),
    result.stale ? h("p", { class: "pb-notice" }, t("catalogue.stale")) : null,
    result.local ? h("p", { class: "pb-muted" }, t("rewards.local")) : null,
    result.orders.length ? list : h("p", {}, t("rewards.none")),
    more,
  );
}
