"""Files seen by the file-monitor: by session, by path, and a purge queue of soft deletes.

`apply` is the one way file events and restores change files: a step newer than everything
kept for its paths is folded onto their current state; a late one re-folds the paths it
touches (through renames, both ways) from the history entry before it (`file_fold`,
`file_history`), so the files are the fold of the steps in version order, whatever order they
arrive in.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime
from functools import partial
from typing import Any, Literal
from uuid import UUID

from workers.errors import PathOccupied
from workers.ids import to_ms, utcnow
from workers.records import File, FileHistoryEntry, FileStep, legacy_version, version_of
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
from workers.repositories.file_fold import Fold
from workers.repositories.file_history import FileHistory
from workers.store.keys import Keys, TenantKeys
from workers.store.port import Store, Transaction

Fate = Literal["applied", "duplicate", "too late"]
Where = tuple[UUID, UUID, str]  # tenant, session, path


@dataclass
class Known:
    """What `apply_many` read for a run of steps in one go: each path's head, the live file of
    the paths without one, each tenant's cutoff. An entry is used once (a step's own writes
    are read back from the transaction); a re-fold, which writes other paths, forgets all."""

    heads: dict[Where, FileHistoryEntry | None] = field(default_factory=dict)
    live: dict[Where, File | None] = field(default_factory=dict)
    cutoffs: dict[UUID, str | None] = field(default_factory=dict)


class FileRepository(Repository):
    def __init__(self, keys: Keys) -> None:
        super().__init__(keys)
        self.history = FileHistory(keys)

    def apply_many(self, tr: Transaction, steps: list[FileStep]) -> list[Fate]:
        """`apply` for a run of steps, in order, their paths' state read in one go."""
        where = list(
            dict.fromkeys(
                (s.tenant_id, s.workspace_session_id, p) for s in steps for p in s.paths()
            )
        )
        known = Known(heads=self.history.latest_many(tr, where))
        unseen = [w for w in where if known.heads[w] is None]
        if unseen:
            known.live = self._live_many(tr, unseen)
            for tenant in {t for t, _, _ in unseen}:
                known.cutoffs[tenant] = self.history.cutoff(tr, self.keys.tenant(tenant))
        return [self.apply(tr, step, known) for step in steps]

    def apply(self, tr: Transaction, step: FileStep, known: Known | None = None) -> Fate:
        """Fold one step into the session's files. "duplicate": it is in the history already;
        "too late": older than the compacted history (past the dedupe horizon), so it changes
        nothing."""
        tk = self.keys.tenant(step.tenant_id)
        session, version = step.workspace_session_id, step.version
        known = known or Known()
        live: dict[str, File | None] = {}
        carried: dict[str, File] = {}  # live files of paths without a history yet
        unseen: set[str] = set()
        for path in step.paths():
            where = (step.tenant_id, session, path)
            if where in known.heads:
                head = known.heads.pop(where)
            else:
                head = self.history.latest(tr, tk, session, path)
            if head is None:
                unseen.add(path)
                if where in known.live:
                    live[path] = found = known.live.pop(where)
                    if found is not None:
                        carried[path] = found
                else:
                    live[path] = self._carried(tr, step, path, carried)
            elif head.version == version:
                return "duplicate"
            elif head.version < version:
                live[path] = head.after
            else:
                known.heads.clear()  # the re-fold writes other paths' heads
                known.live.clear()
                return self._refold(tr, tk, step)
        if unseen and self._too_late(tr, tk, step, carried.values(), known):
            return "too late"
        before = {f.id: f for f in live.values() if f is not None}  # == their stored records
        stored = before | ({step.restored.id: step.restored} if step.restored else {})
        self._fold(tr, tk, step, live, {path: [] for path in live}, carried, unseen, stored)
        return "applied"

    def _refold(self, tr: Transaction, tk: TenantKeys, step: FileStep) -> Fate:
        """A step older than its paths' newest: fold again every step from it on, over the
        paths it reaches through renames, from the entries just before it."""
        session, version = step.workspace_session_id, step.version
        live: dict[str, File | None] = {}
        later: dict[str, list[FileHistoryEntry]] = {}
        carried: dict[str, File] = {}
        unseen: set[str] = set()
        queue = list(step.paths())
        while queue:
            path = queue.pop()
            if path in live:
                continue
            since = self.history.since(tr, tk, session, path, version)
            if since and since[0].version == version:
                return "duplicate"
            if any(e.step is None for e in since):
                return "too late"  # older than the state this path's history starts from
            if since:
                prior = self.history.before(tr, tk, session, path, version)
                live[path] = prior.after if prior is not None else None
            elif (head := self.history.latest(tr, tk, session, path)) is not None:
                live[path] = head.after
            else:
                unseen.add(path)
                live[path] = self._carried(tr, step, path, carried)
            later[path] = since
            for e in since:
                queue.extend(e.step.paths() if e.step else ())
        if self._too_late(tr, tk, step, carried.values()):
            return "too late"
        self._fold(tr, tk, step, live, later, carried, unseen)
        return "applied"

    def _fold(
        self,
        tr: Transaction,
        tk: TenantKeys,
        step: FileStep,
        live: dict[str, File | None],
        later: dict[str, list[FileHistoryEntry]],
        carried: dict[str, File],
        unseen: set[str],
        stored: dict[UUID, File] | None = None,
    ) -> None:
        """Fold `step` and the `later` steps of each path from the `live` state before them;
        store the history entries and files that changed. `stored`: the records of the files
        involved when the caller knows them (in order, they are the paths' heads); else read."""
        session, version = step.workspace_session_id, step.version
        steps = {version: step} | {e.version: e.step for es in later.values() for e in es if e.step}
        fold = Fold(dict(live))
        afters: dict[tuple[str, str], File | None] = {}
        for v in sorted(steps):
            fold.apply(steps[v])
            for path in steps[v].paths():
                afters[(path, v)] = fold.live.get(path)
        self._carry_over(tr, tk, session, carried)
        for path, since in later.items():
            for e in since:
                if e.after != afters[(path, e.version)]:
                    changed = e.model_copy(update={"after": afters[(path, e.version)]})
                    newest = e is since[-1]
                    self.history.put(tr, tk, session, path, changed, newest=newest, first=False)
        for path in step.paths():
            entry = FileHistoryEntry(version=version, step=step, after=afters[(path, version)])
            newest, first = not later[path], path in unseen and path not in carried
            self.history.put(tr, tk, session, path, entry, newest=newest, first=first)
        before = {f.id: f for f in live.values() if f is not None}
        for since in later.values():
            for e in since:
                if e.after is not None:
                    before.setdefault(e.after.id, e.after)
        if stored is None:
            ids = list(before.keys() | fold.gone.keys() | {f.id for f in fold.live.values() if f})
            raws = tr.get_many([tk.files.key(i) for i in ids])
            stored = {
                i: File.model_validate_json(raw) for i, raw in zip(ids, raws, strict=True) if raw
            }
        self._write(tr, fold, before, stored)

    def _live_many(self, tr: Transaction, where: list[Where]) -> dict[Where, File | None]:
        """The live files at (tenant, session, path)s, in two reads."""
        paths = [self.keys.tenant(t).files_by_path.key(s, p) for t, s, p in where]
        ids = tr.get_many(paths)
        found = [(w, UUID(bytes=i)) for w, i in zip(where, ids, strict=True) if i is not None]
        raws = tr.get_many([self.keys.tenant(w[0]).files.key(i) for w, i in found])
        live: dict[Where, File | None] = dict.fromkeys(where)
        for (w, _), raw in zip(found, raws, strict=True):
            live[w] = File.model_validate_json(raw) if raw is not None else None
        return live

    def _carried(
        self, tr: Transaction, step: FileStep, path: str, carried: dict[str, File]
    ) -> File | None:
        """The live file of a path without a history (noted in `carried` if there is one)."""
        current = self.get_by_path(tr, step.tenant_id, step.workspace_session_id, path)
        if current is not None:
            carried[path] = current
        return current

    def _too_late(
        self,
        tr: Transaction,
        tk: TenantKeys,
        step: FileStep,
        carried: Iterable[File],
        known: Known | None = None,
    ) -> bool:
        """Older than the compacted history, or than a file last changed before histories."""
        if known is not None and step.tenant_id in known.cutoffs:
            cutoff = known.cutoffs[step.tenant_id]
        else:
            cutoff = self.history.cutoff(tr, tk)
        if cutoff is not None and step.version < cutoff:
            return True
        return any(legacy_version(f.last_event_at) > step.version for f in carried)

    def _carry_over(
        self, tr: Transaction, tk: TenantKeys, session: UUID, carried: dict[str, File]
    ) -> None:
        """A path's first history entry: the live file it had before, as the state to re-fold
        from (a record written before histories, or one whose history was compacted away)."""
        for path, file in carried.items():
            entry = FileHistoryEntry(
                version=legacy_version(file.last_event_at), step=None, after=file
            )
            self.history.put(tr, tk, session, path, entry, newest=True, first=True)

    def _write(
        self, tr: Transaction, fold: Fold, before: dict[UUID, File], stored: dict[UUID, File]
    ) -> None:
        """Store what the fold ends with: live files, files gone meanwhile, and no record for a
        file that only an earlier arrival order had made (a phantom). Index entries are cleared
        before any is set: a path's entry can pass from one file to another in one fold."""
        final = {f.id: f for f in fold.live.values() if f is not None}
        old_entries: dict[bytes, bytes] = {}
        new_entries: dict[bytes, bytes] = {}
        for file_id in before.keys() | final.keys() | fold.gone.keys():
            new = final.get(file_id) or fold.gone.get(file_id)
            old = stored.get(file_id)
            if new == old:  # unchanged, or never stored
                continue
            if new is not None and old is None and file_id in before and new.is_deleted:
                continue  # purged since: the purge is final
            if new is None:
                assert old is not None
                tk = self.keys.tenant(old.tenant_id)
                tr.clear(tk.files.key(file_id))
                old_entries |= _entries(tk, old)
                continue
            tk = self.keys.tenant(new.tenant_id)
            tr.set(tk.files.key(file_id), new.to_json())
            if old is None or _placed(old) != _placed(new):  # a modify keeps its entries
                new_entries |= _entries(tk, new)
                if old is not None:
                    old_entries |= _entries(tk, old)
        for key in old_entries.keys() - new_entries.keys():
            tr.clear(key)
        for key, value in new_entries.items():
            if old_entries.get(key) != value:
                tr.set(key, value)

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
        """The live file at a path; with `include_deleted`, else the one gone there last."""
        tk = self.keys.tenant(tenant_id)
        raw_id = tr.get(tk.files_by_path.key(session_id, path))
        if raw_id is not None:
            return self.get_by_id(tr, tenant_id, UUID(bytes=raw_id))
        if not include_deleted:
            return None
        rows = tr.get_range(*tk.files_gone_by_path.range(session_id, path), limit=1, reverse=True)
        if not rows:
            return None
        return self.get_by_id(tr, tenant_id, tk.files_gone_by_path.tail(rows[0][0])[-1])

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
        """Replace a file record as it is (no history step): False if it does not exist."""
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
        """Mark a record deleted as it is (no history step: file events go through `apply`)."""
        file = self.get_by_id(tr, tenant_id, file_id)
        if file is None or file.is_deleted:
            return file
        when = at or utcnow()
        changed = file.model_copy(
            update={"is_deleted": True, "deleted_at": when, "updated_at": when}
        )
        self.update(tr, changed)
        return changed

    def restore(
        self,
        tr: Transaction,
        tenant_id: UUID,
        file_id: UUID,
        *,
        at: datetime,
        step_id: UUID,
        to: str | None = None,
    ) -> File | None:
        """Bring a gone file back at its path (or `to`), as a step of its session's history so
        that a later re-fold keeps it. None if there is no such record; a live file is returned
        as it is. PathOccupied if another file is live at the target."""
        file = self.get_by_id(tr, tenant_id, file_id)
        if file is None or not file.is_deleted:
            return file
        path = to or file.file_path
        occupant = self.get_by_path(tr, tenant_id, file.workspace_session_id, path)
        if occupant is not None:
            raise PathOccupied(path, occupant.id)
        step = FileStep(
            tenant_id=tenant_id,
            workspace_session_id=file.workspace_session_id,
            version=version_of(at, step_id),
            change="restored",
            file_path=path,
            user_id=file.user_id,
            occurred_at=at,
            restored=file,
        )
        self.apply(tr, step)
        return self.get_by_id(tr, tenant_id, file_id)

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
                Index("files_gone_by_path", lambda tk: tk.files_gone_by_path, last_element),
            ],
        )


def _placed(f: File) -> tuple[Any, ...]:
    """What a file's index entries depend on."""
    return f.workspace_session_id, f.file_path, f.is_deleted, f.deleted_at, f.deleted_version


def _entries(tk: TenantKeys, f: File) -> dict[bytes, bytes]:
    """A live file owns its path; gone files (several may share a path) are listed by it."""
    session = f.workspace_session_id
    out = {tk.files_by_session.key(session, f.id): b""}
    if f.is_deleted:
        out[tk.files_gone_by_path.key(session, f.file_path, f.gone_order(), f.id)] = b""
        if f.deleted_at is not None:
            out[tk.files_deleted.key(to_ms(f.deleted_at), f.id)] = b""
    else:
        out[tk.files_by_path.key(session, f.file_path)] = f.id.bytes
    return out


def _file_id_in_value(tail: tuple[Any, ...], value: bytes) -> tuple[Any, ...]:
    return (UUID(bytes=value),)
