"""The OpenAPI paths of links to set a password (ADR 42), merged into
:data:`edge.openapi_paths.PATHS`: asked for by anyone, used with the emailed token, and
sent by an admin (an invitation, or a reset)."""

from __future__ import annotations

from functools import partial
from typing import Any

from edge.openapi_history import json_answer, problem_answer
from edge.schemas import PasswordLinkAskedOut, PasswordLinkAskIn, PasswordLinkOut, PasswordResetIn

#: The Structs whose schemas the paths below refer to.
SCHEMAS: tuple[type, ...] = (
    PasswordLinkAskIn,
    PasswordLinkAskedOut,
    PasswordResetIn,
    PasswordLinkOut,
)


def password_link_paths(
    ref: str,
    common_errors: dict[str, Any],
    person_id: dict[str, Any],
    idempotency_key: dict[str, Any],
) -> dict[str, dict[str, Any]]:
    json, problem = partial(json_answer, ref), partial(problem_answer, ref)

    def body(name: str) -> dict[str, Any]:
        schema = {"$ref": ref.format(name=name)}
        return {"required": True, "content": {"application/json": {"schema": schema}}}

    return {
        "/auth/password-reset/request": {
            "post": {
                "operationId": "askForPasswordLink",
                "summary": "Forgot your password: email a link to choose a new one",
                "description": (
                    "202 with the same answer whether or not the address is an active "
                    "person's of the tenant (nobody learns which are), after at least a "
                    "quarter of a second. An active person gets an email with a link "
                    "(`<app>/?tenant=<tenant>#reset=<token>`) that works once, for an hour "
                    "(a week for a person with no password yet: an invitation). A person "
                    "with no password in a tenant with single sign-on gets none. Rate "
                    "limited per client address; an address gets at most "
                    "`edge.password_links_per_email_per_h` links an hour (more are "
                    "answered alike and sent nowhere)."
                ),
                "security": [],
                "requestBody": body("PasswordLinkAskIn"),
                "responses": {
                    "202": json("PasswordLinkAskedOut", "Asked (whoever has the address)"),
                    "422": problem("Invalid body: not an email address, not a tenant id"),
                    "429": problem("Too many attempts from this address"),
                },
            }
        },
        "/auth/password-reset": {
            "post": {
                "operationId": "resetPassword",
                "summary": "Choose a new password with an emailed link, and sign in",
                "description": (
                    "The token of the link works once. Every session of the person ends, "
                    "sign-in is unlocked, and the answer is a new session as "
                    "`POST /auth/sign-in` gives it (`mode: cookie` or `bearer`)."
                ),
                "security": [],
                "requestBody": body("PasswordResetIn"),
                "responses": {
                    "200": json("SessionOut", "The password is set; signed in"),
                    "422": problem(
                        "The link is not valid — expired, used, replaced by a newer one, "
                        "of a disabled person, or unknown; the answer does not say which "
                        "(`invalid_request`) — or the password is not 12 to 256 characters"
                    ),
                    "429": problem("Too many attempts from this address"),
                },
            }
        },
        "/api/v1/people/{person_id}/password-reset": {
            "post": {
                "operationId": "sendPasswordLink",
                "summary": "Email a person a link to choose a password (an invitation)",
                "description": (
                    "Needs scope `people:admin` and role owner or admin, and is allowed "
                    "where changing the person is (only an owner for an owner; grants "
                    "cover the person's). A person with no password gets an invitation "
                    "(the link works a week), others a reset (an hour); a newer link "
                    "replaces the older ones."
                ),
                "parameters": [person_id, idempotency_key],
                "responses": {
                    "202": json("PasswordLinkOut", "The email is on its way"),
                    "404": problem("No such person in your tenant"),
                    "422": problem("The person is disabled (`invalid_request`)"),
                    **common_errors,
                },
            }
        },
    }
