"""A watcher running in the test's event loop on a real folder, and the two trees to compare:
the folder's (path -> SHA-256 of each file the rules keep) and the store's live files."""

from __future__ import annotations

import asyncio
import hashlib
import io
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

from tests.helpers import eventually
from workers.config import Config
from workers.service.worker import Worker
from workers.watch.runner import WatchTarget, build_watcher, watch_until_stopped
from workers.watch.tree import walk
from workers.watch.watcher import Watcher


@dataclass
class Running:
    watcher: Watcher
    stop: asyncio.Event
    task: asyncio.Task[None]
    progress: io.StringIO

    async def stopped(self) -> None:
        """Ctrl-C: what is pending is published, then the watcher returns."""
        self.stop.set()
        await asyncio.wait_for(self.task, 60)


@asynccontextmanager
async def watching(settings: Config, target: WatchTarget) -> AsyncIterator[Running]:
    out = io.StringIO()
    watcher = build_watcher(settings, target, out)
    stop, ready = asyncio.Event(), asyncio.Event()
    task = asyncio.create_task(watch_until_stopped(watcher, stop, ready.set))
    done, _ = await asyncio.wait(
        [task, asyncio.create_task(ready.wait())], timeout=120, return_when="FIRST_COMPLETED"
    )
    if task in done:
        task.result()  # raises what stopped it
    running = Running(watcher, stop, task, out)
    try:
        yield running
    finally:
        if not task.done():
            await running.stopped()


def target(root: Path, **kw: object) -> WatchTarget:
    return WatchTarget(root, uuid.uuid4(), uuid.uuid4(), **kw)  # type: ignore[arg-type]


def folder_tree(w: Watcher) -> dict[str, str]:
    return {
        rel: hashlib.sha256((w.root / rel).read_bytes()).hexdigest()
        for rel, _ in walk(w.root, w.o.rules)
    }


async def store_tree(worker: Worker, t: WatchTarget) -> dict[str, str | None]:
    files = worker.ingestor.repos.files
    out: dict[str, str | None] = {}
    after = None
    while True:
        page = await worker.store.read(
            lambda tr, a=after: files.list_by_session(tr, t.tenant, t.session, False, 1000, a)
        )
        out |= {f.file_path: f.checksum for f in page.items}
        if page.next is None:
            return out
        after = page.next


async def file_id(worker: Worker, t: WatchTarget, path: str) -> uuid.UUID | None:
    files = worker.ingestor.repos.files
    f = await worker.store.read(lambda tr: files.get_by_path(tr, t.tenant, t.session, path))
    return None if f is None else f.id


async def same_trees(
    worker: Worker, running: Running, t: WatchTarget, what: str = "the store to match the folder"
) -> None:
    """Wait until the store's live files are the folder's, path -> SHA-256."""

    async def matches() -> bool:
        return await store_tree(worker, t) == folder_tree(running.watcher)

    await eventually(matches, timeout=60, what=what)
