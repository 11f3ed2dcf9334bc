"""What the SQL adapters of the webhook deliveries store share: a delivery's columns and
rows (``storage.sqlite_webhooks``, ``storage.mysql_webhooks``)."""

from __future__ import annotations

from typing import Any

from storage.webhook_ports import Delivery, DeliveryStatus, NewDelivery

#: A delivery's columns, in :class:`Delivery`'s order.
COLUMNS = (
    "id, tenant_id, endpoint_id, event_id, event_type, payload, status, attempts,"
    " retries_left, created_ms, next_attempt_ms, last_attempt_ms, last_status_code, last_error"
)
#: The columns an insert sets, in :func:`new_row`'s order (the status is ``pending``).
INSERTED = (
    "tenant_id, endpoint_id, event_id, event_type, payload, status, retries_left,"
    " created_ms, next_attempt_ms"
)
#: Deliveries pruned per transaction: no writer is held long.
PRUNE_BATCH = 1000
#: An endpoint's deliveries delivered at or after a time (``p``: the driver's placeholder):
#: a range of the index by endpoint, status and last attempt (migration 2).
DELIVERED_SINCE = (
    "tenant_id = {p} AND endpoint_id = {p} AND status = 'delivered'"
    " AND last_attempt_ms >= {p} LIMIT 1"
)


def new_row(d: NewDelivery) -> tuple[Any, ...]:
    return (
        d.tenant,
        d.endpoint_id,
        d.event_id,
        d.event_type,
        d.payload,
        d.retries_left,
        d.created_ms,
        d.next_attempt_ms,
    )


def from_row(row: Any) -> Delivery:
    return Delivery(*row)


def page_filters(
    mark: str,
    tenant: str,
    endpoint_id: str | None,
    status: DeliveryStatus | None,
    before: int | None,
) -> tuple[str, tuple[Any, ...]]:
    """The ``WHERE`` of a page of the tenant's deliveries, with ``mark`` (``?`` or
    ``%s``) for each parameter."""
    where: list[str] = [f"tenant_id = {mark}"]
    params: list[Any] = [tenant]
    for column, value in (("endpoint_id =", endpoint_id), ("status =", status), ("id <", before)):
        if value is not None:
            where.append(f"{column} {mark}")
            params.append(value)
    return " AND ".join(where), tuple(params)
