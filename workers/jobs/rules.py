"""The three retention rules: what each removes, how far back, and which repository cleanup
runs it. The batching, resuming and dry run are the repositories' (`cleanup_in_batches`); a
rule only chooses the cleanup and what it must keep (legal holds).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime
from uuid import UUID

from workers.config import Config
from workers.errors import WorkersError
from workers.records import Audit, File
from workers.repositories import CleanupResult, Repositories
from workers.repositories.base import Checkpoint, OnBatch
from workers.repositories.holds import Hold
from workers.store.port import Store


class UnknownJob(WorkersError):
    def __init__(self, job: str) -> None:
        super().__init__(f"unknown job {job!r}; known: {', '.join(RULES)}")


@dataclass(frozen=True)
class HoldSet:
    """A tenant's holds, loaded once per run: answers "is this record covered?"."""

    tenant: bool = False
    users: frozenset[UUID] = field(default_factory=frozenset)
    sessions: frozenset[UUID] = field(default_factory=frozenset)

    def covers(self, user_id: UUID | None, session_id: UUID | None) -> bool:
        return self.tenant or user_id in self.users or session_id in self.sessions

    def keep(self, record: Audit | File) -> bool:
        """The cleanups' `keep` test: a held record is spared and counted as held back."""
        return self.covers(record.user_id, record.workspace_session_id)

    @classmethod
    def of(cls, holds: list[Hold]) -> HoldSet:
        return cls(
            tenant=any(h.kind == "tenant" for h in holds),
            users=frozenset(h.subject_id for h in holds if h.kind == "user" and h.subject_id),
            sessions=frozenset(h.subject_id for h in holds if h.kind == "session" and h.subject_id),
        )


@dataclass(frozen=True)
class Batches:
    """How a rule's cleanup runs for one tenant: batch size, holds, dry run, and the job's
    resume point, per-batch bookkeeping and progress callback."""

    limit: int
    holds: HoldSet
    dry_run: bool
    resume: CleanupResult | None = None
    checkpoint: Checkpoint | None = None
    on_batch: OnBatch | None = None


Cleanup = Callable[[Store, Repositories, UUID, float, datetime, Batches], Awaitable[CleanupResult]]
"""(store, repos, tenant, days, now, batches): one tenant's cleanup, records older than
`now - days` removed."""


def _files(
    store: Store, repos: Repositories, tenant: UUID, days: float, now: datetime, b: Batches
) -> Awaitable[CleanupResult]:
    return repos.files.cleanup_deleted(
        store,
        tenant,
        days,
        now,
        b.limit,
        b.holds.keep,
        dry_run=b.dry_run,
        resume=b.resume,
        checkpoint=b.checkpoint,
        on_batch=b.on_batch,
    )


def _audit(
    store: Store, repos: Repositories, tenant: UUID, days: float, now: datetime, b: Batches
) -> Awaitable[CleanupResult]:
    return repos.audit.cleanup_old_events(
        store,
        tenant,
        days,
        now,
        b.limit,
        b.holds.keep,
        dry_run=b.dry_run,
        resume=b.resume,
        checkpoint=b.checkpoint,
        on_batch=b.on_batch,
    )


def _dedupe(
    store: Store, repos: Repositories, tenant: UUID, days: float, now: datetime, b: Batches
) -> Awaitable[CleanupResult]:
    # dedupe marks are bookkeeping, not data: holds do not apply
    return repos.applied.cleanup_old_marks(
        store,
        tenant,
        days,
        now,
        b.limit,
        dry_run=b.dry_run,
        resume=b.resume,
        checkpoint=b.checkpoint,
        on_batch=b.on_batch,
    )


@dataclass(frozen=True)
class Rule:
    name: str  # the job name, the continuation key and the receipt's "rule"
    title: str
    default_days: Callable[[Config], float]
    cleanup: Cleanup
    overridable: bool  # a tenant may set its own period (repos.retention)


RULES: dict[str, Rule] = {
    r.name: r
    for r in (
        Rule("files", "files purge", lambda s: s.file_purge_after_days, _files, True),
        Rule("audit", "audit retention", lambda s: s.audit_retention_days, _audit, True),
        Rule("dedupe", "dedupe expiry", lambda s: s.dedupe_horizon_days, _dedupe, False),
    )
}


def rule(job: str) -> Rule:
    try:
        return RULES[job]
    except KeyError:
        raise UnknownJob(job) from None
