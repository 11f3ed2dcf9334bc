"""The OpenAPI paths of a person's history (merged into :data:`edge.openapi_paths.PATHS`):
their orders and their wallet's movements, newest first, in pages."""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from typing import Any

from edge.history import HistoryEntryOut, HistoryQuery, OrderListOut, OrdersQuery, WalletHistoryOut

#: The Structs whose schemas the paths below refer to.
SCHEMAS: tuple[type, ...] = (OrderListOut, HistoryEntryOut, WalletHistoryOut)

_PAGES = (
    "Newest first. A page ends with `next_cursor`: send it back as `cursor` for the next "
    "(older) page; it is null on the last page."
)


def history_paths(
    ref: str,
    common_errors: dict[str, Any],
    person_id: dict[str, Any],
    query_parameters: Callable[[type], list[dict[str, Any]]],
) -> dict[str, dict[str, Any]]:
    json, problem = partial(json_answer, ref), partial(problem_answer, ref)

    forbidden = problem(
        "The token lacks the scope, or an end user asked for another person's history"
    )
    return {
        "/api/v1/orders": {
            "get": {
                "operationId": "listOrders",
                "summary": "Orders: a person's own, or the tenant's for staff",
                "description": (
                    "Needs scope `orders:read`. An end user sees only the orders they "
                    "received (`recipient` is themselves when left out; another person's "
                    "is 403). Staff (owner, admin, finance, programme manager, integrator) "
                    "see the tenant's, optionally of one `recipient`; a principal narrowed "
                    f"to some budgets sees the orders those budgets paid. {_PAGES}"
                ),
                "parameters": query_parameters(OrdersQuery),
                "responses": {
                    "200": json("OrderListOut", "A page of orders"),
                    "422": problem("A query parameter, or the cursor, is not valid"),
                    **common_errors,
                    "403": forbidden,
                },
            }
        },
        "/api/v1/wallets/{person_id}/history": {
            "get": {
                "operationId": "walletHistory",
                "summary": "A wallet's movements: rewards received, redemptions, refunds",
                "description": (
                    "Needs scope `wallets:read`. From the ledger entries of the person's "
                    "wallet; `kind` is `reward`, `redemption`, `refund` or `adjustment`, "
                    "and a redemption or refund names its `order_id`. An end user reads "
                    f"only their own (another person's is 403). {_PAGES}"
                ),
                "parameters": [person_id, *query_parameters(HistoryQuery)],
                "responses": {
                    "200": json("WalletHistoryOut", "A page of movements"),
                    "404": problem("The id cannot be a person's"),
                    "422": problem("A query parameter, or the cursor, is not valid"),
                    **common_errors,
                    "403": forbidden,
                },
            }
        },
    }


def json_answer(ref: str, name: str, description: str) -> dict[str, Any]:
    """A 200-style answer: JSON of the schema ``name`` (``ref`` formats its $ref)."""
    schema = {"$ref": ref.format(name=name)}
    return {"description": description, "content": {"application/json": {"schema": schema}}}


def problem_answer(ref: str, description: str) -> dict[str, Any]:
    """A refusal: problem details."""
    schema = {"$ref": ref.format(name="Problem")}
    return {"description": description, "content": {"application/problem+json": {"schema": schema}}}
