"""Deletion receipts: a DataPurged audit record in each tenant a run removed something from.

The receipt's id is the run's id, and it is written in the run's last batch transaction, so a
run that is killed, resumed or retried after 1021 leaves exactly one receipt.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime
from uuid import UUID

from events.audit_types import AuditEventType
from workers.jobs.continuation import Continuation
from workers.records import Audit


def receipt(
    tenant: UUID, rule: str, cutoff: datetime, run: Continuation, occurred_at: datetime
) -> Audit:
    """`occurred_at` is now: a receipt is never older than the cutoff of the purge writing it."""
    return Audit(
        id=run.run_id,
        tenant_id=tenant,
        event_type=AuditEventType.DATA_PURGED,
        event_data={
            "rule": rule,
            "cutoff": cutoff.isoformat(),
            "removed": run.removed,
            "held_back": run.held,
            "batches": run.seq,
            "duration_ms": run.elapsed_ms,
            "dry_run": False,
            "owner": run.owner,
            "started_at": run.started_at.isoformat(),
        },
        occurred_at=occurred_at,
    )


def counts_from(run: Continuation, written: Audit) -> Continuation:
    """A run's final counts as its receipt recorded them (the commit landed, its reply did not)."""
    data = written.event_data

    def count(name: str) -> int:
        value = data.get(name)
        return value if isinstance(value, int) else 0

    return replace(
        run,
        seq=count("batches"),
        removed=count("removed"),
        held=count("held_back"),
        elapsed_ms=count("duration_ms"),
    )
