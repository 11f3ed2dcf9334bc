"""GraphQL at ``/graphql`` (strawberry): the same operations as REST.

Expected failures are results, not exceptions: every field returns a union of its
success type and the error types, all of which implement the ``Error`` interface
(``code``, ``message``, ``retryable``) with the same stable codes as the REST problem
details. Money amounts use the ``MinorUnits`` scalar: integers beyond GraphQL's 32-bit
``Int``, never floats. The resolvers live beside their types (``money``, ``catalogue``);
this module assembles them into one schema.
"""

from __future__ import annotations

import json
import logging
from typing import Any

import strawberry
from aiohttp import web
from cross_web import HTTPException
from graphql import GraphQLError
from strawberry.aiohttp.views import GraphQLView
from strawberry.extensions import MaxAliasesLimiter, MaxTokensLimiter, QueryDepthLimiter
from strawberry.schema.config import StrawberryConfig
from strawberry.types import ExecutionContext

from edge.graphql import (
    bulk,
    catalogue,
    clients,
    cost,
    funding,
    history,
    money,
    orders,
    reports,
    vouchers,
)
from edge.graphql import people as persons
from edge.graphql import tenant_config as config
from edge.graphql import webhooks as hooks
from edge.graphql.common import LONG, MINOR_UNITS, Long, MinorUnits
from edge.problems import problem
from edge.validation import IDEMPOTENCY_KEY


@strawberry.type
class Query:
    budget: money.BudgetResult = strawberry.field(
        resolver=money.get_budget, description="A budget of the caller's tenant."
    )
    budgets: money.BudgetListResult = strawberry.field(
        resolver=money.list_budgets,
        description=(
            "The tenant's budgets by id, a page at a time (`first`, `after`); those its "
            "grants name for a narrowed principal."
        ),
    )
    wallet: money.WalletResult = strawberry.field(
        resolver=money.get_wallet,
        description="A person's point wallet (zero points if never rewarded).",
    )
    events: money.EventPageResult = strawberry.field(
        resolver=money.get_events,
        description="The tenant's events after a stream sequence (replay from any point).",
    )
    funding_account: money.FundingResult = strawberry.field(
        resolver=money.get_funding, description="A funding account of the tenant."
    )
    funding_accounts: funding.FundingAccountListResult = strawberry.field(
        resolver=funding.list_funding,
        description="The tenant's funding accounts by id, a page at a time (`funding:read`).",
    )
    funding_account_history: funding.FundingHistoryResult = strawberry.field(
        resolver=funding.funding_history,
        description=(
            "A funding account's deposits and allocations, newest first, each with the "
            "balance after it (`funding:read`)."
        ),
    )
    fx_rates: money.FxResult = strawberry.field(
        resolver=money.get_fx_rates, description="The tenant's exchange rates."
    )
    audit_log: clients.AuditPageResult = strawberry.field(
        resolver=clients.read_audit,
        description="The tenant's hash-chained audit log, after an entry number.",
    )
    daily_report: reports.DailyReportResult = strawberry.field(
        resolver=reports.daily_report,
        description="The tenant's orders, rewards and money movements per UTC day (warehouse).",
    )
    top_products: reports.TopProductsResult = strawberry.field(
        resolver=reports.top_products,
        description="The products most ordered (fulfilled) in a range of days (warehouse).",
    )
    api_clients: clients.ApiClientsResult = strawberry.field(
        resolver=clients.list_clients, description="The tenant's OAuth2 clients (no secrets)."
    )
    points_rate: money.PointsRateResult = strawberry.field(
        resolver=money.get_points_rate, description="What the tenant's points are worth."
    )
    people: persons.PeopleResult = strawberry.field(
        resolver=persons.list_people, description="The tenant's people (no passwords)."
    )
    person: persons.PersonResult = strawberry.field(
        resolver=persons.get_person,
        description="A person: one's own record, or anyone's for owners and admins.",
    )
    products: catalogue.ProductPageResult = strawberry.field(
        resolver=catalogue.list_products,
        description=(
            "The tenant's catalogue: filter, search (typo tolerant, by relevance), facets, pages."
        ),
    )
    product: catalogue.ProductResult = strawberry.field(
        resolver=catalogue.get_product, description="One product, in a locale."
    )
    catalogue_export: catalogue.CatalogueExportResult = strawberry.field(
        resolver=catalogue.export_catalogue,
        description=(
            "The tenant's whole catalogue as curated (disabled products included), by id; "
            "for admins."
        ),
    )
    order: orders.OrderResult = strawberry.field(
        resolver=orders.get_order, description="An order and where its saga stands."
    )
    order_list: history.OrderListResult = strawberry.field(
        resolver=history.list_orders,
        name="orders",
        description=(
            "Orders newest first: an end user's own; the tenant's (or one recipient's) "
            "for staff, narrowed by grants."
        ),
    )
    wallet_history: history.WalletHistoryResult = strawberry.field(
        resolver=history.wallet_history,
        description=("A wallet's movements newest first: rewards received, redemptions, refunds."),
    )
    order_vouchers: orders.OrderVouchersResult = strawberry.field(
        resolver=orders.get_order_vouchers,
        description="An order's voucher codes in clear: for its recipient and staff only.",
    )
    bulk_job: bulk.BulkJobResult = strawberry.field(
        resolver=bulk.get_bulk, description="A bulk rewards job and its progress."
    )
    bulk_jobs: bulk.BulkJobListResult = strawberry.field(
        resolver=bulk.list_bulk,
        description=(
            "The tenant's bulk jobs and campaigns, newest first, of one status "
            "(loading, scheduled, running, done, cancelled) or all."
        ),
    )
    bulk_results: bulk.BulkResultsResult = strawberry.field(
        resolver=bulk.get_bulk_results,
        description="Per-row results of a bulk job, 10,000 rows a page from offset.",
    )
    voucher_pool: vouchers.PoolResult = strawberry.field(
        resolver=vouchers.get_pool, description="The stock of a pool (product, face value)."
    )
    voucher_pools: vouchers.PoolListResult = strawberry.field(
        resolver=vouchers.list_pools,
        description=(
            "The tenant's voucher pools and their stock, by product and face value, a page "
            "at a time (`first`, `after`)."
        ),
    )
    tenant_config: config.TenantConfigResult = strawberry.field(
        resolver=config.get_tenant_config,
        description=(
            "A configuration document (branding, locales, programme, email-templates) and "
            "its revision; a past one with `revision`."
        ),
    )
    tenant_config_revisions: config.TenantConfigRevisionsResult = strawberry.field(
        resolver=config.list_tenant_config_revisions,
        description="Every revision of a configuration document, newest first.",
    )
    webhooks: hooks.WebhooksResult = strawberry.field(
        resolver=hooks.list_webhooks,
        description="The tenant's webhook endpoints (no secrets).",
    )
    webhook: hooks.WebhookResult = strawberry.field(
        resolver=hooks.get_webhook, description="A webhook endpoint of the tenant's."
    )
    webhook_deliveries: hooks.WebhookDeliveryListResult = strawberry.field(
        resolver=hooks.list_deliveries,
        description=(
            "An endpoint's deliveries newest first, by status, a page at a time (`first`, `after`)."
        ),
    )
    webhook_delivery: hooks.WebhookDeliveryDetailResult = strawberry.field(
        resolver=hooks.get_delivery,
        description="A delivery of an endpoint's: each attempt, and the event it carries.",
    )


@strawberry.type
class Mutation:
    create_budget: money.BudgetResult = strawberry.mutation(
        resolver=money.create_budget,
        description="Open a budget funded from the tenant's funding account.",
    )
    update_budget: money.BudgetResult = strawberry.mutation(
        resolver=money.update_budget,
        description=(
            "Rename a budget, change its cap or low-balance threshold (null: unchanged, 0: none)."
        ),
    )
    debit_budget: money.DebitResult = strawberry.mutation(
        resolver=money.debit_budget,
        description="Debit a budget; never takes the balance below zero.",
    )
    issue_points: money.RewardResult = strawberry.mutation(
        resolver=money.issue_points, description="Reward a person with points paid from a budget."
    )
    open_funding_account: money.FundingResult = strawberry.mutation(
        resolver=money.open_funding, description="Open a funding account in a currency."
    )
    deposit: money.FundingResult = strawberry.mutation(
        resolver=money.deposit, description="Record money the tenant paid in."
    )
    allocate_budget: money.AllocationResult = strawberry.mutation(
        resolver=money.allocate,
        description="Move money from a funding account to a budget, within its cap.",
    )
    set_fx_rate: money.FxResult = strawberry.mutation(
        resolver=money.set_fx_rate,
        description="One base unit buys `rate` quote units; locked into orders that use it.",
    )
    create_api_client: clients.ApiClientResult = strawberry.mutation(
        resolver=clients.create_client,
        description="An OAuth2 client for a system of the tenant's; its secret is shown once.",
    )
    rotate_api_client_secret: clients.ApiClientResult = strawberry.mutation(
        resolver=clients.rotate_secret,
        description="A new secret for the client (shown once); the old one stops working.",
    )
    revoke_api_client: clients.ApiClientResult = strawberry.mutation(
        resolver=clients.revoke, description="The client gets no more tokens."
    )
    create_person: persons.PersonResult = strawberry.mutation(
        resolver=persons.create_person,
        description="Add a person; only an owner makes an owner. Grants narrow the roles.",
    )
    update_person: persons.PersonResult = strawberry.mutation(
        resolver=persons.update_person,
        description="Change a person's name, roles, grants or status (disabled ends sessions).",
    )
    send_password_link: persons.PasswordLinkResult = strawberry.mutation(
        resolver=persons.send_password_link,
        description=(
            "Email a person a link to choose a password: an invitation if they have none, "
            "else a reset."
        ),
    )
    issue_nats_credentials: clients.NatsCredentialsResult = strawberry.mutation(
        resolver=clients.issue_nats_credentials,
        description=(
            "NATS credentials (shown once) that may subscribe to the tenant's events only,"
            " publish nothing, and expire."
        ),
    )
    set_points_rate: money.PointsRateResult = strawberry.mutation(
        resolver=money.set_points_rate,
        description=(
            "pointsPerUnit points to one unit of currency; fixed once points are issued,"
            " locked into each points order."
        ),
    )
    curate_product: catalogue.ProductResult = strawberry.mutation(
        resolver=catalogue.curate_product,
        description="Enable or disable a product for the tenant, set its markup.",
    )
    add_custom_product: catalogue.ProductResult = strawberry.mutation(
        resolver=catalogue.add_custom_product, description="Add a product of the tenant's own."
    )
    place_order: orders.OrderResult = strawberry.mutation(
        resolver=orders.place_order,
        description=(
            "Redeem points (no budgetId: the recipient pays) or order a gift card for a "
            "recipient from a budget. Send an idempotencyKey: a retry finds the same order."
        ),
    )
    start_bulk_rewards: bulk.BulkJobResult = strawberry.mutation(
        resolver=bulk.start_bulk,
        description=(
            "Reward up to 100,000 people from a budget (CSV person_id,points[,memo]), now "
            "or from startAt (RFC 3339), optionally named: a campaign."
        ),
    )
    reschedule_bulk_job: bulk.BulkJobResult = strawberry.mutation(
        resolver=bulk.reschedule_bulk,
        description="Move a scheduled bulk job to another time; no startAt starts it now.",
    )
    cancel_bulk_job: bulk.BulkJobResult = strawberry.mutation(
        resolver=bulk.cancel_bulk,
        description="Cancel a scheduled bulk job before it starts: no row is carried out.",
    )
    cancel_order: orders.OrderResult = strawberry.mutation(
        resolver=orders.cancel_order,
        description="Staff: within the window, void an order's code and refund it.",
    )
    review_order: orders.OrderResult = strawberry.mutation(
        resolver=orders.review_order,
        description=(
            "Reviewers: approve (carried out) or reject (points back) an order held for review."
        ),
    )
    resend_order: orders.OrderResult = strawberry.mutation(
        resolver=orders.resend_order, description="Send a fulfilled order's delivery again."
    )
    import_voucher_codes: vouchers.ImportResult = strawberry.mutation(
        resolver=vouchers.import_codes,
        description="Add a supplier's codes (CSV) to a pool; each row is reported on.",
    )
    generate_voucher_codes: vouchers.ImportResult = strawberry.mutation(
        resolver=vouchers.generate_codes,
        description="Issue closed-loop codes of the tenant's own into a pool.",
    )
    put_tenant_config: config.TenantConfigResult = strawberry.mutation(
        resolver=config.put_tenant_config,
        description=(
            "Replace a configuration document over the revision read (expectedRevision; "
            "null creates it). A stale revision is a Conflict (stale_revision): nothing "
            "changes."
        ),
    )
    create_webhook: hooks.WebhookResult = strawberry.mutation(
        resolver=hooks.create_webhook,
        description=(
            "An endpoint the tenant's events are sent to, signed (Standard Webhooks); its "
            "secret is shown once."
        ),
    )
    update_webhook: hooks.WebhookResult = strawberry.mutation(
        resolver=hooks.update_webhook,
        description=(
            "Change an endpoint's URL, event types, description or whether it is enabled "
            "(disabling it cancels its pending deliveries)."
        ),
    )
    delete_webhook: hooks.WebhookResult = strawberry.mutation(
        resolver=hooks.delete_webhook,
        description="Remove an endpoint; its pending deliveries are cancelled.",
    )
    rotate_webhook_secret: hooks.WebhookResult = strawberry.mutation(
        resolver=hooks.rotate_secret,
        description=(
            "A new secret (shown once); the old one goes on signing beside it for "
            "keepOldS seconds (0: stops at once)."
        ),
    )
    test_webhook: hooks.WebhookDeliveryResult = strawberry.mutation(
        resolver=hooks.send_test,
        description=(
            "Send a perkbus.webhook.test event to an endpoint, delivered like any other "
            "(with an idempotencyKey, once)."
        ),
    )
    redeliver_webhook: hooks.WebhookDeliveryResult = strawberry.mutation(
        resolver=hooks.redeliver,
        description=(
            "Send one of an endpoint's deliveries again, now (with an idempotencyKey, once)."
        ),
    )


log = logging.getLogger(__name__)

#: Limits on what one GraphQL document may ask: how deep it nests, how many aliases (each a
#: repeated field: the usual way to multiply a query's cost) and how many tokens.
MAX_DEPTH, MAX_ALIASES, MAX_TOKENS = 10, 15, 5000


class _Schema(strawberry.Schema):
    def process_errors(
        self, errors: list[GraphQLError], execution_context: ExecutionContext | None = None
    ) -> None:
        """A caller's mistakes (syntax, validation, limits) are theirs: logged at INFO,
        one line, without their document (which could forge log lines). An exception
        no one foresaw is ours: ERROR, with its traceback."""
        for error in errors:
            original = error.original_error
            if original is None or isinstance(original, GraphQLError):
                log.info("graphql: refused: %r", error.message[:200])
            else:
                log.error("graphql: %s failed", error.path, exc_info=original)


schema = _Schema(
    query=Query,
    mutation=Mutation,
    config=StrawberryConfig(scalar_map={MinorUnits: MINOR_UNITS, Long: LONG}),
    extensions=[
        lambda: QueryDepthLimiter(max_depth=MAX_DEPTH),
        lambda: MaxAliasesLimiter(max_alias_count=MAX_ALIASES),
        lambda: MaxTokensLimiter(max_token_count=MAX_TOKENS),
    ],
)


#: strawberry's refusals, as problem codes (it answers 404 and 405 only for GET, which
#: the route does not take, but should that change they keep their meaning).
_CODES = {400: "malformed_body", 404: "not_found", 405: "method_not_allowed"}


class View(GraphQLView[dict[str, Any], None]):
    async def get_context(
        self, request: web.Request, response: web.Response | web.WebSocketResponse
    ) -> dict[str, Any]:
        return {"request": request, "response": response}

    async def __call__(self, request: web.Request) -> web.StreamResponse:
        """A request strawberry cannot read (not JSON, not an object, a batch, another
        media type) is refused with problem details like any other, not plain text."""
        if request.content_type != cost.JSON:  # what strawberry and the rate charge read alike
            detail = "send application/json"
            return problem(415, "unsupported_media_type", detail, instance=request.path)
        mutation, fields = await cost.shape(request) or (False, 0)
        if (refused := _header_refusal(request, mutation, fields)) is not None:
            return refused
        if (limited := await cost.refusal(request, fields)) is not None:
            return limited
        try:
            return await self.run(request=request)
        except HTTPException as e:  # strawberry's own, from its cross-web dependency
            if e.reason == "Unsupported content type":
                detail = "send application/json"
                return problem(415, "unsupported_media_type", detail, instance=request.path)
            code = _CODES.get(e.status_code, "invalid_request")
            return problem(e.status_code, code, e.reason, instance=request.path)

    def decode_json(self, data: str | bytes) -> object:
        try:
            decoded = json.loads(data)
        except ValueError as e:
            # Not only JSONDecodeError: an integer of more than 4,300 digits is a plain
            # ValueError, which strawberry would let through as an internal error.
            raise HTTPException(400, "Unable to parse request body as JSON") from e
        except RecursionError as e:  # arrays or objects nested thousands deep
            raise HTTPException(400, "The request body is nested too deep") from e
        if not isinstance(decoded, dict | list):  # strawberry would call .get on it
            raise HTTPException(400, "A GraphQL request is a JSON object")
        return decoded


def _header_refusal(request: web.Request, mutation: bool, fields: int) -> web.Response | None:
    """An ``Idempotency-Key`` header as REST takes it (1 to 255 visible ASCII
    characters), naming the document's one mutation (resolvers take it as their key)."""
    header = request.headers.get("Idempotency-Key")
    if header is None:
        return None
    why = None
    if not IDEMPOTENCY_KEY.fullmatch(header):
        why = "Idempotency-Key must be 1 to 255 visible ASCII characters"
    elif mutation and fields > 1:
        why = (
            "the Idempotency-Key header names one mutation: in a document of several, give"
            " each its idempotencyKey argument"
        )
    if why is None:
        return None
    errors = [{"header": "Idempotency-Key", "detail": why}]
    return problem(400, "invalid_request", why, errors=errors, instance=request.path)


def view() -> View:
    return View(schema=schema, graphql_ide=None, allow_queries_via_get=False)
