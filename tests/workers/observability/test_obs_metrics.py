"""A worker process serves /metrics, /healthz and /readyz on METRICS_PORT."""

from __future__ import annotations

import gzip
import json
import socket
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from nats.aio.client import Client
from prometheus_client.openmetrics.parser import (
    text_string_to_metric_families as openmetrics_families,
)

from tests.helpers import eventually
from tests.workers.ingest.events_factory import dumps, message_sent
from tests.workers.observability.obs_support import (
    afetch,
    aget,
    metric,
    publish_messages,
    samples,
    wait_ready,
)
from workers.config import Config, ConfigError
from workers.nats.local_server import LocalNatsServer, free_port
from workers.observability.endpoint import Observability
from workers.observability.health import Health
from workers.service.worker import STARTING, build_worker
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
        # not yet counted is 0 here: the series appear with their first event
        applied = await metric(
            port, "workers_events_applied_total", default=0, subject="message.sent"
        )
        dead = await metric(
            port, "workers_events_dead_lettered_total", default=0, subject="message.sent"
        )
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
    must find stream EVENTS there (it got "no responders" when readiness came first). The
    checks are the ones the worker process serves (`Worker.readiness_checks`)."""
    worker = build_worker(settings)
    health = Health()
    for name, check in worker.readiness_checks().items():
        health.add(name, check)
    await worker.broker.connect()  # what start() does first: NATS answers from here on
    try:
        assert await health.readiness() == (
            False,
            {"nats": "ok", "store": "ok", "consumers": STARTING},
        )
        await worker.start()
        ok = {"nats": "ok", "store": "ok", "consumers": "ok"}
        assert await health.readiness() == (True, ok)
        ack = await producer.jetstream().publish(
            "message.sent", dumps(message_sent(uuid.uuid4(), uuid.uuid4()))
        )
        assert ack.stream == "EVENTS"
    finally:
        await worker.stop()
    assert not worker.consuming


def endpoint_settings(tmp_path: Path, port: int) -> Config:
    return Config(
        _env_file=None,  # type: ignore[call-arg]
        store_url=f"sqlite:///{tmp_path / 'store.db'}",
        metrics_host="127.0.0.1",
        metrics_port=port,
    )


@pytest.fixture
async def endpoint(tmp_path: Path) -> AsyncIterator[tuple[Observability, int]]:
    """An in-process endpoint on a free loopback port, with 3 `message.sent` events counted."""
    port = free_port()
    obs = Observability(endpoint_settings(tmp_path, port))
    obs.metrics.received.labels(subject="message.sent").inc(3)
    await obs.start()
    yield obs, port
    await obs.stop()


RECEIVED = ("workers_events_received_total", frozenset({("subject", "message.sent")}))


async def test_metrics_are_prometheus_text_when_the_scraper_asks_for_no_format(
    endpoint: tuple[Observability, int],
) -> None:
    _, port = endpoint
    status, headers, body = await afetch(port, "/metrics")
    assert status == 200
    assert headers["content-type"].startswith("text/plain; version=0.0.4")
    assert "content-encoding" not in headers
    assert samples(body.decode())[RECEIVED] == 3
    assert not body.rstrip().endswith(b"# EOF")


async def test_an_openmetrics_scraper_gets_openmetrics(
    endpoint: tuple[Observability, int],
) -> None:
    """Prometheus asks for OpenMetrics first; prometheus_client's choose_encoder decides."""
    _, port = endpoint
    accept = "application/openmetrics-text; version=1.0.0"
    status, headers, body = await afetch(port, "/metrics", {"Accept": accept})
    assert status == 200
    assert headers["content-type"].startswith("application/openmetrics-text")
    assert body.endswith(b"# EOF\n")
    found = {
        (s.name, frozenset(s.labels.items())): s.value
        for family in openmetrics_families(body.decode())
        for s in family.samples
    }
    assert found[RECEIVED] == 3


async def test_a_scraper_that_accepts_gzip_gets_the_metrics_gzipped(
    endpoint: tuple[Observability, int],
) -> None:
    _, port = endpoint
    status, headers, body = await afetch(port, "/metrics", {"Accept-Encoding": "gzip"})
    assert status == 200
    assert headers.get("content-encoding") == "gzip"
    assert headers["content-type"].startswith("text/plain")
    assert samples(gzip.decompress(body).decode())[RECEIVED] == 3


async def test_unknown_paths_are_404_other_methods_405_and_head_has_no_body(
    endpoint: tuple[Observability, int],
) -> None:
    _, port = endpoint
    assert (await afetch(port, "/nowhere"))[0] == 404
    assert (await afetch(port, "/metrics/more"))[0] == 404
    assert (await afetch(port, "/metrics?name[]=x"))[0] == 200  # the query is ignored
    assert (await afetch(port, "/healthz", method="POST"))[0] == 405
    status, headers, body = await afetch(port, "/metrics", method="HEAD")
    assert (status, body) == (200, b"")
    assert headers["content-type"].startswith("text/plain")


async def test_healthz_and_readyz_answer_json(endpoint: tuple[Observability, int]) -> None:
    obs, port = endpoint
    status, headers, body = await afetch(port, "/healthz")
    assert (status, headers["content-type"], json.loads(body)) == (
        200,
        "application/json",
        {"alive": True},
    )
    status, _, body = await afetch(port, "/readyz")  # no checks added yet
    assert (status, json.loads(body)) == (503, {"ready": False, "checks": {"process": "starting"}})

    async def ok() -> None:
        return None

    obs.health.add("nats", ok)
    status, _, body = await afetch(port, "/readyz")
    assert (status, json.loads(body)) == (200, {"ready": True, "checks": {"nats": "ok"}})


async def test_a_busy_port_is_a_config_error_and_stop_frees_the_port(tmp_path: Path) -> None:
    port = free_port()
    first = Observability(endpoint_settings(tmp_path, port))
    await first.start()
    try:
        with pytest.raises(ConfigError, match=f"METRICS_PORT={port}: cannot listen"):
            await Observability(endpoint_settings(tmp_path, port)).start()
    finally:
        await first.stop()
    with socket.socket() as s:  # the listener is gone: the port can be bound again
        s.bind(("127.0.0.1", port))
