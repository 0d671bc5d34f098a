"""What a handler gets: the batch's transaction, the repositories, and a way to audit.

Handlers never see keys or the engine: only repositories, through this unit of work.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from uuid import UUID

from events import AuditEventType, Event
from workers.models import Audit
from workers.repositories import Repositories
from workers.store.port import Transaction


@dataclass
class BatchMemo:
    """What earlier events of the same batch established (saves repeated reads)."""

    conversations: set[tuple[UUID, UUID]] = field(default_factory=set)


@dataclass
class Unit:
    tr: Transaction
    repos: Repositories
    audit_id: UUID  # a UUIDv7 made before the transaction, so a retry reuses it
    memo: BatchMemo

    def audit(self, event: Event, event_type: AuditEventType, /, **data: Any) -> None:
        """The audit record of this event, in the same transaction as its effects."""
        record = Audit(
            id=self.audit_id,
            tenant_id=event.tenant_id,
            event_type=event_type,
            user_id=event.user_id,
            workspace_session_id=event.workspace_session_id,
            event_id=event.event_id,
            event_data={"source": event.source, **_jsonable(data)},
            ip_address=str(event.ip_address) if event.ip_address else None,
            user_agent=event.user_agent,
            occurred_at=event.occurred_at,
        )
        self.repos.audit.add(self.tr, record)


def _jsonable(data: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for k, v in data.items():
        if v is None:
            continue
        if isinstance(v, UUID | datetime):
            v = v.isoformat() if isinstance(v, datetime) else str(v)
        out[k] = v.value if hasattr(v, "value") and not isinstance(v, int | str) else v
    return out
