"""Dedupe marks: one per applied event, written in the same transaction as its effects.

The mark is what makes a redelivered event, or a transaction retried after 1021, a no-op.
A second key ordered by time lets the expiry job find old marks in O(expired).
"""

from __future__ import annotations

from datetime import datetime
from functools import partial
from uuid import UUID

from workers.ids import to_ms, utcnow
from workers.repositories.base import (
    Checkpoint,
    CleanupResult,
    OnBatch,
    cleanup_in_batches,
    cutoff_of,
    expire_before,
)
from workers.store.keys import Keys
from workers.store.port import Store, Transaction


class AppliedEvents:
    def __init__(self, keys: Keys) -> None:
        self.keys = keys

    def applied(self, tr: Transaction, events: list[tuple[UUID, UUID]]) -> list[bool]:
        """For (tenant_id, event_id) pairs: has each been applied? One read for the batch."""
        marks = [self.keys.tenant(t).applied.key(e) for t, e in events]
        return [raw is not None for raw in tr.get_many(marks)]

    def mark(self, tr: Transaction, tenant_id: UUID, event_id: UUID, ms: int) -> None:
        tk = self.keys.tenant(tenant_id)
        tr.set(tk.applied.key(event_id), ms.to_bytes(8, "big"))
        tr.set(tk.applied_by_ms.key(ms, event_id), b"")

    def expire_batch(
        self,
        tr: Transaction,
        tenant_id: UUID,
        cutoff_ms: int,
        limit: int,
        after: bytes | None = None,
        dry_run: bool = False,
    ) -> tuple[int, int, bytes | None]:
        """Forget up to `limit` marks applied before `cutoff_ms` (past the redelivery horizon).

        `dry_run` counts them without clearing anything.
        """
        tk = self.keys.tenant(tenant_id)
        return expire_before(
            tr,
            tk.applied_by_ms,
            cutoff_ms,
            limit,
            after,
            dry_run,
            lambda tail: tk.applied.key(tail[-1]),  # tail: (ms, event_id)
        )

    async def cleanup_old_marks(
        self,
        store: Store,
        tenant_id: UUID,
        horizon_days: float,
        now: datetime | None = None,
        batch: int = 500,
        *,
        dry_run: bool = False,
        resume: CleanupResult | None = None,
        checkpoint: Checkpoint | None = None,
        on_batch: OnBatch | None = None,
    ) -> CleanupResult:
        """Forget every mark applied more than `horizon_days` ago, in short batches: the dedupe
        expiry job's cleanup. Marks are bookkeeping, not data: nothing is ever kept back."""
        cutoff_ms = to_ms(cutoff_of(now or utcnow(), horizon_days))
        return await cleanup_in_batches(
            store,
            partial(self._expire_step, tenant_id, cutoff_ms, batch, dry_run),
            on_batch,
            resume=resume,
            checkpoint=checkpoint,
            read_only=dry_run,
        )

    def _expire_step(
        self,
        tenant_id: UUID,
        cutoff_ms: int,
        limit: int,
        dry_run: bool,
        tr: Transaction,
        after: bytes | None,
    ) -> tuple[int, int, bytes | None]:
        return self.expire_batch(tr, tenant_id, cutoff_ms, limit, after, dry_run)
