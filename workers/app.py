"""Wiring: settings -> store, repositories, broker, subscribers. No logic of its own."""

from __future__ import annotations

import asyncio
import logging
import ssl
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlparse

from faststream.nats import NatsBroker
from faststream.nats.prometheus import NatsPrometheusMiddleware
from faststream.nats.security import (
    NatsCredentials,
    NatsSecurity,
    NatsToken,
    NatsUserPassword,
    parse_security,
)
from prometheus_client import CollectorRegistry

from events.subjects import STREAM_EVENTS
from workers.bootstrap import key_root, open_configured_store, repositories
from workers.consumer import FAMILIES, BatchConsumer, durable_name, subscribe_all
from workers.ingest import Ingestor
from workers.observability.logs import adopt_faststream_logger
from workers.observability.metrics import Metrics
from workers.observability.pending import poll_pending
from workers.prepare_pool import PreparePool
from workers.settings import Settings, SettingsError
from workers.store import Store
from workers.store.sqlite import SqliteStore
from workers.streams import ensure_streams
from workers.tasks import cancel_and_wait, finish_within

log = logging.getLogger(__name__)


def nats_tls(settings: Settings) -> ssl.SSLContext | None:
    """A TLS context when NATS_URL says tls:// or wss:// or a CA / client certificate is set."""
    secure_url = urlparse(settings.nats_url).scheme in ("tls", "wss")
    if not (secure_url or settings.nats_tls_ca or settings.nats_tls_cert):
        return None
    ca = settings.nats_tls_ca
    try:
        context = ssl.create_default_context(cafile=str(ca) if ca else None)
    except (ssl.SSLError, OSError) as e:
        raise SettingsError(f"NATS_TLS_CA={str(ca)!r}: not a usable CA bundle ({e})") from None
    if settings.nats_tls_cert and settings.nats_tls_key:
        try:
            context.load_cert_chain(settings.nats_tls_cert, settings.nats_tls_key)
        except (ssl.SSLError, OSError) as e:
            raise SettingsError(
                f"NATS_TLS_CERT={str(settings.nats_tls_cert)!r}, NATS_TLS_KEY="
                f"{str(settings.nats_tls_key)!r}: not a matching PEM certificate and key ({e})"
            ) from None
    return context


def nats_security(settings: Settings) -> NatsSecurity | None:
    """FastStream's security object for the configured credentials and TLS (None: neither)."""
    tls = nats_tls(settings)
    common: dict[str, Any] = {"ssl_context": tls, "use_ssl": tls is not None}
    if settings.nats_user:
        password = settings.nats_password.get_secret_value()
        return NatsUserPassword(settings.nats_user, password, **common)
    if token := settings.nats_token.get_secret_value():
        return NatsToken(token, **common)
    if settings.nats_creds_file is not None:
        return NatsCredentials.from_file(settings.nats_creds_file, **common)
    return NatsSecurity(**common) if tls is not None else None


def nats_connect_options(settings: Settings) -> dict[str, Any]:
    """`nats.connect(url, **options)` keyword arguments for the same credentials and TLS."""
    return parse_security(nats_security(settings))


def make_broker(settings: Settings, registry: CollectorRegistry | None = None) -> NatsBroker:
    """The broker; with a registry, FastStream's Prometheus middleware records into it."""
    # Per-message logs at DEBUG: FastStream's INFO line per message halves throughput. Its
    # logger also narrates every task it starts at INFO: quiet unless LOG_LEVEL=DEBUG.
    adopt_faststream_logger(settings.log_level)
    middlewares = (
        [NatsPrometheusMiddleware(registry=registry, app_name="workers")] if registry else []
    )
    return NatsBroker(
        settings.nats_url,
        log_level=logging.DEBUG,
        logger=logging.getLogger("faststream"),
        graceful_timeout=settings.shutdown_grace_s,
        security=nats_security(settings),
        max_reconnect_attempts=-1,  # a worker outlives a NATS outage; /readyz reports it
        middlewares=middlewares,
    )


@dataclass
class Worker:
    settings: Settings
    store: Store
    broker: NatsBroker
    ingestor: Ingestor
    consumer: BatchConsumer
    metrics: Metrics
    consuming: bool = False  # streams and durables set up, fetch loops running (/readyz)
    _poller: asyncio.Task[None] | None = field(default=None, repr=False)

    async def start(self) -> None:
        await self.broker.connect()
        js = self.broker.config.connection_state.stream
        for note in await ensure_streams(js, self.settings):
            log.info(note)
        await self.broker.start()
        durables = [durable_name(f) for f in FAMILIES]
        self._poller = asyncio.create_task(poll_pending(js, STREAM_EVENTS, durables, self.metrics))
        self.consuming = True

    async def stop(self) -> None:
        """Stop fetching, finish and commit the batches in hand, ack them, then close, all within
        SHUTDOWN_GRACE_S. Whatever is still unacked then is redelivered: nothing is lost."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.settings.shutdown_grace_s

        def left() -> float:
            return max(0.0, deadline - loop.time())

        self.consuming = False

        if self._poller is not None:
            await cancel_and_wait([self._poller])
        # each waits (up to the grace) for the batch it is handing over, then stops fetching
        stops = asyncio.gather(*(s.stop() for s in self.broker.subscribers))
        if not await finish_within(stops, left()):
            log.warning("the subscribers did not stop within the grace period")
        unacked = await self.consumer.drain(timeout=left())
        # acks need the connection: it is drained (acks flushed) only now
        if not await finish_within(self.broker.stop(), max(1.0, left())):
            log.warning("the NATS connection did not close in time; unflushed acks redeliver")
        if self.ingestor.pool is not None:
            await self.ingestor.pool.close()
        await self.store.close()
        log.info(
            "worker stopped: %s",
            f"{unacked} messages left for redelivery" if unacked else "every batch in hand acked",
            extra={"unacked": unacked},
        )


def build_worker(
    settings: Settings, store: Store | None = None, metrics: Metrics | None = None
) -> Worker:
    """A worker; `metrics` (default: its own) also gets FastStream's series unless
    METRICS_PORT=0."""
    store = store or open_configured_store(settings)
    metrics = metrics or Metrics()
    broker = make_broker(settings, metrics.registry if settings.metrics_port else None)
    repos = repositories(settings)
    pool = None
    if settings.prepare_processes and isinstance(store, SqliteStore):
        pool = PreparePool(store, key_root(settings), settings.prepare_processes)
    ingestor = Ingestor(store, repos, pool)
    # one batch in the writer, one being prepared by each process (or the reader thread)
    in_flight = 1 + (pool.processes if pool else 1)
    consumer = BatchConsumer(ingestor, broker, settings, in_flight=in_flight, metrics=metrics)
    subscribe_all(broker, consumer.handle, settings)
    return Worker(settings, store, broker, ingestor, consumer, metrics)


async def run_until_stopped(worker: Worker, stop: asyncio.Event) -> None:
    await worker.start()
    try:
        await stop.wait()
    finally:
        await worker.stop()
