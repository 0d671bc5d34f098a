"""The fetch loop against a real nats-server: idle durables wait cheaply, work is answered at
once, and a backlog still comes in full batches."""

from __future__ import annotations

import asyncio
import uuid

import pytest
from nats.aio.client import Client
from nats.aio.msg import Msg

from events.subjects import FAMILIES
from tests.helpers import eventually
from tests.workers.ingest.events_factory import dumps, message_sent
from tests.workers.ingest.test_ingestion_faults import publish_messages
from workers.config import Config
from workers.nats.streams import ensure_streams
from workers.nats.subscribers import IDLE_WAIT_S, long_poll

PULL_REQUESTS = "$JS.API.CONSUMER.MSG.NEXT.EVENTS.*"  # what a fetch publishes, per durable


async def count_pull_requests(producer: Client) -> list[str]:
    """Every pull request any client sends to stream EVENTS's durables, by durable name."""
    seen: list[str] = []

    async def record(msg: Msg) -> None:
        seen.append(msg.subject.rsplit(".", 1)[-1])

    await producer.subscribe(PULL_REQUESTS, cb=record)
    await producer.flush()
    return seen


async def test_an_idle_worker_holds_one_pull_request_per_durable_and_answers_at_once(
    settings: Config, start_worker, producer: Client
) -> None:
    requests = await count_pull_requests(producer)
    worker = await start_worker(settings)
    await eventually(lambda: len(set(requests)) == len(FAMILIES), what="a request per durable")

    before = len(requests)
    await asyncio.sleep(1.0)  # a window with no traffic: the loop must not poll in it
    idle = len(requests) - before
    # FastStream's own loop sent ~100 a second per durable here (a fill timeout of 10 ms)
    assert idle <= len(FAMILIES) * (1 + 1.0 / IDLE_WAIT_S), requests[before:]

    tenant, conv = uuid.uuid4(), uuid.uuid4()
    await producer.jetstream().publish("message.sent", dumps(message_sent(tenant, conv)))
    stats = worker.ingestor.stats
    await eventually(lambda: stats.applied == 1, what="the event applied")


async def test_a_backlog_is_fetched_in_batches(
    settings: Config, start_worker, producer: Client
) -> None:
    await ensure_streams(producer.jetstream(), settings)
    tenant, convs = uuid.uuid4(), [uuid.uuid4()]
    await publish_messages(producer, tenant, convs, 1_000)
    worker = await start_worker(settings, batch_size=250, prepare_processes=0)
    stats = worker.ingestor.stats
    await eventually(lambda: stats.applied == 1_000, what="1,000 events applied")
    # one message waited for, then the rest of each batch taken from what arrives meanwhile
    assert stats.batches < 100, f"{stats.batches} batches for 1,000 events"


def test_only_faststreams_batch_pull_subscriber_gets_the_loop() -> None:
    with pytest.raises(TypeError, match="BatchPullStreamSubscriber"):
        long_poll(object())
