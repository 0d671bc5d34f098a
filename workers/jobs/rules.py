"""The three retention rules: what each removes, how far back, and how one batch runs.

Every batch method walks a time-ordered index only up to the cutoff, so cost follows what has
expired. A dry run uses the same walk with a `keep` that spares everything and counts instead.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from uuid import UUID

from workers.config import Config
from workers.errors import WorkersError
from workers.ids import to_ms
from workers.jobs.holds import HoldSet
from workers.records import Audit, File
from workers.repositories import Repositories
from workers.store.port import Transaction

BatchResult = tuple[int, int, bytes | None]  # (removed or would-remove, held back, resume after)


class UnknownJob(WorkersError):
    def __init__(self, job: str) -> None:
        super().__init__(f"unknown job {job!r}; known: {', '.join(RULES)}")


class _Tally:
    """The `keep` test of one batch attempt: spares held records, and in a dry run all of them."""

    def __init__(self, holds: HoldSet, dry_run: bool) -> None:
        self.holds, self.dry_run = holds, dry_run
        self.held = self.would = 0

    def keep(self, record: Audit | File) -> bool:
        if self.holds.covers(record.user_id, record.workspace_session_id):
            self.held += 1
            return True
        if self.dry_run:
            self.would += 1
            return True
        return False


Batch = Callable[
    [Transaction, Repositories, UUID, datetime, int, bytes | None, HoldSet, bool], BatchResult
]


def _files(
    tr: Transaction,
    repos: Repositories,
    tenant: UUID,
    cutoff: datetime,
    limit: int,
    after: bytes | None,
    holds: HoldSet,
    dry_run: bool,
) -> BatchResult:
    tally = _Tally(holds, dry_run)
    removed, _, cursor = repos.files.purge_batch(tr, tenant, cutoff, limit, after, tally.keep)
    return removed + tally.would, tally.held, cursor


def _audit(
    tr: Transaction,
    repos: Repositories,
    tenant: UUID,
    cutoff: datetime,
    limit: int,
    after: bytes | None,
    holds: HoldSet,
    dry_run: bool,
) -> BatchResult:
    tally = _Tally(holds, dry_run)
    removed, _, cursor = repos.audit.cleanup_batch(tr, tenant, cutoff, limit, after, tally.keep)
    return removed + tally.would, tally.held, cursor


def _dedupe(
    tr: Transaction,
    repos: Repositories,
    tenant: UUID,
    cutoff: datetime,
    limit: int,
    after: bytes | None,
    holds: HoldSet,  # dedupe marks are bookkeeping, not data: holds do not apply
    dry_run: bool,
) -> BatchResult:
    removed, _, cursor = repos.applied.expire_batch(
        tr, tenant, to_ms(cutoff), limit, after, dry_run=dry_run
    )
    return removed, 0, cursor


@dataclass(frozen=True)
class Rule:
    name: str  # the job name, the continuation key and the receipt's "rule"
    title: str
    default_days: Callable[[Config], float]
    batch: Batch
    overridable: bool  # a tenant may set its own period (workers.jobs.retention)


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
