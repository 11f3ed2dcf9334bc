"""The OpenAPI paths of the funding reads (merged into :data:`edge.openapi_paths.PATHS`):
the tenant's funding accounts in pages, and one account's history."""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from typing import Any

from edge.funding_reads import FundingHistoryOut, FundingListOut, FundingPageQuery
from edge.openapi_history import json_answer, problem_answer
from edge.openapi_listings import PAGES

#: The Structs whose schemas the paths below refer to.
SCHEMAS: tuple[type, ...] = (FundingListOut, FundingHistoryOut)

#: Who reads funding, in every funding read's description.
READERS = (
    "Needs scope `funding:read` (owner, admin, finance, auditor) and the whole tenant: a "
    "principal narrowed to some budgets (grants) is refused, 403."
)


def funding_paths(
    ref: str,
    common_errors: dict[str, Any],
    account_id: dict[str, Any],
    query_parameters: Callable[[type], list[dict[str, Any]]],
) -> dict[str, dict[str, Any]]:
    json, problem = partial(json_answer, ref), partial(problem_answer, ref)
    bad_query = problem("`limit` is not 1 to 100, or the cursor is not valid (`invalid_request`)")
    return {
        "/api/v1/funding-accounts": {
            "get": {
                "operationId": "listFundingAccounts",
                "summary": "The tenant's funding accounts, by id",
                "description": (
                    f"{READERS} Each account as `GET /funding-accounts/{{account_id}}` "
                    f"shows it. {PAGES}"
                ),
                "parameters": query_parameters(FundingPageQuery),
                "responses": {
                    "200": json("FundingListOut", "A page of funding accounts"),
                    "422": bad_query,
                    **common_errors,
                },
            }
        },
        "/api/v1/funding-accounts/{account_id}/history": {
            "get": {
                "operationId": "fundingAccountHistory",
                "summary": "A funding account's movements: deposits and allocations",
                "description": (
                    f"{READERS} From the ledger entries of the account, newest first: "
                    "`kind` is `deposit` (money paid in, positive), `allocation` (to "
                    "`budget_id`, negative) or `adjustment`, each with the account's "
                    "`balance_after` it. The deposit's reference and who made each "
                    f"movement are in the audit log, under the same id. {PAGES}"
                ),
                "parameters": [account_id, *query_parameters(FundingPageQuery)],
                "responses": {
                    "200": json("FundingHistoryOut", "A page of movements"),
                    "404": problem("No such account"),
                    "422": bad_query,
                    **common_errors,
                },
            }
        },
    }
