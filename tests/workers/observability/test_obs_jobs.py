"""Retention jobs record what they removed, how long they ran, and whether this process holds
the lease."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from tests.workers.observability.obs_support import aget, metric, wait_ready
from workers.config import Config
from workers.jobs.executor import run_job
from workers.jobs.summary import JobProgress
from workers.nats.local_server import free_port
from workers.observability.metrics import Metrics
from workers.repositories import Repositories
from workers.service.wiring import repositories
from workers.store import Store, open_store

NOW = datetime(2026, 11, 26, 9, 0, tzinfo=UTC)


@pytest.fixture
def settings(tmp_path: Path) -> Config:
    return Config(
        _env_file=None,  # type: ignore[call-arg]
        store_url=f"sqlite:///{tmp_path / 'jobs.db'}",
        purge_batch_size=2,
    )


@pytest.fixture
async def store(settings: Config) -> AsyncIterator[Store]:
    s = open_store(settings.store_url)
    yield s
    await s.close()


async def seed_old_marks(store: Store, repos: Repositories, n: int) -> None:
    tenant = uuid.uuid4()

    def write(tr):  # type: ignore[no-untyped-def]
        repos.tenants.mark_seen(tr, tenant)
        for i in range(n):
            repos.applied.mark(tr, tenant, uuid.uuid4(), 1_000 + i)  # 1970: long expired

    await store.transact(write)


def value(metrics: Metrics, name: str) -> float:
    return metrics.registry.get_sample_value(name, {"job": "dedupe"}) or 0.0


async def test_a_run_counts_removals_and_its_duration_and_holds_the_lease_while_it_runs(
    store: Store, settings: Config
) -> None:
    repos, metrics = repositories(settings), Metrics()
    await seed_old_marks(store, repos, 5)
    held_during: list[float] = []

    def progress(_: JobProgress) -> None:
        held_during.append(value(metrics, "workers_lease_held"))

    summary = await run_job(
        "dedupe", store, repos, settings, clock=lambda: NOW, progress=progress, metrics=metrics
    )
    assert summary.removed == 5
    assert value(metrics, "workers_purge_removed_total") == 5
    assert value(metrics, "workers_purge_seconds_count") == 1
    assert held_during and set(held_during) == {1.0}  # 3 batches of 2
    assert value(metrics, "workers_lease_held") == 0


async def test_a_run_skipped_for_another_holder_leaves_the_lease_gauge_at_0(
    store: Store, settings: Config
) -> None:
    repos, metrics = repositories(settings), Metrics()
    await store.transact(lambda tr: repos.leases.acquire(tr, "dedupe", "elsewhere", NOW, 600))
    summary = await run_job("dedupe", store, repos, settings, clock=lambda: NOW, metrics=metrics)
    assert summary.skipped
    assert value(metrics, "workers_lease_held") == 0
    assert value(metrics, "workers_purge_seconds_count") == 0


async def test_a_dry_run_records_nothing(store: Store, settings: Config) -> None:
    repos, metrics = repositories(settings), Metrics()
    await seed_old_marks(store, repos, 3)
    later = NOW + timedelta(days=1)
    summary = await run_job(
        "dedupe", store, repos, settings, clock=lambda: later, dry_run=True, metrics=metrics
    )
    assert summary.removed == 3
    assert value(metrics, "workers_purge_removed_total") == 0


async def test_the_scheduler_process_serves_its_lease_gauges_and_exits_0_on_sigterm(
    tmp_path: Path,
) -> None:
    port = free_port()
    env = {
        **os.environ,
        "STORE_URL": f"sqlite:///{tmp_path / 'sched.db'}",
        "METRICS_PORT": str(port),
        "LOG_LEVEL": "WARNING",
    }
    log_path = tmp_path / "scheduler.log"
    with open(log_path, "wb") as log:
        proc = subprocess.Popen(
            [sys.executable, "-m", "workers", "scheduler"], env=env, stdout=log, stderr=log
        )
    proc.log_path = log_path  # type: ignore[attr-defined]
    try:
        await wait_ready(port, proc)
        _, body = await aget(port, "/readyz")
        assert json.loads(body) == {"ready": True, "checks": {"scheduler": "ok"}}
        for job in ("files", "audit", "dedupe"):
            assert await metric(port, "workers_lease_held", job=job) == 0
        proc.send_signal(signal.SIGTERM)
        assert await asyncio.to_thread(proc.wait, 30) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
