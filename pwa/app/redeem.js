// One redemption attempt = one Idempotency-Key. The key is made when the person opens the
// confirmation, and every send of that attempt (a double tap, a retry after the network
// dropped) reuses it, so the server makes at most one order for it. Only an answer from
// the server ends the attempt; the next confirmation gets a fresh key.

const FINAL = new Set(["fulfilled", "failed", "cancelled", "held"]);

function freshKey() {
  if (crypto.randomUUID) return `pwa-${crypto.randomUUID()}`;
  const bytes = crypto.getRandomValues(new Uint8Array(16));
  return `pwa-${Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("")}`;
}

export class Attempt {
  constructor(api, order) {
    this.api = api;
    this.order = order; // {product_id, face_value_minor, recipient}
    this.key = freshKey();
    this.inFlight = null;
    this.result = null;
  }

  /** Send (or re-send) this attempt; concurrent calls share one request. */
  send() {
    if (this.result) return Promise.resolve(this.result);
    if (!this.inFlight) {
      this.inFlight = this.api
        .placeOrder(this.order, this.key)
        .then((order) => {
          this.result = order;
          return order;
        })
        .finally(() => {
          this.inFlight = null;
        });
    }
    return this.inFlight;
  }

  /** Wait for an accepted order to settle (a few quick looks, then leave it pending). */
  async settle(order, tries = 8) {
    let current = order;
    for (let i = 0; i < tries && !FINAL.has(current.status); i += 1) {
      await new Promise((resolve) => setTimeout(resolve, 250 * (i + 1)));
      try {
        current = await this.api.order(current.id);
      } catch {
        break; // the order exists whatever the look said: it stays shown as pending
      }
    }
    this.result = current;
    return current;
  }
}
