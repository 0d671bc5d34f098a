"""Restoring a soft-deleted file before the purge takes it, with its FileRestored audit record."""

from __future__ import annotations

from uuid import UUID

from events.audit_types import AuditEventType
from workers.ids import utcnow, uuid7
from workers.jobs.clock import Clock
from workers.records import Audit, File
from workers.repositories import Repositories
from workers.store.port import Store, Transaction


async def restore_file(
    store: Store,
    repos: Repositories,
    tenant: UUID,
    file_id: UUID,
    clock: Clock = utcnow,
    *,
    to: str | None = None,
) -> File | None:
    """Undelete a file at its path, or at `to` (None if it is gone for good). PathOccupied if
    another file is live there. The audit record lands in the same transaction; a file that is
    not deleted is returned unchanged and audits nothing, which is also what makes a retry
    after 1021 a no-op."""
    audit_id = uuid7()  # made outside the retry loop
    at = clock()

    def restore(tr: Transaction) -> File | None:
        file = repos.files.get_by_id(tr, tenant, file_id)
        if file is None or not file.is_deleted:
            return file
        restored = repos.files.restore(tr, tenant, file_id, at=at, step_id=audit_id, to=to)
        record = Audit(
            id=audit_id,
            tenant_id=tenant,
            event_type=AuditEventType.FILE_RESTORED,
            user_id=file.user_id,
            workspace_session_id=file.workspace_session_id,
            event_data={
                "file_id": str(file.id),
                "file_path": restored.file_path if restored else file.file_path,
                "checksum": file.checksum,
                "deleted_at": file.deleted_at.isoformat() if file.deleted_at else None,
            }
            | ({"previous_path": file.file_path} if to and to != file.file_path else {}),
            occurred_at=at,
        )
        repos.audit.create(tr, record)
        return restored

    return await store.transact(restore)
