// The one place the app talks to perkbus: fetch wrappers that carry the session and turn
// problem+json answers into typed errors the views can show.
//
// Two ways to hold a session (ADR 20, ADR 27):
// - "cookie" (the standalone app): the edge sets HttpOnly cookies at sign-in; every write
//   sends X-CSRF-Token, the token the sign-in answered (also readable in the pb_csrf
//   cookie, so a reload keeps it). Refresh is POST /auth/refresh with that header.
// - "bearer" (the embedded storefront: a third-party page cannot use our cookies): the
//   access and refresh tokens live in memory only, never in storage, and are refreshed
//   with the standard OAuth grant at /oauth/token.

/** An answer the API refused: status, stable machine code and the human detail. */
export class ApiError extends Error {
  constructor(status, code, detail, body) {
    super(detail || code || `HTTP ${status}`);
    this.name = "ApiError";
    this.status = status;
    this.code = code || "";
    this.body = body || {};
  }
}

/** No answer at all: the network is down or the request was cut. A write may or may not
 * have reached the server, so it must be retried with the same Idempotency-Key. */
export class OfflineError extends Error {
  constructor(cause) {
    super("offline");
    this.name = "OfflineError";
    this.cause = cause;
  }
}

function readCookie(name) {
  for (const part of document.cookie.split(";")) {
    const [key, ...rest] = part.trim().split("=");
    if (key === name) return decodeURIComponent(rest.join("="));
  }
  return "";
}

const SAFE = new Set(["GET", "HEAD", "OPTIONS"]);

export class Api {
  /** @param {{apiBase: string, origin: string, tenant: string, embedded: boolean}} options */
  constructor(options) {
    this.apiBase = options.apiBase.replace(/\/$/, "");
    this.origin = (options.origin || "").replace(/\/$/, "");
    this.tenant = options.tenant;
    this.mode = options.embedded ? "bearer" : "cookie";
    this.csrf = "";
    this.accessToken = "";
    this.refreshToken = "";
    this.refreshing = null;
  }

  url(path) {
    if (/^https?:/.test(path)) return path;
    return path.startsWith("/api/") ? this.origin + path : this.apiBase + path;
  }

  authUrl(path) {
    return this.origin + path;
  }

  csrfToken() {
    // the cookie first: another tab may have refreshed the session since this one
    // signed in, and the server checks the token of the current access token
    return readCookie("__Host-pb_csrf") || readCookie("pb_csrf") || this.csrf;
  }

  headers(method, extra) {
    const headers = { Accept: "application/json, application/problem+json", ...extra };
    if (this.mode === "bearer" && this.accessToken) {
      headers.Authorization = `Bearer ${this.accessToken}`;
    } else if (this.mode === "cookie" && !SAFE.has(method)) {
      const csrf = this.csrfToken();
      if (csrf) headers["X-CSRF-Token"] = csrf;
    }
    return headers;
  }

  async raw(url, method, body, extraHeaders) {
    const init = {
      method,
      headers: this.headers(method, extraHeaders),
      credentials: this.mode === "cookie" ? "same-origin" : "omit",
    };
    if (body !== undefined) {
      init.body = JSON.stringify(body);
      init.headers["Content-Type"] = "application/json";
    }
    try {
      return await fetch(url, init);
    } catch (e) {
      throw new OfflineError(e);
    }
  }

  async decode(response) {
    const type = response.headers.get("Content-Type") || "";
    const body = type.includes("json") ? await response.json().catch(() => ({})) : {};
    if (response.ok) {
      // the service worker answered from its cache: the data may be old
      if (response.headers.get("X-Perkbus-Cached") && body && typeof body === "object") {
        body.stale = true;
      }
      return body;
    }
    throw new ApiError(response.status, body.code, body.detail || body.title, body);
  }

  /** A request to the API; one refresh and retry when the access token has expired. */
  async request(method, path, body, extraHeaders) {
    const url = path.startsWith("/auth/") ? this.authUrl(path) : this.url(path);
    let response = await this.raw(url, method, body, extraHeaders);
    if (response.status === 401 && (await this.refresh())) {
      response = await this.raw(url, method, body, extraHeaders);
    }
    return this.decode(response);
  }

  get(path) {
    return this.request("GET", path);
  }

  post(path, body, headers) {
    return this.request("POST", path, body, headers);
  }

  async signIn(email, password) {
    const response = await this.raw(this.authUrl("/auth/sign-in"), "POST", {
      tenant: this.tenant,
      email,
      password,
      mode: this.mode,
    });
    const session = await this.decode(response);
    this.keep(session);
    return session.person;
  }

  /** Ask for a link to choose a password; the answer is the same whoever has the address. */
  async askPasswordLink(email) {
    const response = await this.raw(this.authUrl("/auth/password-reset/request"), "POST", {
      tenant: this.tenant,
      email,
    });
    return this.decode(response);
  }

  /** Choose a password with a link's token, and sign in as signIn does. */
  async resetPassword(token, password) {
    const response = await this.raw(this.authUrl("/auth/password-reset"), "POST", {
      tenant: this.tenant,
      token,
      password,
      mode: this.mode,
    });
    const session = await this.decode(response);
    this.keep(session);
    return session.person;
  }

  keep(session) {
    if (session.csrf_token) this.csrf = session.csrf_token;
    if (session.access_token) this.accessToken = session.access_token;
    if (session.refresh_token) this.refreshToken = session.refresh_token;
  }

  /** A new access token from the refresh token; false when the session is over. */
  refresh() {
    if (!this.refreshing) {
      this.refreshing = this.doRefresh().finally(() => {
        this.refreshing = null;
      });
    }
    return this.refreshing;
  }

  async doRefresh() {
    try {
      if (this.mode === "bearer") {
        if (!this.refreshToken) return false;
        const form = new URLSearchParams({
          grant_type: "refresh_token",
          refresh_token: this.refreshToken,
        });
        const response = await fetch(this.authUrl("/oauth/token"), {
          method: "POST",
          headers: { "Content-Type": "application/x-www-form-urlencoded" },
          body: form,
          credentials: "omit",
        });
        if (!response.ok) return false;
        this.keep(await response.json());
        return true;
      }
      const csrf = readCookie("__Host-pb_csrf") || readCookie("pb_csrf");
      if (!csrf) return false;
      const response = await fetch(this.authUrl("/auth/refresh"), {
        method: "POST",
        headers: { "X-CSRF-Token": csrf },
        credentials: "same-origin",
      });
      if (!response.ok) return false;
      this.keep(await response.json());
      return true;
    } catch {
      return false;
    }
  }

  /**
   * End the session; true once it is over. With cookies the session lives in cookies
   * only the server can clear: unless it answered (or the session was over already),
   * it is still open, and false says so. Bearer tokens live here: forgetting them is
   * enough for this device, whatever the server answered.
   */
  async signOut() {
    if (this.mode === "bearer") {
      try {
        if (this.refreshToken) {
          await this.raw(this.authUrl("/auth/sign-out"), "POST", {
            refresh_token: this.refreshToken,
          });
        }
      } catch {
        // the refresh token is forgotten below: no one here can use it again
      } finally {
        this.csrf = this.accessToken = this.refreshToken = "";
      }
      return true;
    }
    let response;
    try {
      response = await fetch(this.authUrl("/auth/sign-out"), {
        method: "POST",
        headers: { "X-CSRF-Token": this.csrfToken() },
        credentials: "same-origin",
      });
    } catch {
      return false; // offline: the cookies stay, and so does the session
    }
    if (!response.ok && response.status !== 401) return false;
    this.csrf = this.accessToken = this.refreshToken = "";
    return true;
  }

  me() {
    return this.request("GET", "/auth/me");
  }

  branding() {
    return this.get(`/tenants/${encodeURIComponent(this.tenant)}/branding`);
  }

  products(query) {
    const params = new URLSearchParams();
    for (const [key, value] of Object.entries(query)) {
      if (value !== undefined && value !== null && value !== "") params.set(key, String(value));
    }
    return this.get(`/catalogue/products?${params}`);
  }

  product(id, locale) {
    return this.get(`/catalogue/products/${encodeURIComponent(id)}?locale=${locale}`);
  }

  wallet(person) {
    return this.get(`/wallets/${encodeURIComponent(person)}`);
  }

  history(person, cursor) {
    const after = cursor ? `&cursor=${encodeURIComponent(cursor)}` : "";
    return this.get(`/wallets/${encodeURIComponent(person)}/history?limit=20${after}`);
  }

  orders(person, cursor) {
    const after = cursor ? `&cursor=${encodeURIComponent(cursor)}` : "";
    return this.get(`/orders?recipient=${encodeURIComponent(person)}&limit=20${after}`);
  }

  order(id) {
    return this.get(`/orders/${encodeURIComponent(id)}`);
  }

  vouchers(orderId) {
    return this.get(`/orders/${encodeURIComponent(orderId)}/vouchers`);
  }

  placeOrder(body, idempotencyKey) {
    return this.post("/orders", body, { "Idempotency-Key": idempotencyKey });
  }
}
