"""A worker process serves /metrics, /healthz and /readyz on METRICS_PORT."""

from __future__ import annotations

import json
import uuid

from nats.aio.client import Client

from tests.helpers import eventually
from tests.workers.ingest.events_factory import dumps, message_sent
from tests.workers.observability.obs_support import (
    aget,
    metric,
    publish_messages,
    samples,
    wait_ready,
)
from workers.config import Config
from workers.nats.local_server import LocalNatsServer, free_port
from workers.observability.health import Health, nats_check, started_check
from workers.service.worker import build_worker
from workers.store import FaultInjector


async def test_metrics_count_applied_and_dead_lettered_events_by_subject(
    settings: Config, producer: Client, worker_process
) -> None:
    port = free_port()
    await wait_ready(port, worker_process(settings, METRICS_PORT=str(port)))
    tenant, convs, n = uuid.uuid4(), [uuid.uuid4(), uuid.uuid4()], 300
    await publish_messages(producer, tenant, convs, n)
    await producer.jetstream().publish("message.sent", b'{"not": "an event"}')

    async def counted() -> bool:
        applied = await metric(port, "workers_events_applied_total", subject="message.sent")
        dead = await metric(port, "workers_events_dead_lettered_total", subject="message.sent")
        return applied == n and dead == 1

    await eventually(counted, timeout=30, what="applied == 300 and dead_lettered == 1")
    _, text = await aget(port, "/metrics")
    found = samples(text)
    sent = frozenset({("subject", "message.sent")})
    assert found[("workers_events_received_total", sent)] == n + 1
    assert ("workers_events_duplicate_total", sent) not in found
    messages = frozenset({("durable", "workers-messages")})
    assert found[("workers_batch_size_sum", messages)] == n + 1
    assert found[("workers_batch_seconds_count", messages)] >= 1
    assert found[("workers_apply_seconds_count", messages)] >= 1
    # FastStream's own middleware records on the same registry
    assert any(name == "faststream_received_messages_total" for name, _ in found)

    async def backlog_polled() -> bool:
        return ("workers_consumer_pending", messages) in samples((await aget(port, "/metrics"))[1])

    await eventually(backlog_polled, timeout=15, what="the pending gauge per durable")


async def test_a_retried_event_counts_as_retried_then_redelivered_and_a_resent_one_as_duplicate(
    settings: Config, producer: Client, start_worker
) -> None:
    worker = await start_worker(settings)
    registry = worker.metrics.registry

    def value(name: str) -> float:
        return registry.get_sample_value(name, {"subject": "message.sent"}) or 0.0

    worker.store.faults = FaultInjector(rate_1020=1.0)  # every commit conflicts: nak
    worker.store.max_retries = 1
    body = dumps(message_sent(uuid.uuid4(), uuid.uuid4()))
    await producer.jetstream().publish("message.sent", body)
    await eventually(lambda: value("workers_events_retried_total") >= 1, what="a nak")
    worker.store.faults = None
    await eventually(lambda: value("workers_events_applied_total") == 1, what="applied")
    assert value("workers_events_redelivered_total") >= 1

    await producer.jetstream().publish("message.sent", body)  # the same event again
    await eventually(lambda: value("workers_events_duplicate_total") == 1, what="a duplicate")
    assert value("workers_events_applied_total") == 1


async def test_healthz_answers_200_and_unknown_paths_404(settings: Config, worker_process) -> None:
    port = free_port()
    await wait_ready(port, worker_process(settings, METRICS_PORT=str(port)))
    assert (await aget(port, "/healthz"))[0] == 200
    assert (await aget(port, "/nowhere"))[0] == 404


async def test_readyz_is_503_naming_nats_while_it_is_down_and_200_once_it_is_back(
    settings: Config, nats_server: LocalNatsServer, worker_process
) -> None:
    port = free_port()
    await wait_ready(port, worker_process(settings, METRICS_PORT=str(port)))
    _, body = await aget(port, "/readyz")
    checks = {"nats": "ok", "store": "ok", "consumers": "ok"}
    assert json.loads(body) == {"ready": True, "checks": checks}

    nats_server.stop()

    async def not_ready() -> bool:
        status, body = await aget(port, "/readyz")
        return status == 503 and json.loads(body)["checks"]["nats"] != "ok"

    await eventually(not_ready, timeout=15, what="/readyz 503 with NATS down")
    _, body = await aget(port, "/readyz")
    assert json.loads(body)["checks"]["store"] == "ok"
    assert (await aget(port, "/healthz"))[0] == 200  # alive all the same

    nats_server.start()

    async def ready() -> bool:
        return (await aget(port, "/readyz"))[0] == 200

    await eventually(ready, timeout=30, what="/readyz 200 once NATS is back")


async def test_a_worker_is_ready_only_once_its_streams_and_consumers_are_set_up(
    settings: Config, producer: Client
) -> None:
    """A connected NATS is not enough: a producer that waits for /readyz and then publishes
    must find stream EVENTS there (it got "no responders" when readiness came first)."""
    worker = build_worker(settings)
    health = Health()
    health.add("nats", nats_check(worker.broker, settings.nats_url))
    health.add("consumers", started_check(lambda: worker.consuming, "starting"))
    await worker.broker.connect()  # what start() does first: NATS answers from here on
    try:
        ready, checks = await health.readiness()
        assert (ready, checks) == (False, {"nats": "ok", "consumers": "starting"})
        await worker.start()
        assert await health.readiness() == (True, {"nats": "ok", "consumers": "ok"})
        ack = await producer.jetstream().publish(
            "message.sent", dumps(message_sent(uuid.uuid4(), uuid.uuid4()))
        )
        assert ack.stream == "EVENTS"
    finally:
        await worker.stop()
    assert not worker.consuming
