"""Big batches decoded and prepared in other processes, so that preparing is not held up by
the worker's one GIL.

A worker process runs one thread of Python at a time. Its event loop (NATS fetches and
acks), its SQLite writer thread and the preparation of each batch (validation, models, JSON,
keys: most of the Python work) all want that GIL, and the writer loses up to a switch
interval each time it takes the GIL back after SQLite. So a batch of `PREPARE_FROM` events
or more goes to one of `PREPARE_PROCESSES` child processes. The child decodes it and runs it
on a snapshot of its own read connection to the same SQLite file, then sends back each event's
outcome and the `WritePlan`. The worker's writer thread checks the plan's reads and commits it
(`SqliteStore.transact_planned`).

Exactly-once does not depend on the children. A plan whose reads changed before its commit
(a dedupe mark, a conversation) is dropped, and the batch runs again under the write lock in
the worker. So does a batch whose child failed or died, and the pool starts new children.
Children start on the first big batch, in the background: until they are up, big batches
are applied in the worker, so none waits for them. They are forked from a fork server (a fresh
process that imports the worker's modules once, where each spawned child would pay it
again), never from the worker itself, whose threads (SQLite, NATS) a fork would copy mid-use.
They ignore Ctrl-C (the worker stops them) from their first instruction: they are started
with SIGINT blocked, so a Ctrl-C while one is still starting waits, and is dropped once it
ignores SIGINT. They exit when the worker dies, even by SIGKILL.
"""

from __future__ import annotations

import asyncio
import logging
import multiprocessing
import os
import signal
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from contextlib import contextmanager
from functools import partial
from multiprocessing.context import BaseContext
from typing import Any

from workers.ids import Uuid7Block
from workers.ingest.core import apply_raw
from workers.ingest.outcomes import Incoming, Result
from workers.repositories import Repositories
from workers.store.keys import Keys
from workers.store.port import Transaction
from workers.store.sqlite import SqliteSnapshots, SqliteStore, WritePlan
from workers.tasks import finish_within

log = logging.getLogger(__name__)

STOP_TIMEOUT_S = 10.0


class PreparePool:
    """Child processes that prepare batches for one `SqliteStore`, started on first use."""

    def __init__(self, store: SqliteStore, key_root: tuple[Any, ...], processes: int) -> None:
        if processes < 1:
            raise ValueError("a prepare pool needs at least one process")
        self.store = store
        self.key_root = key_root
        self.processes = processes
        self.restarts = 0
        self._executor: ProcessPoolExecutor | None = None
        self._starting: list[Future[int]] = []  # one trivial call per process: done once up

    def ready(self) -> bool:
        """Are the children up? The first call starts them; False until they are."""
        executor = self._running()
        if not all(f.done() for f in self._starting):
            return False
        if any(f.exception() is not None for f in self._starting):
            self._broken(executor)
            return False
        return True

    async def started(self) -> None:
        """Start the children and wait until they are up (or raise why they cannot be)."""
        self._running()
        for f in self._starting:
            await asyncio.wrap_future(f)

    async def transact(
        self,
        fn: Callable[[Transaction], list[Result]],
        batch: list[Incoming],
        audit_ids: Uuid7Block,
        now_ms: int,
    ) -> list[Result]:
        """`fn` (the batch applied in this process) prepared in a child and committed here."""
        plan = partial(self._plan, batch, audit_ids, now_ms)
        return await self.store.transact_planned(fn, plan)

    async def _plan(
        self, batch: list[Incoming], audit_ids: Uuid7Block, now_ms: int
    ) -> tuple[list[Result], WritePlan]:
        executor = self._running()
        loop = asyncio.get_running_loop()
        try:
            return await loop.run_in_executor(executor, _prepare, batch, audit_ids, now_ms)
        except BrokenProcessPool:
            self._broken(executor)
            raise

    def _broken(self, executor: ProcessPoolExecutor) -> None:
        if self._executor is executor:
            self._executor = None
            self.restarts += 1
            executor.shutdown(wait=False, cancel_futures=True)
            log.warning(
                "a batch-preparing process died; new ones start with the next big batch "
                "(meanwhile big batches are applied in the worker)"
            )

    def _running(self) -> ProcessPoolExecutor:
        if self._executor is None:
            self._executor = executor = ProcessPoolExecutor(
                self.processes,
                mp_context=_context(),
                initializer=_start_child,
                initargs=(str(self.store.path), self.key_root, self.store.timeout_s),
            )
            # each submit spawns a process while none is idle: these start them all now
            with _sigint_blocked():
                self._starting = [executor.submit(os.getpid) for _ in range(self.processes)]
        return self._executor

    def pids(self) -> list[int]:
        """The children's process ids (none before the first big batch)."""
        executor = self._executor
        processes = getattr(executor, "_processes", None) or {}
        return [p.pid for p in processes.values() if p.pid is not None]

    async def close(self) -> None:
        executor, self._executor = self._executor, None
        if executor is None:
            return
        stopped = asyncio.to_thread(executor.shutdown, wait=True, cancel_futures=True)
        if not await finish_within(stopped, STOP_TIMEOUT_S):
            log.warning("batch-preparing processes did not stop in %.0f s", STOP_TIMEOUT_S)


def _context() -> BaseContext:
    """A fork server where the platform has one, else spawn (each child imports for itself).
    Its preload includes `__main__` as spawn would run it: a script that starts a worker needs
    `if __name__ == "__main__":` either way."""
    if "forkserver" not in multiprocessing.get_all_start_methods():
        return multiprocessing.get_context("spawn")
    context = multiprocessing.get_context("forkserver")
    context.set_forkserver_preload(["__main__", __name__])
    return context


@contextmanager
def _sigint_blocked() -> Iterator[None]:
    """SIGINT blocked in this thread while it starts children (and the fork server, on first
    use). A process inherits the signal mask of the thread that forks it, across exec too, so
    each child starts with Ctrl-C held until `_start_child` ignores it: Ctrl-C reaches every
    process of the group, and one that came before a child's own `signal.signal` killed it
    (exit 1: the fork server drops a KeyboardInterrupt silently) and broke the pool. A Ctrl-C
    meant for the worker waits until this returns, a few milliseconds."""
    if not hasattr(signal, "pthread_sigmask"):  # no masks (Windows): nothing to inherit
        yield
        return
    held = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT})
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, held)


# What runs in a child process.

_snapshots: SqliteSnapshots | None = None
_repos: Repositories | None = None


def _start_child(path: str, key_root: tuple[Any, ...], timeout_s: float) -> None:
    global _snapshots, _repos
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the worker's: it stops the pool
    if hasattr(signal, "pthread_sigmask"):  # held since the fork (`_sigint_blocked`): dropped
        signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGINT})
    threading.Thread(target=_exit_with_worker, daemon=True, name="worker-watch").start()
    _snapshots = SqliteSnapshots(path, timeout_s=timeout_s)
    _repos = Repositories(Keys(key_root))


def _exit_with_worker() -> None:
    """A SIGKILLed worker cannot stop its children: each leaves when the worker is gone. The
    worker is multiprocessing's parent process even when the fork server forked the child,
    and joining it returns when the worker's end of a pipe closes: no polling."""
    worker = multiprocessing.parent_process()
    if worker is not None:
        worker.join()
    os._exit(0)


def _prepare(
    batch: list[Incoming], audit_ids: Uuid7Block, now_ms: int
) -> tuple[list[Result], WritePlan]:
    if _snapshots is None or _repos is None:
        raise RuntimeError("a preparing process was not started by PreparePool")
    return _snapshots.prepare(partial(apply_raw, _repos, batch, audit_ids, now_ms))
