// The admin console (ADR 36): one page at /admin/?tenant=<tenant>, views by the location's
// hash (#/budgets, #/orders…). Staff sign in with the cookie session the app uses (ADR 20);
// the console shows the views the session's permissions allow (GET /auth/me), and the
// API checks every action again — hiding a view is a courtesy, not the control.

import { Api, ApiError, OfflineError } from "/app/api.js";
import { SESSION_ENDED, fill, h, levelHeadings, problemText, uid } from "./ui.js";
import * as audit from "./view-audit.js";
import * as budgets from "./view-budgets.js";
import * as catalogue from "./view-catalogue.js";
import * as clients from "./view-clients.js";
import * as funding from "./view-funding.js";
import * as orders from "./view-orders.js";
import * as people from "./view-people.js";
import * as reports from "./view-reports.js";
import * as rewards from "./view-rewards.js";
import * as settings from "./view-settings.js";
import * as vouchers from "./view-vouchers.js";
import * as webhooks from "./view-webhooks.js";

/** The views, in the navigation's order, each shown to those with its permission. */
const VIEWS = [
  { path: "budgets", title: "Budgets", needs: "budgets:read", view: budgets },
  // funding accounts are the whole tenant's money, before it reaches budgets (ADR 38)
  { path: "funding", title: "Funding", needs: "funding:read", view: funding, wholeTenant: true },
  { path: "rewards", title: "Rewards", needs: "rewards:issue", view: rewards },
  { path: "orders", title: "Orders", needs: "orders:read", view: orders },
  { path: "vouchers", title: "Vouchers", needs: "vouchers:read", view: vouchers },
  { path: "catalogue", title: "Catalogue", needs: "catalogue:admin", view: catalogue },
  { path: "people", title: "People", needs: "people:admin", view: people },
  { path: "clients", title: "API clients", needs: "clients:admin", view: clients },
  // webhooks carry the whole tenant's events: not for staff narrowed to some budgets
  { path: "webhooks", title: "Webhooks", needs: "webhooks:admin", view: webhooks, wholeTenant: true },
  // the audit log holds every command of the tenant: not for staff narrowed to some budgets
  { path: "audit", title: "Audit log", needs: "audit:read", view: audit, wholeTenant: true },
  // reports cover the whole tenant: not for staff narrowed to some budgets (ADR 19)
  { path: "reports", title: "Reports", needs: "reports:read", view: reports, wholeTenant: true },
  { path: "settings", title: "Settings", needs: "config:read", view: settings },
];

/** Requests the console makes carry this header: the app's service worker, which may
 * control this origin, leaves them alone (a console's reads are not kept for offline). */
const CONSOLE_HEADER = { "X-Perkbus-Console": "1" };

const NOT_STAFF = "This console is for a tenant's staff: your account has no admin permissions.";

class ConsoleApi extends Api {
  constructor(options, onSessionEnded) {
    super(options);
    this.onSessionEnded = onSessionEnded;
  }

  headers(method, extra) {
    return super.headers(method, { ...CONSOLE_HEADER, ...extra });
  }

  /** A 401 that a refresh could not mend: the session is over (signed out elsewhere,
   * expired); the console goes back to its sign-in. */
  async decode(response) {
    if (response.status === 401 && this.onSessionEnded && !response.url.includes("/auth/")) {
      this.onSessionEnded();
    }
    return super.decode(response);
  }

  put(path, body, headers) {
    return this.request("PUT", path, body, headers);
  }

  patch(path, body, headers) {
    return this.request("PATCH", path, body, headers);
  }

  delete(path, headers) {
    return this.request("DELETE", path, undefined, headers);
  }

  /** A CSV body (bulk rewards, voucher codes); one refresh and retry like ``request``. */
  async csv(method, path, text, extra) {
    const send = () => {
      const headers = this.headers(method, { ...extra, "Content-Type": "text/csv" });
      return fetch(this.url(path), { method, headers, body: text, credentials: "same-origin" });
    };
    const sent = () =>
      send().catch((e) => {
        throw new OfflineError(e);
      });
    let response = await sent();
    if (response.status === 401 && (await this.refresh())) response = await sent();
    return this.decode(response);
  }

  /** A document and its revision (``ETag``), or ``{body: null, etag: null}`` if there is
   * none yet: the tenant's configuration documents are written over the revision read. */
  async document(path) {
    let response = await this.raw(this.url(path), "GET");
    if (response.status === 401 && (await this.refresh())) response = await this.raw(this.url(path), "GET");
    if (response.status === 404) return { body: null, etag: null };
    const etag = response.headers.get("ETag");
    return { body: await this.decode(response), etag };
  }

  /** A text answer (a results CSV) with the session's cookies. */
  async text(path) {
    const get = () =>
      fetch(this.url(path), { headers: this.headers("GET"), credentials: "same-origin" }).catch((e) => {
        throw new OfflineError(e);
      });
    let response = await get();
    if (response.status === 401 && (await this.refresh())) response = await get();
    if (!response.ok) await this.decode(response);
    return response.text();
  }
}

function tenantFromLocation() {
  const fromUrl = new URLSearchParams(location.search).get("tenant");
  try {
    if (fromUrl) localStorage.setItem("perkbus:admin:tenant", fromUrl);
    return fromUrl || localStorage.getItem("perkbus:admin:tenant") || "demo";
  } catch {
    return fromUrl || "demo"; // storage refused (private mode): the URL still works
  }
}

class Console {
  constructor(root) {
    this.root = root;
    this.tenant = tenantFromLocation();
    this.api = new ConsoleApi({ apiBase: "/api/v1", origin: "", tenant: this.tenant, embedded: false }, () =>
      this.sessionEnded(),
    );
    this.me = null;
    this.main = h("main", { id: "pa-main", class: "pa-main", tabindex: "-1" });
    // forms' headings take their level from where they land (h2 under the h1, h3 in a
    // section), whenever a view draws one
    new MutationObserver((changes) => {
      for (const change of changes) {
        for (const added of change.addedNodes) if (added.nodeType === 1) levelHeadings(added);
      }
    }).observe(this.main, { childList: true, subtree: true });
    window.addEventListener("hashchange", () => this.show());
  }

  can(permission) {
    return Boolean(this.me && this.me.permissions.includes(permission));
  }

  /** Whether the session acts for the whole tenant, not narrowed to some budgets (ADR 19):
   * what is the whole tenant's (funding, webhooks, reports) is only for it. */
  wholeTenant() {
    return Boolean(this.me && this.me.grants.length === 0);
  }

  /** The views this session may use: none for an end user (their app is /), whose
   * permissions (reading their own orders) would otherwise show a view. */
  views() {
    if (!this.me || !this.me.roles.some((role) => role !== "end_user")) return [];
    return VIEWS.filter((v) => this.can(v.needs) && (!v.wholeTenant || this.wholeTenant()));
  }

  async start() {
    try {
      this.me = await this.api.me();
    } catch (error) {
      if (error instanceof ApiError && error.status === 401) return this.signIn();
      return fill(this.root, h("p", { class: "pa-notice pa-fail", role: "alert" }, problemText(error)));
    }
    if (this.me.tenant !== this.tenant) {
      // a session of another tenant's: this console is for the tenant in the URL
      const other = this.me.tenant;
      this.me = null;
      return this.signIn(`You are signed in to ${other}; sign in to ${this.tenant} here.`, true);
    }
    if (!this.views().length) {
      this.me = null;
      return this.signIn(NOT_STAFF, true);
    }
    this.layout();
    return this.show();
  }

  sessionEnded() {
    if (!this.me) return;
    this.me = null;
    this.signIn(SESSION_ENDED, true);
  }

  /** After a sign-out: the app's reads kept for offline (its service worker's cache, on
   * this same session) go too, as the app's own sign-out does. */
  async forgetKept() {
    if ("caches" in window) await caches.delete("perkbus-api").catch(() => false);
  }

  signIn(note, alarming) {
    document.title = `Sign in · perkbus admin · ${this.tenant}`;
    const email = h("input", { id: uid("email"), name: "email", type: "email", autocomplete: "username", required: true });
    const password = h("input", {
      id: uid("password"),
      name: "password",
      type: "password",
      autocomplete: "current-password",
      required: true,
    });
    const error = h("p", { class: "pa-notice pa-fail", role: "alert" }, alarming ? note : "");
    const said = h("p", { class: "pa-notice pa-ok", role: "status" }, alarming ? "" : note || "");
    const submit = h("button", { type: "submit", class: "pa-primary" }, "Sign in");
    const form = h(
      "form",
      {
        class: "pa-signin",
        "aria-labelledby": "pa-signin-title",
        onsubmit: async (event) => {
          event.preventDefault();
          submit.disabled = true;
          fill(error);
          fill(said);
          try {
            await this.api.signIn(email.value.trim(), password.value);
            this.me = await this.api.me();
            if (!this.views().length) {
              this.me = null;
              await this.api.signOut();
              throw new Error(NOT_STAFF);
            }
            this.layout();
            await this.show();
          } catch (e) {
            const refused = e instanceof ApiError && [400, 401, 422].includes(e.status);
            fill(error, refused ? "The email or password is not right." : problemText(e));
            submit.disabled = false;
            password.focus();
          }
        },
      },
      h("h1", { id: "pa-signin-title" }, "perkbus admin"),
      h("p", { class: "pa-muted" }, `Sign in to tenant ${this.tenant}.`),
      said,
      h("label", { for: email.id }, "Email"),
      email,
      h("label", { for: password.id }, "Password"),
      password,
      error,
      submit,
      h(
        "p",
        { class: "pa-muted" },
        h(
          "a",
          {
            href:
              `/auth/${encodeURIComponent(this.tenant)}/sso/login?return_to=` +
              encodeURIComponent(`/admin/?tenant=${this.tenant}`),
          },
          "Sign in with your organisation (single sign-on)",
        ),
      ),
      h(
        "p",
        { class: "pa-muted" },
        h("a", { href: `/?tenant=${encodeURIComponent(this.tenant)}#forgot` }, "Forgot your password?"),
      ),
    );
    // the page's main landmark: the sign-in form is what it is for
    fill(this.root, h("main", { class: "pa-signin-page" }, form));
    email.focus();
  }

  layout() {
    const nav = h(
      "nav",
      { class: "pa-nav", "aria-label": "Console" },
      h(
        "ul",
        {},
        this.views().map((v) => h("li", {}, h("a", { href: `#/${v.path}`, "data-path": v.path }, v.title))),
      ),
    );
    const signOut = h(
      "button",
      {
        type: "button",
        class: "pa-link",
        onclick: async () => {
          if (await this.api.signOut()) {
            this.me = null;
            await this.forgetKept();
            this.signIn("Signed out.");
          } else {
            alert("Could not reach the server: you are still signed in.");
          }
        },
      },
      "Sign out",
    );
    const roles = this.me.roles.join(", ");
    const grants = this.me.grants.length ? ` · only ${this.me.grants.join(", ")}` : "";
    fill(
      this.root,
      h("a", { class: "pa-skip", href: "#pa-main", onclick: (e) => (e.preventDefault(), this.main.focus()) }, "Skip to content"),
      h(
        "header",
        { class: "pa-bar" },
        h("span", { class: "pa-brand" }, "perkbus admin"),
        h("span", { class: "pa-tenant" }, `tenant ${this.tenant}`),
        h("span", { class: "pa-who" }, `${this.me.subject} (${roles}${grants})`),
        signOut,
      ),
      h("div", { class: "pa-body" }, nav, this.main),
    );
    this.nav = nav;
  }

  current() {
    const path = location.hash.replace(/^#\/?/, "").split("?")[0];
    const allowed = this.views();
    return allowed.find((v) => v.path === path) || allowed[0];
  }

  async show() {
    if (!this.me) return;
    const view = this.current();
    for (const link of this.nav.querySelectorAll("a")) {
      if (link.dataset.path === view.path) link.setAttribute("aria-current", "page");
      else link.removeAttribute("aria-current");
    }
    document.title = `${view.title} · perkbus admin · ${this.tenant}`;
    const heading = h("h1", { tabindex: "-1" }, view.title);
    const body = h("div", { class: "pa-view" });
    fill(this.main, heading, body);
    this.shown = view.path;
    // a new view (a link followed, signed in): focus on its heading, which a screen
    // reader then says; the link or button pressed may be gone, or far from the content
    heading.focus({ preventScroll: true });
    await view.view.render(body, this);
  }
}

const app = new Console(document.getElementById("admin"));
app.start();
