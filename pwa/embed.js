/*
 * perkbus embeddable storefront (ADR 28).
 *
 *   <script src="https://perkbus.example/embed.js" data-tenant="acme" data-locale="fr" async></script>
 *
 * defines <perkbus-store>, and puts one after this script tag when the page has none
 * (a page may place its own: <perkbus-store tenant="acme" locale="fr"></perkbus-store>).
 * Each element gets an open shadow root, so the host page's styles and the app's never
 * meet; the app's stylesheet is linked inside it, and the app itself is the PWA's own
 * module (/app/main.js), mounted in embedded mode: it signs in with bearer tokens kept
 * in memory, never cookies, as the edge allows no credentials across origins.
 *
 * Before loading the app, the element reads the tenant's public branding: the edge lets
 * a page read it only from an origin the tenant lists (its programme's allowed_origins),
 * so on any other site the element says plainly that the storefront is not available
 * here, instead of an app whose every call the browser refuses.
 *
 * The storefront is a labelled region of the host's page (no main landmark or banner of
 * its own); its title is a heading of level 2 unless the page says which it wants:
 * data-heading-level="3" on the script, or heading-level="3" on the element.
 *
 * The element's `state` attribute is `loading`, then `ready` or `error`; it dispatches
 * `perkbus-ready` or `perkbus-error` (bubbling, composed) when it gets there.
 */
(() => {
  "use strict";

  const script = document.currentScript;
  const origin = new URL(script && script.src ? script.src : location.href).origin;
  const defaults = {
    tenant: (script && script.dataset.tenant) || "",
    locale: (script && script.dataset.locale) || "",
    headingLevel: (script && script.dataset.headingLevel) || "",
  };
  const TAG = "perkbus-store";

  const MESSAGES = {
    en: "This rewards storefront is not available on this site.",
    es: "Esta tienda de recompensas no está disponible en este sitio.",
    fr: "Cette boutique de récompenses n’est pas disponible sur ce site.",
    de: "Dieser Prämien-Shop ist auf dieser Website nicht verfügbar.",
    hi: "यह रिवॉर्ड स्टोरफ़्रंट इस साइट पर उपलब्ध नहीं है।",
    ar: "متجر المكافآت هذا غير متاح على هذا الموقع.",
  };

  /** The language the message is said in: the element's, the browser's, or English. */
  function language(locale) {
    const wanted = (locale || navigator.language || "en").toLowerCase().split("-")[0];
    return MESSAGES[wanted] ? wanted : "en";
  }

  class PerkbusStore extends HTMLElement {
    connectedCallback() {
      if (this._started) return;
      this._started = true;
      this._start();
    }

    get tenant() {
      return this.getAttribute("tenant") || defaults.tenant;
    }

    get locale() {
      return this.getAttribute("locale") || defaults.locale || undefined;
    }

    /** The level of the storefront's title among the host page's headings (1–6). */
    get headingLevel() {
      const level = Number(this.getAttribute("heading-level") || defaults.headingLevel || 2);
      return Number.isInteger(level) && level >= 1 && level <= 6 ? level : 2;
    }

    async _start() {
      const root = this.shadowRoot || this.attachShadow({ mode: "open" });
      const sheet = document.createElement("link");
      sheet.rel = "stylesheet";
      sheet.href = `${origin}/app/app.css`;
      root.append(sheet);
      this._set("loading");
      const tenant = this.tenant;
      if (!tenant) {
        this._fail(root, "no tenant: set data-tenant on the script or tenant on the element");
        return;
      }
      try {
        const branding = await fetch(
          `${origin}/api/v1/tenants/${encodeURIComponent(tenant)}/branding`,
          { mode: "cors", credentials: "omit" },
        );
        if (!branding.ok) throw new Error(`the tenant's profile answered ${branding.status}`);
      } catch (e) {
        // A TypeError here is most often the browser refusing the answer: this page's
        // origin is not one the tenant lists.
        this._fail(root, `not allowed on ${location.origin}: ${e.message || e}`);
        return;
      }
      try {
        const app = await import(`${origin}/app/main.js`);
        await app.mount(root, {
          apiBase: `${origin}/api/v1`,
          origin,
          tenant,
          embedded: true,
          locale: this.locale,
          headingLevel: this.headingLevel,
        });
      } catch (e) {
        this._fail(root, `the storefront did not start: ${e.message || e}`);
        return;
      }
      this._set("ready");
      this.dispatchEvent(new CustomEvent("perkbus-ready", { bubbles: true, composed: true }));
    }

    _set(state) {
      this.setAttribute("state", state);
      this.setAttribute("aria-busy", state === "loading" ? "true" : "false");
    }

    _fail(root, why) {
      const box = document.createElement("div");
      box.setAttribute("role", "alert");
      box.setAttribute("part", "error");
      box.className = "perkbus-embed-error";
      // inline: the app's stylesheet may be what could not load
      box.style.cssText =
        "font: 1rem/1.5 system-ui, sans-serif; padding: 1rem; border: 1px solid #b3261e;" +
        " border-radius: 8px; color: #410e0b; background: #fceeee;";
      const said = language(this.locale);
      box.setAttribute("lang", said);
      box.setAttribute("dir", said === "ar" ? "rtl" : "ltr");
      box.textContent = MESSAGES[said];
      root.append(box);
      this._set("error");
      this.dispatchEvent(
        new CustomEvent("perkbus-error", { bubbles: true, composed: true, detail: { why } }),
      );
    }
  }

  if (!customElements.get(TAG)) customElements.define(TAG, PerkbusStore);

  function place() {
    if (document.querySelector(TAG) || !defaults.tenant) return;
    const element = document.createElement(TAG);
    const parent = script && script.parentElement;
    if (parent && parent !== document.head && document.body && document.body.contains(script)) {
      script.after(element);
    } else {
      document.body.append(element);
    }
  }

  // Wait for the whole page: an element of its own may come after this script tag.
  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", place, { once: true });
  } else {
    place();
  }
})();
