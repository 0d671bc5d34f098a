"""Wiring: settings -> store, repositories, broker, subscribers. No logic of its own."""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass

from faststream.nats import NatsBroker

from workers.bootstrap import open_configured_store, repositories
from workers.consumer import BatchConsumer, subscribe_all
from workers.ingest import Ingestor
from workers.settings import Settings
from workers.store import Store
from workers.streams import ensure_streams

log = logging.getLogger(__name__)


def make_broker(settings: Settings) -> NatsBroker:
    # Per-message logs at DEBUG: FastStream's INFO line per message halves throughput. Its
    # logger also narrates every task it starts at INFO: quiet unless LOG_LEVEL=DEBUG.
    quiet = logging.getLogger("faststream")
    if quiet.level == logging.NOTSET and settings.log_level.upper() != "DEBUG":
        quiet.setLevel(logging.WARNING)
    return NatsBroker(
        settings.nats_url,
        log_level=logging.DEBUG,
        logger=logging.getLogger("faststream"),
        graceful_timeout=30.0,
    )


@dataclass
class Worker:
    settings: Settings
    store: Store
    broker: NatsBroker
    ingestor: Ingestor
    consumer: BatchConsumer

    async def start(self) -> None:
        await self.broker.connect()
        for note in await ensure_streams(self.broker.config.connection_state.stream, self.settings):
            log.info(note)
        await self.broker.start()

    async def stop(self) -> None:
        """Stop fetching, finish and commit the batches in hand, ack them, then close."""
        for subscriber in self.broker.subscribers:
            await subscriber.stop()
        await self.consumer.drain()  # acks need the connection: drain before closing it
        await self.broker.stop()
        await self.store.close()


def build_worker(settings: Settings, store: Store | None = None) -> Worker:
    store = store or open_configured_store(settings)
    broker = make_broker(settings)
    ingestor = Ingestor(store, repositories(settings))
    consumer = BatchConsumer(ingestor, broker, settings)
    subscribe_all(broker, consumer.handle, settings)
    return Worker(settings, store, broker, ingestor, consumer)


async def run_until_stopped(worker: Worker, stop: asyncio.Event) -> None:
    await worker.start()
    try:
        await stop.wait()
    finally:
        await worker.stop()
