"""One gift-card order, apart from any store: what the handler asks for (:class:`Draft`),
what a transaction ends in (:data:`Outcome`), and the rows a fulfilled order writes.

The shapes and rules are perkbus's own, imported rather than copied: order ids that grow
with time, the idempotency key's hash, the price (face value plus markup, rounded up), the public
``OrderOut`` JSON and the ``order.fulfilled`` CloudEvent. Both stores run the same steps;
only their SQL and their locking differ.
"""

from __future__ import annotations

import hashlib
import time
from typing import Any

import msgspec

from actors.orders import price
from actors.runtime.idempotency import key_hash
from bus.events import OutboxEvent, make_event
from bus.ids import time_ordered_hex
from bus.messages.common import Money
from bus.messages.orders import OrderEvent
from bus.time import rfc3339
from edge.schemas import OrderOut

#: ``expires_ms`` of a code that never expires: "soonest expiry first" is index order.
NEVER = 2**63 - 1
#: How long a stored reply answers a repeated Idempotency-Key (perkbus keeps 30 days).
REPLY_TTL_MS = 30 * 24 * 3600 * 1000

_json = msgspec.json.Encoder()


class Claim(msgspec.Struct, frozen=True):
    """A row of ``idempotency_replies`` an order takes: one for its Idempotency-Key (scoped
    by tenant and subject, hashed as perkbus hashes it), one for its ``external_id``
    (tenant-wide, as in perkbus). A second request under a claimed row gets the stored
    reply if it asks for the same (``fingerprint``), else ``idempotency_key_reused``."""

    key_hash: str
    fingerprint: str


class Draft(msgspec.Struct, frozen=True):
    """A validated, authorised request to order a gift card paid from a budget."""

    tenant: str
    subject: str
    order_id: str
    claims: tuple[Claim, ...]
    product_id: str
    face_value_minor: int
    recipient: str
    budget_id: str
    external_id: str | None
    now_ms: int

    @property
    def payer(self) -> str:
        return f"budget:{self.budget_id}"


def _sha256(value: object) -> str:
    return hashlib.sha256(_json.encode(value)).hexdigest()


def external_id_hash(external_id: str) -> str:
    """The claim of an external id: 64 characters that no key hash (hex) can equal."""
    return "x:" + hashlib.sha256(external_id.encode()).hexdigest()[:62]


def draft(
    tenant: str,
    subject: str,
    idempotency_key: str | None,
    product_id: str,
    face_value_minor: int,
    recipient: str,
    budget_id: str,
    external_id: str | None,
) -> Draft:
    order_id = f"ord_{time_ordered_hex()}"  # as perkbus's edge makes them
    claims: list[Claim] = []
    if idempotency_key:
        asked = [subject, product_id, face_value_minor, recipient, budget_id, external_id]
        claims.append(Claim(key_hash(subject, idempotency_key), _sha256(asked)))
    if external_id:
        same_order = [product_id, face_value_minor, recipient, budget_id]
        claims.append(Claim(external_id_hash(external_id), _sha256(same_order)))
    return Draft(
        tenant,
        subject,
        order_id,
        tuple(claims),
        product_id,
        face_value_minor,
        recipient,
        budget_id,
        external_id,
        time.time_ns() // 1_000_000,
    )


class Placed(msgspec.Struct, frozen=True):
    """The order is fulfilled (or was, for a repeated key): answer ``status`` with ``body``."""

    status: int
    body: bytes
    order_id: str
    replayed: bool = False


class Refused(msgspec.Struct, frozen=True):
    """Nothing was written: answer with problem details of ``code``."""

    status: int
    code: str
    detail: str


Outcome = Placed | Refused


class Product(msgspec.Struct, frozen=True):
    currency: str
    markup_bps: int
    enabled: bool
    #: Fixed face values, comma-separated; and an open range (0, 0 for none).
    denominations: str
    range_min_minor: int
    range_max_minor: int

    def refusal(self, d: Draft) -> Refused | None:
        if not self.enabled:
            return not_found(f"no product {d.product_id}")
        face = d.face_value_minor
        fixed = str(face) in self.denominations.split(",")
        in_range = self.range_max_minor > 0 and self.range_min_minor <= face <= self.range_max_minor
        if not (fixed or in_range):
            return Refused(
                422, "invalid_request", f"{d.product_id} is not sold at {face} minor units"
            )
        return None

    def price(self, d: Draft) -> int:
        return price(d.face_value_minor, self.markup_bps)


PRODUCT_COLUMNS = "currency, markup_bps, enabled, denominations, range_min_minor, range_max_minor"


def product_from_row(row: tuple[Any, ...]) -> Product:
    currency, markup, enabled, denominations, low, high = row
    return Product(str(currency), int(markup), bool(enabled), str(denominations), low, high)


def not_found(detail: str) -> Refused:
    return Refused(404, "not_found", detail)


def no_product(d: Draft) -> Refused:
    return not_found(f"no product {d.product_id}")


def no_budget(d: Draft) -> Refused:
    return not_found(f"budget {d.budget_id} does not exist")


def out_of_stock(d: Draft) -> Refused:
    return Refused(409, "out_of_stock", f"no code left for {d.product_id} at {d.face_value_minor}")


def insufficient(d: Draft, balance: int, amount: int) -> Refused:
    return Refused(409, "insufficient_funds", f"budget {d.budget_id} has {balance}, not {amount}")


def currency_mismatch(d: Draft, product_currency: str, budget_currency: str) -> Refused:
    # perkbus converts through the tenant's exchange rates; the bench never needs it.
    return Refused(
        422,
        "currency_mismatch",
        f"{d.product_id} is sold in {product_currency}, budget {d.budget_id} is in"
        f" {budget_currency}",
    )


def budget_refusal(
    d: Draft, product: Product, budget: tuple[Any, ...] | None, price: int
) -> Refused | None:
    """Why the budget (its row's currency and balance, locked) cannot pay, if it cannot."""
    if budget is None:
        return no_budget(d)
    currency, balance = budget
    if currency != product.currency:
        return currency_mismatch(d, product.currency, currency)
    if balance < price:
        return insufficient(d, balance, price)
    return None


def key_reused() -> Refused:
    return Refused(
        422,
        "idempotency_key_reused",
        "this key or external id already placed a different order",
    )


class Fulfilment(msgspec.Struct, frozen=True):
    """Every row one fulfilled order writes besides the budget's new balance; parameters
    in the column order of the INSERT statements below."""

    price_minor: int
    code: tuple[object, ...]
    order: tuple[object, ...]
    entries: tuple[object, ...]
    event: tuple[object, ...]
    #: One ``INSERT_REPLY`` row per claim.
    replies: tuple[tuple[object, ...], ...]
    body: bytes


ALLOCATE_CODE = (
    "UPDATE voucher_codes SET status = 'allocated', order_id = ?, allocated_ms = ?"
    " WHERE tenant_id = ? AND code_id = ? AND status = 'available'"
)
INSERT_ORDER = (
    "INSERT INTO orders (tenant_id, order_id, status, recipient, payer, product_id,"
    " face_value_minor, currency, price_minor, price_unit, code_id, external_id,"
    " created_ms, updated_ms) VALUES (?, ?, 'fulfilled', ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
)
#: Double entry: the budget gives the price, the budget's spending account takes it.
INSERT_ENTRIES = (
    "INSERT INTO ledger_entries (tenant_id, txn_id, account, amount_minor, currency,"
    " created_ms) VALUES (?, ?, ?, ?, ?, ?), (?, ?, ?, ?, ?, ?)"
)
INSERT_EVENT = (
    "INSERT INTO outbox (event_id, tenant_id, subject, payload, created_ms) VALUES (?, ?, ?, ?, ?)"
)
INSERT_REPLY = (
    "INSERT INTO idempotency_replies (tenant_id, key_hash, fingerprint, status, reply,"
    " created_ms, expires_ms) VALUES (?, ?, ?, ?, ?, ?, ?)"
)
SELECT_REPLY = (
    "SELECT fingerprint, status, reply FROM idempotency_replies"
    " WHERE tenant_id = ? AND key_hash = ?"
)
SELECT_PRODUCT = f"SELECT {PRODUCT_COLUMNS} FROM products WHERE tenant_id = ? AND product_id = ?"
DEBIT_BUDGET = (
    "UPDATE budgets SET balance_minor = balance_minor - ?, version = version + 1,"
    " updated_ms = ? WHERE tenant_id = ? AND budget_id = ?"
)
UPDATE_REPLY = (
    "UPDATE idempotency_replies SET status = ?, reply = ? WHERE tenant_id = ? AND key_hash = ?"
)


def fulfil(d: Draft, product: Product, code_id: str) -> Fulfilment:
    """The rows of ``d`` fulfilled with ``code_id``, paid in the product's currency (the
    caller checks the budget's is the same)."""
    amount, unit, now = product.price(d), product.currency, d.now_ms
    face = Money(d.face_value_minor, unit)
    paid = Money(amount, unit)
    stamp = rfc3339(now)
    out = OrderOut(
        d.order_id,
        "fulfilled",
        d.recipient,
        d.payer,
        d.product_id,
        face,
        paid,
        code_id,
        "",
        d.external_id or "",
        stamp,
        stamp,
        "",
        "",
    )
    body = _json.encode(out)
    data = OrderEvent(d.order_id, "fulfilled", d.recipient, d.payer, d.product_id, face, paid)
    event: OutboxEvent = make_event(d.tenant, "order", "fulfilled", d.order_id, data)
    t, o = d.tenant, d.order_id
    return Fulfilment(
        amount,
        (o, now, t, code_id),
        (
            t,
            o,
            d.recipient,
            d.payer,
            d.product_id,
            d.face_value_minor,
            unit,
            amount,
            unit,
            code_id,
            d.external_id,
            now,
            now,
        ),
        (t, o, d.payer, -amount, unit, now, t, o, f"spent:{d.budget_id}", amount, unit, now),
        (event.event_id, t, event.subject, event.payload, now),
        tuple((t, c.key_hash, c.fingerprint, 201, body, now, now + REPLY_TTL_MS) for c in d.claims),
        body,
    )


class _Id(msgspec.Struct):
    id: str


_order_id = msgspec.json.Decoder(_Id).decode


def replay(claim: Claim, row: tuple[Any, ...]) -> Outcome:
    """The answer to a claim already taken: (fingerprint, status, reply) as stored."""
    fingerprint, status, reply = row
    if fingerprint != claim.fingerprint:
        return key_reused()
    body = bytes(reply)
    return Placed(int(status), body, _order_id(body).id, replayed=True)
