"""file.changed from the file-monitor: a step of its session's file history, and its audit.

What each change does is `repositories/file_fold.py`; `files.apply` keeps the files equal to the
fold of the steps in (occurred_at, event_id) order whatever order they arrive in. The audit
record describes the event alone (no file id: which file an event touched can change when an
older event arrives later), so it too is the same in any order.
"""

from __future__ import annotations

from events import AuditEventType, FileChange, FileChanged
from workers.handlers.unit import Unit
from workers.records import FileStep, version_of

AUDIT_TYPES = {
    FileChange.CREATED: AuditEventType.FILE_CREATED,
    FileChange.MODIFIED: AuditEventType.FILE_UPDATED,
    FileChange.RENAMED: AuditEventType.FILE_UPDATED,
    FileChange.DELETED: AuditEventType.FILE_DELETED,
    FileChange.ACCESSED: AuditEventType.FILE_ACCESSED,
}


def on_file_changed(work: list[tuple[Unit, FileChanged]]) -> None:
    """A run of file events of one batch, in order: the state of all their paths is read
    together (one read for the batch instead of one per event), then each is folded in turn."""
    if not work:
        return
    first = work[0][0]
    first.repos.files.apply_many(first.tr, [_step(event) for _, event in work])
    for unit, event in work:
        unit.audit(
            event,
            AUDIT_TYPES[event.change],
            file_path=event.file_path,
            previous_path=event.previous_path,
            change=event.change.value,
            checksum=event.checksum,
            file_size=event.file_size,
        )


def _step(event: FileChanged) -> FileStep:
    return FileStep(
        tenant_id=event.tenant_id,
        workspace_session_id=event.workspace_session_id,
        version=version_of(event.occurred_at, event.event_id),
        change=event.change.value,
        file_path=event.file_path,
        previous_path=event.previous_path if event.change == FileChange.RENAMED else None,
        event_id=event.event_id,
        user_id=event.user_id,
        occurred_at=event.occurred_at,
        file_size=event.file_size,
        mime_type=event.mime_type,
        checksum=event.checksum,
    )
