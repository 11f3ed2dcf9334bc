"""The scopes a token may carry and the roles a principal may have: part of the public
contract, shared by the edge (which checks scopes) and the actors (which check roles)."""

from __future__ import annotations

SCOPE_READ = "budgets:read"
SCOPE_DEBIT = "budgets:debit"
SCOPE_ADMIN = "budgets:admin"
SCOPE_ISSUE = "rewards:issue"
SCOPE_WALLETS = "wallets:read"
SCOPE_CATALOGUE = "catalogue:read"
SCOPE_CATALOGUE_ADMIN = "catalogue:admin"
SCOPE_VOUCHERS = "vouchers:read"
SCOPE_VOUCHERS_ADMIN = "vouchers:admin"
SCOPE_ORDERS = "orders:write"
SCOPE_ORDERS_READ = "orders:read"
#: Approve or reject orders held for review (the programme's review threshold).
SCOPE_ORDERS_REVIEW = "orders:review"
SCOPE_EVENTS = "events:read"
SCOPE_BULK = "rewards:bulk"
SCOPE_FX = "fx:write"
SCOPE_FUNDING = "funding:write"
#: Funding accounts and their history: the whole tenant's money before it reaches budgets.
SCOPE_FUNDING_READ = "funding:read"
SCOPE_CLIENTS = "clients:admin"
SCOPE_AUDIT = "audit:read"
SCOPE_PEOPLE = "people:admin"
SCOPE_CONFIG = "config:read"
SCOPE_CONFIG_ADMIN = "config:write"
#: Reports from the warehouse: the whole tenant's orders, rewards and money movements.
SCOPE_REPORTS = "reports:read"
#: Webhook endpoints and their deliveries (they carry the whole tenant's events).
SCOPE_WEBHOOKS = "webhooks:admin"

#: Aggregates whose events only some principals may read, with the permission each needs:
#: people's emails and roles, API clients, and the tenant's funding (ADR 38). The events
#: replay, webhooks and NATS credentials all keep them to those.
PRIVATE_EVENTS = {"identity": SCOPE_CLIENTS, "people": SCOPE_PEOPLE, "funding": SCOPE_FUNDING_READ}

#: Every scope a token may carry, for tools that mint tokens for everything (the demo).
ALL_SCOPES = (
    SCOPE_READ,
    SCOPE_DEBIT,
    SCOPE_ADMIN,
    SCOPE_ISSUE,
    SCOPE_WALLETS,
    SCOPE_CATALOGUE,
    SCOPE_CATALOGUE_ADMIN,
    SCOPE_VOUCHERS,
    SCOPE_VOUCHERS_ADMIN,
    SCOPE_ORDERS,
    SCOPE_ORDERS_READ,
    SCOPE_ORDERS_REVIEW,
    SCOPE_EVENTS,
    SCOPE_BULK,
    SCOPE_FX,
    SCOPE_FUNDING,
    SCOPE_FUNDING_READ,
    SCOPE_CLIENTS,
    SCOPE_AUDIT,
    SCOPE_PEOPLE,
    SCOPE_CONFIG,
    SCOPE_CONFIG_ADMIN,
    SCOPE_REPORTS,
    SCOPE_WEBHOOKS,
)

#: Roles of people and clients (each a set of permissions, see docs/adr/0014).
ROLES = (
    "owner",
    "admin",
    "programme_manager",
    "finance",
    "auditor",
    "integrator",
    "end_user",
)
#: Roles an OAuth2 client (a system, not a person) may be given.
CLIENT_ROLES = frozenset({"integrator", "programme_manager", "finance", "auditor"})

_READ_ONLY = frozenset(
    {
        SCOPE_READ,
        SCOPE_WALLETS,
        SCOPE_CATALOGUE,
        SCOPE_VOUCHERS,
        SCOPE_ORDERS_READ,
        SCOPE_EVENTS,
    }
)

#: What each role may do, as the scopes its tokens can use (docs/permissions.md). A
#: token's effective permissions are its scopes that one of its roles allows; the actors
#: check roles again where the data is (whose wallet, which budget).
ROLE_PERMISSIONS: dict[str, frozenset[str]] = {
    "owner": frozenset(ALL_SCOPES),
    "admin": frozenset(ALL_SCOPES),
    "programme_manager": _READ_ONLY
    | {
        SCOPE_DEBIT,
        SCOPE_ISSUE,
        SCOPE_BULK,
        SCOPE_CATALOGUE_ADMIN,
        SCOPE_VOUCHERS_ADMIN,
        SCOPE_ORDERS,
        SCOPE_ORDERS_REVIEW,
        SCOPE_CONFIG,
        SCOPE_CONFIG_ADMIN,
        SCOPE_REPORTS,
    },
    "finance": _READ_ONLY
    | {
        SCOPE_ADMIN,
        SCOPE_FUNDING,
        SCOPE_FUNDING_READ,
        SCOPE_FX,
        SCOPE_AUDIT,
        SCOPE_CONFIG,
        SCOPE_REPORTS,
        SCOPE_ORDERS_REVIEW,
    },
    "auditor": _READ_ONLY | {SCOPE_AUDIT, SCOPE_CONFIG, SCOPE_REPORTS, SCOPE_FUNDING_READ},
    "integrator": _READ_ONLY | {SCOPE_DEBIT, SCOPE_ISSUE, SCOPE_BULK, SCOPE_ORDERS, SCOPE_WEBHOOKS},
    "end_user": frozenset({SCOPE_CATALOGUE, SCOPE_ORDERS, SCOPE_ORDERS_READ, SCOPE_WALLETS}),
}


def permissions(roles: tuple[str, ...] | list[str], scopes: tuple[str, ...]) -> frozenset[str]:
    """What a token may do: its scopes that one of its roles allows."""
    allowed: frozenset[str] = frozenset().union(*(ROLE_PERMISSIONS.get(r, ()) for r in roles))
    return frozenset(scopes) & allowed
