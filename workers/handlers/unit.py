"""What a handler gets: the batch's transaction, the repositories, and a way to audit.

Handlers never see keys or the engine: only repositories, through this unit of work.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import Enum
from typing import Any
from uuid import UUID

from events import AuditEventType, Event
from workers.records import Audit
from workers.repositories import Repositories
from workers.store.port import Transaction


@dataclass
class Unit:
    tr: Transaction
    repos: Repositories
    audit_id: UUID  # a UUIDv7 made before the transaction, so a retry reuses it

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
    """Drop Nones; ids, times and enums as JSON values. Plain values pass untouched."""
    out: dict[str, Any] = {}
    for k, v in data.items():
        kind = type(v)
        if kind is str or kind is int or kind is bool or kind is list:
            out[k] = v
        elif v is None:
            continue
        elif kind is UUID:
            out[k] = str(v)
        elif isinstance(v, datetime):
            out[k] = v.isoformat()
        elif isinstance(v, Enum):
            out[k] = v.value
        else:
            out[k] = v
    return out
