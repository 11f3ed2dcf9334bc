"""One client interface over both APIs, so one test suite checks that REST and GraphQL
give the same results for the same calls."""

from __future__ import annotations

import csv
import io
import re
from dataclasses import dataclass
from typing import Any, Protocol
from urllib.parse import quote

from aiohttp import web
from aiohttp.test_utils import TestClient


@dataclass(frozen=True)
class Outcome:
    """A value (snake_case keys, whichever API) or an error code."""

    value: dict[str, Any] | None = None
    code: str | None = None
    retryable: bool = False
    pointer: str | None = None


class BudgetApi(Protocol):
    name: str

    async def create(
        self,
        headers: dict[str, str],
        budget_id: str,
        amount: int,
        currency: str = "EUR",
        key: str | None = None,
    ) -> Outcome: ...

    async def get(self, headers: dict[str, str], budget_id: str) -> Outcome: ...

    async def budgets(
        self, headers: dict[str, str], limit: int = 20, cursor: str | None = None
    ) -> Outcome: ...

    async def debit(
        self,
        headers: dict[str, str],
        budget_id: str,
        amount: int | str,
        currency: str = "EUR",
        memo: str = "",
        key: str | None = None,
    ) -> Outcome: ...

    async def issue(
        self,
        headers: dict[str, str],
        budget_id: str,
        person_id: str,
        points: int,
        key: str | None = None,
    ) -> Outcome: ...

    async def wallet(self, headers: dict[str, str], person_id: str) -> Outcome: ...

    async def products(self, headers: dict[str, str], **params: Any) -> Outcome: ...

    async def product(
        self, headers: dict[str, str], product_id: str, locale: str = "en"
    ) -> Outcome: ...

    async def curate(
        self, headers: dict[str, str], product_id: str, enabled: bool, markup_bps: int | None = None
    ) -> Outcome: ...

    async def add_custom(self, headers: dict[str, str], product: dict[str, Any]) -> Outcome: ...

    async def export(self, headers: dict[str, str], **params: Any) -> Outcome: ...

    async def import_csv(
        self, headers: dict[str, str], product_id: str, face: int, currency: str, text: str
    ) -> Outcome: ...

    async def generate(
        self, headers: dict[str, str], product_id: str, face: int, currency: str, count: int
    ) -> Outcome: ...

    async def pool(self, headers: dict[str, str], product_id: str, face: int) -> Outcome: ...

    async def pools(
        self, headers: dict[str, str], limit: int = 20, cursor: str | None = None
    ) -> Outcome: ...

    async def place(
        self, headers: dict[str, str], order: dict[str, Any], key: str | None = None
    ) -> Outcome: ...

    async def order(self, headers: dict[str, str], order_id: str) -> Outcome: ...

    async def order_vouchers(self, headers: dict[str, str], order_id: str) -> Outcome: ...

    async def cancel(self, headers: dict[str, str], order_id: str, reason: str) -> Outcome: ...

    async def review(
        self,
        headers: dict[str, str],
        order_id: str,
        approve: bool,
        note: str = "",
        key: str | None = None,
    ) -> Outcome: ...

    async def set_rate(
        self, headers: dict[str, str], base: str, quote: str, rate: str
    ) -> Outcome: ...

    async def points_rate(self, headers: dict[str, str]) -> Outcome: ...

    async def update(
        self, headers: dict[str, str], budget_id: str, fields: dict[str, Any]
    ) -> Outcome: ...

    async def set_points_rate(
        self, headers: dict[str, str], currency: str, points_per_unit: str
    ) -> Outcome: ...

    async def open_funding(self, headers: dict[str, str], account_id: str) -> Outcome: ...

    async def deposit(self, headers: dict[str, str], account_id: str, amount: int) -> Outcome: ...

    async def allocate(
        self, headers: dict[str, str], budget_id: str, account_id: str, amount: int
    ) -> Outcome: ...

    async def create_capped(self, headers: dict[str, str], budget_id: str, cap: int) -> Outcome: ...

    async def funding_accounts(
        self, headers: dict[str, str], limit: int = 20, cursor: str | None = None
    ) -> Outcome: ...

    async def funding_history(
        self, headers: dict[str, str], account_id: str, limit: int = 20, cursor: str | None = None
    ) -> Outcome: ...

    async def bulk_start(
        self,
        headers: dict[str, str],
        budget_id: str,
        text: str,
        key: str | None = None,
        name: str | None = None,
        start_at: str | None = None,
    ) -> Outcome: ...

    async def bulk_job(self, headers: dict[str, str], job_id: str) -> Outcome: ...

    async def bulk_jobs(
        self,
        headers: dict[str, str],
        status: str | None = None,
        limit: int = 20,
        cursor: str | None = None,
    ) -> Outcome: ...

    async def bulk_reschedule(
        self, headers: dict[str, str], job_id: str, start_at: str | None
    ) -> Outcome: ...

    async def bulk_cancel(self, headers: dict[str, str], job_id: str) -> Outcome: ...

    async def bulk_rows(self, headers: dict[str, str], job_id: str) -> list[tuple[Any, ...]]: ...

    async def webhook_create(
        self, headers: dict[str, str], body: dict[str, Any], key: str | None = None
    ) -> Outcome: ...

    async def webhooks(self, headers: dict[str, str]) -> Outcome: ...

    async def webhook(self, headers: dict[str, str], webhook_id: str) -> Outcome: ...

    async def webhook_update(
        self,
        headers: dict[str, str],
        webhook_id: str,
        fields: dict[str, Any],
        key: str | None = None,
    ) -> Outcome: ...

    async def webhook_delete(
        self, headers: dict[str, str], webhook_id: str, key: str | None = None
    ) -> Outcome: ...

    async def webhook_rotate(
        self, headers: dict[str, str], webhook_id: str, keep_old_s: int | None = None
    ) -> Outcome: ...

    async def webhook_test(
        self, headers: dict[str, str], webhook_id: str, key: str | None = None
    ) -> Outcome: ...

    async def webhook_deliveries(
        self,
        headers: dict[str, str],
        webhook_id: str,
        status: str | None = None,
        limit: int = 20,
        cursor: str | None = None,
    ) -> Outcome: ...

    async def webhook_delivery(
        self, headers: dict[str, str], webhook_id: str, delivery_id: int
    ) -> Outcome: ...

    async def webhook_redeliver(
        self, headers: dict[str, str], webhook_id: str, delivery_id: int, key: str | None = None
    ) -> Outcome: ...


def snake(value: Any) -> Any:
    if isinstance(value, list):
        return [snake(v) for v in value]
    if isinstance(value, dict):
        return {
            re.sub(r"(?<!^)([A-Z])", r"_\1", k).lower(): snake(v)
            for k, v in value.items()
            if k != "__typename"
        }
    return value


def page(limit: int, cursor: str | None) -> str:
    """A listing's query string."""
    return f"limit={limit}" + ("" if cursor is None else f"&cursor={quote(cursor)}")


def rest_pointer(pointer: str | None) -> str | None:
    """``#/input/amount/amountMinor`` (GraphQL) → ``#/amount/amount_minor`` (REST body);
    a mutation's own argument (``#/pointsPerUnit``) → ``#/points_per_unit``."""
    if pointer is None:
        return None
    tokens = [t for t in pointer.removeprefix("#").split("/") if t]
    tokens = tokens[1:] if len(tokens) > 1 else tokens
    return "#/" + "/".join(re.sub(r"([A-Z])", r"_\1", t).lower() for t in tokens)


class Rest:
    name = "rest"

    def __init__(self, client: TestClient[web.Request, web.Application]) -> None:
        self.client = client

    async def _send(
        self,
        method: str,
        path: str,
        headers: dict[str, str],
        body: Any = None,
        key: str | None = None,
    ) -> Outcome:
        if key is not None:
            headers = {**headers, "Idempotency-Key": key}
        async with self.client.request(method, path, json=body, headers=headers) as r:
            data = await r.json(content_type=None)
            if r.status < 300:
                return Outcome(value=data)
            assert r.content_type == "application/problem+json"
            errors = data.get("errors") or [{}]
            return Outcome(
                code=data["code"],
                retryable=data.get("retryable", False),
                pointer=errors[0].get("pointer"),
            )

    async def create(
        self,
        headers: dict[str, str],
        budget_id: str,
        amount: int,
        currency: str = "EUR",
        key: str | None = None,
    ) -> Outcome:
        body = {
            "id": budget_id,
            "name": f"Budget {budget_id}",
            "initial": {"amount_minor": amount, "currency": currency},
        }
        return await self._send("POST", "/api/v1/budgets", headers, body, key)

    async def get(self, headers: dict[str, str], budget_id: str) -> Outcome:
        return await self._send("GET", f"/api/v1/budgets/{budget_id}", headers)

    async def budgets(
        self, headers: dict[str, str], limit: int = 20, cursor: str | None = None
    ) -> Outcome:
        return await self._send("GET", f"/api/v1/budgets?{page(limit, cursor)}", headers)

    async def debit(
        self,
        headers: dict[str, str],
        budget_id: str,
        amount: int | str,
        currency: str = "EUR",
        memo: str = "",
        key: str | None = None,
    ) -> Outcome:
        body = {"amount": {"amount_minor": amount, "currency": currency}, "memo": memo}
        return await self._send("POST", f"/api/v1/budgets/{budget_id}/debits", headers, body, key)

    async def issue(
        self,
        headers: dict[str, str],
        budget_id: str,
        person_id: str,
        points: int,
        key: str | None = None,
    ) -> Outcome:
        body = {"budget_id": budget_id, "person_id": person_id, "points": points}
        return await self._send("POST", "/api/v1/rewards", headers, body, key)

    async def wallet(self, headers: dict[str, str], person_id: str) -> Outcome:
        return await self._send("GET", f"/api/v1/wallets/{person_id}", headers)

    async def products(self, headers: dict[str, str], **params: Any) -> Outcome:
        query = "&".join(f"{k}={quote(str(v))}" for k, v in params.items())
        return await self._send("GET", f"/api/v1/catalogue/products?{query}", headers)

    async def product(
        self, headers: dict[str, str], product_id: str, locale: str = "en"
    ) -> Outcome:
        path = f"/api/v1/catalogue/products/{quote(product_id)}?locale={locale}"
        return await self._send("GET", path, headers)

    async def curate(
        self, headers: dict[str, str], product_id: str, enabled: bool, markup_bps: int | None = None
    ) -> Outcome:
        body: dict[str, Any] = {"enabled": enabled}
        if markup_bps is not None:
            body["markup_bps"] = markup_bps
        path = f"/api/v1/catalogue/products/{product_id}/curation"
        return await self._send("PUT", path, headers, body)

    async def add_custom(self, headers: dict[str, str], product: dict[str, Any]) -> Outcome:
        return await self._send("POST", "/api/v1/catalogue/products", headers, product)

    async def export(self, headers: dict[str, str], **params: Any) -> Outcome:
        query = "&".join(f"{k}={quote(str(v))}" for k, v in params.items())
        return await self._send("GET", f"/api/v1/catalogue/export?{query}", headers)

    async def import_csv(
        self, headers: dict[str, str], product_id: str, face: int, currency: str, text: str
    ) -> Outcome:
        path = f"/api/v1/vouchers/pools/{product_id}/{face}/codes?currency={currency}"
        headers = {**headers, "Content-Type": "text/csv"}
        async with self.client.post(path, data=text.encode(), headers=headers) as r:
            data = await r.json(content_type=None)
            if r.status < 300:
                return Outcome(value=data)
            errors = data.get("errors") or [{}]
            return Outcome(code=data["code"], pointer=errors[0].get("pointer"))

    async def generate(
        self, headers: dict[str, str], product_id: str, face: int, currency: str, count: int
    ) -> Outcome:
        path = f"/api/v1/vouchers/pools/{product_id}/{face}/generate"
        return await self._send("POST", path, headers, {"currency": currency, "count": count})

    async def pool(self, headers: dict[str, str], product_id: str, face: int) -> Outcome:
        return await self._send("GET", f"/api/v1/vouchers/pools/{product_id}/{face}", headers)

    async def pools(
        self, headers: dict[str, str], limit: int = 20, cursor: str | None = None
    ) -> Outcome:
        return await self._send("GET", f"/api/v1/vouchers/pools?{page(limit, cursor)}", headers)

    async def place(
        self, headers: dict[str, str], order: dict[str, Any], key: str | None = None
    ) -> Outcome:
        return await self._send("POST", "/api/v1/orders", headers, order, key)

    async def order(self, headers: dict[str, str], order_id: str) -> Outcome:
        return await self._send("GET", f"/api/v1/orders/{order_id}", headers)

    async def order_vouchers(self, headers: dict[str, str], order_id: str) -> Outcome:
        return await self._send("GET", f"/api/v1/orders/{order_id}/vouchers", headers)

    async def bulk_start(
        self,
        headers: dict[str, str],
        budget_id: str,
        text: str,
        key: str | None = None,
        name: str | None = None,
        start_at: str | None = None,
    ) -> Outcome:
        headers = {**headers, "Content-Type": "text/csv"}
        if key:
            headers["Idempotency-Key"] = key
        params = {"budget_id": budget_id}
        params |= {} if name is None else {"name": name}
        params |= {} if start_at is None else {"start_at": start_at}
        data_in = io.BytesIO(text.encode())
        async with self.client.post(
            "/api/v1/rewards/bulk", params=params, data=data_in, headers=headers
        ) as r:
            data = await r.json(content_type=None)
            if r.status < 300:
                return Outcome(value=data)
            errors = data.get("errors") or [{}]
            return Outcome(code=data["code"], pointer=errors[0].get("pointer"))

    async def bulk_job(self, headers: dict[str, str], job_id: str) -> Outcome:
        return await self._send("GET", f"/api/v1/rewards/bulk/{job_id}", headers)

    async def bulk_jobs(
        self,
        headers: dict[str, str],
        status: str | None = None,
        limit: int = 20,
        cursor: str | None = None,
    ) -> Outcome:
        query = page(limit, cursor) + ("" if status is None else f"&status={status}")
        return await self._send("GET", f"/api/v1/rewards/bulk?{query}", headers)

    async def bulk_reschedule(
        self, headers: dict[str, str], job_id: str, start_at: str | None
    ) -> Outcome:
        body = {"start_at": start_at}
        return await self._send("PATCH", f"/api/v1/rewards/bulk/{job_id}", headers, body)

    async def bulk_cancel(self, headers: dict[str, str], job_id: str) -> Outcome:
        return await self._send("POST", f"/api/v1/rewards/bulk/{job_id}/cancel", headers)

    async def bulk_rows(self, headers: dict[str, str], job_id: str) -> list[tuple[Any, ...]]:
        async with self.client.get(f"/api/v1/rewards/bulk/{job_id}/results", headers=headers) as r:
            rows = list(csv.DictReader(io.StringIO(await r.text())))
        return [
            (
                int(r["row"]),
                r["person_id"],
                int(r["points"]),
                r["status"],
                r["reason"],
                r["reward_id"],
            )
            for r in rows
        ]

    async def cancel(self, headers: dict[str, str], order_id: str, reason: str) -> Outcome:
        path = f"/api/v1/orders/{order_id}/cancel"
        return await self._send("POST", path, headers, {"reason": reason})

    async def review(
        self,
        headers: dict[str, str],
        order_id: str,
        approve: bool,
        note: str = "",
        key: str | None = None,
    ) -> Outcome:
        path = f"/api/v1/orders/{order_id}/review"
        return await self._send("POST", path, headers, {"approve": approve, "note": note}, key)

    async def set_rate(self, headers: dict[str, str], base: str, quote: str, rate: str) -> Outcome:
        return await self._send("PUT", f"/api/v1/fx/{base}/{quote}", headers, {"rate": rate})

    async def points_rate(self, headers: dict[str, str]) -> Outcome:
        return await self._send("GET", "/api/v1/points-rate", headers)

    async def update(
        self, headers: dict[str, str], budget_id: str, fields: dict[str, Any]
    ) -> Outcome:
        return await self._send("PATCH", f"/api/v1/budgets/{budget_id}", headers, fields)

    async def set_points_rate(
        self, headers: dict[str, str], currency: str, points_per_unit: str
    ) -> Outcome:
        body = {"currency": currency, "points_per_unit": points_per_unit}
        return await self._send("PUT", "/api/v1/points-rate", headers, body)

    async def open_funding(self, headers: dict[str, str], account_id: str) -> Outcome:
        body = {"id": account_id, "name": "Main", "currency": "EUR"}
        return await self._send("POST", "/api/v1/funding-accounts", headers, body)

    async def deposit(self, headers: dict[str, str], account_id: str, amount: int) -> Outcome:
        path = f"/api/v1/funding-accounts/{account_id}/deposits"
        body = {"amount": {"amount_minor": amount, "currency": "EUR"}, "reference": "wire"}
        return await self._send("POST", path, headers, body)

    async def allocate(
        self, headers: dict[str, str], budget_id: str, account_id: str, amount: int
    ) -> Outcome:
        body = {"from_account": account_id, "amount": {"amount_minor": amount, "currency": "EUR"}}
        return await self._send("POST", f"/api/v1/budgets/{budget_id}/allocations", headers, body)

    async def create_capped(self, headers: dict[str, str], budget_id: str, cap: int) -> Outcome:
        body = {
            "id": budget_id,
            "name": budget_id,
            "cap_minor": cap,
            "initial": {"amount_minor": 0, "currency": "EUR"},
        }
        return await self._send("POST", "/api/v1/budgets", headers, body)

    async def funding_accounts(
        self, headers: dict[str, str], limit: int = 20, cursor: str | None = None
    ) -> Outcome:
        return await self._send("GET", f"/api/v1/funding-accounts?{page(limit, cursor)}", headers)

    async def funding_history(
        self, headers: dict[str, str], account_id: str, limit: int = 20, cursor: str | None = None
    ) -> Outcome:
        path = f"/api/v1/funding-accounts/{account_id}/history?{page(limit, cursor)}"
        return await self._send("GET", path, headers)

    async def webhook_create(
        self, headers: dict[str, str], body: dict[str, Any], key: str | None = None
    ) -> Outcome:
        return await self._send("POST", "/api/v1/webhooks", headers, body, key)

    async def webhooks(self, headers: dict[str, str]) -> Outcome:
        return await self._send("GET", "/api/v1/webhooks", headers)

    async def webhook(self, headers: dict[str, str], webhook_id: str) -> Outcome:
        return await self._send("GET", f"/api/v1/webhooks/{quote(webhook_id)}", headers)

    async def webhook_update(
        self,
        headers: dict[str, str],
        webhook_id: str,
        fields: dict[str, Any],
        key: str | None = None,
    ) -> Outcome:
        path = f"/api/v1/webhooks/{quote(webhook_id)}"
        return await self._send("PATCH", path, headers, fields, key)

    async def webhook_delete(
        self, headers: dict[str, str], webhook_id: str, key: str | None = None
    ) -> Outcome:
        path = f"/api/v1/webhooks/{quote(webhook_id)}"
        return await self._send("DELETE", path, headers, None, key)

    async def webhook_rotate(
        self, headers: dict[str, str], webhook_id: str, keep_old_s: int | None = None
    ) -> Outcome:
        body = None if keep_old_s is None else {"keep_old_s": keep_old_s}
        path = f"/api/v1/webhooks/{quote(webhook_id)}/secret"
        return await self._send("POST", path, headers, body)

    async def webhook_test(
        self, headers: dict[str, str], webhook_id: str, key: str | None = None
    ) -> Outcome:
        path = f"/api/v1/webhooks/{quote(webhook_id)}/test"
        return await self._send("POST", path, headers, None, key)

    async def webhook_deliveries(
        self,
        headers: dict[str, str],
        webhook_id: str,
        status: str | None = None,
        limit: int = 20,
        cursor: str | None = None,
    ) -> Outcome:
        query = page(limit, cursor) + ("" if status is None else f"&status={quote(status)}")
        path = f"/api/v1/webhooks/{quote(webhook_id)}/deliveries?{query}"
        return await self._send("GET", path, headers)

    async def webhook_delivery(
        self, headers: dict[str, str], webhook_id: str, delivery_id: int
    ) -> Outcome:
        path = f"/api/v1/webhooks/{quote(webhook_id)}/deliveries/{delivery_id}"
        return await self._send("GET", path, headers)

    async def webhook_redeliver(
        self, headers: dict[str, str], webhook_id: str, delivery_id: int, key: str | None = None
    ) -> Outcome:
        path = f"/api/v1/webhooks/{quote(webhook_id)}/deliveries/{delivery_id}/redeliver"
        return await self._send("POST", path, headers, None, key)


_ERROR = (
    "... on Error { __typename code message retryable } ... on InvalidInput { fields { pointer } }"
)
_BUDGET = (
    "... on Budget { id name version capMinor balance { amountMinor currency }"
    " lowBalanceMinor held { amountMinor currency } }"
)
_DEBIT = (
    "... on Debit { id budgetId createdAt amount { amountMinor currency } "
    "balanceAfter { amountMinor currency } }"
)


_FACETS = (
    "facets { category { value count } brand { value count } country { value count }"
    " price { currency minMinor maxMinor count } }"
)
_PRODUCT = (
    "id brand kind category name description terms imageUrl countries currency"
    " denominations range { minMinor maxMinor } markupBps enabled custom locales"
)


_POOL = "productId faceValueMinor available allocated"
_BULK = "id budgetId status total done succeeded failed createdAt updatedAt name startAt points"
_POINTS_RATE = "currency pointsPerUnit locked pointsIssued"
_FUNDING = "id name version balance { amountMinor currency }"
_ORDER = (
    "id status recipient payer productId voucherId failureReason externalId createdAt"
    " updatedAt fxRate pointsRate faceValue { amountMinor currency } price { amountMinor currency }"
)
_REPORT = f"imported rejected {{ row reason }} pool {{ {_POOL} }}"
_WEBHOOK = (
    "id url description eventTypes enabled createdAt updatedAt privateAggregates secret"
    " oldSecretExpiresAt disabledReason disabledAt"
)
_DELIVERY = (
    "id webhookId eventId eventType status attempts createdAt nextAttemptAt lastAttemptAt"
    " lastStatusCode lastError"
)


def _camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(part.capitalize() for part in rest)


class GraphQL:
    name = "graphql"

    def __init__(self, client: TestClient[web.Request, web.Application]) -> None:
        self.client = client

    async def _send(
        self, headers: dict[str, str], query: str, variables: dict[str, Any], field: str
    ) -> Outcome:
        body = {"query": query, "variables": variables}
        async with self.client.post("/graphql", json=body, headers=headers) as r:
            assert r.status == 200, await r.text()
            data = await r.json()
        assert "errors" not in data, data["errors"]
        result = data["data"][field]
        if "code" in result:
            fields = result.get("fields") or [{}]
            return Outcome(
                code=result["code"],
                retryable=result["retryable"],
                pointer=rest_pointer(fields[0].get("pointer")),
            )
        return Outcome(value=snake(result))

    async def create(
        self,
        headers: dict[str, str],
        budget_id: str,
        amount: int,
        currency: str = "EUR",
        key: str | None = None,
    ) -> Outcome:
        query = (
            "mutation($input: CreateBudgetInput!, $key: String) {"
            f" createBudget(input: $input, idempotencyKey: $key) {{ {_BUDGET} {_ERROR} }} }}"
        )
        variables = {
            "input": {
                "id": budget_id,
                "name": f"Budget {budget_id}",
                "initial": {"amountMinor": amount, "currency": currency},
            },
            "key": key,
        }
        return await self._send(headers, query, variables, "createBudget")

    async def get(self, headers: dict[str, str], budget_id: str) -> Outcome:
        query = f"query($id: ID!) {{ budget(id: $id) {{ {_BUDGET} {_ERROR} }} }}"
        return await self._send(headers, query, {"id": budget_id}, "budget")

    async def budgets(
        self, headers: dict[str, str], limit: int = 20, cursor: str | None = None
    ) -> Outcome:
        query = (
            "query($first: Int!, $after: String) { budgets(first: $first, after: $after) {"
            f" ... on BudgetList {{ nextCursor budgets {{ {_BUDGET} }} }} {_ERROR} }} }}"
        )
        return await self._send(headers, query, {"first": limit, "after": cursor}, "budgets")

    async def debit(
        self,
        headers: dict[str, str],
        budget_id: str,
        amount: int | str,
        currency: str = "EUR",
        memo: str = "",
        key: str | None = None,
    ) -> Outcome:
        query = (
            "mutation($id: ID!, $input: DebitInput!, $key: String) {"
            f" debitBudget(budgetId: $id, input: $input, idempotencyKey: $key)"
            f" {{ {_DEBIT} {_ERROR} }} }}"
        )
        variables = {
            "id": budget_id,
            "input": {"amount": {"amountMinor": amount, "currency": currency}, "memo": memo},
            "key": key,
        }
        return await self._send(headers, query, variables, "debitBudget")

    async def issue(
        self,
        headers: dict[str, str],
        budget_id: str,
        person_id: str,
        points: int,
        key: str | None = None,
    ) -> Outcome:
        query = (
            "mutation($input: IssuePointsInput!, $key: String) {"
            " issuePoints(input: $input, idempotencyKey: $key) {"
            " ... on Reward { id budgetId personId points createdAt walletPointsAfter"
            " cost { amountMinor currency } budgetBalanceAfter { amountMinor currency } }"
            f" {_ERROR} }} }}"
        )
        variables = {
            "input": {"budgetId": budget_id, "personId": person_id, "points": points},
            "key": key,
        }
        return await self._send(headers, query, variables, "issuePoints")

    async def wallet(self, headers: dict[str, str], person_id: str) -> Outcome:
        query = (
            "query($id: ID!) { wallet(personId: $id) {"
            f" ... on Wallet {{ personId points version }} {_ERROR} }} }}"
        )
        return await self._send(headers, query, {"id": person_id}, "wallet")

    async def products(self, headers: dict[str, str], **params: Any) -> Outcome:
        filters = {
            _camel(k): v
            for k, v in params.items()
            if k in ("country", "currency", "category", "min_price", "max_price", "q")
        }
        variables: dict[str, Any] = {"filter": filters or None}
        variables["locale"] = params.get("locale", "en")
        variables["first"] = params.get("limit", 20)
        variables["after"] = params.get("cursor")
        query = (
            "query($filter: ProductFilterInput, $locale: String!, $first: Int!, $after: String) {"
            " products(filter: $filter, locale: $locale, first: $first, after: $after) {"
            f" ... on ProductPage {{ total nextCursor degraded {_FACETS}"
            f" products {{ {_PRODUCT} }} }} {_ERROR} }} }}"
        )
        return await self._send(headers, query, variables, "products")

    async def product(self, headers: dict[str, str], pid: str, locale: str = "en") -> Outcome:
        query = (
            "query($id: ID!, $locale: String!) { product(id: $id, locale: $locale) {"
            f" ... on Product {{ {_PRODUCT} }} {_ERROR} }} }}"
        )
        return await self._send(headers, query, {"id": pid, "locale": locale}, "product")

    async def curate(
        self, headers: dict[str, str], product_id: str, enabled: bool, markup_bps: int | None = None
    ) -> Outcome:
        query = (
            "mutation($id: ID!, $input: CurationInput!) {"
            " curateProduct(productId: $id, input: $input) {"
            f" ... on Product {{ {_PRODUCT} }} {_ERROR} }} }}"
        )
        variables = {"id": product_id, "input": {"enabled": enabled, "markupBps": markup_bps}}
        return await self._send(headers, query, variables, "curateProduct")

    async def add_custom(self, headers: dict[str, str], product: dict[str, Any]) -> Outcome:
        doc = {_camel(k): v for k, v in product.items() if k != "texts"}
        if isinstance(doc.get("range"), dict):
            doc["range"] = {_camel(k): v for k, v in doc["range"].items()}
        doc["texts"] = [
            {"locale": locale, **{_camel(k): v for k, v in text.items()}}
            for locale, text in product["texts"].items()
        ]
        query = (
            "mutation($input: CustomProductInput!) { addCustomProduct(input: $input) {"
            f" ... on Product {{ {_PRODUCT} }} {_ERROR} }} }}"
        )
        return await self._send(headers, query, {"input": doc}, "addCustomProduct")

    async def export(self, headers: dict[str, str], **params: Any) -> Outcome:
        variables = {
            "locale": params.get("locale", "en"),
            "first": params.get("limit", 200),
            "after": params.get("cursor"),
        }
        query = (
            "query($locale: String!, $first: Int!, $after: String) {"
            " catalogueExport(locale: $locale, first: $first, after: $after) {"
            f" ... on CatalogueExport {{ nextCursor products {{ {_PRODUCT} }} }} {_ERROR} }} }}"
        )
        return await self._send(headers, query, variables, "catalogueExport")

    async def import_csv(
        self, headers: dict[str, str], product_id: str, face: int, currency: str, text: str
    ) -> Outcome:
        query = (
            "mutation($p: ID!, $f: MinorUnits!, $input: ImportCodesInput!) {"
            " importVoucherCodes(productId: $p, faceValue: $f, input: $input) {"
            f" ... on ImportReport {{ {_REPORT} }} {_ERROR} }} }}"
        )
        variables = {"p": product_id, "f": face, "input": {"currency": currency, "csv": text}}
        return await self._send(headers, query, variables, "importVoucherCodes")

    async def generate(
        self, headers: dict[str, str], product_id: str, face: int, currency: str, count: int
    ) -> Outcome:
        query = (
            "mutation($p: ID!, $f: MinorUnits!, $input: GenerateCodesInput!) {"
            " generateVoucherCodes(productId: $p, faceValue: $f, input: $input) {"
            f" ... on ImportReport {{ {_REPORT} }} {_ERROR} }} }}"
        )
        variables = {"p": product_id, "f": face, "input": {"currency": currency, "count": count}}
        return await self._send(headers, query, variables, "generateVoucherCodes")

    async def pool(self, headers: dict[str, str], product_id: str, face: int) -> Outcome:
        query = (
            "query($p: ID!, $f: MinorUnits!) { voucherPool(productId: $p, faceValue: $f) {"
            f" ... on Pool {{ {_POOL} }} {_ERROR} }} }}"
        )
        return await self._send(headers, query, {"p": product_id, "f": face}, "voucherPool")

    async def pools(
        self, headers: dict[str, str], limit: int = 20, cursor: str | None = None
    ) -> Outcome:
        query = (
            "query($first: Int!, $after: String) { voucherPools(first: $first, after: $after) {"
            f" ... on PoolList {{ nextCursor pools {{ {_POOL} }} }} {_ERROR} }} }}"
        )
        variables = {"first": limit, "after": cursor}
        return await self._send(headers, query, variables, "voucherPools")

    async def place(
        self, headers: dict[str, str], order: dict[str, Any], key: str | None = None
    ) -> Outcome:
        query = (
            "mutation($input: PlaceOrderInput!, $key: String) {"
            f" placeOrder(input: $input, idempotencyKey: $key) {{ ... on Order {{ {_ORDER} }}"
            f" {_ERROR} }} }}"
        )
        variables = {"input": {_camel(k): v for k, v in order.items()}, "key": key}
        return await self._send(headers, query, variables, "placeOrder")

    async def order(self, headers: dict[str, str], order_id: str) -> Outcome:
        query = f"query($id: ID!) {{ order(id: $id) {{ ... on Order {{ {_ORDER} }} {_ERROR} }} }}"
        return await self._send(headers, query, {"id": order_id}, "order")

    async def order_vouchers(self, headers: dict[str, str], order_id: str) -> Outcome:
        query = (
            "query($id: ID!) { orderVouchers(orderId: $id) { ... on OrderVouchers {"
            f" orderId vouchers {{ id code pin url expiresAt }} }} {_ERROR} }} }}"
        )
        return await self._send(headers, query, {"id": order_id}, "orderVouchers")

    async def bulk_start(
        self,
        headers: dict[str, str],
        budget_id: str,
        text: str,
        key: str | None = None,
        name: str | None = None,
        start_at: str | None = None,
    ) -> Outcome:
        query = (
            "mutation($b: ID!, $csv: String!, $key: String, $name: String, $at: String) {"
            " startBulkRewards(budgetId: $b, csv: $csv, idempotencyKey: $key, name: $name,"
            f" startAt: $at) {{ ... on BulkJob {{ {_BULK} }} {_ERROR} }} }}"
        )
        variables = {"b": budget_id, "csv": text, "key": key, "name": name, "at": start_at}
        return await self._send(headers, query, variables, "startBulkRewards")

    async def bulk_jobs(
        self,
        headers: dict[str, str],
        status: str | None = None,
        limit: int = 20,
        cursor: str | None = None,
    ) -> Outcome:
        query = (
            "query($s: String, $first: Int!, $after: String) {"
            " bulkJobs(status: $s, first: $first, after: $after) {"
            f" ... on BulkJobList {{ nextCursor jobs {{ {_BULK} }} }} {_ERROR} }} }}"
        )
        variables = {"s": status, "first": limit, "after": cursor}
        return await self._send(headers, query, variables, "bulkJobs")

    async def bulk_reschedule(
        self, headers: dict[str, str], job_id: str, start_at: str | None
    ) -> Outcome:
        query = (
            "mutation($id: ID!, $at: String) { rescheduleBulkJob(id: $id, startAt: $at) {"
            f" ... on BulkJob {{ {_BULK} }} {_ERROR} }} }}"
        )
        return await self._send(headers, query, {"id": job_id, "at": start_at}, "rescheduleBulkJob")

    async def bulk_cancel(self, headers: dict[str, str], job_id: str) -> Outcome:
        query = (
            "mutation($id: ID!) { cancelBulkJob(id: $id) {"
            f" ... on BulkJob {{ {_BULK} }} {_ERROR} }} }}"
        )
        return await self._send(headers, query, {"id": job_id}, "cancelBulkJob")

    async def bulk_job(self, headers: dict[str, str], job_id: str) -> Outcome:
        query = (
            f"query($id: ID!) {{ bulkJob(id: $id) {{ ... on BulkJob {{ {_BULK} }} {_ERROR} }} }}"
        )
        return await self._send(headers, query, {"id": job_id}, "bulkJob")

    async def bulk_rows(self, headers: dict[str, str], job_id: str) -> list[tuple[Any, ...]]:
        found: list[tuple[Any, ...]] = []
        offset: int | None = 0
        while offset is not None:
            query = (
                "query($id: ID!, $o: Int!) { bulkResults(id: $id, offset: $o) {"
                " ... on BulkResultPage { nextOffset rows { row personId points status reason"
                f" rewardId }} }} {_ERROR} }} }}"
            )
            page = await self._send(headers, query, {"id": job_id, "o": offset}, "bulkResults")
            assert page.value is not None
            found += [
                (r["row"], r["person_id"], r["points"], r["status"], r["reason"], r["reward_id"])
                for r in page.value["rows"]
            ]
            offset = page.value["next_offset"]
        return found

    async def cancel(self, headers: dict[str, str], order_id: str, reason: str) -> Outcome:
        query = (
            "mutation($id: ID!, $reason: String!) { cancelOrder(orderId: $id, reason: $reason) {"
            f" ... on Order {{ {_ORDER} }} {_ERROR} }} }}"
        )
        return await self._send(headers, query, {"id": order_id, "reason": reason}, "cancelOrder")

    async def review(
        self,
        headers: dict[str, str],
        order_id: str,
        approve: bool,
        note: str = "",
        key: str | None = None,
    ) -> Outcome:
        query = (
            "mutation($id: ID!, $approve: Boolean!, $note: String!, $key: String) {"
            " reviewOrder(orderId: $id, approve: $approve, note: $note, idempotencyKey: $key)"
            f" {{ ... on Order {{ {_ORDER} }} {_ERROR} }} }}"
        )
        variables = {"id": order_id, "approve": approve, "note": note, "key": key}
        return await self._send(headers, query, variables, "reviewOrder")

    async def set_rate(self, headers: dict[str, str], base: str, quote: str, rate: str) -> Outcome:
        query = (
            "mutation($b: String!, $q: String!, $r: String!) {"
            " setFxRate(base: $b, quote: $q, rate: $r) {"
            f" ... on FxTable {{ rates {{ base quote rate }} }} {_ERROR} }} }}"
        )
        return await self._send(headers, query, {"b": base, "q": quote, "r": rate}, "setFxRate")

    async def points_rate(self, headers: dict[str, str]) -> Outcome:
        query = f"{{ pointsRate {{ ... on PointsRate {{ {_POINTS_RATE} }} {_ERROR} }} }}"
        return await self._send(headers, query, {}, "pointsRate")

    async def update(
        self, headers: dict[str, str], budget_id: str, fields: dict[str, Any]
    ) -> Outcome:
        query = (
            "mutation($id: ID!, $input: UpdateBudgetInput!) {"
            f" updateBudget(budgetId: $id, input: $input) {{ {_BUDGET} {_ERROR} }} }}"
        )
        variables = {"id": budget_id, "input": {_camel(k): v for k, v in fields.items()}}
        return await self._send(headers, query, variables, "updateBudget")

    async def set_points_rate(
        self, headers: dict[str, str], currency: str, points_per_unit: str
    ) -> Outcome:
        query = (
            "mutation($c: String!, $p: String!) { setPointsRate(currency: $c, pointsPerUnit: $p)"
            f" {{ ... on PointsRate {{ {_POINTS_RATE} }} {_ERROR} }} }}"
        )
        variables = {"c": currency, "p": points_per_unit}
        return await self._send(headers, query, variables, "setPointsRate")

    async def open_funding(self, headers: dict[str, str], account_id: str) -> Outcome:
        query = (
            "mutation($input: OpenFundingInput!) { openFundingAccount(input: $input) {"
            f" ... on FundingAccount {{ {_FUNDING} }} {_ERROR} }} }}"
        )
        variables = {"input": {"id": account_id, "name": "Main", "currency": "EUR"}}
        return await self._send(headers, query, variables, "openFundingAccount")

    async def deposit(self, headers: dict[str, str], account_id: str, amount: int) -> Outcome:
        query = (
            "mutation($id: ID!, $input: DepositInput!) { deposit(accountId: $id, input: $input) {"
            f" ... on FundingAccount {{ {_FUNDING} }} {_ERROR} }} }}"
        )
        variables = {
            "id": account_id,
            "input": {"amount": {"amountMinor": amount, "currency": "EUR"}, "reference": "wire"},
        }
        return await self._send(headers, query, variables, "deposit")

    async def allocate(
        self, headers: dict[str, str], budget_id: str, account_id: str, amount: int
    ) -> Outcome:
        query = (
            "mutation($b: ID!, $input: AllocateInput!) {"
            " allocateBudget(budgetId: $b, input: $input) { ... on Allocation {"
            " id fromAccount budgetId amount { amountMinor currency }"
            " fundingBalanceAfter { amountMinor currency } budgetBalanceAfter { amountMinor"
            f" currency }} }} {_ERROR} }} }}"
        )
        variables = {
            "b": budget_id,
            "input": {
                "fromAccount": account_id,
                "amount": {"amountMinor": amount, "currency": "EUR"},
            },
        }
        return await self._send(headers, query, variables, "allocateBudget")

    async def create_capped(self, headers: dict[str, str], budget_id: str, cap: int) -> Outcome:
        query = (
            "mutation($input: CreateBudgetInput!) {"
            f" createBudget(input: $input) {{ {_BUDGET} {_ERROR} }} }}"
        )
        variables = {
            "input": {
                "id": budget_id,
                "name": budget_id,
                "capMinor": cap,
                "initial": {"amountMinor": 0, "currency": "EUR"},
            },
        }
        return await self._send(headers, query, variables, "createBudget")

    async def funding_accounts(
        self, headers: dict[str, str], limit: int = 20, cursor: str | None = None
    ) -> Outcome:
        query = (
            "query($first: Int!, $after: String) { fundingAccounts(first: $first, after: $after) {"
            f" ... on FundingAccountList {{ nextCursor fundingAccounts {{ {_FUNDING} }} }}"
            f" {_ERROR} }} }}"
        )
        variables = {"first": limit, "after": cursor}
        return await self._send(headers, query, variables, "fundingAccounts")

    async def funding_history(
        self, headers: dict[str, str], account_id: str, limit: int = 20, cursor: str | None = None
    ) -> Outcome:
        query = (
            "query($id: ID!, $first: Int!, $after: String) {"
            " fundingAccountHistory(accountId: $id, first: $first, after: $after) {"
            " ... on FundingHistory { nextCursor entries { id at kind budgetId"
            " amount { amountMinor currency } balanceAfter { amountMinor currency } } }"
            f" {_ERROR} }} }}"
        )
        variables = {"id": account_id, "first": limit, "after": cursor}
        return await self._send(headers, query, variables, "fundingAccountHistory")

    async def webhook_create(
        self, headers: dict[str, str], body: dict[str, Any], key: str | None = None
    ) -> Outcome:
        query = (
            "mutation($input: CreateWebhookInput!, $key: String) {"
            " createWebhook(input: $input, idempotencyKey: $key) {"
            f" ... on Webhook {{ {_WEBHOOK} }} {_ERROR} }} }}"
        )
        variables = {"input": {_camel(k): v for k, v in body.items()}, "key": key}
        return await self._send(headers, query, variables, "createWebhook")

    async def webhooks(self, headers: dict[str, str]) -> Outcome:
        query = f"{{ webhooks {{ ... on Webhooks {{ webhooks {{ {_WEBHOOK} }} }} {_ERROR} }} }}"
        return await self._send(headers, query, {}, "webhooks")

    async def webhook(self, headers: dict[str, str], webhook_id: str) -> Outcome:
        query = (
            f"query($id: ID!) {{ webhook(id: $id) {{ ... on Webhook {{ {_WEBHOOK} }} {_ERROR} }} }}"
        )
        return await self._send(headers, query, {"id": webhook_id}, "webhook")

    async def webhook_update(
        self,
        headers: dict[str, str],
        webhook_id: str,
        fields: dict[str, Any],
        key: str | None = None,
    ) -> Outcome:
        query = (
            "mutation($id: ID!, $input: UpdateWebhookInput!, $key: String) {"
            " updateWebhook(id: $id, input: $input, idempotencyKey: $key) {"
            f" ... on Webhook {{ {_WEBHOOK} }} {_ERROR} }} }}"
        )
        variables = {
            "id": webhook_id,
            "input": {_camel(k): v for k, v in fields.items()},
            "key": key,
        }
        return await self._send(headers, query, variables, "updateWebhook")

    async def webhook_delete(
        self, headers: dict[str, str], webhook_id: str, key: str | None = None
    ) -> Outcome:
        query = (
            "mutation($id: ID!, $key: String) { deleteWebhook(id: $id, idempotencyKey: $key) {"
            f" ... on Webhook {{ {_WEBHOOK} }} {_ERROR} }} }}"
        )
        return await self._send(headers, query, {"id": webhook_id, "key": key}, "deleteWebhook")

    async def webhook_rotate(
        self, headers: dict[str, str], webhook_id: str, keep_old_s: int | None = None
    ) -> Outcome:
        # left out, the argument takes its default: what REST's request with no body gets
        declared, passed = (
            ("", "") if keep_old_s is None else (", $keep: Int!", ", keepOldS: $keep")
        )
        query = (
            f"mutation($id: ID!{declared}) {{ rotateWebhookSecret(id: $id{passed}) {{"
            f" ... on Webhook {{ {_WEBHOOK} }} {_ERROR} }} }}"
        )
        variables = {"id": webhook_id, "keep": keep_old_s}
        return await self._send(headers, query, variables, "rotateWebhookSecret")

    async def webhook_test(
        self, headers: dict[str, str], webhook_id: str, key: str | None = None
    ) -> Outcome:
        query = (
            "mutation($id: ID!, $key: String) { testWebhook(id: $id, idempotencyKey: $key) {"
            f" ... on WebhookDelivery {{ {_DELIVERY} }} {_ERROR} }} }}"
        )
        return await self._send(headers, query, {"id": webhook_id, "key": key}, "testWebhook")

    async def webhook_deliveries(
        self,
        headers: dict[str, str],
        webhook_id: str,
        status: str | None = None,
        limit: int = 20,
        cursor: str | None = None,
    ) -> Outcome:
        query = (
            "query($id: ID!, $status: String, $first: Int!, $after: String) {"
            " webhookDeliveries(webhookId: $id, status: $status, first: $first, after: $after) {"
            f" ... on WebhookDeliveryList {{ nextCursor deliveries {{ {_DELIVERY} }} }}"
            f" {_ERROR} }} }}"
        )
        variables = {"id": webhook_id, "status": status, "first": limit, "after": cursor}
        return await self._send(headers, query, variables, "webhookDeliveries")

    async def webhook_delivery(
        self, headers: dict[str, str], webhook_id: str, delivery_id: int
    ) -> Outcome:
        query = (
            "query($id: ID!, $d: Long!) { webhookDelivery(webhookId: $id, deliveryId: $d) {"
            f" ... on WebhookDeliveryDetail {{ delivery {{ {_DELIVERY} }} event"
            f" attempts {{ n at durationMs statusCode error response }} }} {_ERROR} }} }}"
        )
        variables = {"id": webhook_id, "d": delivery_id}
        return await self._send(headers, query, variables, "webhookDelivery")

    async def webhook_redeliver(
        self, headers: dict[str, str], webhook_id: str, delivery_id: int, key: str | None = None
    ) -> Outcome:
        query = (
            "mutation($id: ID!, $d: Long!, $key: String) {"
            " redeliverWebhook(webhookId: $id, deliveryId: $d, idempotencyKey: $key) {"
            f" ... on WebhookDelivery {{ {_DELIVERY} }} {_ERROR} }} }}"
        )
        variables = {"id": webhook_id, "d": delivery_id, "key": key}
        return await self._send(headers, query, variables, "redeliverWebhook")
