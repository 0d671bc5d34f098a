"""Baseline + what the folder holds -> steps, without a folder: renames, times, no-ops."""

from __future__ import annotations

from events.enums import FileChange
from workers.watch.baseline import Known
from workers.watch.changes import Clock, contents, moves_and_deletions, pair_renames, to_read
from workers.watch.hashing import Digest
from workers.watch.tree import Stat

T = 1_700_000_000_000_000_000  # ns


def stat(inode: int, size: int = 10, mtime: int = T, ctime: int = T) -> Stat:
    return Stat(size, mtime, ctime, inode, 1)


def known(path: str, s: Stat | None, sha: str | None = "a" * 64, last: int = T // 1000) -> Known:
    return Known(path, s, sha, last)


def test_a_file_gone_from_one_path_and_found_at_another_is_a_rename_that_keeps_its_content() -> (
    None
):
    k = {"a.py": known("a.py", stat(7))}
    seen = {"b.py": stat(7, ctime=T + 5_000)}
    moves = pair_renames(k, seen)
    assert moves == {"b.py": "a.py"}
    assert to_read(k, seen, moves) == []  # no need to read it again
    plan = moves_and_deletions(k, seen, moves, Clock(k), now_us=T // 1000 + 99)
    (step,) = plan.steps
    assert (step.change, step.path, step.previous_path, step.sha256) == (
        FileChange.RENAMED,
        "b.py",
        "a.py",
        "a" * 64,
    )
    assert {r.path: r.stat for r in plan.rows} == {"a.py": None, "b.py": seen["b.py"]}


def test_the_same_inode_with_other_content_is_a_delete_and_a_create_not_a_rename() -> None:
    k = {"a.py": known("a.py", stat(7))}
    seen = {"b.py": stat(7, size=11, mtime=T + 1)}
    moves = pair_renames(k, seen)
    assert moves == {}
    assert to_read(k, seen, moves) == ["b.py"]
    plan = moves_and_deletions(k, seen, moves, Clock(k), now_us=T // 1000 + 99)
    assert [(s.change, s.path) for s in plan.steps] == [(FileChange.DELETED, "a.py")]


def test_two_files_that_swapped_places_are_two_modifications() -> None:
    k = {"a": known("a", stat(1), "a" * 64), "b": known("b", stat(2), "b" * 64)}
    seen = {"a": stat(2), "b": stat(1)}
    moves = pair_renames(k, seen)
    assert moves == {}
    digests = {"a": Digest("b" * 64, seen["a"]), "b": Digest("a" * 64, seen["b"])}
    plan = contents(k, seen, digests, Clock(k))
    assert [(s.change, s.path, s.sha256) for s in plan.steps] == [
        (FileChange.MODIFIED, "a", "b" * 64),
        (FileChange.MODIFIED, "b", "a" * 64),
    ]


def test_a_touch_or_an_identical_save_moves_the_baseline_without_an_event() -> None:
    k = {"a": known("a", stat(1), "a" * 64, last=5)}
    seen = {"a": stat(3, mtime=T + 9)}
    plan = contents(k, seen, {"a": Digest("a" * 64, seen["a"])}, Clock(k))
    assert plan.steps == []
    assert plan.rows == [Known("a", seen["a"], "a" * 64, 5)]


def test_a_file_that_changed_between_the_look_and_the_read_is_read_again() -> None:
    seen = {"a": stat(1)}
    plan = contents({}, seen, {"a": Digest("a" * 64, stat(1, size=99)), "b": None}, Clock({}))
    assert plan.again == ["a", "b"] and plan.steps == [] and plan.rows == []


def test_event_times_increase_along_a_path_whatever_the_file_system_says() -> None:
    """A file copied with an old modification time after the path's delete (cp -p) still
    comes after the delete in the workers' fold."""
    k = {"a": known("a", None, None, last=T // 1000 + 500)}  # deleted at +500 us
    old = stat(9, mtime=T - 10**12, ctime=T)  # ctime before the delete's time
    plan = contents(k, {"a": old}, {"a": Digest("c" * 64, old)}, Clock(k))
    (step,) = plan.steps
    assert step.change is FileChange.CREATED
    assert step.occurred_at_us == T // 1000 + 501


def test_a_rename_comes_after_the_last_event_of_both_its_paths() -> None:
    k = {
        "a": known("a", stat(7), last=T // 1000 + 10),
        "b": known("b", stat(8), last=T // 1000 + 20),  # b is saved over: an atomic save
    }
    seen = {"b": stat(7)}
    moves = pair_renames(k, seen)
    assert moves == {"b": "a"}
    plan = moves_and_deletions(k, seen, moves, Clock(k), now_us=T // 1000 + 99)
    assert [(s.change, s.occurred_at_us) for s in plan.steps] == [
        (FileChange.RENAMED, T // 1000 + 21)
    ]
