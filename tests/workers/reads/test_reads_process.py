"""`workers serve-reads` as a process: ready once its endpoints answer, answering what the
workers stored, stopping with exit 0 on SIGTERM."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path

from nats.aio.client import Client

from tests.helpers import eventually, start_workers
from tests.workers.ingest.events_factory import dumps, message_sent
from tests.workers.observability.obs_support import aget, wait_ready
from workers.config import Config
from workers.nats.local_server import free_port
from workers.service.worker import Worker


async def test_serve_reads_answers_what_the_workers_stored_and_stops_on_sigterm(
    settings: Config,
    start_worker: Callable[..., Awaitable[Worker]],
    producer: Client,
    tmp_path: Path,
) -> None:
    worker = await start_worker(settings)
    tenant, conversation = uuid.uuid4(), uuid.uuid4()
    for i in range(3):
        body = message_sent(tenant, conversation, content=f"m{i}", tokens=2)
        await producer.jetstream().publish("message.sent", dumps(body))
    await eventually(lambda: worker.ingestor.stats.applied == 3, what="applied")
    port = free_port()
    env = {
        **os.environ,
        "NATS_URL": settings.nats_url,
        "STORE_URL": settings.store_url,
        "KEY_ROOT": settings.key_root,
        "METRICS_HOST": "127.0.0.1",
        "METRICS_PORT": str(port),
        "LOG_LEVEL": "INFO",
    }
    proc = start_workers(env, tmp_path, "serve-reads", log="reads.log")
    log_path = proc.log_path  # type: ignore[attr-defined]
    try:
        await wait_ready(port, proc, timeout=30)
        _, body = await aget(port, "/readyz")
        # one check: started, the store answers, NATS connected
        assert json.loads(body) == {"ready": True, "checks": {"reads": "ok"}}
        ask = {"tenant": str(tenant), "conversation": str(conversation)}
        reply = await producer.request("reads.messages.token_count", json.dumps(ask).encode(), 5)
        assert json.loads(reply.data) == {
            "conversation": str(conversation),
            "messages": 3,
            "tokens": 6,
        }
        proc.send_signal(signal.SIGTERM)
        assert await asyncio.to_thread(proc.wait, 20) == 0, log_path.read_text()[-2000:]
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
