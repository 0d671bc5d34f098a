"""file.changed from the file-monitor: the File record, its path index, and its audit.

Events for one file may arrive out of order (two workers on a durable, a redelivery): one older
than the stored state is audited (marked stale) and never changes whether the file is live; its
content still counts if it is newer than the stored content (`File.content_at`). Content changes
and deletes are ordered by `last_event_at`; accesses only by `last_accessed_at`, so a late
`modified` is never hidden behind a newer `accessed`. A delete of a file not seen yet leaves a
deleted record (a tombstone, purged like any deleted file) so that an older `created` arriving
after it stays deleted.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from events import AuditEventType, FileChange, FileChanged
from workers.handlers.unit import Unit
from workers.ids import derived_id
from workers.records import File

AUDIT_TYPES = {
    FileChange.CREATED: AuditEventType.FILE_CREATED,
    FileChange.MODIFIED: AuditEventType.FILE_UPDATED,
    FileChange.RENAMED: AuditEventType.FILE_UPDATED,
    FileChange.DELETED: AuditEventType.FILE_DELETED,
    FileChange.ACCESSED: AuditEventType.FILE_ACCESSED,
}
NO_CONTENT_YET = datetime(1970, 1, 1, tzinfo=UTC)  # a file first seen through an access


def on_file_changed(unit: Unit, event: FileChanged) -> None:
    files, tr = unit.repos.files, unit.tr
    lookup = event.previous_path if event.change == FileChange.RENAMED else event.file_path
    assert lookup is not None  # the model requires previous_path for a rename
    current = files.get_by_path(
        tr, event.tenant_id, event.workspace_session_id, lookup, include_deleted=True
    )
    audit = dict(
        file_path=event.file_path,
        previous_path=event.previous_path,
        change=event.change.value,
        checksum=event.checksum,
        file_size=event.file_size,
    )
    if current is not None and _is_stale(event, current):
        _merge_older_content(unit, event, current)
        unit.audit(event, AUDIT_TYPES[event.change], **audit, file_id=current.id, stale=True)
        return
    replaced: list[File] = []
    result = _apply(unit, event, current, replaced)
    unit.audit(
        event,
        AUDIT_TYPES[event.change],
        **audit,
        file_id=result.id if result else None,
        replaced_file_id=replaced[0].id if replaced else None,  # overwritten at its path
    )


def _merge_older_content(unit: Unit, event: FileChanged, current: File) -> None:
    """A stale event's content still counts when it is newer than the stored content: the
    file's content is its newest content event's, whatever arrives first (a delete that
    overtook its file's `created` keeps the deleted file with that content)."""
    if event.change not in (FileChange.CREATED, FileChange.MODIFIED):
        return
    content = _content(event)
    if not content:
        return
    content_at = current.content_at
    if content_at is None and current.checksum is not None:
        content_at = current.last_event_at  # a record from before `content_at`: its last event
    if content_at is not None and event.occurred_at <= content_at:
        return
    merged = current.model_copy(update=content | {"content_at": event.occurred_at})
    unit.repos.files.update(unit.tr, merged)


def _is_stale(event: FileChanged, current: File) -> bool:
    if event.change == FileChange.ACCESSED:
        return current.last_accessed_at is not None and event.occurred_at < current.last_accessed_at
    return event.occurred_at < current.last_event_at


def _apply(
    unit: Unit, event: FileChanged, current: File | None, replaced: list[File]
) -> File | None:
    files, tr = unit.repos.files, unit.tr
    change = event.change
    if current is None or (change == FileChange.CREATED and current.is_deleted):
        if current is not None:
            files.purge(tr, current)  # re-created at a deleted file's path: a new file
        return _create(unit, event, replaced)
    update: dict[str, Any]
    if change == FileChange.ACCESSED:
        update = {"last_accessed_at": event.occurred_at}
    elif change == FileChange.DELETED:
        if current.is_deleted:
            return current
        at = event.occurred_at
        update = {"is_deleted": True, "deleted_at": at, "updated_at": at, "last_event_at": at}
    else:
        update = _content(event) | {"updated_at": event.occurred_at}
        if _content(event):
            update["content_at"] = event.occurred_at
        update |= {"is_deleted": False, "deleted_at": None, "last_event_at": event.occurred_at}
    if change == FileChange.RENAMED:
        _free_path(unit, event, current, replaced)
        update["file_path"] = event.file_path
    changed = current.model_copy(update=update)
    files.update(tr, changed)
    return changed


def _create(unit: Unit, event: FileChanged, replaced: list[File]) -> File:
    _free_path(unit, event, None, replaced)
    at = event.occurred_at
    accessed = event.change == FileChange.ACCESSED
    deleted = event.change == FileChange.DELETED
    file = File(
        tenant_id=event.tenant_id,
        id=derived_id(event.tenant_id, event.event_id),
        workspace_session_id=event.workspace_session_id,
        user_id=event.user_id,
        file_path=event.file_path,
        created_at=at,
        updated_at=at,
        last_event_at=NO_CONTENT_YET if accessed else at,
        last_accessed_at=at if accessed else None,
        is_deleted=deleted,
        deleted_at=at if deleted else None,
        content_at=at if _content(event) else None,
        **_content(event),
    )
    unit.repos.files.create(unit.tr, file)
    return file


def _free_path(unit: Unit, event: FileChanged, moving: File | None, replaced: list[File]) -> None:
    """A file renamed or created onto an occupied path replaces the occupant, as on disk;
    the occupant's id goes into the event's audit record."""
    files = unit.repos.files
    occupant = files.get_by_path(
        unit.tr, event.tenant_id, event.workspace_session_id, event.file_path, include_deleted=True
    )
    if occupant is not None and (moving is None or occupant.id != moving.id):
        files.purge(unit.tr, occupant)
        replaced.append(occupant)


def _content(event: FileChanged) -> dict[str, Any]:
    fields = {
        "file_size": event.file_size,
        "mime_type": event.mime_type,
        "checksum": event.checksum,
    }
    return {k: v for k, v in fields.items() if v is not None}
