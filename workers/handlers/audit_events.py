"""audit.<event_type>: an audit record only (logins, session events, API errors …)."""

from __future__ import annotations

from events import AuditReported
from events.subjects import audit_type_for_subject
from workers.handlers.unit import Unit


def on_audit_reported(unit: Unit, event: AuditReported, subject: str) -> None:
    event_type = audit_type_for_subject(subject)
    assert event_type is not None, subject  # the dispatcher only routes producer audit subjects
    unit.audit(
        event,
        event_type,
        **dict(event.event_data),
        status_code=event.status_code,
        error=event.error,
    )
