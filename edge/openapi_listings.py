"""The OpenAPI paths of the listings (merged into :data:`edge.openapi_paths.PATHS`): a
tenant's budgets and its voucher pools, in pages."""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from typing import Any

from edge.listings import BudgetListOut, PageQuery, PoolListOut
from edge.openapi_history import json_answer, problem_answer

#: The Structs whose schemas the paths below refer to.
SCHEMAS: tuple[type, ...] = (BudgetListOut, PoolListOut)

PAGES = (
    "A page ends with `next_cursor`: send it back as `cursor` for the next page; it is "
    "null on the last page. A cursor this API did not give is 422 `invalid_request`."
)


def listing_paths(
    ref: str,
    common_errors: dict[str, Any],
    query_parameters: Callable[[type], list[dict[str, Any]]],
) -> dict[str, dict[str, Any]]:
    json, problem = partial(json_answer, ref), partial(problem_answer, ref)

    bad_query = problem("`limit` is not 1 to 100, or the cursor is not valid (`invalid_request`)")
    return {
        "/api/v1/budgets": {
            "get": {
                "operationId": "listBudgets",
                "summary": "The tenant's budgets, by id",
                "description": (
                    "Needs scope `budgets:read`. Each budget as `GET /budgets/{budget_id}` "
                    "shows it. A principal narrowed to some budgets (grants) sees those "
                    f"only. {PAGES}"
                ),
                "parameters": query_parameters(PageQuery),
                "responses": {
                    "200": json("BudgetListOut", "A page of budgets"),
                    "422": bad_query,
                    **common_errors,
                },
            }
        },
        "/api/v1/vouchers/pools": {
            "get": {
                "operationId": "listVoucherPools",
                "summary": "The tenant's voucher pools, by product and face value",
                "description": (
                    "Needs scope `vouchers:read`. Every pool that has had a code, with the "
                    "figures of `GET /vouchers/pools/{product_id}/{face_value}`. "
                    f"{PAGES}"
                ),
                "parameters": query_parameters(PageQuery),
                "responses": {
                    "200": json("PoolListOut", "A page of pools"),
                    "422": bad_query,
                    **common_errors,
                },
            }
        },
    }
