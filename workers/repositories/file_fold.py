"""What each change does to a session's files: the fold step, with no storage.

The stored files are this fold over the steps sorted by version (occurred_at, then event id),
whatever order they arrive in: `files.apply` feeds it the steps of the paths a late step
touches, from the state before it (see docs/architecture.md, "Convergence").

- created / modified: a live path keeps its file (id) and takes the new content; a path that
  is not live gets a new file, its id derived from the event.
- deleted: the live file is gone (soft-deleted, restorable until the purge).
- accessed: a live file's last access; nothing on a path that is not live.
- renamed A → B: A's file moves to B; onto a live B, B keeps its id and takes A's content and
  A's file is gone (an editor's atomic save keeps the file's id). From a path that is not live:
  B becomes live (a new file without content, unless B is live already).
- restored: a gone file is live again at the step's path, unless that path is live.
"""

from __future__ import annotations

from typing import Any
from uuid import UUID

from workers.ids import derived_id
from workers.records import File, FileStep

CONTENT = ("file_size", "mime_type", "checksum")


class Fold:
    """The live file at each path (None: not live) and the files that went gone meanwhile."""

    def __init__(self, live: dict[str, File | None]) -> None:
        self.live = live
        self.gone: dict[UUID, File] = {}

    def apply(self, step: FileStep) -> None:
        if step.change == "renamed" and step.previous_path is not None:
            self._rename(step, step.previous_path, step.file_path)
        elif step.change in ("created", "modified"):
            current = self.live.get(step.file_path)
            if current is None:
                self.live[step.file_path] = _new_file(step, step.file_path, _content_of(step))
            else:
                self.live[step.file_path] = _changed(current, step, **_content_of(step))
        elif step.change == "deleted":
            current = self.live.get(step.file_path)
            if current is not None:
                self._go(current, step)
                self.live[step.file_path] = None
        elif step.change == "accessed":
            current = self.live.get(step.file_path)
            if current is not None:
                self.live[step.file_path] = current.model_copy(
                    update={"last_accessed_at": step.occurred_at}
                )
        elif step.change == "restored" and step.restored is not None:
            self._restore(step, step.restored)

    def _rename(self, step: FileStep, source: str, target: str) -> None:
        moving, occupant = self.live.get(source), self.live.get(target)
        self.live[source] = None
        if moving is None:
            self.live[target] = (
                _new_file(step, target, {}) if occupant is None else _changed(occupant, step)
            )
        elif occupant is None or occupant.id == moving.id:
            self.live[target] = _changed(moving, step, file_path=target)
        else:
            content = {k: getattr(moving, k) for k in CONTENT}
            self.live[target] = _changed(
                occupant, step, **content, content_at=moving.content_at or step.occurred_at
            )
            self._go(moving, step)

    def _restore(self, step: FileStep, file: File) -> None:
        if any(f is not None and f.id == file.id for f in self.live.values()):
            return  # live already
        if self.live.get(step.file_path) is not None:
            self.gone.setdefault(file.id, file)  # stays gone, as it was
            return
        last = self.gone.pop(file.id, file)
        self.live[step.file_path] = last.model_copy(
            update={
                "file_path": step.file_path,
                "is_deleted": False,
                "deleted_at": None,
                "deleted_version": None,
            }
        )

    def _go(self, file: File, step: FileStep) -> None:
        at = step.occurred_at
        self.gone[file.id] = file.model_copy(
            update={
                "is_deleted": True,
                "deleted_at": at,
                "deleted_version": step.version,
                "updated_at": at,
                "last_event_at": at,
            }
        )


def _content_of(step: FileStep) -> dict[str, Any]:
    content: dict[str, Any] = {k: getattr(step, k) for k in CONTENT if getattr(step, k) is not None}
    if content:
        content["content_at"] = step.occurred_at
    return content


def _changed(file: File, step: FileStep, **update: Any) -> File:
    at = step.occurred_at
    return file.model_copy(update=update | {"updated_at": at, "last_event_at": at})


def _new_file(step: FileStep, path: str, content: dict[str, Any]) -> File:
    at = step.occurred_at
    return File(
        tenant_id=step.tenant_id,
        id=derived_id(step.tenant_id, step.event_id),
        workspace_session_id=step.workspace_session_id,
        user_id=step.user_id,
        file_path=path,
        created_at=at,
        updated_at=at,
        last_event_at=at,
        **content,
    )
