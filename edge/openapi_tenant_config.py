"""The OpenAPI paths and schemas of the tenant configuration documents (merged into
:data:`edge.openapi_paths.PATHS`): one path per document, so each has its exact schema."""

from __future__ import annotations

from typing import Any

from bus.messages.tenant_config import (
    DOCUMENT_TYPES,
    Branding,
    EmailTemplates,
    Locales,
    Programme,
)
from edge.config_operations import PublicProfileOut, RevisionsOut

#: The Structs whose schemas the paths below refer to.
SCHEMAS: tuple[type, ...] = (
    Branding,
    Locales,
    Programme,
    EmailTemplates,
    RevisionsOut,
    PublicProfileOut,
)

_TITLES = {
    "branding": "the tenant's branding (display name, logo, colours)",
    "locales": "the tenant's locales (default and enabled, BCP 47)",
    "programme": (
        "the tenant's programme settings (points name, the most orders one person may "
        "pay in points per UTC day and per week from Monday — past them an order fails "
        "with `order_limit_reached` — the face value from which an order paid in points "
        "is held for review, origins allowed to embed the storefront)"
    ),
    "email-templates": (
        "the emails perkbus sends the tenant's people (welcome, points.issued, "
        "order.placed, order.fulfilled, order.failed, order.cancelled): the tenant's own "
        "texts per template and locale ({{placeholders}} from each template's known set; "
        "none: perkbus's English text), and `off`, the emails it does not send"
    ),
}

_ETAG = {
    "ETag": {
        "description": "The document's revision: send it back in `If-Match` to update.",
        "schema": {"type": "string"},
    }
}


def _problem(ref: str, description: str) -> dict[str, Any]:
    return {
        "description": description,
        "content": {"application/problem+json": {"schema": {"$ref": ref.format(name="Problem")}}},
    }


def _document(ref: str, schema: str, description: str) -> dict[str, Any]:
    return {
        "description": description,
        "headers": _ETAG,
        "content": {"application/json": {"schema": {"$ref": ref.format(name=schema)}}},
    }


def _operation_id(verb: str, name: str, tail: str = "") -> str:
    words = "".join(w.capitalize() for w in name.split("-"))
    return f"{verb}{words}{tail}"


def config_paths(
    ref: str, common_errors: dict[str, Any], idempotency_key: dict[str, Any]
) -> dict[str, Any]:
    """Every configuration path, described with the house's ``$ref`` template, common
    errors and ``Idempotency-Key`` parameter."""
    paths: dict[str, Any] = {}
    for name, kind in DOCUMENT_TYPES.items():
        schema = kind.__name__
        title = _TITLES[name]
        paths[f"/api/v1/tenant/config/{name}"] = {
            "get": {
                "operationId": _operation_id("get", name),
                "summary": f"Read {title}",
                "description": (
                    "Needs scope `config:read`. The `ETag` is the document's revision; "
                    "`?revision=` reads a past one (see `/revisions`)."
                ),
                "parameters": [
                    {
                        "name": "revision",
                        "in": "query",
                        "required": False,
                        "schema": {"type": "string", "minLength": 1, "maxLength": 200},
                    }
                ],
                "responses": {
                    "200": _document(ref, schema, "The document"),
                    "304": {"description": "`If-None-Match` named the current revision"},
                    "404": _problem(ref, "Never written (or no such revision)"),
                    **common_errors,
                },
            },
            "put": {
                "operationId": _operation_id("put", name),
                "summary": f"Replace {title}",
                "description": (
                    "Needs scope `config:write`. Send `If-Match` with the `ETag` you read "
                    "(or `If-None-Match: *` to create the document): a write over a "
                    "revision that is no longer current is refused (412 `stale_revision`) "
                    "and changes nothing; read again, then write. Unknown fields and "
                    "malformed values are refused (422) and change nothing."
                ),
                "parameters": [
                    {
                        "name": "If-Match",
                        "in": "header",
                        "required": False,
                        "schema": {"type": "string"},
                    },
                    {
                        "name": "If-None-Match",
                        "in": "header",
                        "required": False,
                        "schema": {"type": "string", "enum": ["*"]},
                    },
                    idempotency_key,
                ],
                "requestBody": {
                    "required": True,
                    "content": {"application/json": {"schema": {"$ref": ref.format(name=schema)}}},
                },
                "responses": {
                    "200": _document(ref, schema, "The document as stored, at its new revision"),
                    "201": _document(ref, schema, "The document was created"),
                    "400": _problem(ref, "`If-None-Match` other than `*`, or sent with `If-Match`"),
                    "412": _problem(ref, "The document is no longer at that revision"),
                    "428": _problem(ref, "Neither `If-Match` nor `If-None-Match: *` was sent"),
                    **common_errors,
                },
            },
        }
        paths[f"/api/v1/tenant/config/{name}/revisions"] = {
            "get": {
                "operationId": _operation_id("list", name, "Revisions"),
                "summary": f"Every revision of {title}, newest first",
                "description": "Needs scope `config:read`.",
                "responses": {
                    "200": {
                        "description": "The revisions",
                        "content": {
                            "application/json": {
                                "schema": {"$ref": ref.format(name="RevisionsOut")}
                            }
                        },
                    },
                    "404": _problem(ref, "Never written"),
                    **common_errors,
                },
            }
        }
    paths["/api/v1/tenants/{tenant}/branding"] = {
        "get": {
            "operationId": "getPublicProfile",
            "summary": "A tenant's public branding, locales and embedding origins (no token)",
            "description": (
                "For the PWA before anyone signs in, and for pages that embed the "
                "storefront: defaults where the tenant configured nothing. Cacheable for a "
                "minute; rate limited per client address."
            ),
            "security": [],
            "parameters": [
                {
                    "name": "tenant",
                    "in": "path",
                    "required": True,
                    "schema": {"type": "string", "pattern": "^[a-z0-9][a-z0-9_-]{0,62}$"},
                }
            ],
            "responses": {
                "200": {
                    "description": "The public profile",
                    "headers": {"ETag": {"schema": {"type": "string"}}},
                    "content": {
                        "application/json": {
                            "schema": {"$ref": ref.format(name="PublicProfileOut")}
                        }
                    },
                },
                "304": {"description": "`If-None-Match` named the current profile"},
                "404": _problem(ref, "Not a tenant id"),
            },
        }
    }
    return paths
