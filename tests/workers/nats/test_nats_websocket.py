"""A worker reaches NATS over a websocket (NATS_URL=ws://…), as behind a proxy that passes only
HTTP: nats-py needs aiohttp for it (its `aiohttp` extra, which pyproject.toml asks for)."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import nats
import pytest

from tests.helpers import eventually
from tests.workers.ingest.events_factory import dumps, message_sent
from tests.workers.observability.obs_support import ConfiguredNats
from workers.config import Config
from workers.nats.local_server import free_port, reachable
from workers.service.worker import Worker, build_worker

CONNECT_DEADLINE_S = 30.0


@pytest.fixture
async def nats_with_websocket(tmp_path: Path) -> AsyncIterator[tuple[ConfiguredNats, int]]:
    """A nats-server (JetStream on) with its plain listener and a websocket listener, both on
    loopback; yields the server and the websocket port."""
    ws_port = free_port()
    server = ConfiguredNats(
        tmp_path / "nats", f'websocket {{ listen: "127.0.0.1:{ws_port}", no_tls: true }}\n'
    )
    try:
        await eventually(
            lambda: reachable(f"ws://127.0.0.1:{ws_port}", 0.2),
            timeout=15,
            what="the websocket listener",
        )
        yield server, ws_port
    finally:
        server.stop()


async def test_a_worker_consumes_over_a_ws_url(
    tmp_path: Path,
    nats_with_websocket: tuple[ConfiguredNats, int],
) -> None:
    server, ws_port = nats_with_websocket
    settings = Config(
        _env_file=None,  # type: ignore[call-arg]
        nats_url=f"ws://127.0.0.1:{ws_port}",
        store_url=f"sqlite:///{tmp_path / 'store.db'}",
        metrics_port=0,
        nak_delay_s=0.05,
    )
    worker = build_worker(settings)
    try:
        await start_within(worker, CONNECT_DEADLINE_S)
        # the worker's connection is the websocket one, not some other way in
        connected = worker.broker.config.connection_state.connection.connected_url
        assert connected is not None
        assert (connected.scheme, connected.port) == ("ws", ws_port)

        tenant, conv = uuid.uuid4(), uuid.uuid4()
        producer = await nats.connect(f"nats://127.0.0.1:{server.port}")
        try:
            ack = await producer.jetstream().publish(
                "message.sent", dumps(message_sent(tenant, conv, tokens=7))
            )
        finally:
            await producer.close()
        assert ack.stream == "EVENTS"  # the stream the worker set up over the websocket

        async def applied() -> bool:
            counts = await worker.store.transact(
                lambda tr: worker.ingestor.repos.conversations.counts(tr, tenant, conv)
            )
            return counts == (1, 7)

        await eventually(applied, timeout=30, what="the event applied in the store")
    finally:
        await worker.stop()


async def start_within(worker: Worker, deadline_s: float) -> None:
    """Start, or fail the test: nats-py reports a missing aiohttp (ImportError) only to its
    error callback and, with max_reconnect_attempts=-1, retries for ever."""
    try:
        await asyncio.wait_for(worker.start(), deadline_s)
    except TimeoutError:
        pytest.fail(
            f"the worker did not connect to {worker.settings.nats_url} within {deadline_s:g} s "
            "(nats-py needs aiohttp for ws://: its `aiohttp` extra)"
        )
