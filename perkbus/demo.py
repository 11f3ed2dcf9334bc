"""The demo tenant: seeded through the bus like any client would, idempotently."""

from __future__ import annotations

import json
import os
from pathlib import Path

from bus.client import Bus
from bus.errors import ErrorCode
from bus.messages import Command, Err, Principal, ReplyValue, people, treasury, vouchers
from bus.messages.budget import CreateBudget
from bus.messages.common import Money
from bus.messages.people import CreatePerson
from bus.messages.vouchers import GenerateCodes, GetPool, PoolView
from bus.messages.wallet import GetWallet, IssuePoints, WalletView
from bus.scopes import ALL_SCOPES
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
#: Everyone of the demo tenant signs in with this password (a demo: change it).
DEMO_PASSWORD = "perkbus-demo-2026"
ADMIN_EMAIL = "admin@demo.example"


async def _send(bus: Bus, kind: str, body: Command, key: str | None = None) -> ReplyValue | None:
    reply = await bus.request(TENANT, kind, body, SEEDER, timeout_s=30.0, idempotency_key=key)
    if isinstance(reply, Err):
        if reply.code == ErrorCode.ALREADY_EXISTS:
            return None
        raise RuntimeError(f"seeding the demo tenant failed: {reply.message}")
    return reply.value


async def seed(bus: Bus, currency: str = "EUR") -> None:
    """The demo tenant, through the bus like any client, each step once: a budget of
    10,000.00 (in the points currency) warning below 1,000.00, welcome points for three
    people, and pools of closed-loop codes for a few gift cards of the demo catalogue.
    A step is skipped when its result is there already (so a restart, however late,
    adds nothing)."""
    budget = CreateBudget(
        BUDGET_ID, "Demo programme", Money(1_000_000, currency), low_balance_minor=100_000
    )
    await _send(bus, treasury.KIND, budget)
    admin = CreatePerson(ADMIN_EMAIL, ADMIN_EMAIL, "Demo admin", ("owner",), (), DEMO_PASSWORD)
    await _send(bus, people.KIND, admin)
    for person in PEOPLE:
        name = person.split("@")[0].title()
        await _send(bus, people.KIND, CreatePerson(person, person, name, password=DEMO_PASSWORD))
    for person, points in PEOPLE.items():
        wallet = await _send(bus, treasury.KIND, GetWallet(person))
        if isinstance(wallet, WalletView) and wallet.version == 0:  # never rewarded
            welcome = IssuePoints(BUDGET_ID, person, points, f"welcome-{person}", "Welcome!")
            await _send(bus, treasury.KIND, welcome, f"demo-welcome-{person}")
    stocked = [p for p in demo_catalogue.generate() if p.currency == "EUR" and p.denominations]
    for product in stocked[:STOCKED_PRODUCTS]:
        face = product.denominations[0]
        pool = await _send(bus, vouchers.KIND, GetPool(product.id, face))
        if isinstance(pool, PoolView) and pool.available + pool.allocated == 0:
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
        subject=tokens.DEMO_SUBJECT,
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
        "sign_in": {
            "url": f"{base_url}/auth/sign-in",
            "admin": ADMIN_EMAIL,
            "people": list(PEOPLE),
            "password": DEMO_PASSWORD,
        },
        "try": (f"curl -s -H 'Authorization: Bearer $TOKEN' {base_url}/api/v1/budgets/{BUDGET_ID}"),
    }
    path = Path(settings.var_dir) / "demo.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    # an owner's token: for this machine's user alone
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(json.dumps(credentials, indent=2) + "\n")
    path.chmod(0o600)  # made by an earlier version with the umask's mode
    return path
