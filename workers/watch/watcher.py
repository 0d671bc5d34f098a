"""The watch loop: hints in, settled files compared with the baseline, events out."""

from __future__ import annotations

import asyncio
import logging
import sys
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TextIO

from workers.watch.baseline import Baseline, Known
from workers.watch.changes import (
    Clock,
    Plan,
    contents,
    moves_and_deletions,
    pair_renames,
    to_read,
    unchanged,
)
from workers.watch.hashing import Hasher
from workers.watch.hints import Hints, start_observer, watch_limit_message
from workers.watch.ignore import IgnoreRules
from workers.watch.publisher import Identity, Publisher, Stopped, event_of
from workers.watch.tree import Stat, observe, walk

log = logging.getLogger("workers.watch")
CHUNK_FILES = 500  # files read, published and recorded together
CHUNK_BYTES = 64 << 20


class WatchLimitReached(Exception):
    """The kernel refused to watch a folder; the message says how to raise the limit."""


@dataclass
class Progress:
    """Counts for the first scan's progress line (and the totals at exit)."""

    out: TextIO = sys.stderr
    scanned: int = 0
    hashed: int = 0
    hashed_bytes: int = 0
    published: int = 0
    hash_seconds: float = 0.0
    _shown: float = field(default_factory=time.monotonic)
    enabled: bool = True

    def line(self) -> str:
        mb = self.hashed_bytes / 1e6
        rate = mb / self.hash_seconds if self.hash_seconds > 0 else 0.0
        return (
            f"scanned {self.scanned:,} files, hashed {self.hashed:,} ({mb:,.1f} MB, "
            f"{rate:,.1f} MB/s), published {self.published:,}"
        )

    def show(self, force: bool = False) -> None:
        now = time.monotonic()
        if self.enabled and (force or now - self._shown >= 1.0):
            self._shown = now
            print(self.line(), file=self.out, flush=True)


@dataclass
class WatchOptions:
    root: Path
    who: Identity
    rules: IgnoreRules
    baseline: Path
    settle_s: float = 0.2


class Watcher:
    def __init__(self, options: WatchOptions, publisher: Publisher, progress: Progress) -> None:
        self.o, self.publisher, self.progress = options, publisher, progress
        self.root = options.root.resolve()
        self.baseline = Baseline(options.baseline)
        self.hasher = Hasher()
        self._stop = asyncio.Event()
        self._due: dict[str, float] = {}  # file -> monotonic time it may be read
        # file gone from the folder -> time it may be reported deleted: the kernel may report
        # a move's two halves apart (watchdog then sends a delete and a create), and until
        # then the file can still be paired with where it went
        self._vanishing: dict[str, float] = {}
        self._dirs: set[str] = set()
        self._everything = True  # the first look compares the whole folder

    def stop(self) -> None:
        """Publish what is pending and return from `run`."""
        self._stop.set()

    @property
    def stopping(self) -> bool:
        return self._stop.is_set()

    async def run(self, ready: Callable[[], None] | None = None) -> None:
        loop = asyncio.get_running_loop()
        hints = Hints(loop)
        try:
            stop_observer = start_observer(self.root, self.o.rules, hints)
        except OSError as e:
            raise WatchLimitReached(watch_limit_message(e)) from None
        try:
            await self._look()  # first scan, with progress
            self.progress.show(force=True)
            self.progress.enabled = False
            if ready is not None:
                ready()
            while not self.stopping:
                await self._wait(hints)
                self._take(hints)
                await self._look()
            self._take(hints)
            await self._look(final=True)  # Ctrl-C: what is pending, without waiting
        except Stopped:
            log.warning(
                "stopped before NATS acknowledged the last changes: the next start sends them"
            )
        finally:
            stop_observer()
            self.hasher.close()
            self.baseline.close()

    def _take(self, hints: Hints) -> None:
        if hints.limit_reached is not None:
            raise WatchLimitReached(watch_limit_message(hints.limit_reached))
        files, dirs, everything = hints.take()
        due = time.monotonic() + self.o.settle_s
        for f in files:
            self._due[f] = due
        self._dirs |= dirs
        self._everything |= everything

    async def _wait(self, hints: Hints) -> None:
        timeout = None
        if self._due or self._vanishing:
            first = min([*self._due.values(), *self._vanishing.values()])
            timeout = max(0.0, first - time.monotonic())
        waits = [
            asyncio.ensure_future(hints.arrived.wait()),
            asyncio.ensure_future(self._stop.wait()),
        ]
        try:
            await asyncio.wait(waits, timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for w in waits:
                w.cancel()

    async def _look(self, final: bool = False) -> None:
        """Compare what is due (settled files, hinted folders, or everything) with the baseline."""
        now = time.monotonic()
        files = {f for f, t in self._due.items() if final or t <= now}
        for f in files:
            del self._due[f]
        dirs, everything = self._dirs, self._everything
        self._dirs, self._everything = set(), False
        vanished = any(final or t <= now for t in self._vanishing.values())
        if not (files or dirs or everything or vanished):
            return
        files |= self._vanishing.keys()  # each look may find where they went
        known, seen = await asyncio.to_thread(self._observe, files, dirs, everything)
        if not final:
            self._defer_unsettled(known, seen)
        await self._apply(known, seen, final)

    def _observe(
        self, files: Iterable[str], dirs: Iterable[str], everything: bool
    ) -> tuple[dict[str, Known], dict[str, Stat]]:
        rules, root = self.o.rules, self.root
        if everything:
            known = self.baseline.under("")
            seen = dict(self._walk(""))
            return known, seen
        seen, known = {}, {}
        for d in dirs:
            known |= self.baseline.under(d)
            seen |= dict(self._walk(d))
        wanted = [f for f in files if not rules.ignores_file(f)]
        known |= self.baseline.get(wanted)
        for f in wanted:
            stat = observe(root, f)
            if stat is not None:
                seen[f] = stat
        return known, seen

    def _walk(self, under: str) -> Iterable[tuple[str, Stat]]:
        for item in walk(self.root, self.o.rules, under):
            self.progress.scanned += 1
            self.progress.show()
            yield item

    def _defer_unsettled(self, known: dict[str, Known], seen: dict[str, Stat]) -> None:
        """A file written less than `settle_s` ago may still be being written: look later."""
        now_ns, mono = time.time_ns(), time.monotonic()
        settle_ns = int(self.o.settle_s * 1e9)
        for path, stat in list(seen.items()):
            age_ns = now_ns - stat.mtime_ns
            if age_ns < settle_ns and not unchanged(known, path, stat):
                self._due[path] = mono + (settle_ns - max(age_ns, 0)) / 1e9
                del seen[path]
                known.pop(path, None)

    async def _apply(self, known: dict[str, Known], seen: dict[str, Stat], final: bool) -> None:
        moves = pair_renames(known, seen)
        clock = Clock(known)
        await self._commit(
            moves_and_deletions(
                self._gone_long_enough(known, seen, moves, final),
                seen,
                moves,
                clock,
                time.time_ns() // 1000,
            )
        )
        pending = to_read(known, seen, moves)
        while pending:
            if self.stopping and self.progress.enabled:
                return  # Ctrl-C during the first scan: the next start reads the rest
            chunk: list[str] = []
            size = 0
            while pending and len(chunk) < CHUNK_FILES and size < CHUNK_BYTES:
                chunk.append(pending.pop())
                size += seen[chunk[-1]].size
            started = time.monotonic()
            digests = await asyncio.to_thread(self.hasher.digest_all, self.root, chunk)
            self.progress.hash_seconds += time.monotonic() - started
            done = [d for d in digests.values() if d is not None]
            self.progress.hashed += len(done)
            self.progress.hashed_bytes += sum(d.stat.size for d in done)
            plan = contents(known, seen, digests, clock)
            await self._commit(plan)
            mono = time.monotonic()
            for path in plan.again:  # changed while read: read again once it settles
                self._due[path] = mono + self.o.settle_s

    def _gone_long_enough(
        self, known: dict[str, Known], seen: dict[str, Stat], moves: dict[str, str], final: bool
    ) -> dict[str, Known]:
        """`known` without the files gone for less than the settle interval (looked at again
        then): a file is reported deleted only once no look within it found where it went."""
        now, moved_away = time.monotonic(), set(moves.values())
        for path in [p for p in self._vanishing if p in seen or p in moved_away]:
            del self._vanishing[path]
        held = set()
        for path, k in known.items():
            if k.stat is None or path in seen or path in moved_away:
                continue
            due = self._vanishing.setdefault(path, now + self.o.settle_s)
            if final or due <= now:
                del self._vanishing[path]
            else:
                held.add(path)
        return {p: k for p, k in known.items() if p not in held}

    async def _commit(self, plan: Plan) -> None:
        events = [e for e in (event_of(s, self.o.who) for s in plan.steps) if e is not None]
        if events:
            await self.publisher.send(events)
            self.progress.published += len(events)
            self.progress.show()
        if plan.rows:
            await asyncio.to_thread(self.baseline.record, plan.rows)
