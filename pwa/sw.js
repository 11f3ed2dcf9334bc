// The app's service worker (ADR 27). It sits at /sw.js so that it controls the whole app.
//
// - The app shell (the page, its modules, styles, strings and icons) is cached when the
//   worker installs, under a versioned name, and served from that cache: the app starts
//   offline, and a release (a new VERSION here, and sw.js is never cached by HTTP) swaps
//   the whole shell at once.
// - API reads the app may need offline (the catalogue, the tenant's branding, the wallet
//   and the person's orders) go to the network first; a good answer is kept (the last
//   MAX_API of them), and when the network fails the kept one is answered, marked with
//   the X-Perkbus-Cached header so the app says the data may be old.
// - Everything else goes straight to the network: writes (a redemption must reach the
//   server or fail visibly, never be answered from a cache), voucher codes (secrets are
//   not written to disk), sign-in and session calls, and every request of the admin
//   console (/admin/, which this worker's scope covers too).

const VERSION = "pwa-2026-11-29.2";
const SHELL_CACHE = `perkbus-shell-${VERSION}`;
const API_CACHE = "perkbus-api";
const MAX_API = 80;
const SHELL = [
  "/",
  "/manifest.webmanifest",
  "/app/app.css",
  "/app/boot.js",
  "/app/main.js",
  "/app/api.js",
  "/app/dom.js",
  "/app/i18n.js",
  "/app/currencies.js",
  "/app/redeem.js",
  "/app/my-orders.js",
  "/app/product-names.js",
  "/app/qr.js",
  "/app/view-signin.js",
  "/app/view-catalogue.js",
  "/app/view-product.js",
  "/app/view-rewards.js",
  "/app/view-wallet.js",
  "/app/i18n/en.json",
  "/app/i18n/es.json",
  "/app/i18n/fr.json",
  "/app/i18n/de.json",
  "/app/i18n/hi.json",
  "/app/i18n/ar.json",
  "/app/icons/icon.svg",
  "/app/icons/icon-192.png",
];
const API_READS = [
  /^\/api\/v1\/catalogue\/products(\/[^/]+)?$/,
  /^\/api\/v1\/tenants\/[^/]+\/branding$/,
  /^\/api\/v1\/wallets\/[^/]+(\/history)?$/,
  /^\/api\/v1\/orders$/,
  /^\/api\/v1\/orders\/[^/]+$/,
];

self.addEventListener("install", (event) => {
  event.waitUntil(
    caches
      .open(SHELL_CACHE)
      .then((cache) => cache.addAll(SHELL))
      .then(() => self.skipWaiting()),
  );
});

self.addEventListener("activate", (event) => {
  event.waitUntil(
    caches
      .keys()
      .then((names) =>
        Promise.all(
          names
            .filter((name) => name.startsWith("perkbus-shell-") && name !== SHELL_CACHE)
            .map((name) => caches.delete(name)),
        ),
      )
      .then(() => self.clients.claim()),
  );
});

async function fromShell(request) {
  const cache = await caches.open(SHELL_CACHE);
  const url = new URL(request.url);
  const key = request.mode === "navigate" && url.pathname === "/" ? "/" : request;
  const hit = await cache.match(key, { ignoreSearch: request.mode === "navigate" });
  if (hit) return hit;
  const response = await fetch(request);
  if (response.ok && url.pathname.startsWith("/app/")) cache.put(request, response.clone());
  return response;
}

async function trim(cache) {
  const keys = await cache.keys();
  await Promise.all(keys.slice(0, Math.max(0, keys.length - MAX_API)).map((k) => cache.delete(k)));
}

async function networkFirst(request) {
  const cache = await caches.open(API_CACHE);
  try {
    const response = await fetch(request);
    if (response.ok) {
      await cache.delete(request); // re-added last: the cache keeps the newest MAX_API
      await cache.put(request, response.clone());
      trim(cache);
    }
    return response;
  } catch (error) {
    const hit = await cache.match(request);
    if (!hit) throw error;
    const headers = new Headers(hit.headers);
    headers.set("X-Perkbus-Cached", "1");
    return new Response(hit.body, { status: hit.status, headers });
  }
}

self.addEventListener("fetch", (event) => {
  const request = event.request;
  if (request.method !== "GET") return; // writes always go to the server
  // the admin console (ADR 36): its reads are a tenant's staff's, never kept on this device
  if (request.headers.has("X-Perkbus-Console")) return;
  const url = new URL(request.url);
  if (url.origin !== self.location.origin) return;
  if (request.mode === "navigate" && url.pathname === "/") {
    // the page: fresh when online (a new release), the cached shell when not
    event.respondWith(
      fetch(request).catch(() => fromShell(request)),
    );
    return;
  }
  if (SHELL.includes(url.pathname) || url.pathname.startsWith("/app/")) {
    event.respondWith(fromShell(request));
    return;
  }
  if (API_READS.some((pattern) => pattern.test(url.pathname))) {
    event.respondWith(networkFirst(request));
  }
});
