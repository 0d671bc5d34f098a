"""Running a retention job: take the lease, walk each tenant in short batches, leave receipts.

Each batch is one transaction that renews the lease, removes up to `purge_batch_size` records
and stores the continuation (or, for the last one, clears it and writes the receipt), so a kill
at any point leaves the data consistent and the run resumable.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from functools import partial
from typing import TYPE_CHECKING
from uuid import UUID

from workers.config import Config
from workers.ids import utcnow, uuid7
from workers.jobs import continuation, holds, leases, retention
from workers.jobs.clock import Clock
from workers.jobs.continuation import Continuation
from workers.jobs.holds import HoldSet
from workers.jobs.leases import LeaseLost
from workers.jobs.receipts import counts_from, receipt
from workers.jobs.retention import InvalidRetention, Retention
from workers.jobs.rules import Rule, rule
from workers.jobs.summary import JobProgress, JobSummary, TenantResult
from workers.jobs.tenants import all_tenants
from workers.repositories import Repositories
from workers.store.port import Store, Transaction

if TYPE_CHECKING:
    from workers.observability.metrics import Metrics

log = logging.getLogger(__name__)

JOBS = ("files", "audit", "dedupe")

Progress = Callable[[JobProgress], None]


async def run_job(
    job: str,
    store: Store,
    repos: Repositories,
    settings: Config,
    *,
    tenant: UUID | None = None,
    dry_run: bool = False,
    older_than_days: float | None = None,
    clock: Clock = utcnow,
    progress: Progress | None = None,
    owner: str | None = None,
    metrics: Metrics | None = None,
) -> JobSummary:
    """Run one job over one tenant or all of them. A dry run counts and writes nothing.
    `metrics` (the scheduler's) records removals, the run's duration and the lease."""
    the_rule = rule(job)
    if older_than_days is not None and older_than_days < 0:
        raise InvalidRetention(job, older_than_days)
    owner = owner or leases.default_owner()
    run = _Run(the_rule, store, repos, settings, owner, clock, dry_run, metrics)
    days = older_than_days if older_than_days is not None else the_rule.default_days(settings)
    now = clock()
    summary = JobSummary(job, the_rule.title, run.owner, dry_run, days, now - _days(days), now)
    started = time.monotonic()
    if not dry_run:
        lease = await store.transact(run.acquire)
        if lease.owner != run.owner:
            summary.skipped = f"{lease.owner} holds the lease until {lease.expires_at.isoformat()}"
            return summary
        if metrics is not None:
            metrics.lease(the_rule.name, held=True)
    try:
        for t in [tenant] if tenant is not None else await all_tenants(store, repos):
            part = await run.prepare(t, summary, older_than_days)
            summary.tenants.append(part.result)
            await run.tenant(part, progress)
    except LeaseLost as e:
        log.warning("%s stopped: %s", job, e)
        summary.interrupted = str(e)
    finally:
        summary.duration_s = time.monotonic() - started
        if not dry_run:
            if metrics is not None:  # released or not, this run no longer acts on it
                metrics.lease(the_rule.name, held=False)
                metrics.job_ran(the_rule.name, summary.duration_s)
            await store.transact(run.release)
    return summary


def _days(days: float) -> timedelta:
    return timedelta(days=days)


@dataclass
class _Tenant:
    """One tenant's part of a run: its cutoff and counts, its holds, where to resume."""

    result: TenantResult
    holds: HoldSet
    stored: Continuation | None


@dataclass
class _Run:
    rule: Rule
    store: Store
    repos: Repositories
    settings: Config
    owner: str
    clock: Clock
    dry_run: bool
    metrics: Metrics | None = None

    def acquire(self, tr: Transaction) -> leases.Lease:
        ttl = self.settings.lease_ttl_s
        return leases.acquire(tr, self.repos.keys, self.rule.name, self.owner, self.clock(), ttl)

    def release(self, tr: Transaction) -> bool:
        return leases.release(tr, self.repos.keys, self.rule.name, self.owner)

    async def prepare(
        self, tenant: UUID, summary: JobSummary, older_than_days: float | None
    ) -> _Tenant:
        """The tenant's cutoff (override-aware), holds and any continuation, in one read."""
        keys, job = self.repos.keys, self.rule.name

        def read(tr: Transaction) -> tuple[Retention, HoldSet, Continuation | None]:
            stored = None if self.dry_run else continuation.load(tr, keys, tenant, job)
            held = HoldSet.of(holds.load(tr, keys, tenant))
            return retention.load(tr, keys, tenant), held, stored

        policy, held, stored = await self.store.read(read)
        days = summary.days
        override = policy.days(job) if self.rule.overridable else None
        if older_than_days is None and override is not None:
            days = override
        cutoff = summary.started_at - _days(days)
        return _Tenant(TenantResult(tenant, days, cutoff, resumed=bool(stored)), held, stored)

    async def tenant(self, t: _Tenant, progress: Progress | None) -> None:
        result = t.result
        run = t.stored or Continuation(uuid7(), self.clock(), self.owner)
        done = False
        while not done:
            before = run.removed
            run, done = await self.store.transact(partial(self._step, t, run, time.monotonic()))
            if self.metrics is not None and not self.dry_run:
                self.metrics.purged(self.rule.name, run.removed - before)
            result.removed, result.held, result.batches = run.removed, run.held, run.seq
            result.duration_ms = run.elapsed_ms
            if progress is not None:
                tenant, dry_run = result.tenant, self.dry_run
                progress(
                    JobProgress(self.rule.name, tenant, run.removed, run.held, run.seq, dry_run)
                )
        result.complete = True
        if run.removed and not self.dry_run:
            result.receipt_id = run.run_id

    def _step(
        self, t: _Tenant, run: Continuation, mark: float, tr: Transaction
    ) -> tuple[Continuation, bool]:
        keys, job, tenant, cutoff = (
            self.repos.keys,
            self.rule.name,
            t.result.tenant,
            t.result.cutoff,
        )
        if not self.dry_run:
            leases.renew(tr, keys, job, self.owner, self.clock(), self.settings.lease_ttl_s)
            written = self.repos.audit.get_by_id(tr, tenant, run.run_id)
            if written is not None:  # our last batch committed; only its reply was lost (1021)
                return counts_from(run, written), True
            stored = continuation.load(tr, keys, tenant, job)
            if stored is not None and stored.run_id == run.run_id and stored.seq > run.seq:
                return stored, False  # the same, for a batch before the last
        limit = self.settings.purge_batch_size
        removed, held, after = self.rule.batch(
            tr, self.repos, tenant, cutoff, limit, run.after, t.holds, self.dry_run
        )
        elapsed_ms = int((time.monotonic() - mark) * 1000)
        run = run.advanced(removed, held, after, elapsed_ms, self.owner)
        if self.dry_run:
            return run, after is None
        if after is not None:
            continuation.save(tr, keys, tenant, job, run)
            return run, False
        continuation.clear(tr, keys, tenant, job)
        if run.removed:
            self.repos.audit.create(tr, receipt(tenant, job, cutoff, run, self.clock()))
        return run, True
