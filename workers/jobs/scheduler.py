"""The scheduler: the three retention jobs on their cron schedules, in one asyncio process.

Every replica may run a scheduler: the job lease in the store makes sure a job runs in one of
them at a time. Cron expressions are read in UTC. APScheduler 3.x counts weekdays from Monday
= 0 (crontab: Sunday = 0): prefer names (mon-fri) in day-of-week fields.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import UTC
from typing import TYPE_CHECKING

from apscheduler.schedulers.asyncio import AsyncIOScheduler
from apscheduler.triggers.cron import CronTrigger

from workers.config import Config, ConfigError
from workers.ids import utcnow
from workers.jobs.clock import Clock
from workers.jobs.executor import default_owner, run_job
from workers.jobs.sealing import JOB as SEAL_JOB
from workers.jobs.sealing import SealSummary, run_seal
from workers.jobs.summary import JobSummary
from workers.repositories import Repositories
from workers.store import Store
from workers.tasks import cancel_and_wait

if TYPE_CHECKING:
    from workers.observability.metrics import Metrics

log = logging.getLogger(__name__)


CRON_FIELDS = {
    "files": "file_purge_cron",
    "audit": "audit_retention_cron",
    "dedupe": "dedupe_expiry_cron",
    SEAL_JOB: "audit_seal_cron",
}
"""Job name -> the setting holding its crontab expression."""


def crons(settings: Config) -> dict[str, str]:
    """Job name -> its crontab expression; sealing only once a signing key is configured."""
    return {
        job: str(getattr(settings, field))
        for job, field in CRON_FIELDS.items()
        if job != SEAL_JOB or settings.audit_signing_key_file is not None
    }


def create_scheduler(
    settings: Config,
    store: Store,
    repos: Repositories,
    *,
    clock: Clock = utcnow,
    owner: str | None = None,
    metrics: Metrics | None = None,
) -> AsyncIOScheduler:
    """A scheduler with the three jobs (not started). Build it inside a running event loop."""
    return _build(settings, store, repos, clock, owner, metrics)[0]


def trigger(settings: Config, job: str) -> CronTrigger:
    """The job's cron trigger; a bad expression is a ConfigError naming the variable."""
    field = CRON_FIELDS[job]
    expr = getattr(settings, field)
    try:
        return CronTrigger.from_crontab(expr, timezone=UTC)
    except ValueError as e:
        raise ConfigError(f"{field.upper()}={expr!r}: {e}") from None


class _Running:
    """The job runs in flight. APScheduler cancels its tasks at shutdown; each run is shielded
    from that and cancelled once by `stop`, so it can still release its lease before the store
    closes (the batches themselves are atomic: a cancelled run resumes from its continuation)."""

    def __init__(
        self,
        store: Store,
        repos: Repositories,
        settings: Config,
        clock: Clock,
        metrics: Metrics | None = None,
    ) -> None:
        self.store, self.repos, self.settings, self.clock = store, repos, settings, clock
        self.metrics = metrics
        self.tasks: set[asyncio.Task[None]] = set()

    async def run(self, job: str, owner: str) -> None:
        task = asyncio.create_task(self._logged(job, owner), name=f"retention-{job}")
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)
        try:
            await asyncio.shield(task)
        except asyncio.CancelledError:
            if task.done():
                raise
            log.debug("scheduler shutting down; %s runs on until stop() cancels it", job)

    async def _logged(self, job: str, owner: str) -> None:
        try:
            summary: SealSummary | JobSummary
            if job == SEAL_JOB:
                summary = await run_seal(
                    self.store, self.repos, self.settings, clock=self.clock, owner=owner
                )
            else:
                summary = await run_job(
                    job,
                    self.store,
                    self.repos,
                    self.settings,
                    clock=self.clock,
                    owner=owner,
                    metrics=self.metrics,
                )
        except asyncio.CancelledError:
            log.info("job %s stopped; the next run resumes it", job)
            raise
        except Exception:
            log.exception("job %s failed; the next run resumes it", job)
            return
        for line in summary.lines():
            log.info(line)

    async def stop(self) -> None:
        if still := await cancel_and_wait(self.tasks):
            log.error("%d job runs did not stop; their leases lapse after LEASE_TTL_S", len(still))


def _build(
    settings: Config,
    store: Store,
    repos: Repositories,
    clock: Clock,
    owner: str | None,
    metrics: Metrics | None = None,
) -> tuple[AsyncIOScheduler, _Running]:
    scheduler = AsyncIOScheduler(timezone=UTC)
    running = _Running(store, repos, settings, clock, metrics)
    lease_owner = owner or default_owner()
    for job in crons(settings):
        if metrics is not None:
            metrics.lease(job, held=False)
        scheduler.add_job(
            running.run,
            trigger(settings, job),
            args=(job, lease_owner),
            id=job,
            name=f"retention: {job}",
            max_instances=1,
            coalesce=True,
            misfire_grace_time=settings.job_misfire_grace_s,
            replace_existing=True,
        )
    return scheduler, running


async def run_scheduler(
    settings: Config,
    stop: asyncio.Event,
    *,
    store: Store,
    repos: Repositories,
    metrics: Metrics | None = None,
) -> None:
    """Run the scheduled jobs until `stop` is set (the caller owns the store)."""
    scheduler, running = _build(settings, store, repos, utcnow, None, metrics)
    scheduler.start()
    for job in scheduler.get_jobs():
        log.info("scheduled %s: %s, next at %s", job.id, job.trigger, job.next_run_time)
    try:
        await stop.wait()
    finally:
        scheduler.shutdown(wait=False)
        await running.stop()
