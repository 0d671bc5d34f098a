"""What the directory holds now: regular files (symbolic links are not followed) and their
stat, by path relative to the watched directory with `/` separators."""

from __future__ import annotations

import logging
import os
import stat as st
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from workers.watch.ignore import IgnoreRules

log = logging.getLogger("workers.watch")


@dataclass(frozen=True, slots=True)
class Stat:
    size: int
    mtime_ns: int
    ctime_ns: int
    inode: int
    device: int

    @classmethod
    def of(cls, s: os.stat_result) -> Stat:
        return cls(s.st_size, s.st_mtime_ns, s.st_ctime_ns, s.st_ino, s.st_dev)

    def same_content_as(self, other: Stat) -> bool:
        """Unchanged without reading it: the same file, size and modification time. Sound because
        a file is hashed only once its mtime is older than the settle interval (`Settle`)."""
        return (self.inode, self.device, self.size, self.mtime_ns) == (
            other.inode,
            other.device,
            other.size,
            other.mtime_ns,
        )


def relative(root: Path, path: str | Path) -> str | None:
    """`path` relative to `root`, `/`-separated; None outside it, for the root itself, or for a
    name that is not valid UTF-8 (a file path on the wire is UTF-8)."""
    try:
        rel = Path(os.path.abspath(path)).relative_to(root)
    except ValueError:
        return None
    text = rel.as_posix()
    if text in ("", "."):
        return None
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        log.warning("skipping %r: its name is not valid UTF-8", text)
        return None
    return text


def observe(root: Path, rel: str) -> Stat | None:
    """The file's stat, or None when it is missing or not a regular file."""
    try:
        s = os.lstat(root / rel)
    except (FileNotFoundError, NotADirectoryError):
        return None
    return Stat.of(s) if st.S_ISREG(s.st_mode) else None


def walk(root: Path, rules: IgnoreRules, under: str = "") -> Iterator[tuple[str, Stat]]:
    """Every regular file below `root / under` that the rules keep, with its stat."""
    stack = [under]
    while stack:
        rel_dir = stack.pop()
        try:
            entries = list(os.scandir(root / rel_dir))
        except (FileNotFoundError, NotADirectoryError):
            continue
        except PermissionError as e:
            log.warning("cannot read %s: %s", root / rel_dir, e.strerror)
            continue
        for entry in entries:
            rel = f"{rel_dir}/{entry.name}" if rel_dir else entry.name
            try:
                rel.encode("utf-8")
            except UnicodeEncodeError:
                log.warning("skipping %r: its name is not valid UTF-8", rel)
                continue
            try:
                if entry.is_dir(follow_symlinks=False):
                    if not rules.ignores_dir(rel):
                        stack.append(rel)
                elif entry.is_file(follow_symlinks=False) and not rules.ignores_file(rel):
                    yield rel, Stat.of(entry.stat(follow_symlinks=False))
            except FileNotFoundError:
                continue
