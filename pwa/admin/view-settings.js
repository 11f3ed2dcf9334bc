// The tenant's settings (ADR 25): its branding (name, logo, colours: what the app and the
// storefront show), its programme (what points are called, order limits, the value from
// which orders wait for review, the sites that may embed the storefront) and its emails
// (ADR 41: which are sent, and their text in the tenant's default locale). Each is a
// document written over the revision read: a save after someone else's says so (412)
// instead of undoing theirs.

import { decimal } from "/app/currencies.js";
import { field, fill, form, h, loadInto, money, section, toCount, toMinor, uid, within } from "./ui.js";

/** The app's colours until a tenant sets its own (edge: ``Colours``). */
const DEFAULT_COLOURS = {
  primary: "#1f5fbf",
  on_primary: "#ffffff",
  background: "#ffffff",
  surface: "#f4f6f8",
  text: "#1b1f24",
  accent: "#e8a317",
  on_accent: "#1b1f24",
  error: "#b3261e",
};
const COLOURS = Object.keys(DEFAULT_COLOURS);
/** The pairs the app draws text in (foreground, background), and what each is called. */
const PAIRS = [
  ["text", "background", "Text on background"],
  ["text", "surface", "Text on surface"],
  ["muted", "background", "Secondary text on background"],
  ["primary", "background", "Primary (links) on background"],
  ["on_primary", "primary", "On primary on primary (buttons)"],
  ["error", "background", "Error on background"],
  ["on_accent", "accent", "On accent on accent (notices)"],
];
/** WCAG AA for normal text. */
const READABLE = 4.5;

export async function render(into, app) {
  const boxes = { branding: h("div", {}), programme: h("div", {}), emails: h("div", {}) };
  const makers = { branding: brandingForm, programme: programmeForm, emails: emailsForm };
  // One status line for the view, on the page before its text is set (a live region
  // added with its text already in it is not announced), kept across the reload of a
  // form after a save (the form is read again: its new revision).
  const saved = h("p", { class: "pa-notice pa-ok", role: "status" });
  const load = (name) => loadInto(boxes[name], () => makers[name](app, (text) => reload(name, text)));
  const reload = async (name, text) => {
    fill(saved);
    await load(name);
    saved.textContent = text;
    // back to the form saved, on its save button (the one pressed was drawn over)
    const again = boxes[name].querySelector("button[type=submit]") || boxes[name].querySelector("input, textarea");
    again?.focus();
  };
  fill(
    into,
    saved,
    section("Branding", boxes.branding),
    section("Programme", boxes.programme),
    section("Emails", boxes.emails),
  );
  await Promise.all(Object.keys(boxes).map(load));
}

/** ``#rrggbb`` → WCAG relative luminance. */
function luminance(hex) {
  const [r, g, b] = [1, 3, 5].map((i) => {
    const c = parseInt(hex.slice(i, i + 2), 16) / 255;
    return c <= 0.04045 ? c / 12.92 : ((c + 0.055) / 1.055) ** 2.4;
  });
  return 0.2126 * r + 0.7152 * g + 0.0722 * b;
}

/** The contrast ratio of two ``#rrggbb`` colours (1 to 21). */
export function contrast(a, b) {
  const [high, low] = [luminance(a), luminance(b)].sort((x, y) => y - x);
  return (high + 0.05) / (low + 0.05);
}

/** ``color-mix(in srgb, a share, b)`` as the app makes its secondary text (app.css). */
function mix(a, b, share) {
  const channel = (hex, i) => parseInt(hex.slice(i, i + 2), 16);
  return `#${[1, 3, 5]
    .map((i) => Math.round(channel(a, i) * share + channel(b, i) * (1 - share)).toString(16).padStart(2, "0"))
    .join("")}`;
}

/**
 * Each pair's contrast, worked out again as the colours change, with a warning under
 * 4.5:1. Each colour's input is described by the pairs it is in; one status line says
 * how many pairs are hard to read when that number changes (not at each step of a drag).
 */
function contrastCheck(inputs) {
  const items = PAIRS.map(([fg, bg, label]) => ({ fg, bg, label, el: h("li", { id: uid("pair") }) }));
  for (const [name, input] of Object.entries(inputs)) {
    const ids = items.filter((i) => i.fg === name || i.bg === name || (i.fg === "muted" && name === "text")).map((i) => i.el.id);
    input.setAttribute("aria-describedby", ids.join(" "));
  }
  const summary = h("p", { class: "pa-muted", role: "status" });
  let hard = -1;
  const update = () => {
    const colour = Object.fromEntries(Object.entries(inputs).map(([name, input]) => [name, input.value]));
    colour.muted = mix(colour.text, colour.background, 0.72);
    let under = 0;
    for (const item of items) {
      const ratio = contrast(colour[item.fg], colour[item.bg]);
      const low = ratio < READABLE;
      under += low ? 1 : 0;
      item.el.className = low ? "pa-fail-text" : "";
      fill(item.el, `${item.label}: ${ratio.toFixed(1)}:1`, low ? ` — under ${READABLE}:1, hard to read` : "");
    }
    if (under !== hard) {
      hard = under;
      fill(summary, under ? `${under} of ${items.length} pairs are under ${READABLE}:1.` : `Every pair is ${READABLE}:1 or more.`);
    }
  };
  update();
  return { element: h("div", { class: "pa-contrast-box" }, h("ul", { class: "pa-contrast" }, items.map((i) => i.el)), summary), update };
}

/** The precondition of a write over ``etag`` (or of the first write). */
function over(etag) {
  return etag ? { "If-Match": etag } : { "If-None-Match": "*" };
}

async function brandingForm(app, reload) {
  const { body, etag } = await app.api.document("/tenant/config/branding");
  const doc = body || { display_name: app.tenant, logo_url: null };
  const current = { ...DEFAULT_COLOURS, ...(doc.colours || {}) };
  // the configuration is the whole tenant's: staff with grants read it (ADR 19)
  const writable = app.can("config:write") && !app.me.grants.length;
  const inputs = Object.fromEntries(
    COLOURS.map((name) => [
      name,
      h("input", { type: "color", name: `colour:${name}`, value: current[name].slice(0, 7), disabled: !writable }),
    ]),
  );
  const check = contrastCheck(inputs);
  const colours = h(
    "fieldset",
    { class: "pa-choices", oninput: check.update },
    h("legend", {}, "Colours"),
    COLOURS.map((name) => h("label", {}, inputs[name], ` ${name.replace("_", " ")}`)),
    check.element,
  );
  const el = form(
    "Branding",
    [
      field("Name shown to people", { name: "display_name", required: true, maxlength: 80, value: doc.display_name, disabled: !writable }),
      field("Logo URL", { name: "logo_url", value: doc.logo_url || "", disabled: !writable }, "https://… or a path on this site; empty for none."),
      colours,
    ],
    "Save branding",
    async (v) => {
      const next = { display_name: v.display_name.trim(), logo_url: v.logo_url.trim() || null };
      next.colours = Object.fromEntries(
        // a colour with transparency (#rrggbbaa) the picker cannot show stays as it was
        COLOURS.map((name) => [name, v[`colour:${name}`] === current[name].slice(0, 7) ? current[name] : v[`colour:${name}`]]),
      );
      await app.api.put("/tenant/config/branding", next, over(etag));
      await reload("Branding saved: the app shows it from the next page load.");
      return false;
    },
  );
  if (!writable) el.querySelector("button[type=submit]").remove();
  return el;
}

async function programmeForm(app, reload) {
  const { body, etag } = await app.api.document("/tenant/config/programme");
  const doc = body || {};
  // the configuration is the whole tenant's: staff with grants read it (ADR 19)
  const writable = app.can("config:write") && !app.me.grants.length;
  const threshold = doc.review_threshold;
  const el = form(
    "Programme",
    [
      field("What points are called", { name: "points_name", "data-pointer": "points_name", maxlength: 80, value: doc.points_name || "points", disabled: !writable }),
      field("Orders a person may place a day", { name: "per_day", "data-pointer": "max_orders_per_day", inputmode: "numeric", value: doc.max_orders_per_day ?? "", disabled: !writable }, "Empty: no limit."),
      field("Orders a person may place a week", { name: "per_week", "data-pointer": "max_orders_per_week", inputmode: "numeric", value: doc.max_orders_per_week ?? "", disabled: !writable }, "Empty: no limit."),
      field(
        "Orders wait for review from (face value)",
        { name: "review", "data-pointer": "review_threshold", inputmode: "decimal", value: threshold ? decimal(threshold.amount_minor, threshold.currency) : "", disabled: !writable },
        threshold ? `Now: ${money(threshold)}. Empty: no review.` : "Empty: no review.",
      ),
      field("Currency of that value", { name: "review_currency", "data-pointer": "currency", pattern: "[A-Z]{3}", maxlength: 3, value: threshold ? threshold.currency : "EUR", disabled: !writable }),
      field(
        "Sites that may embed the storefront",
        { name: "origins", "data-pointer": "allowed_origins", value: (doc.allowed_origins || []).join(" "), disabled: !writable },
        "Origins separated by spaces, e.g. https://intranet.example.com",
      ),
    ],
    "Save programme",
    async (v) => {
      const next = { ...doc, points_name: v.points_name.trim() || "points" };
      // a refusal of ours is shown at its field (``within``); the API's, by its pointer
      next.max_orders_per_day = v.per_day.trim() ? within("per_day", () => toCount(v.per_day, "Orders a day")) : null;
      next.max_orders_per_week = v.per_week.trim() ? within("per_week", () => toCount(v.per_week, "Orders a week")) : null;
      next.review_threshold = v.review.trim()
        ? { amount_minor: within("review", () => toMinor(v.review, v.review_currency)), currency: v.review_currency }
        : null;
      next.allowed_origins = v.origins.split(/\s+/).filter(Boolean);
      await app.api.put("/tenant/config/programme", next, over(etag));
      await reload("Programme saved.");
      return false;
    },
  );
  if (!writable) el.querySelector("button[type=submit]").remove();
  return el;
}

/**
 * The emails perkbus sends (``TEMPLATE_PLACEHOLDERS`` in bus/messages/tenant_config.py):
 * their names here, when each is sent, and the placeholders their texts may use. The
 * server says neither, so they are repeated here; tests/browser/test_admin_emails.py
 * fails when the two differ.
 */
const EMAILS = [
  {
    id: "welcome",
    label: "Welcome",
    when: "When a person is added.",
    uses: ["person_name", "programme_name", "sign_in_url"],
  },
  {
    id: "password.reset",
    label: "Password reset",
    when: "When a person asks for a link to choose a new password, or staff send one (it works once, for an hour).",
    uses: ["person_name", "programme_name", "password_url", "sign_in_url"],
  },
  {
    id: "password.invite",
    label: "Invitation",
    when: "When staff invite a person who has no password yet (the link works once, for a week).",
    uses: ["person_name", "programme_name", "password_url", "sign_in_url"],
  },
  {
    id: "points.issued",
    label: "Points received",
    when: "When a person receives points.",
    uses: ["person_name", "programme_name", "points", "points_name", "reason", "balance", "sign_in_url"],
  },
  {
    id: "order.placed",
    label: "Order waiting for review",
    when: "When a person's order waits for a reviewer.",
    uses: ["person_name", "programme_name", "product_name", "order_id"],
  },
  {
    id: "order.fulfilled",
    label: "Order ready",
    when: "When a person's order is ready (or staff send it again), with the link to its code.",
    uses: ["person_name", "programme_name", "product_name", "order_id", "code_url"],
  },
  {
    id: "order.failed",
    label: "Order failed",
    when: "When a person's order could not be completed.",
    uses: ["person_name", "programme_name", "product_name", "order_id", "reason"],
  },
  {
    id: "order.cancelled",
    label: "Order cancelled",
    when: "When staff cancel a person's order (its code voided, its cost given back).",
    uses: ["person_name", "programme_name", "product_name", "order_id", "reason"],
  },
];

/** What is sent while the default locale has no text of the tenant's own (the mailer's
 * order: the locale's language, then English, then perkbus's own English text). */
function fallback(byLocale, locale) {
  const language = locale.split("-")[0];
  for (const tag of [language, "en"]) {
    if (tag !== locale && byLocale[tag]) return `your own text in ${tag}`;
  }
  return "perkbus's own English text";
}

async function emailsForm(app, reload) {
  const [{ body, etag }, locales] = await Promise.all([
    app.api.document("/tenant/config/email-templates"),
    app.api.document("/tenant/config/locales"),
  ]);
  const doc = body || {};
  const templates = doc.templates || {};
  const off = doc.off || [];
  const locale = (locales.body && locales.body.default) || "en";
  // the configuration is the whole tenant's: staff with grants read it (ADR 19)
  const writable = app.can("config:write") && !app.me.grants.length;
  const rows = EMAILS.map((email) => {
    const byLocale = templates[email.id] || {};
    const own = byLocale[locale];
    const others = Object.keys(byLocale).filter((tag) => tag !== locale);
    const usesId = uid("uses");
    const bodyField = field(`Body (${locale})`, {
      tag: "textarea",
      name: `body:${email.id}`,
      rows: 6,
      maxlength: 50000,
      "aria-describedby": usesId,
      disabled: !writable,
    });
    bodyField.querySelector("textarea").defaultValue = own ? own.body : "";
    return h(
      "fieldset",
      { class: "pa-email" },
      h("legend", {}, email.label),
      h("p", { class: "pa-muted" }, email.when),
      h(
        "label",
        { class: "pa-check" },
        h("input", { type: "checkbox", name: `sent:${email.id}`, checked: !off.includes(email.id), disabled: !writable }),
        " Sent",
      ),
      h(
        "p",
        { id: usesId, class: "pa-hint" },
        `Placeholders: ${email.uses.map((name) => `{{${name}}}`).join(", ")}. `,
        `Empty subject and body: ${fallback(byLocale, locale)}.`,
        others.length ? ` Its texts in ${others.join(", ")} are kept as they are.` : "",
      ),
      field(`Subject (${locale})`, {
        name: `subject:${email.id}`,
        maxlength: 200,
        value: own ? own.subject : "",
        "aria-describedby": usesId,
        disabled: !writable,
      }),
      bodyField,
    );
  });
  const el = form(
    "Emails",
    [h("p", { class: "pa-muted" }, `Texts in ${locale}, the tenant's default locale.`), rows],
    "Save emails",
    async (v) => {
      // emails this console does not know yet stay as they were
      const unknown = off.filter((id) => !EMAILS.some((email) => email.id === id));
      const next = { ...doc, templates: { ...templates } };
      next.off = [...EMAILS.filter((email) => !v[`sent:${email.id}`]).map((email) => email.id), ...unknown];
      for (const email of EMAILS) {
        const byLocale = { ...(templates[email.id] || {}) };
        const subject = v[`subject:${email.id}`].trim();
        const text = v[`body:${email.id}`];
        if (!subject && !text.trim()) {
          delete byLocale[locale]; // what is sent without one of the tenant's own, again
        } else if (!subject || !text.trim()) {
          // the server needs both: say which email before sending
          throw new Error(`${email.label}: write both a subject and a body, or empty both to use ${fallback(byLocale, locale)}.`);
        } else {
          byLocale[locale] = { subject, body: text };
        }
        if (Object.keys(byLocale).length) next.templates[email.id] = byLocale;
        else delete next.templates[email.id];
      }
      await app.api.put("/tenant/config/email-templates", next, over(etag));
      await reload("Emails saved.");
      return false;
    },
  );
  if (!writable) el.querySelector("button[type=submit]").remove();
  return el;
}
