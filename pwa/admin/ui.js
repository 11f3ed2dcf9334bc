// What the console's views share: elements, tables, forms, money in and out, and how a
// refusal is shown. Text from the API is always set as text (dom.js never parses HTML).

import { ApiError, OfflineError } from "/app/api.js";
import { decimal, minorDigits } from "/app/currencies.js";
import { fill, h, uid } from "/app/dom.js";

export { fill, h, uid };

const LOCALE = navigator.language || "en";
const DATE_TIME = new Intl.DateTimeFormat(LOCALE, { dateStyle: "medium", timeStyle: "short" });
const NUMBER = new Intl.NumberFormat(LOCALE);

/** An amount ({amount_minor, currency}) for people: exact, in the currency's own digits. */
export function money(amount) {
  if (!amount) return "";
  const digits = minorDigits(amount.currency);
  try {
    const format = new Intl.NumberFormat(LOCALE, {
      style: "currency",
      currency: amount.currency,
      minimumFractionDigits: digits,
      maximumFractionDigits: digits,
    });
    return format.format(decimal(amount.amount_minor, amount.currency));
  } catch {
    // PTS (points) and other codes Intl does not know
    return `${decimal(amount.amount_minor, amount.currency)} ${amount.currency}`;
  }
}

export function number(n) {
  return n === null || n === undefined ? "" : NUMBER.format(n);
}

export function when(iso) {
  return iso ? DATE_TIME.format(new Date(iso)) : "";
}

/**
 * "1,500.25" typed for ``currency`` as integer minor units (150025), exactly: the text is
 * read as digits, never as a float. Throws an Error people can read.
 */
export function toMinor(text, currency) {
  const digits = minorDigits(currency);
  const typed = String(text).trim().replace(/[_\s]/g, "");
  // commas only as thousands groups ("2,500.50"): "2,50" is refused, never read as 250
  if (!/^(\d{1,3}(,\d{3})+|\d+)(\.\d*)?$/.test(typed)) {
    throw new Error(`“${text}” is not an amount: use digits and a decimal point, as in 2500.50`);
  }
  const match = /^(\d+)(?:\.(\d*))?$/.exec(typed.replace(/,/g, ""));
  const fraction = match[2] || "";
  if (fraction.length > digits) {
    throw new Error(`${currency} has ${digits} decimal places: “${text}” has ${fraction.length}`);
  }
  const minor = BigInt(match[1] + fraction.padEnd(digits, "0"));
  if (minor > BigInt(Number.MAX_SAFE_INTEGER)) {
    throw new Error(`“${text}” is too large for this console; use the API`);
  }
  return Number(minor);
}

/** A whole number typed by a person, or an Error saying what is wrong with it. */
export function toCount(text, what) {
  const typed = String(text).trim().replace(/[_\s]/g, "");
  if (!/^(\d{1,3}(,\d{3})+|\d+)$/.test(typed)) throw new Error(`${what} must be a whole number`);
  const plain = typed.replace(/,/g, "");
  const n = Number(plain);
  if (!Number.isSafeInteger(n)) throw new Error(`${what} is too large`);
  return n;
}

export const SESSION_ENDED = "Your session has ended: sign in again.";

/** What went wrong, in one line: the API's own words for a refusal. */
export function problemText(error) {
  if (error instanceof OfflineError) {
    return "No answer from the server: check the connection and try again.";
  }
  if (error instanceof ApiError) {
    if (error.status === 401) return SESSION_ENDED;
    if (error.status === 403) return `Not allowed: ${error.message}`;
    if (error.status === 422 && error.code === "invalid_request") {
      // the API's words name a pattern: say which field, in ours
      const pointer = (error.body.errors || [])[0]?.pointer || "";
      const name = pointer.split("/").filter((part) => part && part !== "#").pop();
      if (name && /[Ee]xpected|regex/.test(error.message)) return `The ${name.replaceAll("_", " ")} is not valid.`;
    }
    if (error.code === "stale_revision") {
      return `Someone else saved these settings since you opened them (${error.message}); open the view again to see theirs.`;
    }
    return error.message;
  }
  return error && error.message ? error.message : String(error);
}

/** A line that says how an action went: role=status while it runs or succeeds, an alert
 * when it fails (screen readers announce both). */
export function notice() {
  const el = h("p", { class: "pa-notice", role: "status", "aria-live": "polite", tabindex: "-1" });
  el.busy = (text) => {
    el.className = "pa-notice pa-busy";
    el.setAttribute("role", "status");
    fill(el, text);
  };
  el.ok = (text) => {
    el.className = "pa-notice pa-ok";
    el.setAttribute("role", "status");
    fill(el, text);
  };
  el.fail = (error) => {
    el.className = "pa-notice pa-fail";
    el.setAttribute("role", "alert");
    fill(el, problemText(error));
  };
  el.clear = () => {
    el.className = "pa-notice";
    fill(el);
  };
  return el;
}

/** A labelled input. ``attrs`` go to the input (name, required, type, value…). */
export function field(label, attrs, hint) {
  const id = uid("f");
  const hintId = hint ? `${id}-hint` : undefined;
  const input =
    attrs.tag === "select"
      ? h("select", { id, name: attrs.name, required: attrs.required }, attrs.options || [])
      : h(attrs.tag || "input", { id, "aria-describedby": hintId, ...attrs, tag: undefined });
  return h(
    "div",
    { class: "pa-field" },
    h("label", { for: id }, label),
    input,
    hint ? h("small", { id: hintId, class: "pa-hint" }, hint) : null,
  );
}

export function option(value, text, selected) {
  return h("option", { value, selected: Boolean(selected) }, text ?? value);
}

/**
 * A form whose submit runs ``action(values, notice, form, once)`` once at a time; the
 * notice shows progress and the outcome. ``action`` returns the success text (or nothing;
 * ``false`` to show none). With ``keyPrefix`` the form's writes go through
 * ``once(key => …)``, which gives them the form's ``WriteKey``.
 */
export function form(title, fields, submitText, action, keyPrefix) {
  const status = notice();
  const button = h("button", { type: "submit", class: "pa-primary" }, submitText);
  const el = h(
    "form",
    { class: "pa-form", "aria-label": title, novalidate: true },
    h("h3", {}, title),
    fields,
    h("div", { class: "pa-actions" }, button),
    status,
  );
  el.addEventListener("submit", async (event) => {
    event.preventDefault();
    if (button.disabled) return;
    if (!el.checkValidity()) {
      el.reportValidity();
      return;
    }
    const values = Object.fromEntries(new FormData(el).entries());
    button.disabled = true;
    status.busy("Working…");
    try {
      const once = (write) => keyed(writeKey, write);
      const done = await action(values, status, el, once);
      if (done === false) status.clear();
      else status.ok(done || "Done.");
    } catch (error) {
      status.fail(error);
    } finally {
      button.disabled = false;
    }
  });
  const writeKey = keyPrefix ? new WriteKey(keyPrefix, el) : null;
  return el;
}

/**
 * A table: ``columns`` are ``{title, cell(row) → text or node, numeric?}``. An empty
 * list says ``empty`` instead.
 */
export function table(caption, columns, rows, empty) {
  if (!rows.length) return h("p", { class: "pa-empty" }, empty);
  return h(
    "div",
    { class: "pa-table-wrap" },
    h(
      "table",
      { class: "pa-table" },
      h("caption", { class: "pa-visually-hidden" }, caption),
      h(
        "thead",
        {},
        h(
          "tr",
          {},
          columns.map((c) => h("th", { scope: "col", class: c.numeric ? "pa-num" : null }, c.title)),
        ),
      ),
      h(
        "tbody",
        {},
        rows.map((row) =>
          h(
            "tr",
            {},
            columns.map((c) => h("td", { class: c.numeric ? "pa-num" : null }, c.cell(row))),
          ),
        ),
      ),
    ),
  );
}

/** A section of a view: a heading and what goes under it. */
export function section(title, ...children) {
  return h("section", { class: "pa-section" }, h("h2", {}, title), children);
}

/**
 * The Idempotency-Key of a form's write: the same on every try until the server has given
 * a definite answer, so a try again after a lost or late answer (offline, a timeout, a
 * retryable refusal, the same key still in progress) cannot do the thing twice; a new one
 * once it has answered, or once the form's inputs change (a new thing asked for).
 */
export class WriteKey {
  constructor(prefix, formElement) {
    this.prefix = prefix;
    this.key = newKey(prefix);
    formElement?.addEventListener("input", () => this.renew());
  }

  renew() {
    this.key = newKey(this.prefix);
  }

  /** After a try: renew unless its outcome is unknown or may change on a retry. */
  settled(error) {
    if (error === undefined || definite(error)) this.renew();
  }
}

function definite(error) {
  if (!(error instanceof ApiError)) return false; // offline, or not sent at all
  if (error.body && error.body.retryable) return false;
  return error.status < 500 && error.status !== 409 && error.status !== 429 && error.status !== 0;
}

/** Runs ``write(key)`` under the form's ``WriteKey``. */
export async function keyed(writeKey, write) {
  try {
    const answer = await write(writeKey.key);
    writeKey.settled();
    return answer;
  } catch (error) {
    writeKey.settled(error);
    throw error;
  }
}

/** A fresh Idempotency-Key for one write a person asked for once. */
export function newKey(prefix) {
  const random = crypto.randomUUID
    ? crypto.randomUUID()
    : Array.from(crypto.getRandomValues(new Uint8Array(16)), (b) => b.toString(16).padStart(2, "0")).join("");
  return `${prefix}-${random}`;
}

/** Loads ``load()`` into ``into`` (a loading line first, the refusal if it fails). */
/** A button that loads the next page into ``into`` (``load(cursor)``), then calls
 * ``after`` (forms whose choices are the rows shown); null on the last page. */
export function more(label, into, cursor, load, after = () => {}) {
  if (!cursor) return null;
  const onclick = async () => {
    await loadInto(into, () => load(cursor));
    after();
  };
  return h("button", { type: "button", onclick }, label);
}

export async function loadInto(into, load) {
  fill(into, h("p", { class: "pa-muted" }, "Loading…"));
  try {
    fill(into, await load());
  } catch (error) {
    fill(into, h("p", { class: "pa-notice pa-fail", role: "alert" }, problemText(error)));
  }
}

/** A CSV file to upload, with what it must hold said under it. */
export function csvField(hint) {
  return field("CSV file", { name: "file", type: "file", accept: ".csv,text/csv", required: true }, hint);
}

/** The text of the form's CSV file, or an Error people can read. */
export async function csvText(values) {
  if (!values.file || !values.file.size) throw new Error("Choose a CSV file.");
  return values.file.text();
}

/** Text as a download, named ``name`` (a results CSV, a secret's record). */
export function download(name, text, type) {
  const url = URL.createObjectURL(new Blob([text], { type: type || "text/csv" }));
  const link = h("a", { href: url, download: name });
  document.body.append(link);
  link.click();
  link.remove();
  setTimeout(() => URL.revokeObjectURL(url), 10_000);
}
