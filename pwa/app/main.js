// The end-user app: mount(root, options) draws it inside root (an Element, or the shadow
// root of the <perkbus-store> embed) and never touches app elements outside it.
//
// options = { apiBase, origin, tenant, embedded, locale? }. Navigation is internal state;
// the standalone app mirrors it in the URL hash (so back/forward and reloads work), the
// embedded one leaves the host page's URL alone.

import { Api, ApiError, OfflineError } from "./api.js";
import { fill, h } from "./dom.js";
import { LOCALES, supported, translator } from "./i18n.js";

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

function parseHash(hash) {
  const [name, ...rest] = hash.replace(/^#\/?/, "").split("/");
  try {
    return { name: VIEWS[name] ? name : "catalogue", arg: rest.map(decodeURIComponent).join("/") };
  } catch {
    return { name: "catalogue", arg: "" }; // a link with a broken escape ("%" alone)
  }
}

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
    this.bar = h("header", { class: "pb-bar" });
    this.banner = h("p", { class: "pb-offline", role: "status", hidden: true });
    this.notice = h("p", { class: "pb-offline pb-notice", role: "alert", hidden: true });
    this.main = h("main", { class: "pb-main", tabindex: "-1" });
    this.live = h("div", { class: "pb-visually-hidden", "aria-live": "polite", role: "status" });
    this.frame.append(this.bar, this.banner, this.notice, this.main, this.live);
    root.append(this.frame);
    this.onHash = () => this.show(parseHash(location.hash));
    this.onNetwork = () => this.setOffline(!navigator.onLine);
  }

  async start() {
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
    if (!this.options.embedded) {
      document.documentElement.lang = locale;
      document.documentElement.dir = this.t.dir;
      document.title = this.t("app.title", { name: this.displayName() });
    }
    if (rerender) {
      await this.render();
      this.announce(this.t("locale.changed", { language: this.t.language(locale) }));
    }
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
  }

  /** The message for a failed request, in the reader's language. */
  problem(error) {
    if (error instanceof OfflineError) return this.t("error.offline");
    if (error instanceof ApiError && error.status === 401 && this.person) {
      // the session is over (and could not be refreshed): back to signing in
      setTimeout(() => this.sessionEnded(), 0);
    }
    if (error instanceof ApiError) {
      const key = `error.${error.code}`;
      const text = this.t(key);
      return text === key ? this.t("error.generic", { detail: error.message }) : text;
    }
    return this.t("error.generic", { detail: String(error?.message || error) });
  }

  renderBar() {
    const t = this.t;
    const logo = this.branding?.logo_url
      ? h("img", { class: "pb-logo", src: this.asset(this.branding.logo_url), alt: "" })
      : h("span", { class: "pb-logo pb-logo-mark", "aria-hidden": "true" }, "★");
    const brand = h("span", { class: "pb-brand" }, logo, h("span", {}, this.displayName()));
    const select = h(
      "select",
      {
        class: "pb-locale",
        "aria-label": t("locale.label"),
        onchange: (e) => this.setLocale(e.target.value),
      },
      LOCALES.map((code) =>
        h("option", { value: code, selected: code === this.locale }, t.language(code)),
      ),
    );
    const items = [brand];
    if (this.person) {
      items.push(
        h(
          "nav",
          { class: "pb-nav", "aria-label": t("nav.label") },
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
        ),
      );
    }
    const tools = h("div", { class: "pb-tools" }, select);
    if (this.person) {
      tools.append(
        h("button", { type: "button", class: "pb-link", onclick: () => this.signOut() }, t("signout")),
      );
    }
    items.push(tools);
    fill(this.bar, items);
  }

  async render() {
    this.renderBar();
    this.setOffline(this.offline);
    const name = this.person ? this.route.name : "signin";
    const view = await VIEWS[name]();
    const token = Symbol(name);
    this.rendering = token;
    fill(this.main, h("p", { class: "pb-loading" }, this.t("loading")));
    const content = await view.render(this, this.route.arg);
    if (this.rendering === token) fill(this.main, content);
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
