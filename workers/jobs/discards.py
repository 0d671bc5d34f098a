"""Dead letters an operator discarded (`dlq discard`), recorded in the audit trail of the
tenant each one names: the letter leaves the DLQ for good, the record says what went and why.

The record's id is derived from the letter (DLQ sequence and failure time), so discarding again
after a failure half-way writes no second record.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from uuid import NAMESPACE_URL, UUID, uuid5

from events.audit_types import AuditEventType
from workers.ids import utcnow
from workers.jobs.clock import Clock
from workers.records import Audit
from workers.repositories import Repositories
from workers.store.port import Store, Transaction

DISCARD_AUDIT_TYPE = AuditEventType.DATA_DISCARDED


@dataclass(frozen=True)
class Discarded:
    """What the audit record keeps of a letter (the DLQ's words, not NATS objects)."""

    seq: int
    subject: str
    reason: str
    failed_at: str
    body: bytes


def tenant_of(body: bytes) -> UUID | None:
    """The tenant a letter's body names, if it is a JSON object with a valid `tenant_id`."""
    try:
        data = json.loads(body)
        return UUID(str(data["tenant_id"])) if isinstance(data, dict) else None
    except (ValueError, KeyError, TypeError):
        return None


def discard_record(letter: Discarded, tenant: UUID, clock: Clock = utcnow) -> Audit:
    try:
        event_id = UUID(str(json.loads(letter.body)["event_id"]))
    except (ValueError, KeyError, TypeError):
        event_id = None
    return Audit(
        id=uuid5(NAMESPACE_URL, f"dlq-discard:{letter.seq}:{letter.failed_at}"),
        tenant_id=tenant,
        event_type=DISCARD_AUDIT_TYPE,
        event_id=event_id,
        event_data={
            "rule": "dlq_discard",
            "dlq_seq": letter.seq,
            "subject": letter.subject,
            "reason": letter.reason,
            "failed_at": letter.failed_at,
            "bytes": len(letter.body),
        },
        occurred_at=clock(),
    )


async def record_discards(
    store: Store, repos: Repositories, letters: list[Discarded], clock: Clock = utcnow
) -> int:
    """Write one audit record per letter that names a tenant (one transaction); returns how
    many letters named none (nothing to audit them under)."""
    records = [
        discard_record(letter, tenant, clock)
        for letter in letters
        if (tenant := tenant_of(letter.body)) is not None
    ]

    def write(tr: Transaction) -> None:
        for record in records:
            repos.audit.create(tr, record)
            repos.tenants.mark_seen(tr, record.tenant_id)

    if records:
        await store.transact(write)
    return len(letters) - len(records)
