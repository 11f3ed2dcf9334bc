// The standalone app (pwa/index.html): the tenant from ?tenant= (remembered on this
// device, "demo" by default), the app mounted in #app, and the service worker that makes
// it work offline.

import { mount } from "./main.js";

function tenant() {
  const fromUrl = new URLSearchParams(location.search).get("tenant");
  try {
    if (fromUrl) localStorage.setItem("perkbus:tenant", fromUrl);
    return fromUrl || localStorage.getItem("perkbus:tenant") || "demo";
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
