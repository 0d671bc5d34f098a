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
Children start on the first big batch, ignore Ctrl-C (the worker stops them), and exit when
the worker dies, even by SIGKILL.
"""

from __future__ import annotations

import asyncio
import logging
import multiprocessing
import os
import signal
import threading
import time
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from functools import partial
from typing import Any
from uuid import UUID

from workers.ingest import Incoming, Result, apply_raw
from workers.repositories import Repositories
from workers.store.keys import Keys
from workers.store.port import Transaction
from workers.store.sqlite import SqliteSnapshots, SqliteStore, WritePlan
from workers.tasks import finish_within

log = logging.getLogger(__name__)

PARENT_POLL_S = 0.5  # how soon a child notices that its worker has died
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

    async def transact(
        self,
        fn: Callable[[Transaction], list[Result]],
        batch: list[Incoming],
        audit_ids: list[UUID],
        now_ms: int,
    ) -> list[Result]:
        """`fn` (the batch applied in this process) prepared in a child and committed here."""
        plan = partial(self._plan, batch, audit_ids, now_ms)
        return await self.store.transact_planned(fn, plan)

    async def _plan(
        self, batch: list[Incoming], audit_ids: list[UUID], now_ms: int
    ) -> tuple[list[Result], WritePlan]:
        executor = self._running()
        loop = asyncio.get_running_loop()
        try:
            return await loop.run_in_executor(executor, _prepare, batch, audit_ids, now_ms)
        except BrokenProcessPool:
            if self._executor is executor:
                self._executor = None
                self.restarts += 1
                executor.shutdown(wait=False, cancel_futures=True)
                log.warning(
                    "a batch-preparing process died; new ones start with the next big batch "
                    "(this one is applied in the worker)"
                )
            raise

    def _running(self) -> ProcessPoolExecutor:
        if self._executor is None:
            self._executor = ProcessPoolExecutor(
                self.processes,
                # spawn, not fork: the worker has threads (SQLite, NATS) a fork would copy mid-use
                mp_context=multiprocessing.get_context("spawn"),
                initializer=_start_child,
                initargs=(str(self.store.path), self.key_root, self.store.timeout_s, os.getpid()),
            )
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


# What runs in a child process.

_snapshots: SqliteSnapshots | None = None
_repos: Repositories | None = None


def _start_child(path: str, key_root: tuple[Any, ...], timeout_s: float, parent: int) -> None:
    global _snapshots, _repos
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the worker's: it stops the pool
    threading.Thread(target=_exit_with, args=(parent,), daemon=True, name="parent-watch").start()
    _snapshots = SqliteSnapshots(path, timeout_s=timeout_s)
    _repos = Repositories(Keys(key_root))


def _exit_with(parent: int) -> None:
    """A SIGKILLed worker cannot stop its children: each leaves when its parent is gone."""
    while os.getppid() == parent:
        time.sleep(PARENT_POLL_S)
    os._exit(0)


def _prepare(
    batch: list[Incoming], audit_ids: list[UUID], now_ms: int
) -> tuple[list[Result], WritePlan]:
    if _snapshots is None or _repos is None:
        raise RuntimeError("a preparing process was not started by PreparePool")
    return _snapshots.prepare(partial(apply_raw, _repos, batch, audit_ids, now_ms))
