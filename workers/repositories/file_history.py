"""The kept steps of each path of a session, with the live file after each: what lets a late
file event re-fold only the paths it touches, from the entry before it.

Entries older than the dedupe horizon are compacted away by the dedupe job; the newest one
before the horizon stays while the path has newer ones (the state the re-fold starts from), and
the tenant's cutoff records how far compaction went: a step older than it is too late to fold.
"""

from __future__ import annotations

from dataclasses import dataclass
from uuid import UUID

from workers.ids import from_ms, to_ms
from workers.records import FileHistoryEntry, legacy_version, version_time
from workers.repositories.base import Repository, decode
from workers.store.keys import TenantKeys
from workers.store.port import Transaction


@dataclass(frozen=True)
class Kept:
    """One history entry of one path, by version."""

    version: str
    entry: FileHistoryEntry


class FileHistory(Repository):
    def latest(self, tr: Transaction, tk: TenantKeys, session: UUID, path: str) -> Kept | None:
        rows = tr.get_range(*tk.file_history.range(session, path), limit=1, reverse=True)
        return self._kept(tk, rows[0]) if rows else None

    def before(
        self, tr: Transaction, tk: TenantKeys, session: UUID, path: str, version: str
    ) -> Kept | None:
        """The newest entry older than `version`."""
        begin = tk.file_history.range(session, path)[0]
        end = tk.file_history.key(session, path, version)
        rows = tr.get_range(begin, end, limit=1, reverse=True)
        return self._kept(tk, rows[0]) if rows else None

    def since(
        self, tr: Transaction, tk: TenantKeys, session: UUID, path: str, version: str
    ) -> list[Kept]:
        """The entries from `version` on, oldest first."""
        begin = tk.file_history.key(session, path, version)
        end = tk.file_history.range(session, path)[1]
        return [self._kept(tk, row) for row in tr.get_range(begin, end)]

    def put(
        self,
        tr: Transaction,
        tk: TenantKeys,
        session: UUID,
        path: str,
        version: str,
        entry: FileHistoryEntry,
        *,
        new: bool,
    ) -> None:
        tr.set(tk.file_history.key(session, path, version), entry.model_dump_json().encode())
        if new:  # a new entry: the compaction finds it by its time
            ms = to_ms(version_time(version))
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
        """Compact up to `limit` paths with entries older than `cutoff_ms`: drop those entries but
        the newest, which stays while the path has newer ones. Returns (entries removed, 0,
        where the next batch starts or None); `dry_run` only counts."""
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
        if old and tr.get_range(split, end, limit=1):
            old = old[:-1]  # the state newer entries re-fold from
        if old and not dry_run:
            tr.clear_range(begin, old[-1][0] + b"\x00")
        return len(old)

    def _kept(self, tk: TenantKeys, row: tuple[bytes, bytes]) -> Kept:
        key, raw = row
        version = tk.file_history.tail(key)[-1]
        return Kept(version, decode(FileHistoryEntry, raw, f"file history entry {key!r}"))
