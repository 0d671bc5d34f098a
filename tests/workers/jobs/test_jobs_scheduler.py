"""The scheduler: three jobs on their crons, one instance each, runs that stop cleanly."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from datetime import UTC, datetime
from uuid import uuid4

from apscheduler.triggers.cron import CronTrigger
from jobs_support import FakeClock, Seeder, current_lease, days_ago, read_continuation, receipts

from workers.config import Config
from workers.jobs.scheduler import _build, create_scheduler, run_scheduler
from workers.repositories import Repositories
from workers.store import Store

DEADLINE_S = 20.0


async def until(condition: Callable[[], object], what: str) -> None:
    deadline = time.monotonic() + DEADLINE_S
    while time.monotonic() < deadline:
        value = condition()
        if asyncio.iscoroutine(value):
            value = await value
        if value:
            return
        await asyncio.sleep(0.01)
    raise AssertionError(f"timed out waiting for {what}")


async def test_create_scheduler_registers_the_three_jobs_with_the_configured_crons(
    store: Store, repos: Repositories, settings: Callable[..., Config]
) -> None:
    crons = {"files": "1 2 * * *", "audit": "3 4 * * *", "dedupe": "*/7 * * * *"}
    config = settings(
        file_purge_cron=crons["files"],
        audit_retention_cron=crons["audit"],
        dedupe_expiry_cron=crons["dedupe"],
        job_misfire_grace_s=123,
    )

    scheduler = create_scheduler(config, store, repos)

    jobs = {job.id: job for job in scheduler.get_jobs()}
    assert set(jobs) == set(crons)
    for name, job in jobs.items():
        assert str(job.trigger) == str(CronTrigger.from_crontab(crons[name], timezone=UTC))
        assert (job.max_instances, job.coalesce, job.misfire_grace_time) == (1, True, 123)


async def test_a_due_job_runs_through_the_scheduler(
    store: Store,
    repos: Repositories,
    seed: Seeder,
    settings: Callable[..., Config],
    clock: FakeClock,
) -> None:
    tenant = uuid4()
    await seed.audits(tenant, [days_ago(100)] * 3)
    scheduler = create_scheduler(settings(), store, repos, clock=clock, owner="sched-1")
    scheduler.start()
    try:
        scheduler.modify_job("audit", next_run_time=datetime.now(UTC))
        await until(lambda: receipts(store, repos, tenant), "the scheduled purge's receipt")
    finally:
        scheduler.shutdown(wait=False)
    (receipt,) = await receipts(store, repos, tenant)
    assert receipt.event_data["owner"] == "sched-1"


async def test_stopping_mid_run_keeps_the_continuation_and_releases_the_lease(
    store: Store,
    repos: Repositories,
    seed: Seeder,
    settings: Callable[..., Config],
    clock: FakeClock,
) -> None:
    tenant = uuid4()
    await seed.audits(tenant, [days_ago(100)] * 3000)
    scheduler, running = _build(settings(purge_batch_size=1), store, repos, clock, "sched-1")
    scheduler.start()
    scheduler.modify_job("audit", next_run_time=datetime.now(UTC))
    await until(lambda: read_continuation(store, repos, tenant, "audit"), "the purge to start")

    scheduler.shutdown(wait=False)
    await running.stop()

    assert await current_lease(store, repos, "audit") is None
    cont = await read_continuation(store, repos, tenant, "audit")
    assert cont is not None and 0 < cont.removed < 3000


async def test_run_scheduler_returns_once_stop_is_set(
    store: Store, repos: Repositories, settings: Callable[..., Config]
) -> None:
    stop = asyncio.Event()
    task = asyncio.create_task(run_scheduler(settings(), stop, store=store, repos=repos))
    stop.set()
    await asyncio.wait_for(task, DEADLINE_S)
    assert await store.transact(lambda tr: tr.get(b"\x01absent")) is None  # still open: not ours
