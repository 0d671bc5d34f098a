"""Running a retention job: take the lease, run each tenant's cleanup, leave receipts.

The cleanup itself is the repositories' (`cleanup_deleted`, `cleanup_old_events`, and for the
dedupe expiry `Repositories.cleanup_past_horizon`): short batches, each
one transaction. The job adds its bookkeeping to each batch's transaction (`_Checkpoint`): it
renews the lease, stores the continuation (or, for the last batch, clears it and writes the
receipt), so a kill at any point leaves the data consistent and the run resumable.
"""

from __future__ import annotations

import logging
import os
import secrets
import socket
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING
from uuid import UUID

from workers.config import Config
from workers.ids import utcnow, uuid7
from workers.jobs.clock import Clock
from workers.jobs.receipts import counts_from, receipt
from workers.jobs.rules import Batches, HoldSet, Rule, rule
from workers.jobs.summary import JobProgress, JobSummary, TenantResult
from workers.repositories import CleanupResult, Repositories
from workers.repositories.audit_seal import PurgeSigning
from workers.repositories.audit_signing import Signer
from workers.repositories.base import cutoff_of
from workers.repositories.cursors import Continuation
from workers.repositories.leases import Lease, LeaseLost
from workers.repositories.retention import InvalidRetention, Retention
from workers.store.port import Store, Transaction

if TYPE_CHECKING:
    from workers.observability.metrics import Metrics

log = logging.getLogger(__name__)

JOBS = ("files", "audit", "dedupe")

Progress = Callable[[JobProgress], None]


def default_owner() -> str:
    """host:pid:random, unique per run so two runs in one process never share a lease."""
    return f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(3)}"


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
    owner = owner or default_owner()
    days = older_than_days if older_than_days is not None else the_rule.default_days(settings)
    now = clock()
    run = _Run(the_rule, store, repos, settings, owner, clock, now, dry_run, metrics)
    summary = JobSummary(job, the_rule.title, run.owner, dry_run, days, cutoff_of(now, days), now)
    started = time.monotonic()
    if not dry_run:
        lease = await store.transact(run.acquire)
        if lease.owner != run.owner:
            summary.skipped = f"{lease.owner} holds the lease until {lease.expires_at.isoformat()}"
            return summary
        if metrics is not None:
            metrics.lease(the_rule.name, held=True)
    try:
        for t in [tenant] if tenant is not None else await repos.tenants.all(store):
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
    started_at: datetime  # every tenant's cutoff counts back from here
    dry_run: bool
    metrics: Metrics | None = None

    def acquire(self, tr: Transaction) -> Lease:
        ttl = self.settings.lease_ttl_s
        return self.repos.leases.acquire(tr, self.rule.name, self.owner, self.clock(), ttl)

    def release(self, tr: Transaction) -> bool:
        return self.repos.leases.release(tr, self.rule.name, self.owner)

    async def prepare(
        self, tenant: UUID, summary: JobSummary, older_than_days: float | None
    ) -> _Tenant:
        """The tenant's cutoff (override-aware), holds and any continuation, in one read."""
        repos, job = self.repos, self.rule.name

        def read(tr: Transaction) -> tuple[Retention, HoldSet, Continuation | None]:
            stored = None if self.dry_run else repos.cursors.get(tr, tenant, job)
            held = HoldSet.of(repos.holds.list(tr, tenant))
            return repos.retention.get(tr, tenant), held, stored

        policy, held, stored = await self.store.read(read)
        days = summary.days
        override = policy.days(job) if self.rule.overridable else None
        if older_than_days is None and override is not None:
            days = override
        cutoff = cutoff_of(self.started_at, days)
        return _Tenant(TenantResult(tenant, days, cutoff, resumed=stored is not None), held, stored)

    def signing(self, run_id: UUID) -> PurgeSigning | None:
        """How the audit purge signs what it removes of the sealed trail (a key configured)."""
        path = self.settings.audit_signing_key_file
        if path is None or self.dry_run or not self.rule.signs:
            return None
        return PurgeSigning(Signer.from_file(path), run_id, self.clock())

    async def tenant(self, t: _Tenant, progress: Progress | None) -> None:
        """Run the rule's cleanup for one tenant, from its continuation if it has one."""
        result, stored, job = t.result, t.stored, self.rule.name
        run_id = stored.run_id if stored else uuid7()
        began = stored.started_at if stored else self.clock()
        counted = stored.removed if stored else 0

        def on_batch(so_far: CleanupResult) -> None:
            nonlocal counted
            if self.metrics is not None and not self.dry_run:
                self.metrics.purged(job, so_far.removed - counted)
            counted = so_far.removed
            result.removed, result.held = so_far.removed, so_far.kept
            result.batches, result.duration_ms = so_far.batches, so_far.elapsed_ms
            if progress is not None:
                r = result
                progress(JobProgress(job, r.tenant, r.removed, r.held, r.batches, self.dry_run))

        keeper = _Checkpoint(self, result.tenant, result.cutoff, run_id, began)
        batches = Batches(
            limit=self.settings.purge_batch_size,
            holds=t.holds,
            dry_run=self.dry_run,
            resume=stored.progress() if stored else None,
            checkpoint=None if self.dry_run else keeper,  # a dry run keeps nothing
            on_batch=on_batch,
            signing=self.signing(run_id),
        )
        final = await self.rule.cleanup(
            self.store, self.repos, result.tenant, result.days, self.started_at, batches
        )
        result.complete = True
        if final.removed and not self.dry_run:
            result.receipt_id = run_id


@dataclass(frozen=True)
class _Checkpoint:
    """The job's bookkeeping inside each batch's transaction (see `Checkpoint`): renew the
    lease, recognise a batch that already committed (a retry after 1021), then store the
    continuation, or clear it and leave the receipt."""

    run: _Run
    tenant: UUID
    cutoff: datetime
    run_id: UUID
    started_at: datetime

    def begin(self, tr: Transaction, so_far: CleanupResult) -> tuple[CleanupResult, bool] | None:
        repos, job, owner = self.run.repos, self.run.rule.name, self.run.owner
        repos.leases.renew(tr, job, owner, self.run.clock(), self.run.settings.lease_ttl_s)
        written = repos.audit.get_by_id(tr, self.tenant, self.run_id)
        if written is not None:  # our last batch committed; only its reply was lost (1021)
            return counts_from(written), True
        stored = repos.cursors.get(tr, self.tenant, job)
        if stored is not None and stored.run_id == self.run_id and stored.seq > so_far.batches:
            return stored.progress(), False  # the same, for a batch before the last
        return None

    def end(self, tr: Transaction, so_far: CleanupResult, done: bool) -> None:
        repos, job = self.run.repos, self.run.rule.name
        cont = Continuation.of(self.run_id, self.started_at, self.run.owner, so_far)
        if not done:
            repos.cursors.save(tr, self.tenant, job, cont)
            return
        repos.cursors.clear(tr, self.tenant, job)
        if so_far.removed:
            repos.audit.create(tr, receipt(self.tenant, job, self.cutoff, cont, self.run.clock()))
