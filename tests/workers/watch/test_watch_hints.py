"""Kernel notifications as hints: a lost queue means "compare everything"; a folder the kernel
refuses to watch stops the watcher with the sysctl that raises the limit; ignored paths are not
hints at all."""

from __future__ import annotations

import asyncio
import errno
import logging
from pathlib import Path

from watchdog.events import DirMovedEvent, EventsLostEvent, FileModifiedEvent

from workers.watch.hints import Hints, _Handler, _LimitWatch, watch_limit_message
from workers.watch.ignore import IgnoreRules


def handler(root: Path, hints: Hints) -> _Handler:
    return _Handler(root, IgnoreRules.for_directory(root, state_dir=root / "data"), hints)


async def test_a_lost_kernel_queue_asks_for_the_whole_folder(tmp_path: Path) -> None:
    hints = Hints(asyncio.get_running_loop())
    handler(tmp_path, hints).on_any_event(EventsLostEvent(str(tmp_path)))
    assert hints.take() == (set(), set(), True)


async def test_a_moved_folder_hints_both_folders_and_ignored_paths_hint_nothing(
    tmp_path: Path,
) -> None:
    hints = Hints(asyncio.get_running_loop())
    h = handler(tmp_path, hints)
    h.on_any_event(DirMovedEvent(str(tmp_path / "src"), str(tmp_path / "lib")))
    h.on_any_event(FileModifiedEvent(str(tmp_path / "node_modules" / "x.js")))
    h.on_any_event(FileModifiedEvent(str(tmp_path / "data" / "watch" / "state.db")))
    h.on_any_event(FileModifiedEvent(str(tmp_path / "a.py")))
    assert hints.take() == ({"a.py"}, {"src", "lib"}, False)


async def test_a_folder_refused_for_lack_of_watches_is_reported_with_the_sysctl() -> None:
    hints = Hints(asyncio.get_running_loop())
    refused = OSError(errno.ENOSPC, "inotify watch limit reached")
    record = logging.LogRecord(
        "watchdog.observers.inotify",
        logging.WARNING,
        "",
        0,
        "Unable to watch %r: %s",
        ("/big/tree/sub", refused),
        None,
    )
    _LimitWatch(hints).emit(record)
    assert hints.limit_reached is refused
    message = watch_limit_message(refused)
    assert "sudo sysctl fs.inotify.max_user_watches=" in message
    assert "sudo sysctl fs.inotify.max_user_instances=" in watch_limit_message(
        OSError(errno.EMFILE, "inotify instance limit reached")
    )
