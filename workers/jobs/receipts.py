"""Deletion receipts: a DataPurged audit record in each tenant a run removed something from.

The receipt's id is the run's id, and it is written in the run's last batch transaction, so a
run that is killed, resumed or retried after 1021 leaves exactly one receipt. Its `event_data`
goes through `PurgeReceipt` both ways, so a damaged receipt is named, not a KeyError.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated
from uuid import UUID

from pydantic import BaseModel, PlainSerializer, ValidationError

from events.audit_types import AuditEventType
from workers.records import Audit
from workers.repositories import CleanupResult, CorruptValue
from workers.repositories.cursors import Continuation

IsoTime = Annotated[datetime, PlainSerializer(datetime.isoformat, return_type=str)]
"""`isoformat()` text ("+00:00"), as receipts have always carried it."""


class PurgeReceipt(BaseModel):
    """A receipt's `event_data`."""

    rule: str
    cutoff: IsoTime
    removed: int
    held_back: int
    batches: int
    duration_ms: int
    dry_run: bool = False
    owner: str
    started_at: IsoTime


def receipt(
    tenant: UUID, rule: str, cutoff: datetime, run: Continuation, occurred_at: datetime
) -> Audit:
    """`occurred_at` is now: a receipt is never older than the cutoff of the purge writing it."""
    data = PurgeReceipt(
        rule=rule,
        cutoff=cutoff,
        removed=run.removed,
        held_back=run.held,
        batches=run.seq,
        duration_ms=run.elapsed_ms,
        owner=run.owner,
        started_at=run.started_at,
    )
    return Audit(
        id=run.run_id,
        tenant_id=tenant,
        event_type=AuditEventType.DATA_PURGED,
        event_data=data.model_dump(mode="json"),
        occurred_at=occurred_at,
    )


def counts_from(written: Audit) -> CleanupResult:
    """A run's final totals as its receipt recorded them (the commit landed, its reply did not)."""
    try:
        data = PurgeReceipt.model_validate(written.event_data)
    except ValidationError as e:
        raise CorruptValue(f"receipt {written.id} in tenant {written.tenant_id}", e) from None
    return CleanupResult(data.removed, data.held_back, data.batches, None, data.duration_ms)
