"""Which paths never reach NATS: version control, dependencies, caches, editors' scratch files
and the directory's `.gitignore`."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

import pathspec

DEFAULT_PATTERNS = (
    ".git/",
    ".hg/",
    ".svn/",
    "node_modules/",
    "__pycache__/",
    ".mypy_cache/",
    ".pytest_cache/",
    ".ruff_cache/",
    # editors' swap, backup, lock and write-test files
    "*.swp",
    "*.swo",
    "*.swx",
    ".*.sw?",
    "*~",
    ".#*",
    "#*#",
    "4913",
    "*___jb_tmp___",
    "*___jb_old___",
    ".goutputstream-*",
    ".DS_Store",
)


class IgnoreRules:
    """gitignore semantics (pathspec) over `/`-separated paths relative to the watched folder."""

    def __init__(self, patterns: Iterable[str], always: Iterable[str] = ()) -> None:
        self.patterns = [*patterns, *always]
        self._spec = pathspec.GitIgnoreSpec.from_lines(self.patterns)

    @classmethod
    def for_directory(
        cls, root: Path, extra: Iterable[str] = (), *, defaults: bool = True, state_dir: Path
    ) -> IgnoreRules:
        """The defaults, the root's `.gitignore` and `extra`; `defaults=False` (--no-ignore)
        keeps only `extra`. The watcher's own state directory is ignored whatever the flags."""
        patterns: list[str] = []
        if defaults:
            patterns += DEFAULT_PATTERNS
            gitignore = root / ".gitignore"
            if gitignore.is_file():
                patterns += gitignore.read_text(encoding="utf-8", errors="replace").splitlines()
        patterns += extra
        always: list[str] = []
        try:
            inside = state_dir.resolve().relative_to(root.resolve())
        except ValueError:
            inside = None
        if inside is not None and inside.parts:
            always.append(f"/{inside.as_posix()}/")
        return cls(patterns, always)

    def ignores_file(self, rel: str) -> bool:
        return self._spec.match_file(rel)

    def ignores_dir(self, rel: str) -> bool:
        return self._spec.match_file(rel + "/")
