"""The process roles, each run until ``stop`` is set: an actor host, an edge, the
warehouse (its loader and its reports, one process: ADR 26) and the webhook relay
(ADR 37)."""

from __future__ import annotations

import asyncio
import logging
import os
import socket
from pathlib import Path

from aiohttp import web

from actors.kinds import ALL_KINDS
from actors.mail_transport import transport_for
from actors.mailer import Mailer
from actors.reports import ReportService
from actors.runtime.actor import ActorContext
from actors.runtime.host import ActorHost
from actors.runtime.warehouse_loader import WarehouseLoader
from actors.sealing import MasterKey
from actors.search_indexer import SearchIndexer
from actors.webhook_relay import WebhookRelay
from bus import tls as nats_tls
from bus.client import Bus
from bus.nats_auth import UserIssuer
from edge import listening
from edge.app import create_app, tls_context
from edge.auth import TokenVerifier
from perkbus.gc_tuning import tune_gc
from perkbus.settings import Settings, app_url
from perkbus.tokens import NoMasterKey, master_key
from storage.catalogue_cache import PlatformCatalogue
from storage.factory import (
    open_catalogue,
    open_ledger,
    open_search,
    open_tenant_docs,
    open_warehouse,
    open_webhook_store,
)
from storage.redis_cache import RedisCache, open_redis
from storage.redis_limiter import RedisLimiter

log = logging.getLogger(__name__)


def require_nats_url(settings: Settings) -> str:
    if not settings.nats.url:
        raise SystemExit("set PERKBUS_NATS_URL (or run `perkbus up`, which embeds NATS)")
    return settings.nats.url


def host_master_key(settings: Settings) -> MasterKey:
    """The installation's master key. Beside a shared (MySQL) ledger an actor host never
    makes one: hosts with keys of their own would seal what the others cannot open."""
    security = settings.security
    try:
        return MasterKey(
            master_key(security.master_key, security.master_key_file, create=not settings.mysql.url)
        )
    except NoMasterKey as e:
        raise SystemExit(f"perkbus: {e}") from None


def require_public_key(path: str) -> None:
    if not Path(path).is_file():
        raise SystemExit(
            f"perkbus: no public key to verify access tokens with at {path}: set"
            " PERKBUS_EDGE_JWT_PUBLIC_KEY_FILE to the signer's public key (`perkbus up` makes a"
            " key pair in var/keys)"
        )


async def run_actors(settings: Settings, stop: asyncio.Event) -> None:
    key = host_master_key(settings)  # before anything starts
    credentials = settings.nats.credentials_file
    tls = nats_tls.for_config(settings.nats)
    bus = await Bus.connect(require_nats_url(settings), "perkbus-actors", credentials, tls)
    ledger = open_ledger(settings.mysql, settings.sqlite)
    catalogue = open_catalogue(settings.catalogue)
    tenant_docs = open_tenant_docs(settings.tenantdocs)
    search = open_search(settings.search)
    host = ActorHost(
        bus,
        ActorContext(
            ledger,
            catalogue,
            PlatformCatalogue(catalogue),
            key,
            points_currency=settings.actors.points_currency,
            cancel_window_s=settings.actors.order_cancel_window_s,
            expiry_warning_days=settings.actors.voucher_expiry_warning_days,
            low_stock=settings.actors.voucher_low_stock,
            nats_users=UserIssuer.from_directory(settings.nats.auth_dir),
            search=search,
            stores=(search, tenant_docs),
            tenant_docs=tenant_docs,
            webhook_private_targets=settings.webhooks.private_targets,
        ),
        ALL_KINDS,
        settings.actors,
        partitions=settings.nats.partitions,
        duplicate_window_s=settings.nats.duplicate_window_s,
        stream_replicas=settings.nats.stream_replicas,
    )
    # Keeps the search index in step (ADR 24); it creates the index itself, retrying
    # while the search server is away (searches are answered in memory meanwhile).
    # Pages of search hits an edge cached before the index caught up are dropped then.
    indexer = SearchIndexer(
        search,
        catalogue,
        ledger,
        bus.js,
        on_indexed=host.catalogue_changed,
        burst_events_per_s=settings.search.burst_events_per_s,
        burst_lag_s=settings.search.burst_lag_s,
    )
    try:
        await host.start()
        indexer.start()
        tune_gc()
        log.info("actor host ready (%s, %s)", ledger.name, search.name)
        await stop.wait()
        log.info("actor host stopping")
        await indexer.stop()
        await host.stop()
    finally:
        await bus.close()
        await ledger.close()
        await catalogue.close()
        await tenant_docs.close()
        await search.close()


async def run_edge(settings: Settings, stop: asyncio.Event) -> None:
    config = settings.edge
    nats_url = require_nats_url(settings)
    require_public_key(config.jwt_public_key_file)
    verifier = TokenVerifier.from_file(
        config.jwt_public_key_file, config.jwt_issuer, config.jwt_audience
    )
    # One Redis client for the process: rate-limit buckets and the cache share it.
    redis = open_redis(settings.redis.url) if settings.redis.url else None
    app = create_app(
        config,
        nats_url,
        verifier,
        RedisLimiter(redis, prefix=f"{settings.redis.prefix}rl:") if redis is not None else None,
        nats_credentials=settings.nats.credentials_file,
        nats_tls=nats_tls.for_config(settings.nats),
        shared_cache=(
            RedisCache(redis, prefix=f"{settings.redis.prefix}c:") if redis is not None else None
        ),
    )
    runner = web.AppRunner(app, access_log=None, handle_signals=False)
    await runner.setup()
    tls = tls_context(config)
    site = listening.site(runner, config, tls)
    try:
        await site.start()
    except OSError as e:
        await runner.cleanup()
        raise SystemExit(
            f"perkbus edge: cannot listen on {config.host}:{config.port} ({e.strerror}); "
            "set PERKBUS_EDGE_PORT to a free port"
        ) from e
    scheme = "https" if tls else "http"
    tune_gc()
    log.info("edge listening on %s://%s:%d", scheme, config.host, config.port)
    if config.ready_file:
        await asyncio.to_thread(Path(config.ready_file).touch)
    try:
        await stop.wait()
    finally:
        await runner.cleanup()
        if config.ready_file:  # no longer listening
            await asyncio.to_thread(Path(config.ready_file).unlink, missing_ok=True)
        if redis is not None:
            await redis.aclose()


async def run_warehouse(settings: Settings, stop: asyncio.Event) -> None:
    """The warehouse's one writer (DuckDB allows one process; a second loader would only
    lose the race for each batch) and the answers to report requests. A warehouse that
    is down at start is waited for: the loader retries, the reports say unavailable."""
    tls = nats_tls.for_config(settings.nats)
    credentials = settings.nats.credentials_file
    bus = await Bus.connect(require_nats_url(settings), "perkbus-warehouse", credentials, tls)
    warehouse = open_warehouse(settings.warehouse)
    if settings.warehouse.nice > 0:
        os.nice(settings.warehouse.nice)  # reports wait; redemptions do not
    loader = WarehouseLoader(
        bus.js,
        warehouse,
        batch_max=settings.warehouse.batch_max,
        batch_interval_s=settings.warehouse.batch_interval_s,
        burst_events_per_s=settings.warehouse.burst_events_per_s,
        burst_lag_s=settings.warehouse.burst_lag_s,
    )
    reports = ReportService(bus.nc, warehouse)
    try:
        await reports.start()
        loader.start()
        log.info("warehouse ready (%s)", warehouse.name)
        await stop.wait()
        log.info("warehouse stopping")
        await reports.stop()
        await loader.stop()
    finally:
        await bus.close()
        await warehouse.close()


async def run_webhooks(settings: Settings, stop: asyncio.Event) -> None:
    """The webhook relay: fans events out to endpoints, sends and retries the deliveries,
    and answers requests about them; beside it, the mailer (ADR 41). One per
    installation (its fan-out keeps its place in its store; a second would only race
    it). It holds no master key: the actor host gives it each endpoint's secret (ADR 37)."""
    config = settings.webhooks
    tls = nats_tls.for_config(settings.nats)
    credentials = settings.nats.credentials_file
    bus = await Bus.connect(require_nats_url(settings), "perkbus-webhooks", credentials, tls)
    store = open_webhook_store(config, settings.mysql)
    if config.nice > 0:
        os.nice(config.nice)  # deliveries wait; redemptions do not
    relay = WebhookRelay(
        bus,
        store,
        config.retry_schedule_s,
        config.private_targets,
        timeout_s=config.timeout_s,
        concurrency=config.concurrency,
        retention_days=config.retention_days,
        burst_events_per_s=config.burst_events_per_s,
        burst_lag_s=config.burst_lag_s,
        disable_failing=config.disable_failing,
    )
    mailer = mail_from(settings, bus)
    try:
        await relay.start()
        log.info("webhook relay ready (%s)", store.name)
        if mailer is not None:
            mailer.start()
            process = f"mail-{socket.gethostname()}-{os.getpid()}"
            metrics = await bus.answer_metrics("mail", process, mailer.metrics)
            log.info("mailer ready (%s)", mailer.transport.name)
        await stop.wait()
        log.info("webhook relay stopping")
        if mailer is not None:
            await metrics.unsubscribe()
            await mailer.stop()  # emails not started go back at once
        await relay.stop()
    finally:
        await bus.close()
        await store.close()


def mail_from(settings: Settings, bus: Bus) -> Mailer | None:
    """The mailer ``perkbus webhooks`` runs beside the relay (ADR 41), unless mail is off."""
    mail = settings.mail
    if not mail.enabled:
        return None
    if mail.smtp_url and not (mail.app_url or settings.edge.public_url):
        # else its links would name this machine's own edge address (127.0.0.1:8080)
        raise SystemExit(
            "perkbus: emails sent through PERKBUS_MAIL_SMTP_URL link to the app: set"
            " PERKBUS_MAIL_APP_URL (or PERKBUS_EDGE_PUBLIC_URL) to its https address"
        )
    return Mailer(
        bus,
        transport_for(mail.smtp_url, mail.maildir, mail.timeout_s),
        mail.sender,
        app_url(settings),
        concurrency=mail.concurrency,
        burst_events_per_s=mail.burst_events_per_s,
        burst_lag_s=mail.burst_lag_s,
        smtp_timeout_s=mail.timeout_s,
    )
