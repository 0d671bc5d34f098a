"""Process lifecycles: `run` (the whole system on one machine), `worker`, `scheduler`.

Ctrl-C or SIGTERM sets one stop event; each part finishes what it holds and stops, within
SHUTDOWN_GRACE_S. A second signal exits at once (what is unacked is redelivered). Each process
serves /metrics, /healthz and /readyz on METRICS_PORT while it runs.
"""

from __future__ import annotations

import asyncio
import logging
import os
import signal
from collections.abc import Callable, Coroutine
from typing import Any
from urllib.parse import urlparse

from pydantic import SecretStr

from workers.config import Config, ConfigError
from workers.nats.local_server import LocalNatsServer, reachable
from workers.nats.tenancy import Registry, TenancyError, as_workers, reload_server
from workers.observability.endpoint import Observability
from workers.observability.health import (
    Check,
    all_of,
    connected_check,
    started_check,
    store_check,
)
from workers.service.wiring import open_configured_store, repositories
from workers.service.worker import build_worker, run_until_stopped
from workers.tasks import cancel_and_wait

log = logging.getLogger(__name__)

Part = Callable[[Config, asyncio.Event, Observability], Coroutine[Any, Any, None]]

STOP_MARGIN_S = 5.0  # beyond the grace, for closing connections and files


def stop_on_signals(stop: asyncio.Event) -> None:
    loop = asyncio.get_running_loop()

    def on_signal(sig: signal.Signals) -> None:
        if stop.is_set():
            log.warning("%s again: exiting now; unacked messages are redelivered", sig.name)
            os._exit(128 + sig.value)
        log.info("%s: finishing the batches in hand, then exiting", sig.name)
        stop.set()

    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, on_signal, sig)


async def run_workers(settings: Config, stop: asyncio.Event, obs: Observability) -> None:
    worker = build_worker(settings, metrics=obs.metrics)
    for name, check in worker.readiness_checks().items():
        obs.health.add(name, check)
    log.info("workers consuming from %s into %s", settings.nats_url, settings.store_url)
    await run_until_stopped(worker, stop)


async def run_scheduler_part(settings: Config, stop: asyncio.Event, obs: Observability) -> None:
    from workers.jobs.scheduler import run_scheduler

    store = open_configured_store(settings)
    obs.health.add("scheduler", store_check(store))
    try:
        await run_scheduler(
            settings, stop, store=store, repos=repositories(settings), metrics=obs.metrics
        )
    finally:
        await store.close()


async def run_reads_part(settings: Config, stop: asyncio.Event, obs: Observability) -> None:
    """The reads service, on a NATS connection and a store of its own (never the workers')."""
    import nats
    from nats.errors import Error as NatsError

    from workers.nats.broker import nats_connect_options
    from workers.nats.connection import credentials_refused
    from workers.reads.service import ReadService

    store = open_configured_store(settings)
    serving = asyncio.Event()
    checks: list[Check] = [
        started_check(serving.is_set, "reads service starting"),
        store_check(store),
    ]
    obs.health.add("reads", all_of(checks))  # one name: `run` has the workers' nats and store
    try:
        try:
            nc = await nats.connect(
                settings.nats_url, max_reconnect_attempts=-1, **nats_connect_options(settings)
            )
        except (OSError, TimeoutError, NatsError) as e:
            refused = credentials_refused(settings.nats_url, e)
            raise refused or ConnectionError(f"cannot reach NATS at {settings.nats_url}") from None
        service = ReadService(settings, store, repositories(settings))
        checks.append(connected_check(nc, settings.nats_url))
        try:
            await service.start(nc)
            serving.set()
            log.info("reads service answering on %s.> from %s", "reads", settings.store_url)
            await stop.wait()
        finally:
            await service.stop()
            await nc.drain()
    finally:
        await store.close()


async def run_watcher_part(settings: Config, stop: asyncio.Event, obs: Observability) -> None:
    """The file-monitor on WATCH_DIR: ready once its first scan is published."""
    from workers.watch.runner import build_watcher, target_from_settings, watch_until_stopped

    watcher = build_watcher(settings, target_from_settings(settings))
    scanned = asyncio.Event()
    obs.health.add("watcher", started_check(scanned.is_set, "first scan of WATCH_DIR under way"))
    log.info("watching %s", watcher.root)
    await watch_until_stopped(watcher, stop, scanned.set)


async def run_parts(settings: Config, parts: list[Part]) -> None:
    """Run the parts until a signal; if one fails, stop the others and re-raise."""
    stop = asyncio.Event()
    stop_on_signals(stop)
    obs = Observability(settings)
    obs.health.stopping = stop  # /readyz answers 503 from the signal on
    await obs.start()
    try:
        tasks = [asyncio.create_task(p(settings, stop, obs), name=p.__name__) for p in parts]
        done, _ = await asyncio.wait(tasks, return_when=asyncio.FIRST_EXCEPTION)
        stop.set()
        _, late = await asyncio.wait(tasks, timeout=settings.shutdown_grace_s + STOP_MARGIN_S)
        for task in late:
            log.error("%s did not stop within the grace period: cancelled", task.get_name())
        for task in await cancel_and_wait(late):
            log.error("%s ignored the cancellation: left behind", task.get_name())
    finally:
        await obs.stop()
    first = next((t.exception() for t in done if not t.cancelled() and t.exception()), None)
    errors = [e for t in tasks if t.done() and not t.cancelled() and (e := t.exception())]
    for error in errors:
        if error is not first:
            log.error("a part failed while stopping: %r", error, exc_info=error)
    if first is not None or errors:
        raise first or errors[0]


def multi_tenant_accounts(settings: Config) -> tuple[Config, Config | None]:
    """Multi-tenant `run`: the workers' settings (the WORKERS account's user unless NATS_USER
    says otherwise) and the watcher's, if WATCH_DIR is set: a producer of WATCH_TENANT, with
    one of its file-monitor credentials (issued on first use)."""
    registry = Registry(settings.data_dir)
    watcher = None
    if settings.watch_dir is not None:
        if settings.watch_tenant is None:
            raise ConfigError("WATCH_DIR needs WATCH_TENANT and WATCH_SESSION (UUIDs) as well")
        try:
            cred, issued = registry.file_monitor(settings.watch_tenant)
        except TenancyError as e:
            raise ConfigError(f"WATCH_TENANT: {e}") from None
        if issued:
            log.info("issued %s, the watcher's file-monitor credential", cred.user)
        watcher = settings.model_copy(
            update={"nats_user": cred.user, "nats_password": SecretStr(cred.password)}
        )
    workers = as_workers(settings, registry)
    registry.save()  # a first run makes the password: the server's configuration needs it
    if watcher is not None and issued:  # a local nats-server already running learns the user
        reload_server(LocalNatsServer.pid_file_in(settings.data_dir / "nats"))
    return workers, watcher


def start_local_nats(settings: Config) -> LocalNatsServer | None:
    """Start nats-server for `run` unless NATS_URL already answers."""
    if reachable(settings.nats_url):
        log.info("using the NATS server at %s", settings.nats_url)
        return None
    parsed = urlparse(settings.nats_url)
    if parsed.hostname not in ("127.0.0.1", "localhost"):
        raise ConnectionError(f"NATS_URL {settings.nats_url} is not reachable")
    # multi-tenant: the accounts `multi_tenant_accounts` saved, which `tenants …` keep current
    accounts = Registry(settings.data_dir).accounts_conf if settings.multi_tenant else None
    server = LocalNatsServer(
        settings.data_dir / "nats",
        port=parsed.port or 4222,
        binary=settings.nats_server_bin,
        accounts=accounts,
    )
    server.start()
    log.info("started nats-server on %s (JetStream data in %s)", server.url, server.data_dir)
    return server


async def run_system(settings: Config) -> None:
    watcher_settings = settings
    if settings.multi_tenant:
        settings, watcher = multi_tenant_accounts(settings)
        watcher_settings = watcher or settings
    server = await asyncio.to_thread(start_local_nats, settings)
    parts: list[Part] = [run_workers, run_reads_part]
    if settings.scheduler_enabled:
        parts.append(run_scheduler_part)
    if settings.watch_dir is not None:

        async def run_watcher(_: Config, stop: asyncio.Event, obs: Observability) -> None:
            await run_watcher_part(watcher_settings, stop, obs)

        parts.append(run_watcher)
    try:
        await run_parts(settings, parts)
    finally:
        if server is not None:
            await asyncio.to_thread(server.stop)
            log.info("nats-server stopped")
