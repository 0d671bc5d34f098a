"""What the watcher last published for each path: its stat and SHA-256, and the time of its
last event. Kept in an SQLite file so that a restart publishes only what changed meanwhile.

A path's row is written only after JetStream acknowledged its event, so the baseline never runs
ahead of what the workers can have received. A gone path keeps its row (without a stat) for the
time of its last event: a later event on that path is always ordered after it.
"""

from __future__ import annotations

import hashlib
import sqlite3
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from uuid import UUID

from workers.watch.tree import Stat

SCHEMA = """
CREATE TABLE IF NOT EXISTS known (
    path TEXT PRIMARY KEY,
    size INTEGER, mtime_ns INTEGER, ctime_ns INTEGER, inode INTEGER, device INTEGER,
    sha256 TEXT,
    last_at_us INTEGER NOT NULL
) WITHOUT ROWID;
"""


@dataclass(frozen=True, slots=True)
class Known:
    path: str
    stat: Stat | None  # None: gone
    sha256: str | None
    last_at_us: int


def state_file(data_dir: Path, tenant: UUID, session: UUID, root: Path) -> Path:
    """One state file per tenant, session and directory."""
    tag = hashlib.sha256(str(root.resolve()).encode()).hexdigest()[:16]
    return data_dir / "watch" / str(tenant) / str(session) / f"{tag}.db"


def _row(known: Known) -> tuple[object, ...]:
    s = known.stat
    stat = (None,) * 5 if s is None else (s.size, s.mtime_ns, s.ctime_ns, s.inode, s.device)
    return (known.path, *stat, known.sha256, known.last_at_us)


def _known(row: tuple[object, ...]) -> Known:
    path, size, mtime, ctime, inode, device, sha, last = row
    stat = None if size is None else Stat(*(int(v) for v in (size, mtime, ctime, inode, device)))  # type: ignore[call-overload]
    return Known(str(path), stat, sha if sha is None else str(sha), int(last))  # type: ignore[call-overload]


class Baseline:
    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self._db = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.executescript(SCHEMA)

    def get(self, paths: Iterable[str]) -> dict[str, Known]:
        out: dict[str, Known] = {}
        batch = list(paths)
        for i in range(0, len(batch), 500):
            part = batch[i : i + 500]
            marks = ",".join("?" * len(part))
            rows = self._db.execute(f"SELECT * FROM known WHERE path IN ({marks})", part)
            out.update((k.path, k) for k in map(_known, rows))
        return out

    def under(self, rel_dir: str) -> dict[str, Known]:
        """Every row below a directory ('' : all of them)."""
        if not rel_dir:
            rows = self._db.execute("SELECT * FROM known")
        else:  # '/' + 1 == '0': the range of paths that start with rel_dir + '/'
            rows = self._db.execute(
                "SELECT * FROM known WHERE path >= ? AND path < ?", (rel_dir + "/", rel_dir + "0")
            )
        return {k.path: k for k in map(_known, rows)}

    def live_count(self) -> int:
        return int(
            self._db.execute("SELECT count(*) FROM known WHERE size IS NOT NULL").fetchone()[0]
        )

    def record(self, rows: Iterable[Known]) -> None:
        """Write rows in one transaction (all or nothing)."""
        with self._db:
            self._db.execute("BEGIN")
            self._db.executemany(
                "INSERT OR REPLACE INTO known VALUES (?, ?, ?, ?, ?, ?, ?, ?)", map(_row, rows)
            )

    def close(self) -> None:
        self._db.close()
