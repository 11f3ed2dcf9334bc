// The orders this device placed, remembered per tenant and person: "My rewards" lists them
// when the server cannot list a person's orders (GET /orders?recipient= is newer than
// some servers), and shows them first-hand right after a redemption.

function key(app) {
  return `perkbus:${app.tenant}:${app.person?.id || ""}:orders`;
}

export function rememberedOrders(app) {
  try {
    return JSON.parse(app.store.local.get(key(app)) || "[]");
  } catch {
    return [];
  }
}

export function rememberOrder(app, orderId) {
  const ids = [orderId, ...rememberedOrders(app).filter((id) => id !== orderId)].slice(0, 50);
  app.store.local.set(key(app), JSON.stringify(ids)); // none kept: the server's list is
}
