"""ACLs: grants narrow a role to named budgets, at the edge and again in the actors."""

from __future__ import annotations

import base64

import pytest

from bus.errors import ErrorCode
from bus.messages import Command, Err, Ok, Principal, Reply, bulk, orders, treasury
from bus.messages.budget import DebitBudget, GetBudget
from bus.messages.bulk import BulkRow, LoadBulkRows
from bus.messages.catalogue import CurateProduct
from bus.messages.common import Money
from bus.messages.orders import CancelOrder, GetOrder, OrderView, PlaceOrder, ResendOrder
from bus.messages.treasury import SetFxRate, SetPointsRate
from bus.messages.vouchers import CodeRow, GenerateCodes, ImportCodes
from bus.messages.wallet import IssuePoints
from bus.scopes import ALL_SCOPES
from storage.ports import CatalogueStore
from tests.conftest import Cluster
from tests.integration.api import BudgetApi, GraphQL, Rest
from tests.support import budget_record, gift_card

#: Above the ledger (grants are the edge's and the actors' checks; the ledger contract suite
#: holds the listings they narrow): SQLite only (ADR 30).
pytestmark = pytest.mark.ledgers("sqlite")

ADMIN = Principal("admin@acme", roles=("admin",))
#: A programme manager of budget ``eng`` only.
ENG_ONLY = ["budget:eng"]


@pytest.fixture(params=["rest", "graphql"])
async def api(
    request: pytest.FixtureRequest, cluster: Cluster, catalogue: CatalogueStore
) -> BudgetApi:
    await catalogue.put_products([gift_card()])
    await cluster.open_budget("acme", "eng", 100_000)
    await cluster.open_budget("acme", "sales", 100_000)
    rows = tuple(CodeRow(f"SECRET-{i:04d}") for i in range(4))
    imported = await cluster.bus.request(
        "acme", "vouchers", ImportCodes("card-de", 2500, "EUR", rows), ADMIN, 10
    )
    assert isinstance(imported, Ok)
    return Rest(cluster.client) if request.param == "rest" else GraphQL(cluster.client)


def gift(budget_id: str) -> dict[str, object]:
    return {
        "product_id": "card-de",
        "face_value_minor": 2500,
        "recipient": "ann",
        "budget_id": budget_id,
    }


async def test_a_manager_of_one_budget_cannot_use_another(api: BudgetApi, cluster: Cluster) -> None:
    manager = cluster.keys.headers("acme", roles=["programme_manager"], grants=ENG_ONLY)
    assert (await api.debit(manager, "eng", 100)).value is not None
    assert (await api.get(manager, "eng")).value is not None
    assert (await api.issue(manager, "eng", "ann", 10)).value is not None
    placed = await api.place(manager, gift("eng"), key="o-eng")
    assert placed.value is not None, placed

    for refused in (
        await api.debit(manager, "sales", 100),
        await api.get(manager, "sales"),
        await api.issue(manager, "sales", "ann", 10),
        await api.place(manager, gift("sales"), key="o-sales"),
        await api.create(manager, "new-one", 10),
        await api.bulk_start(manager, "sales", "person_id,points\nann,5\n", key="bulk-sales"),
    ):
        assert refused.code == "forbidden", refused
    sales = await budget_record(cluster.ledger, "acme", "sales")
    assert sales is not None
    assert sales.balance_minor == 100_000  # nothing moved

    # an order paid from a budget outside the grants is not there for the manager
    owner = cluster.keys.headers("acme")
    other = await api.place(owner, gift("sales"), key="o-owner")
    assert other.value is not None
    assert (await api.order(manager, other.value["id"])).code == "not_found"
    assert (await api.order(manager, placed.value["id"])).value is not None
    # unnarrowed principals are unaffected
    assert (await api.debit(owner, "sales", 100)).value is not None


async def test_the_actors_check_grants_without_the_edge(cluster: Cluster) -> None:
    """A request that reaches the bus some other way is refused by the owning actor."""
    await cluster.open_budget("acme", "eng", 10_000)
    await cluster.open_budget("acme", "sales", 10_000)
    narrowed = Principal("pm@acme", roles=("programme_manager",), grants=("budget:eng",))
    eur = Money(100, "EUR")

    async def ask(kind: str, body: Command) -> Reply:
        return await cluster.bus.request("acme", kind, body, narrowed, 10)

    assert isinstance(await ask(treasury.KIND, DebitBudget("eng", "d1", eur)), Ok)
    for kind, body in (
        (treasury.KIND, DebitBudget("sales", "d2", eur)),
        (treasury.KIND, GetBudget("sales")),
        (orders.KIND, PlaceOrder("o1", "card-de", 2500, "ann", budget_id="sales")),
        (bulk.KIND, LoadBulkRows("job-1", "sales", 0, (BulkRow("ann", 1),))),
    ):
        reply = await ask(kind, body)
        assert isinstance(reply, Err), (kind, reply)
        assert reply.code == ErrorCode.FORBIDDEN, (kind, reply)
    assert isinstance(await ask(orders.KIND, GetOrder("o1")), Err)


async def test_what_every_budget_shares_is_not_changed_by_a_narrowed_principal(
    cluster: Cluster, catalogue: CatalogueStore
) -> None:
    """Exchange rates, the points rate, the catalogue and the voucher stock serve every
    budget: an admin narrowed to one changes none of them, at the edge or on the bus
    (where the vouchers actor also checks the roles that add codes)."""
    await catalogue.put_products([gift_card()])
    narrowed = cluster.keys.headers("acme", roles=["admin"], grants=ENG_ONLY)
    pool = "/api/v1/vouchers/pools/card-de/2500"
    attempts = (
        ("PUT", "/api/v1/fx/EUR/USD", {"rate": "1.10"}),
        ("PUT", "/api/v1/points-rate", {"currency": "EUR", "points_per_unit": "1000"}),
        ("PUT", "/api/v1/catalogue/products/card-de/curation", {"enabled": False}),
        ("POST", f"{pool}/generate", {"currency": "EUR", "count": 5}),
        ("POST", f"{pool}/codes", {"currency": "EUR", "codes": [{"code": "MINE-00001"}]}),
    )
    for key, (method, path, body) in enumerate(attempts):
        headers = {**narrowed, "Idempotency-Key": f"narrowed-{key}"}
        async with cluster.client.request(method, path, json=body, headers=headers) as r:
            problem = await r.json()
            assert (r.status, r.content_type) == (403, "application/problem+json"), path
        assert "the whole tenant's" in problem["detail"], path

    admin_of_eng = Principal(
        "adm@acme", roles=("admin",), scopes=ALL_SCOPES, grants=("budget:eng",)
    )
    integrator = Principal("int@acme", roles=("integrator",))
    for who, kind, body in (
        (admin_of_eng, treasury.KIND, SetFxRate("EUR", "USD", "1.10")),
        (admin_of_eng, treasury.KIND, SetPointsRate("EUR", "1000")),
        (admin_of_eng, "catalogue", CurateProduct("card-de", enabled=False)),
        (admin_of_eng, "vouchers", GenerateCodes("card-de", 2500, "EUR", 5)),
        (integrator, "vouchers", ImportCodes("card-de", 2500, "EUR", (CodeRow("MINE-00002"),))),
    ):
        reply = await cluster.bus.request("acme", kind, body, who, 10)
        assert isinstance(reply, Err), (body, reply)
        assert reply.code == ErrorCode.FORBIDDEN, (body, reply)

    owner = cluster.keys.headers("acme")
    async with cluster.client.get("/api/v1/fx", headers=owner) as r:
        assert (await r.json())["rates"] == []
    async with cluster.client.get(pool, headers=owner) as r:
        assert r.status == 404 or (await r.json())["available"] == 0
    async with cluster.client.get("/api/v1/catalogue/products/card-de", headers=owner) as r:
        assert r.status == 200  # still offered


async def test_a_client_with_grants_gets_narrowed_tokens(cluster: Cluster) -> None:
    await cluster.open_budget("acme", "eng", 10_000)
    await cluster.open_budget("acme", "sales", 10_000)
    body = {"name": "Eng HRIS", "scopes": ["budgets:read", "budgets:debit"], "grants": ENG_ONLY}
    async with cluster.client.post(
        "/api/v1/clients", json=body, headers=cluster.keys.headers("acme")
    ) as r:
        created = await r.json()
        assert r.status == 201, created
    assert created["grants"] == ENG_ONLY
    basic = base64.b64encode(f"{created['id']}:{created['client_secret']}".encode()).decode()
    async with cluster.client.post(
        "/oauth/token",
        data={"grant_type": "client_credentials"},
        headers={"Authorization": f"Basic {basic}"},
    ) as r:
        bearer = {"Authorization": f"Bearer {(await r.json())['access_token']}"}
    debit = {"amount": {"amount_minor": 5, "currency": "EUR"}}
    async with cluster.client.post("/api/v1/budgets/eng/debits", json=debit, headers=bearer) as r:
        assert r.status == 201
    async with cluster.client.post("/api/v1/budgets/sales/debits", json=debit, headers=bearer) as r:
        problem = await r.json()
        assert (r.status, r.content_type) == (403, "application/problem+json")
    assert "budget sales" in problem["detail"]


async def test_a_narrowed_admin_cannot_hand_out_wider_grants(cluster: Cluster) -> None:
    admin = cluster.keys.headers("acme", roles=["admin"], grants=ENG_ONLY)
    for grants in ([], ["budget:sales"], ["budget:eng", "budget:sales"]):
        body = {"name": "Wider", "scopes": ["budgets:read"], "grants": grants}
        async with cluster.client.post("/api/v1/clients", json=body, headers=admin) as r:
            assert r.status == 403, grants
    body = {"name": "Same", "scopes": ["budgets:read"], "grants": ENG_ONLY}
    async with cluster.client.post("/api/v1/clients", json=body, headers=admin) as r:
        assert r.status == 201


async def test_bad_grants_are_refused_by_name(cluster: Cluster) -> None:
    body = {"name": "Bad", "scopes": ["budgets:read"], "grants": ["wallet:ann"]}
    async with cluster.client.post(
        "/api/v1/clients", json=body, headers=cluster.keys.headers("acme")
    ) as r:
        problem = await r.json()
        assert (r.status, r.content_type) == (422, "application/problem+json")
    assert problem["errors"][0]["pointer"] == "#/grants/0"


async def test_a_narrowed_admin_manages_only_people_and_clients_within_its_budgets(
    cluster: Cluster,
) -> None:
    """An admin of budget eng cannot make a tenant-wide person an admin, set their
    password, or get a new secret for (or revoke) a tenant-wide client: each would reach
    beyond eng. People and clients narrowed to eng it manages as before."""
    owner = cluster.keys.headers("acme")
    eng_admin = cluster.keys.headers("acme", roles=["admin"], grants=ENG_ONLY)
    for person, grants in (("wide", []), ("eng-pm", ENG_ONLY)):
        person_body = {"id": person, "email": f"{person}@acme.example", "name": person.title()}
        async with cluster.client.post(
            "/api/v1/people", json={**person_body, "grants": grants}, headers=owner
        ) as r:
            assert r.status == 201, await r.text()
    clients = {}
    for name, grants in (("Wide", []), ("Eng", ENG_ONLY)):
        client_body = {"name": name, "scopes": ["budgets:read"], "grants": grants}
        async with cluster.client.post("/api/v1/clients", json=client_body, headers=owner) as r:
            clients[name] = (await r.json())["id"]
    password = '{"new_password": "a long enough new password 1"}'
    attempts = {
        ("PATCH", "/api/v1/people/wide", '{"roles": ["admin"]}'): 403,
        # narrowing a tenant-wide person first would let its password be set next
        ("PATCH", "/api/v1/people/wide", '{"grants": ["budget:eng"], "name": "Taken"}'): 403,
        ("PATCH", "/api/v1/people/wide", '{"grants": ["budget:eng"], "status": "disabled"}'): 403,
        ("PUT", "/api/v1/people/wide/password", password): 403,
        ("POST", f"/api/v1/clients/{clients['Wide']}/secret", None): 403,
        ("DELETE", f"/api/v1/clients/{clients['Wide']}", None): 403,
        ("PATCH", "/api/v1/people/eng-pm", '{"roles": ["programme_manager"]}'): 200,
        ("PUT", "/api/v1/people/eng-pm/password", password): 200,
        ("POST", f"/api/v1/clients/{clients['Eng']}/secret", None): 200,
        ("DELETE", f"/api/v1/clients/{clients['Eng']}", None): 200,
    }
    for (method, path, sent), status in attempts.items():
        headers = {**eng_admin, "Content-Type": "application/json"}
        async with cluster.client.request(method, path, data=sent, headers=headers) as r:
            assert r.status == status, (method, path, await r.text())
    async with cluster.client.get("/api/v1/people/wide", headers=owner) as r:
        wide = await r.json()
    assert (wide["roles"], wide["grants"], wide["name"], wide["status"]) == (
        ["end_user"],
        [],
        "Wide",
        "active",
    )


async def test_four_eyes_on_spending_for_oneself(
    cluster: Cluster, catalogue: CatalogueStore
) -> None:
    """A programme manager neither rewards themselves nor orders a gift card for
    themselves from a budget; staff narrowed to a budget spend no one else's points; the
    recipient of an order does not cancel it; no one resends an order they may not see.
    Owners and admins, who could grant themselves any role, may serve themselves."""
    await cluster.open_shop(catalogue, 4, 100_000, {"ann": 10_000})
    pm = Principal("pm@acme", roles=("programme_manager",))
    narrowed = Principal("adm@acme", roles=("admin",), grants=("budget:b1",))
    admin = Principal("boss@acme", roles=("admin",))

    async def ask(kind: str, body: Command, who: Principal) -> Reply:
        return await cluster.bus.request("acme", kind, body, who, 10)

    refused: list[tuple[str, Command, Principal]] = [
        (treasury.KIND, IssuePoints("b1", "pm@acme", 100, "rwd-self"), pm),
        (orders.KIND, PlaceOrder("o-self", "card-de", 2500, "pm@acme", budget_id="b1"), pm),
        (orders.KIND, PlaceOrder("o-ann", "card-de", 2500, "ann"), narrowed),
    ]
    for kind, body, who in refused:
        reply = await ask(kind, body, who)
        assert isinstance(reply, Err), (body, reply)
        assert reply.code == ErrorCode.FORBIDDEN, (body, reply)
    assert await cluster.ledger.account_balance("acme", "wallet:ann") == 10_000
    assert isinstance(await ask(treasury.KIND, IssuePoints("b1", "boss@acme", 5, "r"), admin), Ok)
    mine = await ask(orders.KIND, PlaceOrder("o-boss", "card-de", 2500, "boss@acme", "b1"), admin)
    assert isinstance(mine, Ok), mine
    assert isinstance(mine.value, OrderView)
    cancelled = await ask(orders.KIND, CancelOrder(mine.value.order_id), admin)
    assert isinstance(cancelled, Err)
    assert cancelled.code == ErrorCode.FORBIDDEN
    stranger = Principal("bob", roles=("end_user",))
    resent = await ask(orders.KIND, ResendOrder(mine.value.order_id), stranger)
    assert isinstance(resent, Err)
    assert resent.code == ErrorCode.NOT_FOUND
    async with cluster.client.post(
        "/api/v1/rewards/bulk?budget_id=b1",
        data=b"person_id,points\npm@acme,5\n",
        headers={**cluster.keys.headers("acme", roles=["programme_manager"], subject="pm@acme"),
                 "Content-Type": "text/csv"},
    ) as r:  # fmt: skip
        assert r.status == 403
