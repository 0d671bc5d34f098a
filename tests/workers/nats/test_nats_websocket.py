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
from tests.workers.nats.pki import CertificateAuthority, tls_block
from tests.workers.observability.obs_support import ConfiguredNats
from workers.config import Config
from workers.nats.connection import NatsCertificateRefused
from workers.nats.local_server import free_port, reachable
from workers.service.worker import Worker, build_worker

CONNECT_DEADLINE_S = 30.0


async def websocket_nats(directory: Path, tls: str = "no_tls: true") -> tuple[ConfiguredNats, int]:
    """A nats-server (JetStream on) with its plain listener and a websocket listener (`tls`:
    its TLS block), both on loopback; the server and the websocket port."""
    ws_port = free_port()
    server = ConfiguredNats(directory, f'websocket {{ listen: "127.0.0.1:{ws_port}", {tls} }}\n')
    try:
        await eventually(
            lambda: reachable(f"ws://127.0.0.1:{ws_port}", 0.2),
            timeout=15,
            what="the websocket listener",
        )
    except AssertionError:
        server.stop()
        raise
    return server, ws_port


@pytest.fixture
async def nats_with_websocket(tmp_path: Path) -> AsyncIterator[tuple[ConfiguredNats, int]]:
    """A nats-server with a plain websocket listener; yields the server and the websocket port."""
    server, ws_port = await websocket_nats(tmp_path / "nats")
    try:
        yield server, ws_port
    finally:
        server.stop()


async def test_a_worker_consumes_over_a_ws_url(
    tmp_path: Path,
    nats_with_websocket: tuple[ConfiguredNats, int],
) -> None:
    await consumes_over_websocket(tmp_path, *nats_with_websocket, scheme="ws")


async def test_a_worker_consumes_over_a_wss_url_verified_with_nats_tls_ca(
    tmp_path: Path,
) -> None:
    """NATS_TLS_CA reaches the websocket transport too: the worker verifies the wss://
    listener's certificate against it (strictly, as Python 3.13 does) and consumes."""
    ca = CertificateAuthority(tmp_path / "pki", "trusted-ca")
    server, ws_port = await websocket_nats(tmp_path / "nats", tls_block(ca.issue("server")))
    try:
        await consumes_over_websocket(tmp_path, server, ws_port, scheme="wss", nats_tls_ca=ca.cert)
    finally:
        server.stop()


async def test_a_wss_certificate_from_an_unknown_ca_stops_the_start(tmp_path: Path) -> None:
    """aiohttp wraps the certificate error of a wss:// connection: the worker still stops at
    start-up with the refusal (not retrying for ever), and the advice names NATS_TLS_CA."""
    trusted = CertificateAuthority(tmp_path / "pki", "trusted-ca")
    unknown = CertificateAuthority(tmp_path / "pki-unknown", "unknown-ca")
    server, ws_port = await websocket_nats(tmp_path / "nats", tls_block(unknown.issue("server")))
    worker = build_worker(settings_for(tmp_path, f"wss://127.0.0.1:{ws_port}", trusted.cert))
    try:
        with pytest.raises(NatsCertificateRefused, match="set NATS_TLS_CA to the CA that signed"):
            await asyncio.wait_for(worker.start(), CONNECT_DEADLINE_S)
    finally:
        await worker.store.close()
        server.stop()


def settings_for(tmp_path: Path, url: str, nats_tls_ca: Path | None = None) -> Config:
    return Config(
        _env_file=None,  # type: ignore[call-arg]
        nats_url=url,
        store_url=f"sqlite:///{tmp_path / 'store.db'}",
        metrics_port=0,
        nak_delay_s=0.05,
        nats_tls_ca=nats_tls_ca,
    )


async def consumes_over_websocket(
    tmp_path: Path,
    server: ConfiguredNats,
    ws_port: int,
    scheme: str,
    nats_tls_ca: Path | None = None,
) -> None:
    """A worker on `scheme`://127.0.0.1:`ws_port` sets up the streams and applies an event
    published on the server's plain listener."""
    worker = build_worker(settings_for(tmp_path, f"{scheme}://127.0.0.1:{ws_port}", nats_tls_ca))
    try:
        await start_within(worker, CONNECT_DEADLINE_S)
        # the worker's connection is the websocket one, not some other way in
        connected = worker.broker.config.connection_state.connection.connected_url
        assert connected is not None
        assert (connected.scheme, connected.port) == (scheme, ws_port)

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
