"""The OpenAPI 3.1 document of ``/api/v1``, built from the same Structs that decode the
requests, so the document cannot drift from what the edge accepts."""

from __future__ import annotations

from typing import Any

import msgspec
from aiohttp import web

from bus.messages.budget import BUDGET_ID_PATTERN
from bus.messages.wallet import PERSON_ID_PATTERN
from edge.problems import STATUS, Problem
from edge.schemas import (
    BudgetOut,
    CreateBudgetIn,
    DebitIn,
    DebitOut,
    IssuePointsIn,
    RewardOut,
    WalletOut,
)

routes = web.RouteTableDef()

_REF = "#/components/schemas/{name}"


def _problem(description: str) -> dict[str, Any]:
    return {
        "description": description,
        "content": {"application/problem+json": {"schema": {"$ref": _REF.format(name="Problem")}}},
    }


def _json(name: str, description: str) -> dict[str, Any]:
    return {
        "description": description,
        "content": {"application/json": {"schema": {"$ref": _REF.format(name=name)}}},
    }


_COMMON_ERRORS = {
    "401": _problem("Missing or invalid bearer token"),
    "403": _problem("The token lacks the required scope"),
    "503": _problem("No actor host answered; retry (Retry-After)"),
    "504": _problem("The request did not complete in time; retry"),
}

_IDEMPOTENCY_KEY = {
    "name": "Idempotency-Key",
    "in": "header",
    "required": False,
    "description": (
        "Makes the request safe to retry: every request with the same key (per tenant, kept "
        "30 days) has one effect and gets the first response again. The same key with a "
        "different request is refused with 422 `idempotency_key_reused`."
    ),
    "schema": {"type": "string", "pattern": "^[\\x21-\\x7e]{1,255}$"},
}

_PERSON_ID = {
    "name": "person_id",
    "in": "path",
    "required": True,
    "schema": {"type": "string", "pattern": PERSON_ID_PATTERN},
}

_BUDGET_ID = {
    "name": "budget_id",
    "in": "path",
    "required": True,
    "schema": {"type": "string", "pattern": BUDGET_ID_PATTERN},
}


def build_document() -> dict[str, Any]:
    _, components = msgspec.json.schema_components(
        [
            BudgetOut,
            CreateBudgetIn,
            DebitIn,
            DebitOut,
            IssuePointsIn,
            RewardOut,
            WalletOut,
            Problem,
        ],
        ref_template=_REF,
    )
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "perkbus API",
            "version": "1.0.0",
            "description": (
                "Multi-tenant rewards platform. Money is always integer minor units plus an "
                "ISO 4217 currency. Errors are RFC 9457 problem details; `code` is stable "
                "and `retryable` says whether sending the same request again may succeed. "
                f"Error codes: {', '.join(sorted(c.value for c in STATUS))}."
            ),
        },
        "servers": [{"url": "/"}],
        "security": [{"bearer": []}],
        "paths": {
            "/api/v1/budgets": {
                "post": {
                    "operationId": "createBudget",
                    "summary": "Open a budget funded from the tenant's funding account",
                    "description": "Needs scope `budgets:admin`.",
                    "parameters": [_IDEMPOTENCY_KEY],
                    "requestBody": {
                        "required": True,
                        "content": {
                            "application/json": {
                                "schema": {"$ref": _REF.format(name="CreateBudgetIn")}
                            }
                        },
                    },
                    "responses": {
                        "201": _json("BudgetOut", "The budget was opened"),
                        "409": _problem("A budget with this id exists (`already_exists`)"),
                        "415": _problem("The body is not JSON"),
                        "422": _problem("The body is not valid (`invalid_request`)"),
                        **_COMMON_ERRORS,
                    },
                }
            },
            "/api/v1/budgets/{budget_id}": {
                "get": {
                    "operationId": "getBudget",
                    "summary": "Read a budget and its balance",
                    "description": "Needs scope `budgets:read`.",
                    "parameters": [_BUDGET_ID],
                    "responses": {
                        "200": _json("BudgetOut", "The budget"),
                        "404": _problem("No such budget in your tenant"),
                        **_COMMON_ERRORS,
                    },
                }
            },
            "/api/v1/rewards": {
                "post": {
                    "operationId": "issuePoints",
                    "summary": "Reward a person with points paid from a budget",
                    "description": (
                        "Needs scope `rewards:issue`. One point costs one minor unit of the "
                        "budget's currency. The person's wallet is created on first reward."
                    ),
                    "parameters": [_IDEMPOTENCY_KEY],
                    "requestBody": {
                        "required": True,
                        "content": {
                            "application/json": {
                                "schema": {"$ref": _REF.format(name="IssuePointsIn")}
                            }
                        },
                    },
                    "responses": {
                        "201": _json("RewardOut", "The points were issued"),
                        "404": _problem("No such budget in your tenant"),
                        "409": _problem("Not enough left in the budget (`insufficient_funds`)"),
                        "415": _problem("The body is not JSON"),
                        "422": _problem("Invalid body, or an Idempotency-Key used before"),
                        **_COMMON_ERRORS,
                    },
                }
            },
            "/api/v1/wallets/{person_id}": {
                "get": {
                    "operationId": "getWallet",
                    "summary": "A person's point wallet (zero points if never rewarded)",
                    "description": "Needs scope `wallets:read`.",
                    "parameters": [_PERSON_ID],
                    "responses": {
                        "200": _json("WalletOut", "The wallet"),
                        "404": _problem("The id cannot be a person's"),
                        **_COMMON_ERRORS,
                    },
                }
            },
            "/api/v1/budgets/{budget_id}/debits": {
                "post": {
                    "operationId": "debitBudget",
                    "summary": "Debit a budget; never takes the balance below zero",
                    "description": "Needs scope `budgets:debit`.",
                    "parameters": [_BUDGET_ID, _IDEMPOTENCY_KEY],
                    "requestBody": {
                        "required": True,
                        "content": {
                            "application/json": {"schema": {"$ref": _REF.format(name="DebitIn")}}
                        },
                    },
                    "responses": {
                        "201": _json("DebitOut", "The debit was recorded"),
                        "404": _problem("No such budget in your tenant"),
                        "409": _problem("Not enough left in the budget (`insufficient_funds`)"),
                        "415": _problem("The body is not JSON"),
                        "422": _problem(
                            "Invalid body, another currency than the budget's, or an "
                            "Idempotency-Key used for another request"
                        ),
                        **_COMMON_ERRORS,
                    },
                }
            },
        },
        "components": {
            "schemas": components,
            "securitySchemes": {
                "bearer": {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"}
            },
        },
    }


_DOCUMENT = msgspec.json.encode(build_document())


@routes.get("/api/v1/openapi.json")
async def openapi(request: web.Request) -> web.Response:
    return web.Response(body=_DOCUMENT, content_type="application/json")
