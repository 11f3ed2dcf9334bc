"""The OpenAPI paths of campaigns (merged into :data:`edge.openapi_paths.PATHS`): the
tenant's bulk jobs in pages, and a scheduled job moved or cancelled (ADR 39)."""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from typing import Any

from edge.bulk_operations import BulkListOut, BulkQuery, RescheduleIn
from edge.openapi_history import json_answer, problem_answer
from edge.openapi_listings import PAGES

#: The Structs whose schemas the paths below refer to.
SCHEMAS: tuple[type, ...] = (BulkListOut, RescheduleIn)

#: Who runs jobs, in every campaign operation's description.
OPERATORS = (
    "Needs scope `rewards:bulk`. A principal narrowed to some budgets (grants) sees and "
    "changes only their jobs; another's is 404."
)
#: A time to start, as the upload and the move take it.
START_AT = (
    "RFC 3339 with its offset (`2026-12-01T09:00:00Z`, `…+01:00`). A time to come makes the "
    "job `scheduled`: it starts within a few seconds of that time "
    "(`PERKBUS_ACTORS_SCHEDULE_POLL_S`). Up to 5 minutes past is taken as now; further "
    "past, or more than a year ahead, is 422 `invalid_request`."
)


def campaign_paths(
    ref: str,
    common_errors: dict[str, Any],
    job_id: dict[str, Any],
    query_parameters: Callable[[type], list[dict[str, Any]]],
    idempotency_key: dict[str, Any],
) -> dict[str, dict[str, Any]]:
    json, problem = partial(json_answer, ref), partial(problem_answer, ref)
    not_scheduled = problem(
        "The job is not scheduled: it has started, ended or was cancelled (`invalid_request`)"
    )
    return {
        "/api/v1/rewards/bulk": {
            "get": {
                "operationId": "listBulkRewards",
                "summary": "The tenant's bulk jobs and campaigns, newest first",
                "description": (
                    f"{OPERATORS} `status` is one of `loading`, `scheduled`, `running`, "
                    f"`done`, `cancelled`. {PAGES}"
                ),
                "parameters": query_parameters(BulkQuery),
                "responses": {
                    "200": json("BulkListOut", "A page of jobs"),
                    "422": problem("An unknown status, a `limit` not 1 to 100, or a bad cursor"),
                    **common_errors,
                },
            }
        },
        "/api/v1/rewards/bulk/{job_id}": {
            "patch": {
                "operationId": "rescheduleBulkRewards",
                "summary": "Move a scheduled job to another time, or start it now",
                "description": (
                    f"{OPERATORS} `start_at`: {START_AT} `null` starts the job now. The "
                    "move is recorded in the audit log."
                ),
                "parameters": [job_id, idempotency_key],
                "requestBody": {
                    "required": True,
                    "content": {
                        "application/json": {"schema": {"$ref": ref.format(name="RescheduleIn")}}
                    },
                },
                "responses": {
                    "200": json("BulkJobOut", "The job, at its new time or started"),
                    "404": problem("No such job in your tenant"),
                    "422": not_scheduled,
                    **common_errors,
                },
            }
        },
        "/api/v1/rewards/bulk/{job_id}/cancel": {
            "post": {
                "operationId": "cancelBulkRewards",
                "summary": "Cancel a scheduled job before it starts",
                "description": (
                    f"{OPERATORS} None of its rows is carried out (their results stay "
                    "`pending`). Cancelling a cancelled job answers it as it is. A job that "
                    "has started cannot be cancelled. Recorded in the audit log."
                ),
                "parameters": [job_id, idempotency_key],
                "responses": {
                    "200": json("BulkJobOut", "The job, cancelled"),
                    "404": problem("No such job in your tenant"),
                    "422": not_scheduled,
                    **common_errors,
                },
            }
        },
    }
