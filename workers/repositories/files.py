"""Files seen by the file-monitor: by session, by path, and a purge queue of soft deletes."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from functools import partial
from typing import Any
from uuid import UUID

from workers.ids import to_ms, utcnow
from workers.records import File
from workers.repositories.base import (
    DEFAULT_PAGE,
    Checkpoint,
    CleanupResult,
    Index,
    OnBatch,
    Page,
    Repository,
    Spec,
    cleanup_in_batches,
    cutoff_of,
    diff_indexes,
    last_element,
    scan,
)
from workers.store.keys import TenantKeys
from workers.store.port import Store, Transaction


class FileRepository(Repository):
    def create(self, tr: Transaction, file: File) -> bool:
        """Store a new file; False (and no change) if its id exists already."""
        tk = self.keys.tenant(file.tenant_id)
        if tr.get(tk.files.key(file.id)) is not None:
            return False
        tr.set(tk.files.key(file.id), file.to_json())
        diff_indexes(tr, {}, _entries(tk, file))
        return True

    def get_by_id(self, tr: Transaction, tenant_id: UUID, file_id: UUID) -> File | None:
        raw = tr.get(self.keys.tenant(tenant_id).files.key(file_id))
        return File.model_validate_json(raw) if raw is not None else None

    def get_by_path(
        self,
        tr: Transaction,
        tenant_id: UUID,
        session_id: UUID,
        path: str,
        include_deleted: bool = False,
    ) -> File | None:
        raw_id = tr.get(self.keys.tenant(tenant_id).files_by_path.key(session_id, path))
        if raw_id is None:
            return None
        file = self.get_by_id(tr, tenant_id, UUID(bytes=raw_id))
        if file is None or (file.is_deleted and not include_deleted):
            return None
        return file

    def list_by_session(
        self,
        tr: Transaction,
        tenant_id: UUID,
        session_id: UUID,
        include_deleted: bool = False,
        limit: int = DEFAULT_PAGE,
        after: str | None = None,
    ) -> Page[File]:
        """A page of the session's files; soft-deleted ones are filtered out unless asked for."""
        tk = self.keys.tenant(tenant_id)
        rows, nxt = scan(tr, tk.files_by_session.range(session_id), limit, after)
        raws = tr.get_many([tk.files.key(tk.files_by_session.tail(k)[-1]) for k, _ in rows])
        files = [File.model_validate_json(r) for r in raws if r is not None]
        return Page([f for f in files if include_deleted or not f.is_deleted], nxt)

    def update(self, tr: Transaction, file: File) -> bool:
        """Replace a file (a rename moves its path entry); False if it does not exist."""
        tk = self.keys.tenant(file.tenant_id)
        old = self.get_by_id(tr, file.tenant_id, file.id)
        if old is None:
            return False
        tr.set(tk.files.key(file.id), file.to_json())
        diff_indexes(tr, _entries(tk, old), _entries(tk, file))
        return True

    def soft_delete(
        self, tr: Transaction, tenant_id: UUID, file_id: UUID, at: datetime | None = None
    ) -> File | None:
        """Mark deleted and queue for purge; the record stays restorable until purged."""
        file = self.get_by_id(tr, tenant_id, file_id)
        if file is None or file.is_deleted:
            return file
        when = at or utcnow()
        changed = file.model_copy(
            update={"is_deleted": True, "deleted_at": when, "updated_at": when}
        )
        self.update(tr, changed)
        return changed

    def restore(self, tr: Transaction, tenant_id: UUID, file_id: UUID) -> File | None:
        file = self.get_by_id(tr, tenant_id, file_id)
        if file is None or not file.is_deleted:
            return file
        changed = file.model_copy(update={"is_deleted": False, "deleted_at": None})
        self.update(tr, changed)
        return changed

    def purge(self, tr: Transaction, file: File) -> None:
        """Remove a file for good: its record and every index entry."""
        tk = self.keys.tenant(file.tenant_id)
        tr.clear(tk.files.key(file.id))
        diff_indexes(tr, _entries(tk, file), {})

    def purge_batch(
        self,
        tr: Transaction,
        tenant_id: UUID,
        cutoff: datetime,
        limit: int,
        after: bytes | None = None,
        keep: Callable[[File], bool] | None = None,
        dry_run: bool = False,
    ) -> tuple[int, int, bytes | None]:
        """Remove for good up to `limit` files soft-deleted before `cutoff` (the purge queue).

        `keep` (e.g. a legal hold) spares a file; a `dry_run` counts and writes nothing.
        """
        tk = self.keys.tenant(tenant_id)
        begin, end = tk.files_deleted.range()[0], tk.files_deleted.key(to_ms(cutoff))
        if after is not None:
            begin = after + b"\x00"
        rows = tr.get_range(begin, end, limit=limit)
        raws = tr.get_many([tk.files.key(tk.files_deleted.tail(k)[-1]) for k, _ in rows])
        removed = kept = 0
        for (queue_key, _), raw in zip(rows, raws, strict=True):
            if raw is None:  # a queue entry without its record: drop it, never leave it dangling
                if not dry_run:
                    tr.clear(queue_key)
                continue
            file = File.model_validate_json(raw)
            if keep is not None and keep(file):
                kept += 1
                continue
            if not dry_run:
                self.purge(tr, file)
            removed += 1
        return removed, kept, None if len(rows) < limit else rows[-1][0]

    async def cleanup_deleted(
        self,
        store: Store,
        tenant_id: UUID,
        days: float,
        now: datetime | None = None,
        batch: int = 500,
        keep: Callable[[File], bool] | None = None,
        *,
        dry_run: bool = False,
        resume: CleanupResult | None = None,
        checkpoint: Checkpoint | None = None,
        on_batch: OnBatch | None = None,
    ) -> CleanupResult:
        """Purge files soft-deleted more than `days` ago, in short batches.

        The files purge job runs this too: `resume`, `checkpoint` and `on_batch` are how it
        carries on an interrupted run and keeps its lease, continuation and receipt.
        """
        cutoff = cutoff_of(now or utcnow(), days)
        return await cleanup_in_batches(
            store,
            partial(self._purge_step, tenant_id, cutoff, batch, keep, dry_run),
            on_batch,
            resume=resume,
            checkpoint=checkpoint,
            read_only=dry_run,
        )

    def _purge_step(
        self,
        tenant_id: UUID,
        cutoff: datetime,
        limit: int,
        keep: Callable[[File], bool] | None,
        dry_run: bool,
        tr: Transaction,
        after: bytes | None,
    ) -> tuple[int, int, bytes | None]:
        return self.purge_batch(tr, tenant_id, cutoff, limit, after, keep, dry_run)

    def spec(self) -> Spec[File]:
        return Spec(
            name="files",
            records=lambda tk: tk.files,
            record_id=lambda tail: tail[:1],
            load=lambda tr, tk, ident: self.get_by_id(tr, tk.tenant_id, ident[0]),
            entries=_entries,
            indexes=[
                Index("files_by_session", lambda tk: tk.files_by_session, last_element),
                Index("files_by_path", lambda tk: tk.files_by_path, _file_id_in_value),
                Index("files_deleted", lambda tk: tk.files_deleted, last_element),
            ],
        )


def _entries(tk: TenantKeys, f: File) -> dict[bytes, bytes]:
    out = {
        tk.files_by_session.key(f.workspace_session_id, f.id): b"",
        tk.files_by_path.key(f.workspace_session_id, f.file_path): f.id.bytes,
    }
    if f.is_deleted and f.deleted_at is not None:
        out[tk.files_deleted.key(to_ms(f.deleted_at), f.id)] = b""
    return out


def _file_id_in_value(tail: tuple[Any, ...], value: bytes) -> tuple[Any, ...]:
    return (UUID(bytes=value),)
