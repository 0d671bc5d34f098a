"""SIGTERM mid-stream: the worker commits and acks what it holds, exits 0 within the grace period,
and a restarted worker applies the rest: every event exactly once."""

from __future__ import annotations

import asyncio
import json
import signal
import subprocess
import time
import uuid
from collections.abc import Callable

import pytest
from nats.aio.client import Client
from nats.aio.msg import Msg

from events.audit_types import AuditEventType
from tests.helpers import eventually
from tests.workers.observability.obs_support import aget, metric, publish_messages, wait_ready
from workers.config import Config
from workers.nats.broker import make_broker
from workers.nats.local_server import LocalNatsServer, free_port
from workers.nats.streams import ensure_streams
from workers.nats.subscribers import BatchConsumer
from workers.repositories.integrity import check
from workers.service.wiring import open_configured_store, repositories
from workers.store import Store

GRACE_S = 10.0


async def counts(
    store: Store, settings: Config, tenant: uuid.UUID, convs: list[uuid.UUID]
) -> dict[uuid.UUID, tuple[int, int]]:
    repos = repositories(settings)
    return {
        c: await store.transact(lambda tr, c=c: repos.conversations.counts(tr, tenant, c))
        for c in convs
    }


async def audit_count(store: Store, settings: Config, tenant: uuid.UUID) -> int:
    repos, total, after = repositories(settings), 0, None
    while True:
        page = await store.transact(
            lambda tr, a=after: repos.audit.list_by_event(
                tr, tenant, AuditEventType.MESSAGE_SENT, limit=1000, after=a
            )
        )
        total += len(page.items)
        if page.next is None:
            return total
        after = page.next


async def test_sigterm_mid_stream_exits_0_in_grace_and_a_restart_applies_every_event_once(
    settings: Config, producer: Client, worker_process
) -> None:
    tenant, convs, n = uuid.uuid4(), [uuid.uuid4() for _ in range(3)], 20_000
    await ensure_streams(producer.jetstream(), settings)
    want = await publish_messages(producer, tenant, convs, n)
    store = open_configured_store(settings)
    try:
        # small batches keep the stream going long enough for the signal to land mid-way; a
        # short ack wait brings back at once what a cancelled fetch had pulled
        env = {"BATCH_SIZE": "10", "ACK_WAIT_S": "3", "SHUTDOWN_GRACE_S": str(GRACE_S)}
        first = worker_process(settings, **env)

        async def some_applied() -> bool:
            assert first.poll() is None, first.log_path.read_text()[-3000:]  # type: ignore
            return sum(m for m, _ in (await counts(store, settings, tenant, convs)).values()) > 500

        await eventually(some_applied, timeout=60, what="the first worker to apply some events")
        signalled = time.monotonic()
        first.send_signal(signal.SIGTERM)
        code = await asyncio.to_thread(first.wait, GRACE_S + 5)
        took = time.monotonic() - signalled
        log = first.log_path.read_text()  # type: ignore[attr-defined]
        assert code == 0, log[-3000:]
        assert took < GRACE_S, f"took {took:.1f} s"
        assert "grace ran out" not in log
        partial = sum(m for m, _ in (await counts(store, settings, tenant, convs)).values())
        assert partial < n, "the signal must land mid-stream"
        assert (await check(store, repositories(settings))).clean  # nothing half-applied

        port = free_port()
        second = worker_process(settings, METRICS_PORT=str(port), ACK_WAIT_S="3")
        await wait_ready(port, second)

        async def all_applied() -> bool:
            return await counts(store, settings, tenant, convs) == want

        await eventually(all_applied, timeout=120, what="every event applied after the restart")
        assert await audit_count(store, settings, tenant) == n
        assert (await check(store, repositories(settings))).clean

        # what the first worker committed it also acked: the second sees no duplicate
        async def rest_counted() -> bool:
            applied = await metric(
                port, "workers_events_applied_total", default=0, subject="message.sent"
            )  # 0 until the second worker's first batch
            return applied == n - partial

        await eventually(rest_counted, timeout=10, what="the second worker to count the rest")
        # a labelled counter has no series before its first count: absent is "none"
        duplicates = await metric(
            port, "workers_events_duplicate_total", default=0, subject="message.sent"
        )
        assert duplicates == 0
    finally:
        await store.close()


async def test_a_worker_signalled_while_nats_is_down_closes_its_store_and_exits_0(
    settings: Config,
    nats_server: LocalNatsServer,
    worker_process: Callable[..., subprocess.Popen[bytes]],
) -> None:
    """NATS may go first: Ctrl-C on `make run` signals nats-server too. The worker cannot
    drain a dead connection, and must still close its store and exit 0 (it exited 1 with a
    traceback, its store left open)."""
    port = free_port()
    env = {"SHUTDOWN_GRACE_S": str(GRACE_S), "LOG_LEVEL": "INFO", "LOG_FORMAT": "json"}
    proc = worker_process(settings, METRICS_PORT=str(port), **env)
    await wait_ready(port, proc)
    nats_server.stop()

    async def nats_down() -> bool:
        status, body = await aget(port, "/readyz")
        return status == 503 and json.loads(body)["checks"]["nats"] != "ok"

    await eventually(nats_down, timeout=15, what="the worker to see NATS gone")
    proc.send_signal(signal.SIGTERM)
    code = await asyncio.to_thread(proc.wait, GRACE_S + 5)
    log = proc.log_path.read_text()  # type: ignore[attr-defined]
    assert code == 0, log[-3000:]
    assert "worker stopped: every batch in hand acked" in log  # after its store closed
    assert "Traceback" not in log


class Stuck:
    """An ingestor whose transaction never returns."""

    stats = None

    async def apply(self, batch: object) -> list[object]:
        await asyncio.Event().wait()
        return []


async def test_drain_gives_up_after_its_timeout_and_reports_what_is_left_unacked(
    caplog: pytest.LogCaptureFixture,
) -> None:
    settings = Config(_env_file=None)  # type: ignore[call-arg]
    consumer = BatchConsumer(Stuck(), make_broker(settings), settings)  # type: ignore[arg-type]
    await consumer.handle([Msg(None, subject="message.sent", data=b"{}") for _ in range(3)])
    started = time.monotonic()
    assert await consumer.drain(timeout=0.2) == 3
    assert time.monotonic() - started < 5
    assert "3 messages in 1 batches left unacknowledged" in caplog.text
    assert await consumer.drain(timeout=0.2) == 0  # nothing left behind
