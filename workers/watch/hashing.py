"""SHA-256 of files, streamed (never a whole file in memory), in a few threads: hashlib
releases the GIL while it digests, so threads hash in parallel."""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from workers.watch.tree import Stat, observe


@dataclass(frozen=True, slots=True)
class Digest:
    sha256: str | None  # None: the file cannot be read (it is reported without a checksum)
    stat: Stat  # the file's stat while it was read: unchanged from before to after


def digest(path: Path) -> Digest | None:
    """The file's SHA-256, or None when it vanished or changed while it was read (the caller
    looks again later: a file is reported only once it has been read whole and unchanged)."""
    try:
        with open(path, "rb", buffering=0) as f:
            before = Stat.of(os.fstat(f.fileno()))
            sha = hashlib.file_digest(f, "sha256").hexdigest()
            after = Stat.of(os.fstat(f.fileno()))
        if after != before or Stat.of(os.lstat(path)) != before:
            return None
    except PermissionError:
        s = observe(path.parent, path.name)
        return Digest(None, s) if s is not None else None
    except (FileNotFoundError, IsADirectoryError, NotADirectoryError):
        return None
    return Digest(sha, before)


class Hasher:
    """Hashes many files at once in a small thread pool."""

    def __init__(self, threads: int | None = None) -> None:
        self._pool = ThreadPoolExecutor(
            max_workers=threads or min(4, os.cpu_count() or 1), thread_name_prefix="watch-hash"
        )

    def digest_all(self, root: Path, paths: Iterable[str]) -> dict[str, Digest | None]:
        paths = list(paths)
        return dict(zip(paths, self._pool.map(lambda p: digest(root / p), paths), strict=True))

    def close(self) -> None:
        self._pool.shutdown(wait=True, cancel_futures=True)
