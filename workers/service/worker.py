"""A worker: store, repositories, ingestor, broker and subscribers, and its start and stop."""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field

from faststream.exceptions import IncorrectState
from faststream.nats import NatsBroker
from nats.errors import Error as NatsError

from events.subjects import FAMILIES, STREAM_EVENTS
from workers.config import Config
from workers.ingest.ingestor import Ingestor
from workers.ingest.pool import PreparePool
from workers.nats.broker import make_broker
from workers.nats.connection import credentials_refused
from workers.nats.pending import poll_pending
from workers.nats.streams import ensure_streams
from workers.nats.subscribers import BatchConsumer, durable_name, subscribe_all
from workers.observability.health import Check, nats_check, started_check, store_check
from workers.observability.metrics import Metrics
from workers.service.wiring import key_root, open_configured_store, repositories
from workers.store import Store
from workers.store.sqlite import SqliteStore
from workers.tasks import cancel_and_wait, finish_within

log = logging.getLogger(__name__)

STARTING = "starting: streams and durable consumers not set up yet"


@dataclass
class Worker:
    settings: Config
    store: Store
    broker: NatsBroker
    ingestor: Ingestor
    consumer: BatchConsumer
    metrics: Metrics
    consuming: bool = False  # streams and durables set up, fetch loops running (/readyz)
    _poller: asyncio.Task[None] | None = field(default=None, repr=False)

    def readiness_checks(self) -> dict[str, Check]:
        """What this worker's /readyz checks, by name: NATS answers, the store answers a read,
        and the streams and durables are set up (a connected NATS is not enough: a producer
        that waits for /readyz must find stream EVENTS). One place, so the process and its
        tests check the same things."""
        return {
            "nats": nats_check(self.broker, self.settings.nats_url),
            "store": store_check(self.store),
            "consumers": started_check(lambda: self.consuming, STARTING),
        }

    async def start(self) -> None:
        try:
            await self.broker.connect()
        except NatsError as e:
            raise credentials_refused(self.settings.nats_url, e) or e from None
        js = self.broker.config.connection_state.stream
        for note in await ensure_streams(js, self.settings):
            log.info(note)
        await self.broker.start()
        durables = [durable_name(f.name) for f in FAMILIES]
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
        if not await self._close_connection(max(1.0, left())):
            log.warning("the NATS connection did not close in time; unflushed acks redeliver")
        if self.ingestor.pool is not None:
            await self.ingestor.pool.close()
        await self.store.close()
        log.info(
            "worker stopped: %s",
            f"{unacked} messages left for redelivery" if unacked else "every batch in hand acked",
            extra={"unacked": unacked},
        )

    async def _close_connection(self, timeout: float) -> bool:
        """Drain and close the NATS connection; whether it was done in time. A connection that
        is down cannot drain (nats-py raises): NATS may stop first, as when Ctrl-C signals the
        terminal's whole process group, `run`'s nats-server included. Then the client is closed
        as it is, so the worker still closes its store and exits 0 (unflushed acks redeliver)."""
        try:
            return await finish_within(self.broker.stop(), timeout)
        except NatsError as e:
            log.warning("NATS is gone (%r): acks not flushed are redelivered", e)
        try:
            client = self.broker.config.connection_state.connection
        except IncorrectState:  # never connected
            return True
        return await finish_within(client.close(), timeout)


def build_worker(
    settings: Config, store: Store | None = None, metrics: Metrics | None = None
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
