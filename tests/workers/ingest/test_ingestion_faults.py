"""Crashes and store faults: every event's effects land exactly once."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import uuid
from collections import Counter
from pathlib import Path
from typing import Any

from nats.aio.client import Client

from events.audit_types import AuditEventType
from tests.helpers import eventually
from tests.workers.ingest.events_factory import dumps, later, message_sent
from workers.config import Config
from workers.nats.streams import ensure_streams
from workers.repositories.integrity import check
from workers.service.wiring import open_configured_store, repositories
from workers.store.error_codes import COMMIT_UNKNOWN_RESULT, NOT_COMMITTED


async def publish_messages(nc: Client, tenant: uuid.UUID, convs: list[uuid.UUID], n: int) -> None:
    js = nc.jetstream(publish_async_max_pending=2000)
    for i in range(n):
        body = message_sent(tenant, convs[i % len(convs)], tokens=i % 7 + 1, at=later(i % 500))
        await js.publish_async("message.sent", dumps(body))
    await js.publish_async_completed()


def expected(n: int, convs: list[uuid.UUID]) -> dict[uuid.UUID, tuple[int, int]]:
    out = {c: (0, 0) for c in convs}
    for i in range(n):
        m, t = out[convs[i % len(convs)]]
        out[convs[i % len(convs)]] = (m + 1, t + i % 7 + 1)
    return out


async def store_counts(
    settings: Config, tenant: uuid.UUID, convs: list[uuid.UUID]
) -> dict[uuid.UUID, tuple[int, int]]:
    store, repos = open_configured_store(settings), repositories(settings)
    try:
        return {
            c: await store.transact(lambda tr, c=c: repos.conversations.counts(tr, tenant, c))
            for c in convs
        }
    finally:
        await store.close()


async def test_a_worker_killed_mid_stream_and_restarted_ends_with_exact_counts(
    settings: Config, producer: Client, worker_process
) -> None:
    tenant, convs, n = uuid.uuid4(), [uuid.uuid4() for _ in range(3)], 20000
    await ensure_streams(producer.jetstream(), settings)
    await publish_messages(producer, tenant, convs, n)

    # a short ack wait: what the killed worker had fetched is redelivered in seconds; small
    # batches (a commit each) keep the stream long enough for the kill to land in the middle
    first = worker_process(settings, ACK_WAIT_S="3", BATCH_SIZE="10")

    async def some_applied() -> bool:
        if first.poll() is not None:
            raise AssertionError(f"worker exited early: {first.log_path.read_text()[-3000:]}")
        counts = await store_counts(settings, tenant, convs)
        return 100 < sum(m for m, _ in counts.values()) < n

    await eventually(some_applied, timeout=60, what="the first worker to apply some events")
    first.send_signal(signal.SIGKILL)
    first.wait()
    partial = sum(m for m, _ in (await store_counts(settings, tenant, convs)).values())
    assert partial < n, "the kill must land mid-stream"

    worker_process(settings, ACK_WAIT_S="3")
    want = expected(n, convs)

    async def all_applied() -> bool:
        return await store_counts(settings, tenant, convs) == want

    await eventually(all_applied, timeout=120, what="every event applied after the restart")
    assert await audit_total(settings, tenant) == n
    store, repos = open_configured_store(settings), repositories(settings)
    try:
        assert (await check(store, repos)).clean
    finally:
        await store.close()


async def audit_total(settings: Config, tenant: uuid.UUID) -> int:
    """The tenant's MessageSent audit records, counted page by page."""
    store, repos = open_configured_store(settings), repositories(settings)
    try:
        total, after = 0, None
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
    finally:
        await store.close()


def injected_faults(log_path: Path) -> Counter[int]:
    """The faults a worker process's STORE_FAULTS injector raised, from its JSON log lines."""
    faults: Counter[int] = Counter()
    for line in log_path.read_text().splitlines():
        if line.startswith("{") and "fault" in (record := json.loads(line)):
            faults[record["fault"]] += 1
    return faults


def check_cli(settings: Config) -> dict[str, Any]:
    """`python -m workers check --json` as an operator runs it, on the test's store."""
    env = {**os.environ, "STORE_URL": settings.store_url, "KEY_ROOT": settings.key_root}
    done = subprocess.run(
        [sys.executable, "-m", "workers", "check", "--json"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    report: dict[str, Any] = json.loads(done.stdout)
    return report


async def test_store_faults_on_commits_neither_lose_nor_double_apply(
    settings: Config, producer: Client, worker_process
) -> None:
    """1020 (nothing landed) and 1021 (landed, reported failed) on the worker's commits: each
    event's counters and audit record land once, and the integrity check is clean."""
    tenant, convs, n = uuid.uuid4(), [uuid.uuid4() for _ in range(2)], 2000
    await ensure_streams(producer.jetstream(), settings)
    await publish_messages(producer, tenant, convs, n)
    worker = worker_process(
        settings,
        STORE_FAULTS="1020:0.1,1021:0.1,seed:3",
        KEY_ROOT=settings.key_root,
        LOG_FORMAT="json",  # one JSON object a line: its injected faults are counted below
    )
    want = expected(n, convs)

    async def all_applied() -> bool:
        if worker.poll() is not None:
            raise AssertionError(f"worker exited: {worker.log_path.read_text()[-3000:]}")
        return await store_counts(settings, tenant, convs) == want

    await eventually(all_applied, timeout=120, what="every event applied despite faults")
    faults = injected_faults(worker.log_path)
    assert faults[NOT_COMMITTED] > 0 and faults[COMMIT_UNKNOWN_RESULT] > 0, faults
    assert await audit_total(settings, tenant) == n
    report = check_cli(settings)
    # one tenant; records: per event its message and its audit record, and the conversations
    assert (report["clean"], report["tenants"]) == (True, 1)
    assert report["records"] == 2 * n + len(convs), report


async def test_a_store_that_keeps_failing_naks_then_dead_letters_after_max_deliver(
    settings: Config, producer: Client, start_worker
) -> None:
    # every commit fails with 1020 and retries run out: transient, so nak, then DLQ
    from workers.store import FaultInjector

    worker = await start_worker(settings, max_deliver=3, nak_delay_s=0.01)
    worker.store.faults = FaultInjector(rate_1020=1.0)  # type: ignore[attr-defined]
    worker.store.max_retries = 2  # type: ignore[attr-defined]
    tenant, conv = uuid.uuid4(), uuid.uuid4()
    await producer.jetstream().publish("message.sent", dumps(message_sent(tenant, conv)))
    await eventually(lambda: worker.ingestor.stats.retried >= 3, what="three deliveries")
    js = producer.jetstream()

    async def dead_lettered() -> bool:
        return (await js.stream_info("DLQ")).state.messages == 1

    await eventually(dead_lettered, what="the event in the DLQ")
    letter = await js.get_msg("DLQ", 1)
    assert letter.headers is not None
    assert letter.headers["Dlq-Reason"].startswith("gave up after 3 deliveries: 1020")
