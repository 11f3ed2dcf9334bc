// The end-user app: mount(root, options) draws it inside root (an Element, or the shadow
// root of the <perkbus-store> embed) and never touches app elements outside it.
//
// options = { apiBase, origin, tenant, embedded, locale?, headingLevel? }. Navigation is
// internal state; the standalone app mirrors it in the URL hash (so back/forward and
// reloads work), the embedded one leaves the host page's URL alone.
//
// An embed is a part of someone else's page: it draws a labelled region (no main landmark,
// no banner) and its headings start at the level the host asks for (headingLevel, 2 by
// default: the host page has its own h1).

import { Api, ApiError, OfflineError } from "./api.js";
import { fill, h } from "./dom.js";
import { LOCALES, direction, supported, translator } from "./i18n.js";

/** Where the standalone app remembers the tenant it was last signed in to. */
export const TENANT_KEY = "perkbus:tenant";

const VIEWS = {
  signin: () => import("./view-signin.js"),
  catalogue: () => import("./view-catalogue.js"),
  product: () => import("./view-product.js"),
  rewards: () => import("./view-rewards.js"),
  wallet: () => import("./view-wallet.js"),
};
const NAV = [
  ["catalogue", "nav.catalogue"],
  ["rewards", "nav.rewards"],
  ["wallet", "nav.wallet"],
];

/** The token of a link to choose a password, taken out of the URL; "" if there is none. */
function takeResetToken() {
  const found = /^#reset=([A-Za-z0-9_-]{1,200})$/.exec(location.hash);
  if (!found) return "";
  history.replaceState(history.state, "", location.pathname + location.search);
  return found[1];
}

function parseHash(hash) {
  const [name, ...rest] = hash.replace(/^#\/?/, "").split("/");
  try {
    return { name: VIEWS[name] ? name : "catalogue", arg: rest.map(decodeURIComponent).join("/") };
  } catch {
    return { name: "catalogue", arg: "" }; // a link with a broken escape ("%" alone)
  }
}

/** The headings of an embed one or more levels down (h1 → h2 …, never past h6): views
 * write h1 for their title, the host page decides where the storefront sits in its
 * outline. Attributes and children move over (ids stay, so aria-labelledby still holds). */
function shiftHeadings(node, by) {
  if (!by || !node) return;
  const headings = node.matches?.("h1, h2, h3, h4, h5") ? [node] : [];
  headings.push(...(node.querySelectorAll?.("h1, h2, h3, h4, h5") || []));
  for (const old of headings) {
    if (shifted.has(old)) continue;
    const level = Math.min(6, Number(old.tagName[1]) + by);
    const next = document.createElement(`h${level}`);
    for (const { name, value } of old.attributes) next.setAttribute(name, value);
    next.append(...old.childNodes);
    shifted.add(next);
    old.replaceWith(next);
  }
}
const shifted = new WeakSet();

/** Where the app keeps what it remembers: the device's storage for the app on its own
 * site; memory for an embed, which must leave the host site's storage alone (the host's
 * scripts share it: ADR 28). ``session`` is forgotten when the tab closes. */
export function storeFor(embedded) {
  if (embedded) {
    const kept = new Map();
    const memory = { get: (key) => kept.get(key) || "", set: (key, value) => (value ? kept.set(key, value) : kept.delete(key)) };
    return { local: memory, session: memory };
  }
  const over = (storage) => ({
    get(key) {
      try {
        return storage().getItem(key) || "";
      } catch {
        return "";
      }
    },
    set(key, value) {
      try {
        if (value) storage().setItem(key, value);
        else storage().removeItem(key);
      } catch {
        /* storage may be off (private mode): the app works without it */
      }
    },
  });
  return { local: over(() => localStorage), session: over(() => sessionStorage) };
}

class App {
  constructor(root, options) {
    this.root = root;
    this.options = { origin: "", embedded: false, ...options };
    this.base = this.options.origin.replace(/\/$/, "");
    this.api = new Api(this.options);
    this.store = storeFor(this.options.embedded);
    this.tenant = this.options.tenant;
    this.person = null;
    this.branding = null;
    this.route = { name: "catalogue", arg: "" };
    this.offline = typeof navigator !== "undefined" && navigator.onLine === false;
    this.personKey = `perkbus:${this.tenant}:person`;
    this.localeKey = `perkbus:${this.tenant}:locale`;
    this.frame = h("div", { class: "pb-app", hidden: true }); // shown once drawn
    const embedded = this.options.embedded;
    // in a host page: a region named after the programme, not the page's main or banner
    this.bar = h(embedded ? "div" : "header", { class: "pb-bar" });
    this.banner = h("p", { class: "pb-offline", role: "status", hidden: true });
    this.notice = h("p", { class: "pb-offline pb-notice", role: "alert", hidden: true });
    this.main = h(embedded ? "section" : "main", { class: "pb-main", tabindex: "-1" });
    const level = Number(this.options.headingLevel) || (embedded ? 2 : 1);
    this.headingShift = embedded ? Math.max(0, Math.min(5, Math.trunc(level) - 1)) : 0;
    if (this.headingShift) {
      // headings a view adds later (a confirmation, another page of orders) too
      new MutationObserver((changes) => {
        for (const change of changes) {
          for (const added of change.addedNodes) {
            if (added.nodeType === 1) shiftHeadings(added, this.headingShift);
          }
        }
      }).observe(this.main, { childList: true, subtree: true });
    }
    this.live = h("div", { class: "pb-visually-hidden", "aria-live": "polite", role: "status" });
    this.frame.append(this.bar, this.banner, this.notice, this.main, this.live);
    root.append(this.frame);
    this.onHash = () => {
      const token = takeResetToken(); // a link opened in a tab the app was open in
      if (token) {
        this.resetToken = token;
        this.render().then(() => this.focusMain());
        return;
      }
      this.show(parseHash(location.hash));
    };
    this.onNetwork = () => this.setOffline(!navigator.onLine);
  }

  async start() {
    // a link to choose a password (#reset=<token>, ADR 42): the token is taken out of the
    // URL at once (history, bookmarks and the Referer never see it) and kept in memory only
    this.resetToken = this.options.embedded ? "" : takeResetToken();
    window.addEventListener("online", this.onNetwork);
    window.addEventListener("offline", this.onNetwork);
    this.branding = await this.api.branding().catch(() => null);
    this.applyBranding();
    const wanted =
      this.options.locale || this.store.local.get(this.localeKey) || this.branding?.locales?.default;
    await this.setLocale(supported(wanted || navigator.language), false);
    this.person = await this.whoAmI();
    if (!this.options.embedded) {
      window.addEventListener("hashchange", this.onHash);
      this.route = parseHash(location.hash);
    }
    this.setOffline(this.offline);
    try {
      await this.render();
    } finally {
      this.frame.hidden = false;
    }
  }

  stop() {
    window.removeEventListener("online", this.onNetwork);
    window.removeEventListener("offline", this.onNetwork);
    window.removeEventListener("hashchange", this.onHash);
    this.frame.remove();
  }

  /** The signed-in person: asked of the server; offline, the last one seen here. */
  async whoAmI() {
    if (this.options.embedded) return null; // bearer tokens are in memory: sign in again
    try {
      const me = await this.api.me();
      if (me.tenant && me.tenant !== this.tenant) {
        // a session of another tenant's: this app is the URL's tenant's, so its people
        // sign in to it (its look over another's session would mislead them)
        this.otherTenant = me.tenant;
        return null;
      }
      const person = { id: me.subject, name: this.store.local.get(`${this.personKey}:name`) || me.subject };
      this.store.local.set(this.personKey, person.id);
      this.store.local.set(TENANT_KEY, this.tenant); // the app opens here next time
      return person;
    } catch (e) {
      const known = this.store.local.get(this.personKey);
      if (e instanceof OfflineError && known) {
        return { id: known, name: this.store.local.get(`${this.personKey}:name`) || known };
      }
      return null;
    }
  }

  applyBranding() {
    const b = this.branding;
    if (!b) return;
    const host = this.frame;
    for (const [name, value] of Object.entries(b.css_properties || {})) {
      if (/^--pb-[a-z-]+$/.test(name)) host.style.setProperty(name, String(value));
    }
    if (!this.options.embedded && b.colours?.primary) {
      document.querySelector('meta[name="theme-color"]')?.setAttribute("content", b.colours.primary);
    }
  }

  async setLocale(locale, rerender = true) {
    this.t = await translator(this.base, locale);
    this.locale = locale;
    this.store.local.set(this.localeKey, locale);
    this.frame.setAttribute("lang", locale);
    this.frame.setAttribute("dir", this.t.dir);
    if (this.options.embedded) {
      this.main.setAttribute("aria-label", this.t("app.title", { name: this.displayName() }));
    } else {
      document.documentElement.lang = locale;
      document.documentElement.dir = this.t.dir;
      document.title = this.t("app.title", { name: this.displayName() });
    }
    if (rerender) {
      await this.render();
      this.announce(this.t("locale.changed", { language: this.t.language(locale) }));
    }
  }

  /** "1 point", "5 points" in the locale's words, or in the tenant's own name for
   * points when it set one (the public profile says "points" when it did not). */
  points(count) {
    const named = this.pointsName();
    const points = this.t.number(count);
    return named ? this.t("points.named", { points, name: named }) : this.t.plural("reward.points", count, { points });
  }

  /** The tenant's own name for points, or "" for the locale's word. */
  pointsName() {
    const named = (this.branding?.points_name || "").trim();
    return named && named !== "points" ? named : "";
  }

  /** The focused element of the app (inside the shadow root, for an embed). */
  focused() {
    const holder = this.root instanceof ShadowRoot ? this.root : this.root.getRootNode();
    const active = holder.activeElement || null;
    return active && this.frame.contains(active) ? active : null;
  }

  /** A URL the API gave: root-relative ones are on perkbus's origin (the embed's host
   * page is elsewhere). */
  asset(url) {
    return url.startsWith("/") && !url.startsWith("//") ? this.base + url : url;
  }

  displayName() {
    const name = this.branding?.display_name;
    return name && name !== this.tenant ? name : "perkbus";
  }

  setOffline(offline) {
    this.offline = offline;
    this.banner.hidden = !offline;
    fill(this.banner, this.t ? this.t("offline.banner") : "Offline");
    this.frame.classList.toggle("pb-is-offline", offline);
  }

  /** Say something to screen readers (results of async work). */
  announce(message) {
    this.live.textContent = "";
    // a new text node in a fresh task so that the same message is announced again
    setTimeout(() => {
      this.live.textContent = message;
    }, 50);
  }

  go(name, arg = "") {
    const route = { name, arg };
    if (!this.options.embedded) {
      const hash = `#/${name}${arg ? `/${encodeURIComponent(arg)}` : ""}`;
      if (location.hash !== hash) {
        location.hash = hash; // hashchange renders
        return;
      }
    }
    this.show(route);
  }

  show(route) {
    this.route = route;
    this.render().then(() => this.focusMain());
  }

  /** After navigating: focus on the new content (screen readers read it from there),
   * the page at its top; an embed leaves the host page's scrolling alone. */
  focusMain() {
    this.main.focus({ preventScroll: true });
    if (!this.options.embedded) window.scrollTo(0, 0);
  }

  async signedIn(person) {
    this.person = person;
    this.store.local.set(this.personKey, person.id);
    this.store.local.set(`${this.personKey}:name`, person.name || person.id);
    if (!this.options.embedded) this.store.local.set(TENANT_KEY, this.tenant);
    await this.render();
    this.announce(this.t("signin.welcome", { name: person.name || person.id }));
    this.focusMain();
  }

  async sessionEnded() {
    if (!this.person) return;
    this.person = null;
    await this.render();
    this.announce(this.t("error.unauthenticated"));
  }

  async signOut() {
    const over = await this.api.signOut().catch(() => false);
    if (!over) {
      // still signed in on this device: say so rather than show a sign-in screen over
      // a session the next person here would find open
      this.notice.hidden = false;
      fill(this.notice, this.t("signout.failed"));
      return;
    }
    this.notice.hidden = true;
    this.person = null;
    this.store.local.set(this.personKey, "");
    this.store.local.set(`${this.personKey}:name`, "");
    // the app's own cache of reads; an embed has none, and the host's is not ours
    if (!this.options.embedded && "caches" in window) await caches.delete("perkbus-api").catch(() => false);
    await this.render();
    // the button pressed is gone: focus goes to the sign-in form's heading, and the
    // outcome is said (the heading alone would not say that signing out worked)
    const heading = this.main.querySelector("h1, h2, h3, h4, h5, h6");
    if (heading) {
      heading.setAttribute("tabindex", "-1");
      heading.focus({ preventScroll: true });
    } else {
      this.focusMain();
    }
    this.announce(this.t("signout.done"));
  }

  /** The message for a failed request, in the reader's language. */
  problem(error) {
    if (error instanceof OfflineError) return this.t("error.offline");
    if (error instanceof ApiError && error.status === 401 && this.person) {
      // the session is over (and could not be refreshed): back to signing in
      setTimeout(() => this.sessionEnded(), 0);
    }
    // the API's own detail is English: never pasted into the reader's language; a code
    // without words of ours is a plain "something went wrong" in it
    if (error instanceof ApiError) {
      const key = `error.${error.code}`;
      const text = this.t(key);
      if (text !== key) return text;
      if (error.status === 401) return this.t("error.unauthenticated");
      if (error.status === 403) return this.t("error.forbidden");
      if (error.status === 404) return this.t("error.not_found");
      if (error.status === 429) return this.t("error.rate_limited");
    }
    if (error) console.warn("perkbus:", error); // for whoever debugs, not for the reader
    return this.t("error.generic");
  }

  /** The bar's parts that outlive a render: the language select and sign-out are updated
   * in place, never drawn anew, so that focus stays on them (a select changes on each
   * arrow key, and drawing it anew would drop focus to the page after the first). */
  barParts() {
    if (this.parts) return this.parts;
    const select = h("select", { class: "pb-locale", onchange: (e) => this.setLocale(e.target.value) });
    // each language's name in its own language, so marked (a screen reader says it right)
    select.append(...LOCALES.map((code) => h("option", { value: code, lang: code, dir: direction(code) })));
    const signOut = h("button", { type: "button", class: "pb-link", onclick: () => this.signOut() });
    const nav = h("nav", { class: "pb-nav" });
    const brand = h("span", { class: "pb-brand" });
    const tools = h("div", { class: "pb-tools" }, select, signOut);
    this.bar.append(brand, nav, tools);
    this.parts = { select, signOut, nav, brand };
    return this.parts;
  }

  renderBar() {
    const t = this.t;
    const { select, signOut, nav, brand } = this.barParts();
    const logo = this.branding?.logo_url
      ? h("img", { class: "pb-logo", src: this.asset(this.branding.logo_url), alt: "" })
      : h("span", { class: "pb-logo pb-logo-mark", "aria-hidden": "true" }, "★");
    fill(brand, logo, h("span", {}, this.displayName()));
    select.setAttribute("aria-label", t("locale.label"));
    for (const option of select.options) option.textContent = t.language(option.value);
    select.value = this.locale;
    signOut.hidden = !this.person;
    signOut.textContent = t("signout");
    nav.hidden = !this.person;
    nav.setAttribute("aria-label", t("nav.label"));
    if (this.person) {
      fill(
        nav,
        NAV.map(([name, key]) =>
          h(
            "a",
            {
              href: this.options.embedded ? "#" : `#/${name}`,
              "aria-current": this.route.name === name ? "page" : undefined,
              onclick: (e) => {
                e.preventDefault();
                this.go(name);
              },
            },
            t(key),
          ),
        ),
      );
    } else {
      fill(nav);
    }
  }

  async render() {
    this.renderBar();
    this.setOffline(this.offline);
    const name = this.person && !this.resetToken ? this.route.name : "signin";
    const view = await VIEWS[name]();
    const token = Symbol(name);
    this.rendering = token;
    fill(this.main, h("p", { class: "pb-loading" }, this.t("loading")));
    const content = await view.render(this, this.route.arg);
    if (this.rendering !== token) return;
    shiftHeadings(content, this.headingShift);
    fill(this.main, content);
    if (!this.options.embedded) {
      // "Wallet — Acme rewards": which view, then whose (a tab, a history entry, a screen
      // reader's window title); the host page's title is the host's
      const heading = this.main.querySelector("h1");
      const view = name === "signin" ? this.t("signin.submit") : heading?.textContent.trim();
      const app = this.t("app.title", { name: this.displayName() });
      document.title = view ? `${view} — ${app}` : app;
    }
  }
}

/**
 * Draw the app inside root.
 * @param {Element|ShadowRoot} root
 * @param {{apiBase: string, origin: string, tenant: string, embedded: boolean, locale?: string}} options
 * @returns {Promise<{unmount: () => void}>}
 */
export async function mount(root, options) {
  const app = new App(root, options);
  await app.start();
  return { app, unmount: () => app.stop() };
}
