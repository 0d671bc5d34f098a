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
from workers.repositories.audit_seal import PurgeSigning
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
    signing: PurgeSigning | None = None  # signs what the audit purge removes of the sealed trail


CleanupMethod = Callable[..., Awaitable[CleanupResult]]
"""A repository's cleanup: (store, tenant, days, now, batch[, keep], *, dry_run, resume,
checkpoint, on_batch), removing the tenant's records older than `now - days`."""


@dataclass(frozen=True)
class Rule:
    name: str  # the job name, the continuation key and the receipt's "rule"
    title: str
    default_days: Callable[[Config], float]
    cleanup_of: Callable[[Repositories], CleanupMethod]  # the repository cleanup that runs it
    held: bool  # legal holds apply: records are data (dedupe marks are bookkeeping)
    overridable: bool  # a tenant may set its own period (repos.retention)
    signs: bool = False  # its cleanup signs purge statements (the audit trail's)

    def cleanup(
        self,
        store: Store,
        repos: Repositories,
        tenant: UUID,
        days: float,
        now: datetime,
        b: Batches,
    ) -> Awaitable[CleanupResult]:
        """One tenant's cleanup under this rule."""
        keep = (b.holds.keep,) if self.held else ()
        signing = {"signing": b.signing} if self.signs else {}
        return self.cleanup_of(repos)(
            store,
            tenant,
            days,
            now,
            b.limit,
            *keep,
            dry_run=b.dry_run,
            resume=b.resume,
            checkpoint=b.checkpoint,
            on_batch=b.on_batch,
            **signing,
        )


RULES: dict[str, Rule] = {
    r.name: r
    for r in (
        Rule(
            "files",
            "files purge",
            lambda s: s.file_purge_after_days,
            lambda r: r.files.cleanup_deleted,
            held=True,
            overridable=True,
        ),
        Rule(
            "audit",
            "audit retention",
            lambda s: s.audit_retention_days,
            lambda r: r.audit.cleanup_old_events,
            held=True,
            overridable=True,
            signs=True,
        ),
        Rule(
            "dedupe",
            "dedupe expiry",
            lambda s: s.dedupe_horizon_days,
            lambda r: r.cleanup_past_horizon,  # marks, settings' tombstones, file histories
            held=False,
            overridable=False,
        ),
    )
}


def rule(job: str) -> Rule:
    try:
        return RULES[job]
    except KeyError:
        raise UnknownJob(job) from None
