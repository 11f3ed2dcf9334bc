// The standalone app (pwa/index.html): the tenant from ?tenant=, else the one this device
// last signed in to ("demo" by default: a link alone does not change where the app opens
// next time), the app mounted in #app, and the service worker that makes it work offline.

import { TENANT_KEY, mount } from "./main.js";

function tenant() {
  const fromUrl = new URLSearchParams(location.search).get("tenant");
  try {
    return fromUrl || localStorage.getItem(TENANT_KEY) || "demo";
  } catch {
    return fromUrl || "demo";
  }
}

if ("serviceWorker" in navigator) {
  navigator.serviceWorker.register("/sw.js").catch(() => {
    /* no offline support (e.g. a private window): the app works online */
  });
}

// the page's own first paint stays until the app has drawn its first screen
const firstPaint = document.getElementById("pb-first-paint");
mount(document.getElementById("app"), {
  apiBase: "/api/v1",
  origin: "",
  tenant: tenant(),
  embedded: false,
}).finally(() => firstPaint?.remove());
