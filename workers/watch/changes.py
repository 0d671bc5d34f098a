"""From a baseline and what the directory holds now to `file.changed` steps (pure: no I/O).

A file that left one path and appeared at another is a rename when the new path holds the same
inode with the same size and modification time: that catches `mv` of a file or a folder and an
editor's atomic save of a published temporary file, whatever order the kernel reported them in
(or across a restart, when it reported nothing). Times are made to increase along each path, so
the workers' fold by (occurred_at, event_id) sees a path's steps in the order they were seen.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from events.enums import FileChange
from workers.watch.baseline import Known
from workers.watch.hashing import Digest
from workers.watch.tree import Stat


@dataclass(frozen=True, slots=True)
class Step:
    change: FileChange
    path: str
    previous_path: str | None
    size: int | None
    sha256: str | None
    occurred_at_us: int


@dataclass
class Plan:
    steps: list[Step]
    rows: list[Known]  # the baseline once the steps are acknowledged
    again: list[str]  # files that changed while they were read: look again later


def _live(known: Mapping[str, Known], path: str) -> Stat | None:
    k = known.get(path)
    return k.stat if k is not None else None


def unchanged(known: Mapping[str, Known], path: str, stat: Stat) -> bool:
    before = _live(known, path)
    return before is not None and before.same_content_as(stat)


def pair_renames(known: Mapping[str, Known], seen: Mapping[str, Stat]) -> dict[str, str]:
    """new path -> old path for every file that moved."""
    gone: dict[tuple[int, int], Stat] = {}
    gone_path: dict[tuple[int, int], str] = {}
    for path, k in known.items():
        if k.stat is not None and path not in seen:
            gone[k.stat.device, k.stat.inode] = k.stat
            gone_path[k.stat.device, k.stat.inode] = path
    moves: dict[str, str] = {}
    for path, stat in seen.items():
        if not gone or unchanged(known, path, stat):
            continue
        key = (stat.device, stat.inode)
        old = gone.get(key)
        if old is not None and (old.size, old.mtime_ns) == (stat.size, stat.mtime_ns):
            moves[path] = gone_path[key]
            del gone[key]
    return moves


def to_read(
    known: Mapping[str, Known], seen: Mapping[str, Stat], moves: Mapping[str, str]
) -> list[str]:
    """The files whose content must be hashed: new or changed, and not moved."""
    return sorted(p for p, s in seen.items() if p not in moves and not unchanged(known, p, s))


class Clock:
    """Event times: strictly after the path's previous event, whatever the file system says."""

    def __init__(self, known: Mapping[str, Known]) -> None:
        self._last = {p: k.last_at_us for p, k in known.items()}

    def at(self, candidate_us: int, *paths: str) -> int:
        at = max([candidate_us, *(self._last.get(p, -1) + 1 for p in paths)])
        for p in paths:
            self._last[p] = at
        return at


def moves_and_deletions(
    known: Mapping[str, Known],
    seen: Mapping[str, Stat],
    moves: Mapping[str, str],
    clock: Clock,
    now_us: int,
) -> Plan:
    """Renames (their content is known) and deletions: nothing to read."""
    plan = Plan([], [], [])
    for new, old in sorted(moves.items()):
        stat, before = seen[new], known[old]
        at = clock.at(stat.ctime_ns // 1000, old, new)
        plan.steps.append(Step(FileChange.RENAMED, new, old, stat.size, before.sha256, at))
        plan.rows += [Known(old, None, None, at), Known(new, stat, before.sha256, at)]
    moved_away = set(moves.values())
    for path, k in sorted(known.items()):
        if k.stat is not None and path not in seen and path not in moved_away:
            at = clock.at(now_us, path)
            plan.steps.append(Step(FileChange.DELETED, path, None, None, None, at))
            plan.rows.append(Known(path, None, None, at))
    return plan


def contents(
    known: Mapping[str, Known],
    seen: Mapping[str, Stat],
    digests: Mapping[str, Digest | None],
    clock: Clock,
) -> Plan:
    """New and changed files, once read. A file whose content did not change (a `touch`, an
    atomic save of the same bytes) updates the baseline without an event."""
    plan = Plan([], [], [])
    for path, d in sorted(digests.items()):
        if d is None or d.stat != seen[path]:
            plan.again.append(path)
            continue
        before = known.get(path)
        if before is not None and before.stat is not None and before.sha256 == d.sha256:
            plan.rows.append(Known(path, d.stat, d.sha256, before.last_at_us))
            continue
        change = (
            FileChange.CREATED if before is None or before.stat is None else FileChange.MODIFIED
        )
        at = clock.at(d.stat.ctime_ns // 1000, path)
        plan.steps.append(Step(change, path, None, d.stat.size, d.sha256, at))
        plan.rows.append(Known(path, d.stat, d.sha256, at))
    return plan
