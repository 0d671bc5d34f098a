"""A real worker's /metrics says how old events are when acked and how many it holds unacked:
`workers_event_age_seconds` (JetStream arrival to ack) and `workers_consumer_ack_pending`
(read from the server's consumer info)."""

from __future__ import annotations

import asyncio
import sqlite3
import subprocess
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path

from nats.aio.client import Client

from tests.helpers import eventually
from tests.workers.ingest.events_factory import dumps, message_sent
from tests.workers.observability.obs_support import aget, metric, samples, wait_ready
from workers.config import Config
from workers.nats.local_server import free_port
from workers.nats.streams import ensure_streams
from workers.store import open_store

StartProcess = Callable[..., subprocess.Popen[bytes]]  # the `worker_process` fixture
DURABLE = "workers-messages"
AGED_S = 1.5  # how long the event waits in the stream before any worker exists


async def test_an_event_that_waited_in_the_stream_is_acked_with_its_wait_as_its_age(
    settings: Config, producer: Client, worker_process: StartProcess
) -> None:
    """The age runs from JetStream's arrival, not from the event's occurred_at (a year ago
    here): an alert on it measures the backlog, not the producers' clocks."""
    await ensure_streams(producer.jetstream(), settings)
    a_year_ago = datetime.now(UTC) - timedelta(days=365)
    sent = time.time()
    await producer.jetstream().publish(
        "message.sent", dumps(message_sent(uuid.uuid4(), uuid.uuid4(), at=a_year_ago))
    )
    await asyncio.sleep(AGED_S)  # ages the event: no worker can take it before this
    port = free_port()
    await wait_ready(port, worker_process(settings, METRICS_PORT=str(port)))

    async def observed() -> bool:
        count = await metric(port, "workers_event_age_seconds_count", default=0, durable=DURABLE)
        return count == 1  # 0 until the batch is acked

    await eventually(observed, timeout=30, what="the batch's age observed")
    elapsed = time.time() - sent
    _, text = await aget(port, "/metrics")
    found = samples(text)

    def age(name: str, **labels: str) -> float:
        return found[(name, frozenset({"durable": DURABLE, **labels}.items()))]

    assert AGED_S <= age("workers_event_age_seconds_sum") <= elapsed
    assert age("workers_event_age_seconds_bucket", le="1.0") == 0
    assert age("workers_event_age_seconds_bucket", le="+Inf") == 1


@contextmanager
def write_locked(path: Path) -> Iterator[None]:
    """Hold the SQLite file's write lock: the worker's commits wait (reads go on, WAL)."""
    conn = sqlite3.connect(path, isolation_level=None)
    try:
        conn.execute("BEGIN IMMEDIATE")
        yield
    finally:
        conn.execute("ROLLBACK")
        conn.close()


async def test_ack_pending_counts_the_events_a_held_up_worker_has_not_acked(
    settings: Config, producer: Client, worker_process: StartProcess, tmp_path: Path
) -> None:
    """Delivered but uncommitted events are JetStream's, not yet the store's: the gauge shows
    them while the commit waits, and falls to 0 once they are committed and acked."""
    db = tmp_path / "held.db"
    held = settings.model_copy(update={"store_url": f"sqlite:///{db}"})
    await open_store(held.store_url).close()  # the file and its tables exist before the lock
    await ensure_streams(producer.jetstream(), held)
    n, js = 20, producer.jetstream()
    for _ in range(n):  # in the stream before the worker: its first fetch takes them all
        await js.publish("message.sent", dumps(message_sent(uuid.uuid4(), uuid.uuid4())))
    port = free_port()

    async def gauges() -> tuple[float, float, float]:
        return (
            # 0 before the poller's first read of the consumer info (every 5 s)
            await metric(port, "workers_consumer_ack_pending", default=0, durable=DURABLE),
            await metric(port, "workers_consumer_pending", default=0, durable=DURABLE),
            await metric(port, "workers_events_applied_total", default=0, subject="message.sent"),
        )

    with write_locked(db):
        await wait_ready(port, worker_process(held, METRICS_PORT=str(port)))

        async def all_held() -> bool:
            return await gauges() == (n, 0, 0)

        await eventually(all_held, timeout=30, what=f"ack_pending == {n}, nothing applied")

    async def all_acked() -> bool:
        return await gauges() == (0, 0, n)

    await eventually(all_acked, timeout=60, what=f"ack_pending == 0 and {n} applied")
