"""The OpenAPI 3.1 document of ``/api/v1``, built from the same Structs that decode the
requests, so the document cannot drift from what the edge accepts."""

from __future__ import annotations

from typing import Any

import msgspec
from aiohttp import web

from bus.messages.catalogue import Product
from edge.openapi_campaigns import SCHEMAS as CAMPAIGN_SCHEMAS
from edge.openapi_funding import SCHEMAS as FUNDING_SCHEMAS
from edge.openapi_history import SCHEMAS as HISTORY_SCHEMAS
from edge.openapi_listings import SCHEMAS as LISTING_SCHEMAS
from edge.openapi_oauth import OAUTH2_SCHEME, TOKEN_SCHEMA
from edge.openapi_password_links import SCHEMAS as PASSWORD_LINK_SCHEMAS
from edge.openapi_paths import PATHS, REF
from edge.openapi_tenant_config import SCHEMAS as CONFIG_SCHEMAS
from edge.openapi_webhooks import SCHEMAS as WEBHOOK_SCHEMAS
from edge.problems import STATUS, Problem
from edge.reports import DailyReportOut, TopProductsOut
from edge.schemas import (
    AllocateIn,
    AllocationOut,
    AuditPageOut,
    BudgetOut,
    BulkJobOut,
    CancelOrderIn,
    CatalogueExportOut,
    ClientListOut,
    ClientOut,
    CreateBudgetIn,
    CreateClientIn,
    CreatePersonIn,
    CurationIn,
    DebitIn,
    DebitOut,
    DepositIn,
    FundingOut,
    FxRateIn,
    FxTableOut,
    GenerateCodesIn,
    ImportCodesIn,
    ImportReportOut,
    IssuePointsIn,
    NatsCredentialsIn,
    NatsCredentialsOut,
    OpenFundingIn,
    OrderCodesOut,
    OrderOut,
    PasswordIn,
    PeopleOut,
    PersonOut,
    PlaceOrderIn,
    PointsRateIn,
    PointsRateOut,
    PoolOut,
    ProductOut,
    ProductPageOut,
    RefreshIn,
    ReviewOrderIn,
    RewardOut,
    SessionOut,
    SignInIn,
    SsoIn,
    SsoOut,
    UpdateBudgetIn,
    UpdatePersonIn,
    WalletOut,
)

routes = web.RouteTableDef()


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
            ProductPageOut,
            ProductOut,
            CatalogueExportOut,
            CurationIn,
            Product,
            ImportCodesIn,
            GenerateCodesIn,
            ImportReportOut,
            PoolOut,
            PlaceOrderIn,
            OrderOut,
            OrderCodesOut,
            BulkJobOut,
            CancelOrderIn,
            ReviewOrderIn,
            FxRateIn,
            FxTableOut,
            PointsRateIn,
            PointsRateOut,
            UpdateBudgetIn,
            CreateClientIn,
            ClientOut,
            ClientListOut,
            CreatePersonIn,
            UpdatePersonIn,
            PasswordIn,
            PersonOut,
            PeopleOut,
            SignInIn,
            SessionOut,
            RefreshIn,
            SsoIn,
            SsoOut,
            NatsCredentialsIn,
            NatsCredentialsOut,
            AuditPageOut,
            OpenFundingIn,
            DepositIn,
            AllocateIn,
            FundingOut,
            AllocationOut,
            *CONFIG_SCHEMAS,
            *CAMPAIGN_SCHEMAS,
            *FUNDING_SCHEMAS,
            *HISTORY_SCHEMAS,
            *LISTING_SCHEMAS,
            *WEBHOOK_SCHEMAS,
            *PASSWORD_LINK_SCHEMAS,
            DailyReportOut,
            TopProductsOut,
            Problem,
        ],
        ref_template=REF,
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
        # a bearer token, which an API client gets by OAuth 2.0 client credentials
        "security": [{"bearer": []}, {"oauth2": []}],
        "paths": PATHS,
        "components": {
            "schemas": {**components, "TokenOut": TOKEN_SCHEMA},
            "securitySchemes": {
                "bearer": {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"},
                "oauth2": OAUTH2_SCHEME,
            },
        },
    }


_DOCUMENT = msgspec.json.encode(build_document())


@routes.get("/api/v1/openapi.json")
async def openapi(request: web.Request) -> web.Response:
    return web.Response(body=_DOCUMENT, content_type="application/json")
