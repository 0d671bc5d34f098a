"""Dedupe marks: one per applied event, written in the same transaction as its effects.

The mark is what makes a redelivered event, or a transaction retried after 1021, a no-op.
A second key ordered by time lets the expiry job find old marks in O(expired).
"""

from __future__ import annotations

from uuid import UUID

from workers.repositories.base import (
    expire_before,
)
from workers.store.keys import Keys
from workers.store.port import Transaction


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
