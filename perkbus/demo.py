"""The demo tenant: seeded through the bus like any client would, idempotently."""

from __future__ import annotations

import json
from pathlib import Path

from bus.client import Bus
from bus.errors import ErrorCode
from bus.messages import Command, Err, Principal, treasury, vouchers
from bus.messages.budget import CreateBudget
from bus.messages.common import Money
from bus.messages.vouchers import GenerateCodes
from bus.messages.wallet import IssuePoints
from edge.operations import ALL_SCOPES
from perkbus import demo_catalogue, tokens
from perkbus.settings import Settings
from storage.factory import open_catalogue

TENANT = "demo"
BUDGET_ID = "demo-budget"
SCOPES = list(ALL_SCOPES)
#: People of the demo tenant with a welcome reward of points.
PEOPLE = {"ann@demo.example": 5_000, "raj@demo.example": 12_000, "li@demo.example": 2_500}
#: Voucher pools stocked with closed-loop codes: this many EUR products, codes each.
STOCKED_PRODUCTS, CODES_PER_POOL = 8, 25
SEEDER = Principal("perkbus-demo-seed", roles=("owner",))


async def _send(bus: Bus, kind: str, body: Command, key: str | None = None) -> None:
    reply = await bus.request(TENANT, kind, body, SEEDER, timeout_s=30.0, idempotency_key=key)
    if isinstance(reply, Err) and reply.code != ErrorCode.ALREADY_EXISTS:
        raise RuntimeError(f"seeding the demo tenant failed: {reply.message}")


async def seed(bus: Bus) -> None:
    """The demo tenant, through the bus like any client, each step once (idempotency keys):
    a budget of 10,000.00 EUR warning below 1,000.00, welcome points for three people, and
    pools of closed-loop codes for a few EUR gift cards of the demo catalogue."""
    budget = CreateBudget(
        BUDGET_ID, "Demo programme", Money(1_000_000, "EUR"), low_balance_minor=100_000
    )
    await _send(bus, treasury.KIND, budget)
    for person, points in PEOPLE.items():
        welcome = IssuePoints(BUDGET_ID, person, points, f"welcome-{person}", "Welcome!")
        await _send(bus, treasury.KIND, welcome, f"demo-welcome-{person}")
    stocked = [p for p in demo_catalogue.generate() if p.currency == "EUR" and p.denominations]
    for product in stocked[:STOCKED_PRODUCTS]:
        face = product.denominations[0]
        codes = GenerateCodes(product.id, face, "EUR", CODES_PER_POOL)
        await _send(bus, vouchers.KIND, codes, f"demo-codes-{product.id}-{face}")


async def seed_catalogue(settings: Settings) -> int:
    """Fill an empty platform catalogue with the generated demo products."""
    store = open_catalogue(settings.catalogue)
    try:
        await store.migrate()
        if await store.products(""):
            return 0
        products = demo_catalogue.generate()
        await store.put_products(products)
        return len(products)
    finally:
        await store.close()


def write_credentials(settings: Settings, base_url: str) -> Path:
    token = tokens.mint(
        settings.auth.signing_key_file,
        tenant=TENANT,
        subject="demo-admin",
        scopes=SCOPES,
        roles=["owner"],
        ttl_s=settings.auth.token_ttl_s,
        issuer=settings.edge.jwt_issuer,
        audience=settings.edge.jwt_audience,
    )
    credentials = {
        "tenant": TENANT,
        "base_url": base_url,
        "api": f"{base_url}/api/v1",
        "openapi": f"{base_url}/api/v1/openapi.json",
        "budget_id": BUDGET_ID,
        "token": token,
        "scopes": SCOPES,
        "try": (f"curl -s -H 'Authorization: Bearer $TOKEN' {base_url}/api/v1/budgets/{BUDGET_ID}"),
    }
    path = Path(settings.var_dir) / "demo.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(credentials, indent=2) + "\n")
    return path
