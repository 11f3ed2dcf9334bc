// What the console's views share: elements, tables, forms, money in and out, and how a
// refusal is shown. Text from the API is always set as text (dom.js never parses HTML).

import { ApiError, OfflineError } from "/app/api.js";
import { decimal, minorDigits } from "/app/currencies.js";
import { fill, h, uid } from "/app/dom.js";

export { fill, h, uid };

// the page's language (lang="en"), not the browser's: amounts and dates read as the words
// around them do, and as amounts are typed (digits, a point before the decimals)
const LOCALE = document.documentElement.lang || "en";
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

/** How an amount is typed, said under every amount field (``inputmode: "decimal"``). */
export const AMOUNT_FORMAT = "Digits, with a point before any decimals: 2500.50 or 2,500.50.";

/** A labelled input. ``attrs`` go to the input (name, required, type, value…). An amount
 * (``inputmode: "decimal"``) says how to type it in its hint. */
export function field(label, attrs, hint) {
  if (attrs.inputmode === "decimal") hint = hint ? `${hint} ${AMOUNT_FORMAT}` : AMOUNT_FORMAT;
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
    // h3 under a section's h2; levelHeadings makes it an h2 where the form is not in one
    h("h3", {}, title),
    fields,
    h("div", { class: "pa-actions" }, button),
    status,
  );
  const problems = fieldProblems(el);
  el.addEventListener("submit", async (event) => {
    event.preventDefault();
    if (button.disabled) return;
    problems.clear();
    if (!el.checkValidity()) {
      // each field says what is wrong with it; the first one wrong gets focus
      const wrong = [...el.elements].filter((input) => input.willValidate && !input.validity.valid);
      for (const input of wrong) problems.add(input, input.validationMessage);
      status.fail(new Error(`Check ${wrong.map(labelOf).join(", ")}.`));
      problems.focus();
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
      // an error of ours about one field is said there; the form's line says where
      const marked = problems.fromError(error);
      status.fail(error && error.field && marked.length ? new Error(`Check ${marked.map(labelOf).join(", ")}.`) : error);
      button.disabled = false;
      problems.focus();
    } finally {
      button.disabled = false;
    }
  });
  const writeKey = keyPrefix ? new WriteKey(keyPrefix, el) : null;
  return el;
}

/** A field's label, for "Check Points, Person id." */
function labelOf(input) {
  const text = input.labels?.[0]?.textContent || input.name || "a field";
  return text.trim();
}

/** The form's input that a name or a JSON pointer's part names: ``data-pointer`` (the
 * API's name, where the field's differs) or the input's own name. */
function inputNamed(formElement, name) {
  if (!name) return null;
  const byPointer = formElement.querySelector(`[data-pointer="${CSS.escape(name)}"]`);
  const named = byPointer || formElement.elements.namedItem(name);
  return named && named.length !== undefined && !named.tagName ? named[0] : named;
}

/**
 * Errors tied to their fields: each wrong field is ``aria-invalid`` and described by a
 * line under it that says why (``aria-describedby``), so a screen reader says it there.
 * ``fromError`` finds the field of a thrown Error (``error.field``, see ``within``) or of
 * the API's problem (``errors[].pointer``, "#/points").
 */
function fieldProblems(formElement) {
  const marked = new Map(); // input → [note, its aria-describedby before]
  const add = (input, message) => {
    if (!input || marked.has(input)) return;
    const note = h("small", { id: uid("error"), class: "pa-field-error pa-fail-text" }, message);
    const before = input.getAttribute("aria-describedby");
    (input.closest(".pa-field") || input.parentElement).append(note);
    input.setAttribute("aria-invalid", "true");
    input.setAttribute("aria-describedby", before ? `${note.id} ${before}` : note.id);
    marked.set(input, [note, before]);
  };
  return {
    add,
    clear() {
      for (const [input, [note, before]] of marked) {
        note.remove();
        input.removeAttribute("aria-invalid");
        if (before) input.setAttribute("aria-describedby", before);
        else input.removeAttribute("aria-describedby");
      }
      marked.clear();
    },
    /** Marks the fields ``error`` is about; returns them. */
    fromError(error) {
      if (error && error.field) add(inputNamed(formElement, error.field), error.message);
      const listed = error instanceof ApiError && error.body && Array.isArray(error.body.errors) ? error.body.errors : [];
      for (const item of listed) {
        const parts = String(item.pointer || "").split("/").filter((part) => part && part !== "#");
        const input = parts.reverse().map((part) => inputNamed(formElement, part)).find(Boolean);
        add(input, item.detail || problemText(error));
      }
      return [...marked.keys()];
    },
    focus() {
      const first = [...marked.keys()][0];
      if (first) first.focus();
    },
  };
}

/** ``read()``, whose Error (a toMinor, toCount … refusal) is about field ``name``: the
 * form shows it at that field. */
export function within(name, read) {
  try {
    return read();
  } catch (error) {
    if (error && typeof error === "object") error.field = name;
    throw error;
  }
}

/** An Error about field ``name`` of a form, shown at that field. */
export function fieldError(name, message) {
  const error = new Error(message);
  error.field = name;
  return error;
}

/** Forms' headings one level under the heading of what holds them: an h2 under the
 * view's h1, an h3 in a section (its h2). Called on what is added to the page. */
export function levelHeadings(root) {
  const forms = root.matches?.(".pa-form") ? [root] : [...(root.querySelectorAll?.(".pa-form") || [])];
  for (const formElement of forms) {
    const heading = formElement.querySelector(":scope > h2, :scope > h3, :scope > h4");
    if (!heading) continue;
    let level = 1;
    for (let at = formElement.parentElement; at; at = at.parentElement) {
      const over = at.querySelector(":scope > h1, :scope > h2, :scope > h3, :scope > h4, :scope > h5");
      if (over) {
        level = Number(over.tagName[1]);
        break;
      }
    }
    const wanted = `H${Math.min(6, level + 1)}`;
    if (heading.tagName === wanted) continue;
    const next = document.createElement(wanted);
    for (const { name, value } of heading.attributes) next.setAttribute(name, value);
    next.append(...heading.childNodes);
    heading.replaceWith(next);
  }
}

/**
 * A table: ``columns`` are ``{title, cell(row) → text or node, numeric?}``. An empty
 * list says ``empty`` instead.
 */
export function table(caption, columns, rows, empty) {
  if (!rows.length) return h("p", { class: "pa-empty" }, empty);
  // a wide table scrolls in its box: the box takes focus (arrow keys scroll it) and is
  // named after the table
  return h(
    "div",
    { class: "pa-table-wrap", tabindex: "0", role: "region", "aria-label": caption },
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
