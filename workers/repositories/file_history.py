"""The kept steps of each path of a session, with the live file after each: what lets a late
file event re-fold only the paths it touches, from the entry before it.

A path's newest entry is also kept under its own key (the head), so that an event in order
costs one point read (a range read costs more: the SQLite engine writes its buffer first).
Entries older than the dedupe horizon are compacted away by the dedupe job; the newest one
before the horizon stays while the path has newer ones (the state the re-fold starts from), and
the tenant's cutoff records how far compaction went: a step older than it is too late to fold.
A path is listed by time once, at its oldest entry, which is all the compaction needs.
"""

from __future__ import annotations

from uuid import UUID

from workers.ids import from_ms, to_ms
from workers.records import FileHistoryEntry, legacy_version, version_time
from workers.repositories.base import Repository, decode
from workers.store.keys import TenantKeys
from workers.store.port import Transaction


class FileHistory(Repository):
    def latest(
        self, tr: Transaction, tk: TenantKeys, session: UUID, path: str
    ) -> FileHistoryEntry | None:
        raw = tr.get(tk.file_history_head.key(session, path))
        return None if raw is None else _decode(raw, session, path)

    def latest_many(
        self, tr: Transaction, where: list[tuple[UUID, UUID, str]]
    ) -> dict[tuple[UUID, UUID, str], FileHistoryEntry | None]:
        """The heads of (tenant, session, path)s, in one read."""
        keys = [self.keys.tenant(t).file_history_head.key(s, p) for t, s, p in where]
        return {
            (t, s, p): None if raw is None else _decode(raw, s, p)
            for (t, s, p), raw in zip(where, tr.get_many(keys), strict=True)
        }

    def before(
        self, tr: Transaction, tk: TenantKeys, session: UUID, path: str, version: str
    ) -> FileHistoryEntry | None:
        """The newest entry older than `version`."""
        begin = tk.file_history.range(session, path)[0]
        end = tk.file_history.key(session, path, version)
        rows = tr.get_range(begin, end, limit=1, reverse=True)
        return _decode(rows[0][1], session, path) if rows else None

    def since(
        self, tr: Transaction, tk: TenantKeys, session: UUID, path: str, version: str
    ) -> list[FileHistoryEntry]:
        """The entries from `version` on, oldest first."""
        begin = tk.file_history.key(session, path, version)
        end = tk.file_history.range(session, path)[1]
        return [_decode(raw, session, path) for _, raw in tr.get_range(begin, end)]

    def put(
        self,
        tr: Transaction,
        tk: TenantKeys,
        session: UUID,
        path: str,
        entry: FileHistoryEntry,
        *,
        newest: bool,
        first: bool,
    ) -> None:
        """Store an entry; `newest`: it is the path's head; `first`: the path had none before."""
        raw = entry.__pydantic_serializer__.to_json(entry, exclude_none=True)
        tr.set(tk.file_history.key(session, path, entry.version), raw)
        if newest:
            tr.set(tk.file_history_head.key(session, path), raw)
        if first:
            ms = to_ms(version_time(entry.version))
            tr.set(tk.file_history_by_ms.key(ms, session, path), b"")

    def cutoff(self, tr: Transaction, tk: TenantKeys) -> str | None:
        """How far compaction went: steps older than this cannot be folded any more."""
        raw = tr.get(tk.file_history_cutoff.key())
        return raw.decode() if raw is not None else None

    def compact_batch(
        self,
        tr: Transaction,
        tenant_id: UUID,
        cutoff_ms: int,
        limit: int,
        after: bytes | None = None,
        dry_run: bool = False,
    ) -> tuple[int, int, bytes | None]:
        """Compact up to `limit` paths whose oldest entry is older than `cutoff_ms`: drop the
        entries before it but the newest, which stays while the path has newer ones. Returns
        (entries removed, 0, where the next batch starts or None); `dry_run` only counts."""
        tk = self.keys.tenant(tenant_id)
        cutoff = legacy_version(from_ms(cutoff_ms))
        if not dry_run and (self.cutoff(tr, tk) or "") < cutoff:
            tr.set(tk.file_history_cutoff.key(), cutoff.encode())  # first, so no step slips by
        index = tk.file_history_by_ms
        begin, end = index.range()[0], index.key(cutoff_ms)
        if after is not None:
            begin = max(begin, after + b"\x00")
        rows = tr.get_range(begin, end, limit=limit)
        removed = 0
        for key, _ in rows:
            _, session, path = index.tail(key)
            removed += self._compact_path(tr, tk, session, path, cutoff, dry_run)
            if not dry_run:
                tr.clear(key)
        return removed, 0, None if len(rows) < limit else rows[-1][0]

    def _compact_path(
        self, tr: Transaction, tk: TenantKeys, session: UUID, path: str, cutoff: str, dry_run: bool
    ) -> int:
        begin, end = tk.file_history.range(session, path)
        split = tk.file_history.key(session, path, cutoff)
        old = tr.get_range(begin, split)
        newer = tr.get_range(split, end, limit=1)
        drop = old[:-1] if newer else old  # the newest old one: the state newer ones re-fold from
        if dry_run:
            return len(drop)
        if drop:
            tr.clear_range(begin, drop[-1][0] + b"\x00")
        if newer:  # listed again at its next entry, for the compaction that passes it
            ms = to_ms(version_time(tk.file_history.tail(newer[0][0])[-1]))
            tr.set(tk.file_history_by_ms.key(ms, session, path), b"")
        elif drop:  # nothing left: the path's state is its records again
            tr.clear(tk.file_history_head.key(session, path))
        return len(drop)


def _decode(raw: bytes, session: UUID, path: str) -> FileHistoryEntry:
    return decode(FileHistoryEntry, raw, f"file history entry of {path!r} in session {session}")
