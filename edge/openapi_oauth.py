"""The token endpoint in the OpenAPI document: an integrator's generated client fetches
its tokens there (client credentials), and a person's app refreshes its session."""

from __future__ import annotations

from typing import Any

from bus.scopes import ALL_SCOPES

TOKEN_URL = "/oauth/token"
TOKEN_REF = "#/components/schemas/TokenOut"

#: Client credentials, as OpenAPI's security schemes say it: generated clients fetch and
#: renew their tokens by themselves.
OAUTH2_SCHEME: dict[str, Any] = {
    "type": "oauth2",
    "description": (
        "An API client's id and secret (`POST /api/v1/clients`) for an access token; "
        "send them with HTTP Basic or in the form."
    ),
    "flows": {
        "clientCredentials": {
            "tokenUrl": TOKEN_URL,
            "scopes": {scope: f"the `{scope}` permission" for scope in ALL_SCOPES},
        }
    },
}

TOKEN_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["access_token", "token_type", "expires_in"],
    "properties": {
        "access_token": {"type": "string", "description": "A JWT (Ed25519)."},
        "token_type": {"type": "string", "enum": ["Bearer"]},
        "expires_in": {"type": "integer", "description": "Seconds."},
        "scope": {"type": "string", "description": "Space-separated scopes granted."},
        "refresh_token": {
            "type": "string",
            "description": "With `grant_type=refresh_token` only: the session's next one.",
        },
    },
}

_FORM = {
    "type": "object",
    "required": ["grant_type"],
    "properties": {
        "grant_type": {"type": "string", "enum": ["client_credentials", "refresh_token"]},
        "scope": {
            "type": "string",
            "description": "Space-separated; all the client may have if none.",
        },
        "client_id": {"type": "string", "description": "Or HTTP Basic."},
        "client_secret": {"type": "string", "description": "Or HTTP Basic."},
        "refresh_token": {"type": "string", "description": "A person's, to renew a session."},
    },
}


def oauth_paths(problem: Any) -> dict[str, Any]:
    """``problem(description)`` is the document's problem-details response."""
    return {
        TOKEN_URL: {
            "post": {
                "operationId": "token",
                "summary": "An access token for an API client, or a person's session renewed",
                "description": (
                    "OAuth 2.0 (RFC 6749): `client_credentials` with the client's id and "
                    "secret (HTTP Basic or the form), or `refresh_token` with a person's "
                    "refresh token (each is used once and answered with the next). Errors "
                    "are RFC 6749's (`invalid_client`, `invalid_scope`, "
                    "`unsupported_grant_type`…) in problem details. Rate limited per "
                    "client address."
                ),
                "security": [],
                "requestBody": {
                    "required": True,
                    "content": {"application/x-www-form-urlencoded": {"schema": _FORM}},
                },
                "responses": {
                    "200": {
                        "description": "The token",
                        "content": {"application/json": {"schema": {"$ref": TOKEN_REF}}},
                    },
                    "400": problem("A request RFC 6749 refuses (its `error` names why)"),
                    "401": problem("The client id or secret is wrong, or the client revoked"),
                    "429": problem("Too many requests from this address"),
                    "503": problem("The token service could not answer; retry"),
                },
            }
        }
    }
