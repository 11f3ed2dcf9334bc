"""The demo tenant: seeded through the bus like any client would, idempotently."""

from __future__ import annotations

import json
from pathlib import Path

from bus.client import Bus
from bus.errors import ErrorCode
from bus.messages import Err, Principal
from bus.messages.budget import KIND, CreateBudget
from bus.messages.common import Money
from edge.operations import ALL_SCOPES
from perkbus import demo_catalogue, tokens
from perkbus.settings import Settings
from storage.factory import open_catalogue

TENANT = "demo"
BUDGET_ID = "demo-budget"
SCOPES = list(ALL_SCOPES)


async def seed(bus: Bus) -> None:
    """Open the demo budget (10,000.00 EUR) unless it exists already."""
    reply = await bus.request(
        TENANT,
        KIND,
        CreateBudget(BUDGET_ID, "Demo programme", Money(1_000_000, "EUR")),
        Principal("perkbus-demo-seed", roles=("owner",)),
        timeout_s=10.0,
    )
    if isinstance(reply, Err) and reply.code != ErrorCode.ALREADY_EXISTS:
        raise RuntimeError(f"seeding the demo tenant failed: {reply.message}")


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
