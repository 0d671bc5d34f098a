"""Kernel notifications (watchdog) turned into hints: which files or folders to look at again.

watchdog rather than watchfiles: it pairs the kernel's two halves of a move into one event with
both paths (a folder moved reports the folder, not each file), reports a dropped kernel queue as
its own event, and lets a recursive watch be added while the first scan runs. The watcher does
not rely on any of it for correctness (it compares with its baseline), only for precision: a
hint names what to look at, and a lost queue means "look at everything".
"""

from __future__ import annotations

import asyncio
import errno
import logging
import threading
from collections.abc import Callable
from pathlib import Path

from watchdog.events import (
    DirCreatedEvent,
    DirDeletedEvent,
    DirModifiedEvent,
    DirMovedEvent,
    EventsLostEvent,
    FileClosedEvent,
    FileCreatedEvent,
    FileDeletedEvent,
    FileModifiedEvent,
    FileMovedEvent,
    FileSystemEvent,
    FileSystemEventHandler,
)
from watchdog.observers import Observer
from watchdog.observers.api import BaseObserver

from workers.watch.ignore import IgnoreRules
from workers.watch.tree import relative

log = logging.getLogger("workers.watch")
WATCHED = [
    FileCreatedEvent,
    FileModifiedEvent,
    FileClosedEvent,
    FileDeletedEvent,
    FileMovedEvent,
    DirCreatedEvent,
    DirDeletedEvent,
    DirMovedEvent,
    EventsLostEvent,
]


def watch_limit_message(e: OSError) -> str:
    """What to do when the kernel refuses more watches."""
    if e.errno == errno.EMFILE:
        return (
            "the inotify instance limit is reached: raise it with "
            "`sudo sysctl fs.inotify.max_user_instances=1024`, then start the watcher again"
        )
    try:
        limit = Path("/proc/sys/fs/inotify/max_user_watches").read_text().strip()
    except OSError:
        limit = "?"
    return (
        f"the inotify watch limit ({limit} folders) is reached: raise it with "
        "`sudo sysctl fs.inotify.max_user_watches=524288`, then start the watcher again"
    )


class Hints:
    """Thread-safe: watchdog's thread adds, the event loop takes. `everything` after a lost
    queue; `limit_reached` when some folder could not be watched."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop, self._lock = loop, threading.Lock()
        self.files: set[str] = set()
        self.dirs: set[str] = set()
        self.everything = False
        self.limit_reached: OSError | None = None
        self.arrived = asyncio.Event()

    def _wake(self) -> None:
        self._loop.call_soon_threadsafe(self.arrived.set)

    def add(self, kind: str, rel: str) -> None:
        with self._lock:
            (self.dirs if kind == "dir" else self.files).add(rel)
        self._wake()

    def lost(self) -> None:
        with self._lock:
            self.everything = True
        self._wake()

    def take(self) -> tuple[set[str], set[str], bool]:
        with self._lock:
            files, dirs, everything = self.files, self.dirs, self.everything
            self.files, self.dirs, self.everything = set(), set(), False
            self.arrived.clear()
        return files, dirs, everything


class _Handler(FileSystemEventHandler):
    def __init__(self, root: Path, rules: IgnoreRules, hints: Hints) -> None:
        self.root, self.rules, self.hints = root, rules, hints

    def _hint(self, path: str | bytes, is_directory: bool) -> None:
        rel = relative(self.root, path if isinstance(path, str) else path.decode())
        if rel is None:
            if is_directory and path and Path(str(path)) == self.root:
                self.hints.lost()
            return
        if is_directory:
            if not self.rules.ignores_dir(rel):
                self.hints.add("dir", rel)
        elif not self.rules.ignores_file(rel):
            self.hints.add("file", rel)

    def on_any_event(self, event: FileSystemEvent) -> None:
        if isinstance(event, EventsLostEvent):
            log.warning("the kernel dropped file notifications: comparing the whole folder")
            self.hints.lost()
            return
        if isinstance(event, DirModifiedEvent):
            return
        self._hint(event.src_path, event.is_directory)
        if event.dest_path:
            self._hint(event.dest_path, event.is_directory)


class _LimitWatch(logging.Handler):
    """watchdog logs, and carries on without, a folder it cannot watch for lack of watches."""

    def __init__(self, hints: Hints) -> None:
        super().__init__(logging.WARNING)
        self.hints = hints

    def emit(self, record: logging.LogRecord) -> None:
        for arg in record.args if isinstance(record.args, tuple) else ():
            if isinstance(arg, OSError) and arg.errno in (errno.ENOSPC, errno.EMFILE):
                self.hints.limit_reached = arg
                self.hints._wake()


def start_observer(root: Path, rules: IgnoreRules, hints: Hints) -> Callable[[], None]:
    """Watch `root` recursively; returns the function that stops watching.

    Raises OSError (ENOSPC / EMFILE) when the kernel refuses the first watch."""
    limit = _LimitWatch(hints)
    logging.getLogger("watchdog.observers.inotify").addHandler(limit)
    observer: BaseObserver = Observer()
    observer.schedule(_Handler(root, rules, hints), str(root), recursive=True, event_filter=WATCHED)
    observer.start()

    def stop() -> None:
        observer.stop()
        observer.join(timeout=10)
        logging.getLogger("watchdog.observers.inotify").removeHandler(limit)

    return stop
