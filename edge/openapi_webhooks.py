"""The OpenAPI paths of webhooks (merged into :data:`edge.openapi_paths.PATHS`; ADR 37)."""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from typing import Any

from bus.messages.webhooks import ENDPOINT_ID_PATTERN
from edge.openapi_history import json_answer, problem_answer
from edge.webhook_operations import (
    DeliveriesQuery,
    DeliveryDetailOut,
    DeliveryOut,
    DeliveryPageOut,
    RotateSecretIn,
    WebhookIn,
    WebhookListOut,
    WebhookOut,
    WebhookPatchIn,
)

#: The Structs whose schemas the paths below refer to.
SCHEMAS: tuple[type, ...] = (
    WebhookIn,
    WebhookPatchIn,
    RotateSecretIn,
    WebhookOut,
    WebhookListOut,
    DeliveryOut,
    DeliveryPageOut,
    DeliveryDetailOut,
)

_NEEDS = (
    "Needs scope `webhooks:admin` (owner, admin, integrator) and the whole tenant: a "
    "principal narrowed to some budgets is refused."
)
_SIGNED = (
    "Each delivery is a POST of the event (a CloudEvent, as `GET /events` replays it) "
    "signed as Standard Webhooks says: headers `webhook-id` (the event's id, the same for "
    "every attempt), `webhook-timestamp` and `webhook-signature` (`v1,` and the base64 "
    "HMAC-SHA256 of `<id>.<timestamp>.<body>` under the endpoint's secret). A 2xx answer "
    "within 10 s is a delivery; anything else is tried again after 5 s, 5 min, 30 min, "
    "2 h, 5 h, 10 h and 10 h, then the delivery fails. Deliveries are at least once and "
    "in no set order: drop repeats by `webhook-id`."
)
_WEBHOOK_ID = {
    "name": "webhook_id",
    "in": "path",
    "required": True,
    "schema": {"type": "string", "pattern": ENDPOINT_ID_PATTERN},
}
_DELIVERY_ID = {
    "name": "delivery_id",
    "in": "path",
    "required": True,
    "schema": {"type": "integer", "minimum": 1},
}


def webhook_paths(
    ref: str,
    common_errors: dict[str, Any],
    idempotency_key: dict[str, Any],
    query_parameters: Callable[[type], list[dict[str, Any]]],
) -> dict[str, dict[str, Any]]:
    json, problem = partial(json_answer, ref), partial(problem_answer, ref)

    def body(name: str, required: bool = True) -> dict[str, Any]:
        schema = {"$ref": ref.format(name=name)}
        return {"required": required, "content": {"application/json": {"schema": schema}}}

    bad_body = problem(
        "Not a URL deliveries may go to (https, a public address, no user name), an "
        "unknown event type, or too many endpoints (`invalid_request`)"
    )
    no_webhook = problem("No webhook with that id in your tenant (`not_found`)")
    no_delivery = problem("No such delivery of that webhook in your tenant (`not_found`)")
    return {
        "/api/v1/webhooks": {
            "get": {
                "operationId": "listWebhooks",
                "summary": "The tenant's webhook endpoints (never their secrets)",
                "description": _NEEDS,
                "responses": {"200": json("WebhookListOut", "The endpoints"), **common_errors},
            },
            "post": {
                "operationId": "createWebhook",
                "summary": "Send the tenant's events to a URL",
                "description": (
                    f"{_NEEDS} The answer carries the endpoint's `secret` this once. "
                    "`event_types` names event types (`perkbus.order.fulfilled`) or "
                    "aggregates (`perkbus.order.*`); none: every event. Events about "
                    "people, API clients and funding need `people:admin`, `clients:admin` "
                    "and `funding:read`: "
                    "naming them without is 403, and an endpoint of every event gets "
                    f"them only with those permissions. {_SIGNED}"
                ),
                "parameters": [idempotency_key],
                "requestBody": body("WebhookIn"),
                "responses": {
                    "201": json("WebhookOut", "The endpoint, with its secret"),
                    "409": problem(
                        "Made already by this Idempotency-Key (`already_exists`): the "
                        "answer with the secret is never kept, so rotate the secret to get one"
                    ),
                    "422": bad_body,
                    **common_errors,
                },
            },
        },
        "/api/v1/webhooks/{webhook_id}": {
            "get": {
                "operationId": "getWebhook",
                "summary": "One webhook endpoint",
                "description": _NEEDS,
                "parameters": [_WEBHOOK_ID],
                "responses": {
                    "200": json("WebhookOut", "The endpoint"),
                    "404": no_webhook,
                    **common_errors,
                },
            },
            "patch": {
                "operationId": "updateWebhook",
                "summary": "Change a webhook's URL, event types, description, or turn it off",
                "description": (
                    f"{_NEEDS} What is left out stays. Turning an endpoint off (`enabled`: "
                    "false) cancels its pending deliveries, and changing its event types "
                    "cancels those of the types it no longer takes when they are due. The "
                    "relay applies an endpoint's settings as it reads each event (it may be "
                    "up to 30 s behind during a redemption burst). A new URL gets events of "
                    "people, API clients and funding only if the caller may read them."
                ),
                "parameters": [_WEBHOOK_ID, idempotency_key],
                "requestBody": body("WebhookPatchIn"),
                "responses": {
                    "200": json("WebhookOut", "The endpoint as changed"),
                    "404": no_webhook,
                    "422": bad_body,
                    **common_errors,
                },
            },
            "delete": {
                "operationId": "deleteWebhook",
                "summary": "Delete a webhook; its pending deliveries are cancelled",
                "description": _NEEDS,
                "parameters": [_WEBHOOK_ID, idempotency_key],
                "responses": {
                    "200": json("WebhookOut", "The endpoint deleted"),
                    "404": no_webhook,
                    **common_errors,
                },
            },
        },
        "/api/v1/webhooks/{webhook_id}/secret": {
            "post": {
                "operationId": "rotateWebhookSecret",
                "summary": "A new signing secret; the old one signs beside it for a while",
                "description": (
                    f"{_NEEDS} The answer carries the new `secret` this once. Until "
                    "`old_secret_expires_at` (`keep_old_s` from now: a day unless given, 0 "
                    "for at once) each delivery carries two signatures, so receivers can "
                    "move to the new secret without losing one. The body is optional. A "
                    "retry with the same Idempotency-Key answers with the secret that "
                    "rotation made, and rotates nothing more."
                ),
                "parameters": [_WEBHOOK_ID, idempotency_key],
                "requestBody": body("RotateSecretIn", required=False),
                "responses": {
                    "200": json("WebhookOut", "The endpoint, with its new secret"),
                    "404": no_webhook,
                    "422": problem("`keep_old_s` is not 0 to 604800"),
                    **common_errors,
                },
            }
        },
        "/api/v1/webhooks/{webhook_id}/test": {
            "post": {
                "operationId": "testWebhook",
                "summary": "Send a `perkbus.webhook.test` event to the endpoint",
                "description": (
                    f"{_NEEDS} Delivered like any event (signed, logged), once; see it in "
                    "the deliveries. A retry with the same Idempotency-Key is the same "
                    "test event, not another."
                ),
                "parameters": [_WEBHOOK_ID, idempotency_key],
                "responses": {
                    "202": json("DeliveryOut", "The delivery, pending"),
                    "404": no_webhook,
                    "422": problem("The endpoint is turned off (`invalid_request`)"),
                    **common_errors,
                },
            }
        },
        "/api/v1/webhooks/{webhook_id}/deliveries": {
            "get": {
                "operationId": "listWebhookDeliveries",
                "summary": "A webhook's deliveries, newest first",
                "description": (
                    f"{_NEEDS} Each event sent (or to be sent) to the endpoint: its status, "
                    "attempts and the last answer. Kept 30 days. A page ends with "
                    "`next_cursor`: send it back as `cursor` for the next page."
                ),
                "parameters": [_WEBHOOK_ID, *query_parameters(DeliveriesQuery)],
                "responses": {
                    "200": json("DeliveryPageOut", "A page of deliveries"),
                    "404": no_webhook,
                    "422": problem("A bad `status`, `limit` or `cursor` (`invalid_request`)"),
                    **common_errors,
                },
            }
        },
        "/api/v1/webhooks/{webhook_id}/deliveries/{delivery_id}": {
            "get": {
                "operationId": "getWebhookDelivery",
                "summary": "One delivery, with every attempt and the event sent",
                "description": (
                    f"{_NEEDS} A delivery of an event of people, API clients or funding"
                    " is there (in listings too) only for callers who may read such events"
                    " (`people:admin`, `clients:admin`, `funding:read`)."
                ),
                "parameters": [_WEBHOOK_ID, _DELIVERY_ID],
                "responses": {
                    "200": json("DeliveryDetailOut", "The delivery"),
                    "404": no_delivery,
                    **common_errors,
                },
            }
        },
        "/api/v1/webhooks/{webhook_id}/deliveries/{delivery_id}/redeliver": {
            "post": {
                "operationId": "redeliverWebhook",
                "summary": "Send a delivery again, once, now",
                "description": (
                    f"{_NEEDS} Whatever its status: a failed delivery after the receiver "
                    "was mended, or a delivered one the receiver lost. One attempt (a "
                    "pending delivery keeps the retries it had); if it fails, the delivery "
                    "is failed again. An event of people or API clients needs "
                    "`people:admin` or `clients:admin` (403). Once per Idempotency-Key."
                ),
                "parameters": [_WEBHOOK_ID, _DELIVERY_ID, idempotency_key],
                "responses": {
                    "202": json("DeliveryOut", "The delivery, pending"),
                    "404": no_delivery,
                    "422": problem(
                        "The Idempotency-Key sent another delivery again (`idempotency_key_reused`)"
                    ),
                    **common_errors,
                },
            }
        },
    }
