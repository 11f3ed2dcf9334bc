"""The paths of the OpenAPI document: one entry per route, with the schemas of the
Structs that decode its requests (see :mod:`edge.openapi`)."""

from __future__ import annotations

import re
from typing import Any

import msgspec

from bus.messages.budget import BUDGET_ID_PATTERN
from bus.messages.catalogue import PRODUCT_ID_PATTERN
from bus.messages.identity import CLIENT_ID_PATTERN
from bus.messages.wallet import PERSON_ID_PATTERN
from edge import orders_export
from edge.openapi_campaigns import START_AT, campaign_paths
from edge.openapi_funding import READERS as FUNDING_READERS
from edge.openapi_funding import funding_paths
from edge.openapi_history import history_paths
from edge.openapi_listings import listing_paths
from edge.openapi_oauth import oauth_paths
from edge.openapi_password_links import password_link_paths
from edge.openapi_tenant_config import config_paths
from edge.openapi_webhooks import webhook_paths
from edge.schemas import ExportQuery, OneProductQuery, PeopleQuery, ProductQuery, ReplayQuery

REF = "#/components/schemas/{name}"


def _problem(description: str) -> dict[str, Any]:
    return {
        "description": description,
        "content": {"application/problem+json": {"schema": {"$ref": REF.format(name="Problem")}}},
    }


def _json(name: str, description: str) -> dict[str, Any]:
    return {
        "description": description,
        "content": {"application/json": {"schema": {"$ref": REF.format(name=name)}}},
    }


_COMMON_ERRORS = {
    "401": _problem("Missing or invalid bearer token"),
    "403": _problem("The token lacks the required scope"),
    "429": _problem("Too many requests from this principal; retry after `Retry-After`"),
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
        "different request is refused with 422 `idempotency_key_reused`; while the first "
        "request with the key is still being answered, another gets 409 "
        "`idempotency_key_in_use` (retry after `Retry-After`)."
    ),
    "schema": {"type": "string", "pattern": "^[\\x21-\\x7e]{1,255}$"},
}

_PERSON_ID = {
    "name": "person_id",
    "in": "path",
    "required": True,
    "schema": {"type": "string", "pattern": PERSON_ID_PATTERN},
}

_CLIENT_ID = {
    "name": "client_id",
    "in": "path",
    "required": True,
    "schema": {"type": "string", "pattern": CLIENT_ID_PATTERN},
}

_PRODUCT_ID = {
    "name": "product_id",
    "in": "path",
    "required": True,
    "schema": {"type": "string", "pattern": PRODUCT_ID_PATTERN},
}


def _query_parameters(
    query: type[msgspec.Struct] = ProductQuery,
) -> list[dict[str, Any]]:
    """One query parameter per field of ``query``, with its JSON Schema."""
    _, components = msgspec.json.schema_components([query], ref_template=REF)
    properties = components[query.__name__]["properties"]
    return [
        {"name": name, "in": "query", "required": False, "schema": prop}
        for name, prop in properties.items()
    ]


_POOL_PARAMETERS = [
    _PRODUCT_ID,
    {
        "name": "face_value",
        "in": "path",
        "required": True,
        "schema": {"type": "integer", "minimum": 1},
        "description": "Face value in minor units",
    },
]

_ORDER_ID = {
    "name": "order_id",
    "in": "path",
    "required": True,
    "schema": {"type": "string", "maxLength": 64},
}

_JOB_ID = {
    "name": "job_id",
    "in": "path",
    "required": True,
    "schema": {"type": "string", "maxLength": 64},
}

_FUNDING_ID = {
    "name": "account_id",
    "in": "path",
    "required": True,
    "schema": {"type": "string", "maxLength": 64},
}


def _body(name: str) -> dict[str, Any]:
    return {
        "required": True,
        "content": {"application/json": {"schema": {"$ref": REF.format(name=name)}}},
    }


_BUDGET_ID = {
    "name": "budget_id",
    "in": "path",
    "required": True,
    "schema": {"type": "string", "pattern": BUDGET_ID_PATTERN},
}


PATHS: dict[str, Any] = {
    "/api/v1/budgets": {
        "post": {
            "operationId": "createBudget",
            "summary": "Open a budget funded from the tenant's funding account",
            "description": "Needs scope `budgets:admin`.",
            "parameters": [_IDEMPOTENCY_KEY],
            "requestBody": {
                "required": True,
                "content": {
                    "application/json": {"schema": {"$ref": REF.format(name="CreateBudgetIn")}}
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
        },
        "patch": {
            "operationId": "updateBudget",
            "summary": "Rename a budget, change its cap or its low-balance threshold",
            "description": (
                "Needs scope `budgets:admin`. Absent fields stay as they are; 0 removes a "
                "cap or a threshold. A cap below balance + held is refused. A spend that "
                "takes the balance below the threshold raises `budget.low_balance`."
            ),
            "parameters": [_BUDGET_ID, _IDEMPOTENCY_KEY],
            "requestBody": _body("UpdateBudgetIn"),
            "responses": {
                "200": _json("BudgetOut", "The budget now"),
                "404": _problem("No such budget in your tenant"),
                "422": _problem("Invalid body, or a cap below balance + held"),
                **_COMMON_ERRORS,
            },
        },
    },
    "/api/v1/rewards": {
        "post": {
            "operationId": "issuePoints",
            "summary": "Reward a person with points paid from a budget",
            "description": (
                "Needs scope `rewards:issue`. Points cost their value at the tenant's "
                "points rate (`/points-rate`), rounded up; the budget must be in the "
                "points currency. The person's wallet is created on first reward."
            ),
            "parameters": [_IDEMPOTENCY_KEY],
            "requestBody": {
                "required": True,
                "content": {
                    "application/json": {"schema": {"$ref": REF.format(name="IssuePointsIn")}}
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
    "/api/v1/catalogue/products": {
        "get": {
            "operationId": "listProducts",
            "summary": "The tenant's catalogue: filter, search, page",
            "description": (
                "Needs scope `catalogue:read`. Disabled products are left out. "
                "`q` searches words of name, description, brand and category in "
                "`locale` or English, ignoring case and accents, forgiving typos, most "
                "relevant first; if the search index is unreachable it matches word "
                "starts only and the page says `degraded`. Without `q` pages are "
                "ordered by name. `facets` count every matching product by category, "
                "brand, country and price band. Pass `next_cursor` as `cursor` for the "
                "next page."
            ),
            "parameters": _query_parameters(),
            "responses": {
                "200": _json("ProductPageOut", "A page of products"),
                "422": _problem("A query parameter is not valid (named in `errors`)"),
                **_COMMON_ERRORS,
            },
        },
        "post": {
            "operationId": "addCustomProduct",
            "summary": "Add a product of the tenant's own",
            "description": "Needs scope `catalogue:admin`.",
            "parameters": [_IDEMPOTENCY_KEY],
            "requestBody": {
                "required": True,
                "content": {"application/json": {"schema": {"$ref": REF.format(name="Product")}}},
            },
            "responses": {
                "201": _json("ProductOut", "The product was added"),
                "409": _problem("A product with this id exists"),
                "415": _problem("The body is not JSON"),
                "422": _problem("The body is not valid"),
                **_COMMON_ERRORS,
            },
        },
    },
    "/api/v1/catalogue/export": {
        "get": {
            "operationId": "exportCatalogue",
            "summary": "The tenant's whole catalogue as curated, page by page",
            "description": (
                "Needs scope `catalogue:admin`. Every active product the tenant offers "
                "(the platform's and its own), disabled ones included, with its markup, "
                "ordered by id; pass `next_cursor` as `cursor` for the next page."
            ),
            "parameters": _query_parameters(ExportQuery),
            "responses": {
                "200": _json("CatalogueExportOut", "A page of the catalogue"),
                "422": _problem("A query parameter is not valid (named in `errors`)"),
                **_COMMON_ERRORS,
            },
        }
    },
    "/api/v1/catalogue/products/{product_id}": {
        "get": {
            "operationId": "getProduct",
            "summary": "One product, in a locale",
            "description": "Needs scope `catalogue:read`.",
            "parameters": [_PRODUCT_ID, *_query_parameters(OneProductQuery)],
            "responses": {
                "200": _json("ProductOut", "The product"),
                "404": _problem("No such product in the tenant's catalogue"),
                **_COMMON_ERRORS,
            },
        }
    },
    "/api/v1/catalogue/products/{product_id}/curation": {
        "put": {
            "operationId": "curateProduct",
            "summary": "Enable or disable a product, set its markup",
            "description": "Needs scope `catalogue:admin`.",
            "parameters": [_PRODUCT_ID, _IDEMPOTENCY_KEY],
            "requestBody": {
                "required": True,
                "content": {
                    "application/json": {"schema": {"$ref": REF.format(name="CurationIn")}}
                },
            },
            "responses": {
                "200": _json("ProductOut", "The product as curated"),
                "404": _problem("No such product"),
                "415": _problem("The body is not JSON"),
                "422": _problem("The body is not valid"),
                **_COMMON_ERRORS,
            },
        }
    },
    "/api/v1/vouchers/pools/{product_id}/{face_value}": {
        "get": {
            "operationId": "getVoucherPool",
            "summary": "The stock of a voucher pool (product and face value)",
            "description": "Needs scope `vouchers:read`.",
            "parameters": _POOL_PARAMETERS,
            "responses": {
                "200": _json("PoolOut", "Codes available and allocated"),
                "404": _problem("The product id or face value cannot be a pool's"),
                **_COMMON_ERRORS,
            },
        }
    },
    "/api/v1/vouchers/pools/{product_id}/{face_value}/codes": {
        "post": {
            "operationId": "importVoucherCodes",
            "summary": "Add a supplier's codes to a pool, each row reported on",
            "description": (
                "Needs scope `vouchers:admin`. Send `text/csv` (header row; columns "
                "`code` and optionally `pin`, `url`, `expires_at`; `?currency=`) or "
                "JSON. Codes, PINs and URLs are stored sealed (AES-256-GCM). Rows "
                "that are duplicates, invalid or expired are listed in `rejected`."
            ),
            "parameters": [
                *_POOL_PARAMETERS,
                {"name": "currency", "in": "query", "schema": {"type": "string"}},
                _IDEMPOTENCY_KEY,
            ],
            "requestBody": {
                "required": True,
                "content": {
                    "application/json": {"schema": {"$ref": REF.format(name="ImportCodesIn")}},
                    "text/csv": {"schema": {"type": "string"}},
                },
            },
            "responses": {
                "200": _json("ImportReportOut", "What was imported and what was not"),
                "404": _problem("The product id or face value cannot be a pool's"),
                "413": _problem("More than 4 MiB of CSV"),
                "422": _problem("The body is not valid (named in `errors`)"),
                **_COMMON_ERRORS,
            },
        }
    },
    "/api/v1/vouchers/pools/{product_id}/{face_value}/generate": {
        "post": {
            "operationId": "generateVoucherCodes",
            "summary": "Issue closed-loop codes of the tenant's own into a pool",
            "description": "Needs scope `vouchers:admin`. Codes carry 100 random bits.",
            "parameters": [*_POOL_PARAMETERS, _IDEMPOTENCY_KEY],
            "requestBody": {
                "required": True,
                "content": {
                    "application/json": {"schema": {"$ref": REF.format(name="GenerateCodesIn")}}
                },
            },
            "responses": {
                "200": _json("ImportReportOut", "The codes were issued"),
                "404": _problem("The product id or face value cannot be a pool's"),
                "422": _problem("The body is not valid"),
                **_COMMON_ERRORS,
            },
        }
    },
    "/api/v1/orders": {
        "post": {
            "operationId": "placeOrder",
            "summary": "Redeem points, or order a gift card paid from a budget",
            "description": (
                "Needs scope `orders:write`. Without `budget_id` the recipient pays "
                "in points (only the recipient, or staff). The order is paid and "
                "given a voucher code in one step; short of funds or of codes, or "
                "past the programme's limit on a person's orders paid in points per "
                "day or week, nothing is taken and the order is `failed` with a reason "
                "(`insufficient_funds`, `out_of_stock`, `order_limit_reached`). Paid in "
                "points and worth the programme's review threshold or more, it is `held` "
                "(its points held) until a reviewer approves or rejects it. 201 when "
                "it ended or is held; 503 if it could not be carried out now (nothing was "
                "taken: retry); 202 for an order still being carried out. Send an "
                "Idempotency-Key: a retry finds the same order, never a second one."
            ),
            "parameters": [_IDEMPOTENCY_KEY],
            "requestBody": {
                "required": True,
                "content": {
                    "application/json": {"schema": {"$ref": REF.format(name="PlaceOrderIn")}}
                },
            },
            "responses": {
                "201": _json("OrderOut", "The order, fulfilled, failed or held for review"),
                "202": _json("OrderOut", "The order, still being carried out"),
                "404": _problem("No such product in the tenant's catalogue"),
                "415": _problem("The body is not JSON"),
                "422": _problem("Invalid body, a face value the product is not sold at"),
                **_COMMON_ERRORS,
                "429": _problem(
                    "Too many requests (`rate_limited`), or more orders by this principal "
                    "in the last hour than the edge allows (`velocity_limited`); retry "
                    "after `Retry-After`"
                ),
            },
        }
    },
    "/api/v1/orders/export": {
        "get": {
            "operationId": "exportOrders",
            "summary": "The tenant's orders placed in a range of days, as CSV",
            "description": (
                "Needs scope `orders:read`, and a role that reads others' orders (staff): "
                "an end user is refused, 403. `from` and `to` are UTC days, both "
                "inclusive, 367 at most; `status` keeps one status. Newest first; columns "
                f"`{','.join(orders_export.COLUMNS)}`. A principal narrowed to some budgets "
                "gets the orders they paid. A cell that starts like a spreadsheet formula "
                "is written with a leading `'`."
            ),
            "parameters": [
                {**p, "required": p["name"] in ("from", "to")}
                for p in _query_parameters(orders_export.OrdersExportQuery)
            ],
            "responses": {
                "200": {"description": "text/csv, streamed"},
                "422": _problem("A day is missing or not valid, or the range is too long"),
                **_COMMON_ERRORS,
            },
        }
    },
    "/api/v1/orders/{order_id}": {
        "get": {
            "operationId": "getOrder",
            "summary": "An order and where its saga stands",
            "description": "Needs scope `orders:read`. Resumes an interrupted order.",
            "parameters": [_ORDER_ID],
            "responses": {
                "200": _json("OrderOut", "The order"),
                "404": _problem("No such order in your tenant"),
                **_COMMON_ERRORS,
            },
        }
    },
    "/api/v1/orders/{order_id}/cancel": {
        "post": {
            "operationId": "cancelOrder",
            "summary": "Cancel a delivered order: void its code, refund its payment",
            "description": (
                "Needs scope `orders:write` and a staff role (owner, admin, finance);"
                " within the tenant's window after delivery (30 minutes by default)."
            ),
            "parameters": [_ORDER_ID, _IDEMPOTENCY_KEY],
            "requestBody": {
                "content": {
                    "application/json": {"schema": {"$ref": REF.format(name="CancelOrderIn")}}
                },
            },
            "responses": {
                "200": _json("OrderOut", "The order, cancelled"),
                "404": _problem("No such order (or not staff)"),
                "422": _problem("Not delivered, or past the window"),
                **_COMMON_ERRORS,
            },
        }
    },
    "/api/v1/orders/{order_id}/review": {
        "post": {
            "operationId": "reviewOrder",
            "summary": "Approve or reject an order held for review",
            "description": (
                "Needs scope `orders:review` and a reviewing role (owner, admin, "
                "programme_manager, finance), never on one's own order. An order paid in "
                "points whose face value reaches the programme's `review_threshold` is "
                "`held` with its points held: approved, it is carried out (`paid`, then "
                "`fulfilled` or `failed`); rejected, its points go back (`rejecting`, then "
                "`failed` with `review_rejected`). Asked again the same way, it answers "
                "the order as it stands."
            ),
            "parameters": [_ORDER_ID, _IDEMPOTENCY_KEY],
            "requestBody": {
                "required": True,
                "content": {
                    "application/json": {"schema": {"$ref": REF.format(name="ReviewOrderIn")}}
                },
            },
            "responses": {
                "200": _json("OrderOut", "The order, approved or rejected"),
                "404": _problem("No such order (or not a reviewer, or one's own order)"),
                "415": _problem("The body is not JSON"),
                "422": _problem("Invalid body, or the order is not held for review"),
                **_COMMON_ERRORS,
            },
        }
    },
    "/api/v1/orders/{order_id}/resend": {
        "post": {
            "operationId": "resendOrder",
            "summary": "Send a delivered order again (an order.resent event)",
            "description": "Needs scope `orders:write`.",
            "parameters": [_ORDER_ID, _IDEMPOTENCY_KEY],
            "responses": {
                "200": _json("OrderOut", "The order"),
                "404": _problem("No such delivered order"),
                **_COMMON_ERRORS,
            },
        }
    },
    "/api/v1/orders/{order_id}/vouchers": {
        "get": {
            "operationId": "getOrderVouchers",
            "summary": "An order's voucher codes, in clear",
            "description": (
                "Needs scope `orders:read`; only the recipient and staff (owner, "
                "admin, finance) see them, anyone else gets 404. Not cached."
            ),
            "parameters": [_ORDER_ID],
            "responses": {
                "200": _json("OrderCodesOut", "The codes"),
                "404": _problem("No such order, not yours, or not fulfilled"),
                **_COMMON_ERRORS,
            },
        }
    },
    "/api/v1/audit": {
        "get": {
            "operationId": "readAudit",
            "summary": "The tenant's hash-chained audit log",
            "description": (
                "Needs scope `audit:read` and role owner, admin or auditor. Every sign-in "
                "of a client, credential and permission change, money movement and admin "
                "action, in order; pass `next_after` as `after` for the next page. "
                "`perkbus audit verify` checks the chain. With `q` (words, typo "
                "tolerant) or `since_ms`/`until_ms` it searches the log instead: most "
                "relevant entries first (newest first without `q`), with `total`, paged "
                "by `offset`."
            ),
            "parameters": [
                {"name": "after", "in": "query", "schema": {"type": "integer", "minimum": 0}},
                {
                    "name": "limit",
                    "in": "query",
                    "schema": {"type": "integer", "minimum": 1, "maximum": 1000},
                },
                {"name": "action", "in": "query", "schema": {"type": "string", "maxLength": 64}},
                {"name": "actor", "in": "query", "schema": {"type": "string", "maxLength": 200}},
                {"name": "q", "in": "query", "schema": {"type": "string", "maxLength": 200}},
                {"name": "since_ms", "in": "query", "schema": {"type": "integer", "minimum": 0}},
                {"name": "until_ms", "in": "query", "schema": {"type": "integer", "minimum": 0}},
                {
                    "name": "offset",
                    "in": "query",
                    "schema": {"type": "integer", "minimum": 0, "maximum": 10000},
                },
            ],
            "responses": {
                "200": _json("AuditPageOut", "A page of entries"),
                "422": _problem("A query parameter is not valid"),
                **_COMMON_ERRORS,
            },
        }
    },
    "/api/v1/events": {
        "get": {
            "operationId": "replayEvents",
            "summary": "The tenant's events, from any point of the stream",
            "description": (
                "Needs scope `events:read`. CloudEvents 1.0 JSON in stream order; "
                "pass `next_after` as `after` for the next page. The same events "
                "are on NATS subjects `pb.evt.<tenant>.<aggregate>.<event>`."
            ),
            "parameters": _query_parameters(ReplayQuery),
            "responses": {
                "200": {"description": "A page of events, with their sequences"},
                "422": _problem("A query parameter is not valid"),
                **_COMMON_ERRORS,
            },
        }
    },
    "/api/v1/events/schemas": {
        "get": {
            "operationId": "listEventSchemas",
            "summary": "Every event type and where its JSON Schema is",
            "responses": {"200": {"description": "type → schema URL"}, **_COMMON_ERRORS},
        }
    },
    "/api/v1/events/schemas/{event_type}": {
        "get": {
            "operationId": "getEventSchema",
            "summary": "The JSON Schema (2020-12) of one event type",
            "parameters": [
                {
                    "name": "event_type",
                    "in": "path",
                    "required": True,
                    "schema": {"type": "string"},
                },
            ],
            "responses": {
                "200": {"description": "application/schema+json"},
                "404": _problem("No event has that type"),
                **_COMMON_ERRORS,
            },
        }
    },
    "/api/v1/rewards/bulk": {
        "post": {
            "operationId": "startBulkRewards",
            "summary": "Reward up to 100,000 people from a budget, in the background",
            "description": (
                "Needs scope `rewards:bulk`. Body: `text/csv` with a header row "
                "`person_id,points[,memo]` (16 MiB at most); `?budget_id=`. Each row "
                "is issued exactly once and gets its own result; follow the job at "
                "`Location`. With an Idempotency-Key a retried upload finds its job. "
                "With `start_at` the job is a campaign that waits for its time "
                "(`scheduled`), and may be moved or cancelled until then."
            ),
            "parameters": [
                {
                    "name": "budget_id",
                    "in": "query",
                    "required": True,
                    "schema": {"type": "string"},
                },
                {
                    "name": "name",
                    "in": "query",
                    "required": False,
                    "description": "The campaign's name, as lists show it",
                    "schema": {"type": "string", "maxLength": 120},
                },
                {
                    "name": "start_at",
                    "in": "query",
                    "required": False,
                    "description": f"When the job starts; left out: now. {START_AT}",
                    "schema": {"type": "string", "format": "date-time"},
                },
                _IDEMPOTENCY_KEY,
            ],
            "requestBody": {
                "required": True,
                "content": {"text/csv": {"schema": {"type": "string"}}},
            },
            "responses": {
                "202": _json("BulkJobOut", "The job, started"),
                "404": _problem("No such budget in your tenant"),
                "413": _problem("More than 16 MiB"),
                "415": _problem("Not text/csv"),
                "422": _problem("The file is not of the expected shape"),
                **_COMMON_ERRORS,
            },
        }
    },
    "/api/v1/rewards/bulk/{job_id}": {
        "get": {
            "operationId": "getBulkRewards",
            "summary": "A bulk job's progress",
            "description": "Needs scope `rewards:bulk`.",
            "parameters": [_JOB_ID],
            "responses": {
                "200": _json("BulkJobOut", "The job"),
                "404": _problem("No such job in your tenant"),
                **_COMMON_ERRORS,
            },
        }
    },
    "/api/v1/rewards/bulk/{job_id}/results": {
        "get": {
            "operationId": "getBulkRewardResults",
            "summary": "The result of every row, as CSV",
            "description": "Needs scope `rewards:bulk`. Columns: "
            "`row,person_id,points,status,reason,reward_id`",
            "parameters": [_JOB_ID],
            "responses": {
                "200": {"description": "text/csv"},
                "404": _problem("No such job in your tenant"),
                **_COMMON_ERRORS,
            },
        }
    },
    "/api/v1/funding-accounts": {
        "post": {
            "operationId": "openFundingAccount",
            "summary": "Open a funding account (money the tenant has paid in, per currency)",
            "description": "Needs scope `funding:write` and role owner, admin or finance.",
            "parameters": [_IDEMPOTENCY_KEY],
            "requestBody": _body("OpenFundingIn"),
            "responses": {
                "201": _json("FundingOut", "The account"),
                "409": _problem("An account with this id exists"),
                "422": _problem("The body is not valid"),
                **_COMMON_ERRORS,
            },
        }
    },
    "/api/v1/funding-accounts/{account_id}": {
        "get": {
            "operationId": "getFundingAccount",
            "summary": "A funding account and its balance",
            "description": FUNDING_READERS,
            "parameters": [_FUNDING_ID],
            "responses": {
                "200": _json("FundingOut", "The account"),
                "404": _problem("No such account"),
                **_COMMON_ERRORS,
            },
        }
    },
    "/api/v1/funding-accounts/{account_id}/deposits": {
        "post": {
            "operationId": "deposit",
            "summary": "Record money the tenant paid in",
            "description": "Needs scope `funding:write` and role owner, admin or finance.",
            "parameters": [_FUNDING_ID, _IDEMPOTENCY_KEY],
            "requestBody": _body("DepositIn"),
            "responses": {
                "201": _json("FundingOut", "The account after the deposit"),
                "404": _problem("No such account"),
                "422": _problem("Not a positive amount in the account's currency"),
                **_COMMON_ERRORS,
            },
        }
    },
    "/api/v1/budgets/{budget_id}/allocations": {
        "post": {
            "operationId": "allocateBudget",
            "summary": "Move money from a funding account to a budget, within its cap",
            "description": "Needs scope `funding:write` and role owner, admin or finance.",
            "parameters": [_BUDGET_ID, _IDEMPOTENCY_KEY],
            "requestBody": _body("AllocateIn"),
            "responses": {
                "201": _json("AllocationOut", "The allocation"),
                "404": _problem("No such budget or funding account"),
                "409": _problem("Not enough in the funding account (`insufficient_funds`)"),
                "422": _problem("Another currency, or above the budget's cap"),
                **_COMMON_ERRORS,
            },
        }
    },
    "/api/v1/fx": {
        "get": {
            "operationId": "getFxRates",
            "summary": "The tenant's exchange rates",
            "description": "Needs scope `budgets:read`.",
            "responses": {"200": _json("FxTableOut", "The rates"), **_COMMON_ERRORS},
        }
    },
    "/api/v1/fx/{base}/{quote}": {
        "put": {
            "operationId": "setFxRate",
            "summary": "Set how many `quote` units one `base` unit buys",
            "description": (
                "Needs scope `fx:write` and role owner, admin or finance. An order "
                "whose product is in another currency than its payer's is priced "
                "with the rate of that moment, which is locked into the order "
                "(`fx_rate`), rounded up to a whole minor unit."
            ),
            "parameters": [
                {
                    "name": "base",
                    "in": "path",
                    "required": True,
                    "schema": {"type": "string", "pattern": "^[A-Z]{3}$"},
                },
                {
                    "name": "quote",
                    "in": "path",
                    "required": True,
                    "schema": {"type": "string", "pattern": "^[A-Z]{3}$"},
                },
                _IDEMPOTENCY_KEY,
            ],
            "requestBody": {
                "required": True,
                "content": {"application/json": {"schema": {"$ref": REF.format(name="FxRateIn")}}},
            },
            "responses": {
                "200": _json("FxTableOut", "The rates, with this one set"),
                "404": _problem("Not a currency pair"),
                "422": _problem("Not a positive decimal rate"),
                **_COMMON_ERRORS,
            },
        }
    },
    "/api/v1/clients": {
        "get": {
            "operationId": "listClients",
            "summary": "The tenant's OAuth2 clients (never their secrets)",
            "description": "Needs scope `clients:admin` and role owner or admin.",
            "responses": {"200": _json("ClientListOut", "The clients"), **_COMMON_ERRORS},
        },
        "post": {
            "operationId": "createClient",
            "summary": "Create an OAuth2 client (client credentials) for a system",
            "description": (
                "Needs scope `clients:admin` and role owner or admin. The answer carries "
                "`client_secret` this once; it is stored only as a hash. The client gets "
                "tokens at `POST /oauth/token` (`grant_type=client_credentials`, HTTP Basic "
                "or form credentials), with the scopes and roles given here. A retry with "
                "the same Idempotency-Key finds the client made and answers 409 "
                "(`already_exists`): rotate the secret to get a new one."
            ),
            "parameters": [_IDEMPOTENCY_KEY],
            "requestBody": _body("CreateClientIn"),
            "responses": {
                "201": _json("ClientOut", "The client, with its secret"),
                "409": _problem("Made already by this key (`already_exists`)"),
                "422": _problem("Unknown scopes, or roles a client may not have"),
                **_COMMON_ERRORS,
            },
        },
    },
    "/api/v1/clients/{client_id}/secret": {
        "post": {
            "operationId": "rotateClientSecret",
            "summary": "Give the client a new secret; the old one stops working at once",
            "description": "Needs scope `clients:admin` and role owner or admin.",
            "parameters": [_CLIENT_ID, _IDEMPOTENCY_KEY],
            "responses": {
                "200": _json("ClientOut", "The client, with its new secret"),
                "404": _problem("No active client with that id in your tenant"),
                **_COMMON_ERRORS,
            },
        }
    },
    "/api/v1/clients/{client_id}": {
        "delete": {
            "operationId": "revokeClient",
            "summary": "Revoke a client: it gets no more tokens",
            "description": (
                "Needs scope `clients:admin` and role owner or admin. The edges refuse the "
                "tokens it already holds as soon as they hear of it (milliseconds)."
            ),
            "parameters": [_CLIENT_ID, _IDEMPOTENCY_KEY],
            "responses": {
                "200": _json("ClientOut", "The revoked client"),
                "404": _problem("No client with that id in your tenant"),
                **_COMMON_ERRORS,
            },
        }
    },
    "/api/v1/people": {
        "get": {
            "operationId": "listPeople",
            "summary": "The tenant's people by email, in pages (never their passwords)",
            "description": (
                "Needs scope `people:admin` and role owner or admin. With `q`, only those "
                "whose email or name holds it, in any case. A page ends with `next_cursor`: "
                "send it back as `cursor` for the next page; it is null on the last page."
            ),
            "parameters": _query_parameters(PeopleQuery),
            "responses": {
                "200": _json("PeopleOut", "A page of people"),
                "422": _problem(
                    "`limit` is not 1 to 100, `q` is empty or too long, or the cursor is not"
                    " valid (`invalid_request`)"
                ),
                **_COMMON_ERRORS,
            },
        },
        "post": {
            "operationId": "createPerson",
            "summary": "Add a person: an admin, a programme manager, an end user",
            "description": (
                "Needs scope `people:admin` and role owner or admin (only an owner makes "
                "an owner). The person signs in at `POST /auth/sign-in` with the email and "
                "password (kept as an argon2id hash), or through the tenant's identity "
                "provider. `grants` narrow the roles to named budgets."
            ),
            "parameters": [_IDEMPOTENCY_KEY],
            "requestBody": _body("CreatePersonIn"),
            "responses": {
                "201": _json("PersonOut", "The person"),
                "409": _problem("The id or the email is taken (`already_exists`)"),
                "422": _problem("Invalid body: bad email, short password, unknown role"),
                **_COMMON_ERRORS,
            },
        },
    },
    "/api/v1/people/{person_id}": {
        "get": {
            "operationId": "getPerson",
            "summary": "A person: one's own record, or anyone's for owners and admins",
            "description": (
                "One's own record needs no scope; another's needs the scope `people:admin`"
                " (403 without it) and role owner or admin (404 for others)."
            ),
            "parameters": [_PERSON_ID],
            "responses": {
                "200": _json("PersonOut", "The person"),
                "404": _problem("No such person in your tenant, or not yours to see"),
                **_COMMON_ERRORS,
            },
        },
        "patch": {
            "operationId": "updatePerson",
            "summary": "Change a person's name, roles, grants or status",
            "description": (
                "Needs scope `people:admin` and role owner or admin. `disabled` ends the "
                "person's sessions at once and refuses sign-in; the edges refuse the "
                "access tokens already issued as soon as they hear of it."
            ),
            "parameters": [_PERSON_ID, _IDEMPOTENCY_KEY],
            "requestBody": _body("UpdatePersonIn"),
            "responses": {
                "200": _json("PersonOut", "The person now"),
                "404": _problem("No such person in your tenant"),
                "422": _problem("Invalid body"),
                **_COMMON_ERRORS,
            },
        },
    },
    "/api/v1/people/{person_id}/password": {
        "put": {
            "operationId": "setPassword",
            "summary": "Set a password: one's own (with the current one), or as an admin",
            "description": "Every session of the person ends.",
            "parameters": [_PERSON_ID, _IDEMPOTENCY_KEY],
            "requestBody": _body("PasswordIn"),
            "responses": {
                **_COMMON_ERRORS,
                "200": _json("PersonOut", "The person"),
                "403": _problem(
                    "The current password is wrong (ten wrong in a row lock the person out"
                    " for 15 minutes, as sign-ins do), or the token lacks the scope"
                ),
                "404": _problem("No such person in your tenant, or not yours to change"),
                "422": _problem("A password has 12 to 256 characters"),
            },
        }
    },
    "/api/v1/nats-credentials": {
        "post": {
            "operationId": "issueNatsCredentials",
            "summary": "NATS credentials for an integrator: the tenant's events, live",
            "description": (
                "Needs scope `clients:admin` and role owner or admin. The answer carries a "
                "`.creds` file (a NATS user JWT and its seed) this once; it is kept "
                "nowhere. With it a NATS client may subscribe to `pb.evt.<tenant>.>` and "
                "nothing else, publish nothing, until `expires_at`. 503 where the actor "
                "hosts hold no NATS account key."
            ),
            "parameters": [_IDEMPOTENCY_KEY],
            "requestBody": _body("NatsCredentialsIn"),
            "responses": {
                "201": _json("NatsCredentialsOut", "The credentials"),
                "422": _problem("`ttl_days` not within 1..365"),
                **_COMMON_ERRORS,
            },
        }
    },
    "/api/v1/sso": {
        "get": {
            "operationId": "getSso",
            "summary": "The tenant's single sign-on provider (never its client secret)",
            "description": "Needs scope `people:admin` and role owner or admin.",
            "responses": {
                "200": _json("SsoOut", "The provider"),
                "404": _problem("The tenant has no single sign-on"),
                **_COMMON_ERRORS,
            },
        },
        "put": {
            "operationId": "setSso",
            "summary": "Sign the tenant's people in with an OpenID Connect provider",
            "description": (
                "Needs scope `people:admin` and role owner or admin. Register "
                "`<base URL>/auth/sso/callback` as the redirect URI with the provider; "
                "people start at `GET /auth/{tenant}/sso/login?return_to=/path`. Only "
                "people the tenant has (by verified email) sign in. The client secret is "
                "stored sealed and never shown again."
            ),
            "parameters": [_IDEMPOTENCY_KEY],
            "requestBody": _body("SsoIn"),
            "responses": {
                "200": _json("SsoOut", "The provider now"),
                "422": _problem("Invalid body: not a URL, scopes without openid"),
                **_COMMON_ERRORS,
            },
        },
        "delete": {
            "operationId": "removeSso",
            "summary": "Turn single sign-on off",
            "description": "Needs scope `people:admin` and role owner or admin.",
            "parameters": [_IDEMPOTENCY_KEY],
            "responses": {
                "200": _json("SsoOut", "The provider, disabled"),
                "404": _problem("The tenant has no single sign-on"),
                **_COMMON_ERRORS,
            },
        },
    },
    "/auth/sign-in": {
        "post": {
            "operationId": "signIn",
            "summary": "Sign a person in with an email and a password",
            "description": (
                "`mode: cookie` (browser apps) sets the session cookies (HttpOnly, "
                "SameSite=Strict) and answers the CSRF token to send as `X-CSRF-Token` "
                "on every unsafe request; `mode: bearer` answers the access and refresh "
                "tokens. Ten wrong passwords in a row lock sign-in for 15 minutes. "
                "Rate limited per client address."
            ),
            "security": [],
            "requestBody": _body("SignInIn"),
            "responses": {
                "200": _json("SessionOut", "Signed in"),
                "401": _problem("The email or the password is wrong"),
                "422": _problem("Invalid body"),
                "429": _problem("Too many attempts from this address"),
            },
        }
    },
    "/auth/refresh": {
        "post": {
            "operationId": "refreshSession",
            "summary": "A new access token for a session; the refresh token works once",
            "description": (
                "With `refresh_token` in the body (bearer mode), or the refresh cookie and "
                "`X-CSRF-Token` (cookie mode). Each refresh answers a new refresh token; "
                "showing a spent one again ends the session. Also at `POST /oauth/token` "
                "with `grant_type=refresh_token`."
            ),
            "security": [],
            "requestBody": {
                "required": False,
                "content": {"application/json": {"schema": {"$ref": REF.format(name="RefreshIn")}}},
            },
            "responses": {
                "200": _json("SessionOut", "The session, refreshed"),
                "401": _problem("The refresh token is spent, revoked or expired"),
                "403": _problem("Cookie mode without the CSRF header"),
            },
        }
    },
    "/auth/sign-out": {
        "post": {
            "operationId": "signOut",
            "summary": "End the session (its refresh tokens stop working) and clear cookies",
            "security": [],
            "requestBody": {
                "required": False,
                "content": {"application/json": {"schema": {"$ref": REF.format(name="RefreshIn")}}},
            },
            "responses": {
                "204": {"description": "Signed out"},
                "401": _problem("No session: no refresh token sent, nor a refresh cookie"),
                "403": _problem("Cookie mode without the CSRF header"),
            },
        }
    },
    "/auth/{tenant}/sso/login": {
        "get": {
            "operationId": "startSingleSignOn",
            "summary": "Sign in with the tenant's OpenID Connect provider (a browser redirect)",
            "description": (
                "302 to the provider (authorization code with PKCE); it sends the browser "
                "back to `/auth/sso/callback`, which sets the session cookies and goes on "
                "to `return_to` (a path of this site). Rate limited per client address."
            ),
            "security": [],
            "parameters": [
                {"name": "tenant", "in": "path", "required": True, "schema": {"type": "string"}},
                {"name": "return_to", "in": "query", "schema": {"type": "string"}},
            ],
            "responses": {
                "302": {"description": "To the provider"},
                "404": _problem("The tenant has no single sign-on"),
            },
        }
    },
    "/auth/sso/callback": {
        "get": {
            "operationId": "finishSingleSignOn",
            "summary": "Where the provider sends the browser back",
            "security": [],
            "responses": {
                "302": {"description": "Signed in: session cookies, then to `return_to`"},
                "400": _problem("Not a login this browser started"),
                "401": _problem("The provider's answer was refused, or no such person"),
            },
        }
    },
    "/auth/me": {
        "get": {
            "operationId": "whoAmI",
            "summary": "Who the token or the session says the caller is, and may do",
            "responses": {
                "200": {"description": "Tenant, subject, roles, permissions"},
                **_COMMON_ERRORS,
            },
        }
    },
    "/api/v1/points-rate": {
        "get": {
            "operationId": "getPointsRate",
            "summary": "What the tenant's points are worth",
            "description": (
                "Needs scope `budgets:read`. Until the tenant sets a rate, a point is one "
                "minor unit of the deployment's points currency."
            ),
            "responses": {"200": _json("PointsRateOut", "The points rate"), **_COMMON_ERRORS},
        },
        "put": {
            "operationId": "setPointsRate",
            "summary": "Set how many points one unit of a currency is worth",
            "description": (
                "Needs scope `fx:write` and role owner, admin or finance. Issuing points "
                "costs their value, rounded up; a redemption costs the price in points, "
                "rounded up, and the rate is locked into the order (`points_rate`). Once "
                "points have been issued the rate is fixed: changing it would change what "
                "people's points are worth."
            ),
            "parameters": [_IDEMPOTENCY_KEY],
            "requestBody": _body("PointsRateIn"),
            "responses": {
                "200": _json("PointsRateOut", "The points rate now"),
                "409": _problem("Points were issued already (`rate_locked`)"),
                "422": _problem("Not a currency and a positive decimal rate"),
                **_COMMON_ERRORS,
            },
        },
    },
    "/api/v1/budgets/{budget_id}/debits": {
        "post": {
            "operationId": "debitBudget",
            "summary": "Debit a budget; never takes the balance below zero",
            "description": "Needs scope `budgets:debit`.",
            "parameters": [_BUDGET_ID, _IDEMPOTENCY_KEY],
            "requestBody": {
                "required": True,
                "content": {"application/json": {"schema": {"$ref": REF.format(name="DebitIn")}}},
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
}
PATHS.update(config_paths(REF, _COMMON_ERRORS, _IDEMPOTENCY_KEY))
for _path, _operations in history_paths(REF, _COMMON_ERRORS, _PERSON_ID, _query_parameters).items():
    PATHS.setdefault(_path, {}).update(_operations)
for _path, _operations in listing_paths(REF, _COMMON_ERRORS, _query_parameters).items():
    PATHS.setdefault(_path, {}).update(_operations)
PATHS.update(webhook_paths(REF, _COMMON_ERRORS, _IDEMPOTENCY_KEY, _query_parameters))
PATHS.update(password_link_paths(REF, _COMMON_ERRORS, _PERSON_ID, _IDEMPOTENCY_KEY))
PATHS.update(oauth_paths(_problem))
for _path, _operations in funding_paths(
    REF, _COMMON_ERRORS, _FUNDING_ID, _query_parameters
).items():
    PATHS.setdefault(_path, {}).update(_operations)
for _path, _operations in campaign_paths(
    REF, _COMMON_ERRORS, _JOB_ID, _query_parameters, _IDEMPOTENCY_KEY
).items():
    PATHS.setdefault(_path, {}).update(_operations)

_IN_USE = "a request with this Idempotency-Key is still in progress (`idempotency_key_in_use`)"


def _document_keys_in_use(paths: dict[str, Any]) -> None:
    """Every operation that takes an Idempotency-Key may answer 409 while its key is in
    flight: say so once here rather than in each operation."""
    for operations in paths.values():
        for operation in operations.values():
            if _IDEMPOTENCY_KEY not in operation.get("parameters", []):
                continue
            responses = operation["responses"]
            if "409" in responses:
                conflict = dict(responses["409"])
                conflict["description"] = f"{conflict['description']}; or {_IN_USE}"
                responses["409"] = conflict
            else:
                responses["409"] = _problem(_IN_USE.capitalize())


_document_keys_in_use(PATHS)

_REUSED = "The Idempotency-Key was used for another request (`idempotency_key_reused`)"
_MALFORMED = (
    "The body is not JSON (`malformed_body`), or the Idempotency-Key header is not 1 to "
    "255 visible ASCII characters (`invalid_request`)"
)


def _document_bad_input(paths: dict[str, Any]) -> None:
    """What the edge answers for input it cannot read, on every operation that takes
    such input: 400 for a body that is not JSON or a malformed Idempotency-Key, 415 for
    a body of another media type, 422 for a body or query that does not fit its schema
    or a key used before for another request.
    An operation's own description of the status, when it has one, stays."""
    for operations in paths.values():
        for operation in operations.values():
            responses = operation["responses"]
            parameters = operation.get("parameters", [])
            body = operation.get("requestBody", {}).get("content", {})
            if body or _IDEMPOTENCY_KEY in parameters:
                responses.setdefault("400", _problem(_MALFORMED))
            if "application/json" in body:
                responses.setdefault("415", _problem("The body is not `application/json`"))
            if body or any(p["in"] == "query" for p in parameters):
                responses.setdefault("422", _problem("The input is not valid (`invalid_request`)"))
            if _IDEMPOTENCY_KEY in parameters and "422" not in responses:
                responses["422"] = _problem(_REUSED)
            elif _IDEMPOTENCY_KEY in parameters and "Idempotency-Key" not in str(responses["422"]):
                refused = dict(responses["422"])
                refused["description"] = (
                    f"{refused['description']}; or {_REUSED[0].lower()}{_REUSED[1:]}"
                )
                responses["422"] = refused


_document_bad_input(PATHS)


def _document_sign_in_limits(paths: dict[str, Any]) -> None:
    """The operations that make sessions need no token, and are limited per client
    address (ADR 15); like any operation, they may find no actor host to answer."""
    for operations in paths.values():
        for operation in operations.values():
            if operation.get("security") == []:
                responses = operation["responses"]
                responses.setdefault(
                    "429", _problem("Too many attempts from this address; retry later")
                )
                responses.setdefault("503", _COMMON_ERRORS["503"])
                responses.setdefault("504", _COMMON_ERRORS["504"])


_document_sign_in_limits(PATHS)


_REPORT_RANGE = [
    {
        "name": "from",
        "in": "query",
        "required": True,
        "description": "First day (UTC), inclusive",
        "schema": {"type": "string", "format": "date"},
    },
    {
        "name": "to",
        "in": "query",
        "required": True,
        "description": "Last day (UTC), inclusive; at most 367 days after `from`",
        "schema": {"type": "string", "format": "date"},
    },
]

#: Reports from the warehouse (ADR 26).
PATHS["/api/v1/reports/daily"] = {
    "get": {
        "operationId": "dailyReport",
        "summary": "The tenant's orders, rewards and money movements, day by day",
        "description": (
            "Needs scope `reports:read` and role owner, admin, finance, auditor or "
            "programme_manager, without grants. From the warehouse, which loads the event "
            "stream: `loaded_sequence` says how far (later events are not counted yet). "
            "Per day: orders placed that day by their current status and face-value "
            "currency, rewards issued, and each budget's and funding account's debits and "
            "credits, in minor units per currency."
        ),
        "parameters": _REPORT_RANGE,
        "responses": {
            "200": _json("DailyReportOut", "The days with anything in them"),
            "422": _problem("`from` or `to` is missing, not a date, or the range is wrong"),
            **_COMMON_ERRORS,
        },
    }
}
PATHS["/api/v1/reports/top-products"] = {
    "get": {
        "operationId": "topProducts",
        "summary": "The products most ordered in a range of days",
        "description": (
            "Needs scope `reports:read` and role owner, admin, finance, auditor or "
            "programme_manager, without grants. Fulfilled orders placed in the range, by "
            "product and face-value currency: most orders first."
        ),
        "parameters": [
            *_REPORT_RANGE,
            {
                "name": "limit",
                "in": "query",
                "schema": {"type": "integer", "minimum": 1, "maximum": 100},
            },
        ],
        "responses": {
            "200": _json("TopProductsOut", "Products, most ordered first"),
            "422": _problem("A query parameter is missing or not valid"),
            **_COMMON_ERRORS,
        },
    }
}


_NEEDS_SCOPE = re.compile(r"Needs scope `([a-z_]+:[a-z_]+)`")


def _declare_required_scopes(paths: dict[str, Any]) -> None:
    """``x-required-scope`` on every operation, from its description: the edge enforces
    it before reading the body (401, then 403, then 422), and tools can read it."""
    for operations in paths.values():
        for operation in operations.values():
            found = _NEEDS_SCOPE.search(operation.get("description", ""))
            operation["x-required-scope"] = found.group(1) if found else None


_declare_required_scopes(PATHS)


def required_scopes() -> dict[tuple[str, str], str]:
    """(METHOD, path template) → the scope its operation needs."""
    return {
        (method.upper(), path): operation["x-required-scope"]
        for path, operations in PATHS.items()
        for method, operation in operations.items()
        if operation["x-required-scope"]
    }
