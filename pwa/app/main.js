// STUB — to be replaced at merge by the PWA's real pwa/app/main.js (branch `pwa`).
//
// It exists only so that the storefront branch's embed tests have an app to mount. It
// keeps to the contract the real app implements: mount(root, {apiBase, origin, tenant,
// embedded, locale}); in embedded mode it signs in with "mode": "bearer" and keeps the
// tokens in memory. It draws a sign-in form (labelled like the real app's), then a
// "Rewards" heading over the first page of the catalogue;
// when a call fails (the browser refusing a cross-origin answer, say) it says so.

function el(tag, attributes = {}, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attributes)) node.setAttribute(name, value);
  node.append(...children);
  return node;
}

export async function mount(root, options) {
  const { apiBase, origin, tenant } = options;
  let accessToken = "";
  const frame = el("section", { "data-perkbus-stub": "", "aria-label": "Rewards" });
  const status = el("p", { role: "status" });
  root.append(frame);

  async function call(url, init = {}) {
    const headers = { Accept: "application/json", ...(init.headers || {}) };
    if (accessToken) headers.Authorization = `Bearer ${accessToken}`;
    const response = await fetch(url, { ...init, headers, credentials: "omit" });
    const body = await response.json();
    if (!response.ok) throw new Error(body.detail || `HTTP ${response.status}`);
    return body;
  }

  function failed(e) {
    status.textContent = `Error: ${e.message || e}`;
    status.setAttribute("role", "alert");
    status.className = "pb-error";
  }

  const email = el("input", { type: "email", name: "email", autocomplete: "username" });
  const password = el("input", { type: "password", name: "password" });
  const form = el(
    "form",
    {},
    el("h2", {}, "Sign in"),
    el("label", {}, "Email ", email),
    el("label", {}, "Password ", password),
    el("button", { type: "submit" }, "Sign in"),
  );
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    try {
      const session = await call(`${origin}/auth/sign-in`, {
        method: "POST",
        headers: { "Content-Type": "application/json" },
        body: JSON.stringify({ tenant, email: email.value, password: password.value, mode: "bearer" }),
      });
      accessToken = session.access_token;
      const page = await call(`${apiBase}/catalogue/products?limit=5`);
      const list = el("ul", { "aria-label": "Catalogue" });
      for (const product of page.products) list.append(el("li", {}, product.name || product.id));
      form.replaceWith(el("h2", {}, "Rewards"), list);
    } catch (e) {
      failed(e);
    }
  });
  frame.append(form, status);
}
