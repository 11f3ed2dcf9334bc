"""Access control lists: grants that narrow a principal's roles to named resources.

A role says what a principal may do (``bus.scopes``); its grants say to what. A principal
with no grants acts on the whole tenant, as its roles allow. A principal with grants acts
only on the resources they name: a programme manager granted ``budget:eng`` may spend
from budget ``eng`` and from no other. Grants are ``<kind>:<id>``; budgets are the kind
perkbus has today (ADR 19).

The edge checks a request against its grants before sending it, and the actor that owns
the data checks again — with :func:`refusal` on the command, and :func:`may_use_budget`
on what it stored (an order's or a bulk job's budget).
"""

from __future__ import annotations

from collections.abc import Iterable

from bus.messages.common import Principal
from bus.messages.grants import BUDGET


def budget_grant(budget_id: str) -> str:
    return f"{BUDGET}:{budget_id}"


def budgets_named(body: object) -> tuple[str, ...]:
    """The budgets a command acts on: its ``budget_id``, if it has one."""
    budget_id = getattr(body, "budget_id", None)
    return (budget_id,) if isinstance(budget_id, str) and budget_id else ()


def may_use_budget(principal: Principal, budget_id: str) -> bool:
    return not principal.grants or budget_grant(budget_id) in principal.grants


def granted_budgets(principal: Principal) -> tuple[str, ...] | None:
    """The budgets a principal's grants name, in order; None if it has no grants (the
    whole tenant's). Listings show these only: those :func:`may_use_budget` allows."""
    if not principal.grants:
        return None
    prefix = f"{BUDGET}:"
    return tuple(sorted(g.removeprefix(prefix) for g in principal.grants if g.startswith(prefix)))


#: Roles that may reward themselves, or order from a budget for themselves: those who
#: could grant themselves any role anyway. Everyone else spends for others only (four
#: eyes, docs/permissions.md).
SELF_SERVING = frozenset({"owner", "admin"})


def may_serve_self(principal: Principal) -> bool:
    return bool(SELF_SERVING & set(principal.roles))


def refusal(principal: Principal, body: object) -> str | None:
    """Why the principal's grants do not cover the command; None if they do."""
    for budget_id in budgets_named(body):
        if not may_use_budget(principal, budget_id):
            return denied(budget_id)
    return None


def denied(budget_id: str) -> str:
    return f"this principal's grants do not include budget {budget_id}"


def beyond(principal: Principal, grants: Iterable[str]) -> str | None:
    """Why a principal may not hand out ``grants`` (to a client, a person): one narrowed
    to some resources gives nothing wider than what it holds; None if it may."""
    given = set(grants)
    if not principal.grants or (given and given <= set(principal.grants)):
        return None
    return "a principal narrowed to some budgets may only grant a part of them"


def whole_tenant(principal: Principal, what: str) -> str | None:
    """Why a principal narrowed to some budgets may not change ``what``, which every
    budget of the tenant shares (its exchange rates, its catalogue, its voucher stock);
    None when it is not narrowed."""
    if principal.grants:
        return f"{what}: the whole tenant's, not some budgets'"
    return None


def normalise(grants: Iterable[str]) -> tuple[str, ...]:
    """Grants in a stable order, each once."""
    return tuple(sorted(set(grants)))
