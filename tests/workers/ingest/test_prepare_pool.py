"""Big batches prepared in child processes (real ones, spawned): the same outcome as a batch
applied in the worker, nothing applied twice when the plan is stale or a child dies, and no
child outlives its worker."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from nats.aio.client import Client

from tests.helpers import eventually
from tests.workers.ingest.events_factory import dumps, later, message_sent
from tests.workers.ingest.test_ingestion_faults import expected, publish_messages
from workers.config import Config
from workers.ingest import ingestor as ingest
from workers.ingest.ingestor import Ingestor
from workers.ingest.outcomes import Incoming, Outcome, Result
from workers.ingest.pool import PreparePool
from workers.nats.streams import ensure_streams
from workers.repositories import Repositories
from workers.service.worker import Worker, build_worker
from workers.store.sqlite import SqliteStore, SqliteTransaction, WritePlan

ROOT = ("ide",)


@pytest.fixture
async def pooled(tmp_path: Path) -> AsyncIterator[Ingestor]:
    store = SqliteStore(tmp_path / "pooled.db")
    pool = PreparePool(store, ROOT, processes=2)
    await pool.started()
    yield Ingestor(store, Repositories(), pool)
    await pool.close()
    await store.close()


@pytest.fixture
def runs_here(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """How many times a batch given to the pool ran in this process instead (the fallback)."""
    calls: list[int] = []
    apply_raw = ingest.apply_raw

    def counted(*args: Any) -> list[Result]:
        calls.append(1)
        return apply_raw(*args)

    monkeypatch.setattr(ingest, "apply_raw", counted)
    return calls


def batch(tenant: uuid.UUID, conv: uuid.UUID, n: int) -> list[Incoming]:
    bodies = [message_sent(tenant, conv, tokens=3, at=later(i)) for i in range(n)]
    return [Incoming("message.sent", dumps(b)) for b in bodies]


BAD = [
    Incoming("message.sent", b"{not json"),
    Incoming("message.sent", b'{"event_id": "not-a-uuid"}'),
    Incoming("nobody.listens", b"{}"),
]


async def counts(ingestor: Ingestor, tenant: uuid.UUID, conv: uuid.UUID) -> tuple[int, int]:
    repos = ingestor.repos
    return await ingestor.store.read(lambda tr: repos.conversations.counts(tr, tenant, conv))


def pool_of(ingestor: Ingestor) -> PreparePool:
    assert ingestor.pool is not None
    return ingestor.pool


async def test_a_batch_prepared_in_a_child_ends_like_one_applied_here(
    pooled: Ingestor, tmp_path: Path, runs_here: list[int]
) -> None:
    tenant, conv = uuid.uuid4(), uuid.uuid4()
    good = batch(tenant, conv, ingest.PREPARE_FROM + 20)
    mixed = good[:50] + BAD + good[50:] + good[:5]  # bad input and redeliveries in between
    here_store = SqliteStore(tmp_path / "here.db")
    here = Ingestor(here_store, Repositories())
    try:
        expected = await here.apply(mixed)
        got = await pooled.apply(mixed)
        assert got == expected  # outcomes and dead-letter reasons alike
        assert runs_here == []  # prepared in a child, committed here
        assert pool_of(pooled).pids()
        assert await counts(pooled, tenant, conv) == await counts(here, tenant, conv)
        assert await counts(pooled, tenant, conv) == (len(good), 3 * len(good))
    finally:
        await here_store.close()


async def test_a_batch_delivered_again_is_all_duplicates(
    pooled: Ingestor, runs_here: list[int]
) -> None:
    tenant, conv = uuid.uuid4(), uuid.uuid4()
    events = batch(tenant, conv, ingest.PREPARE_FROM)
    await pooled.apply(events)
    again = await pooled.apply(events)
    assert {r.outcome for r in again} == {Outcome.DUPLICATE}
    assert runs_here == []
    assert await counts(pooled, tenant, conv) == (len(events), 3 * len(events))


async def test_a_plan_whose_reads_changed_before_its_commit_is_dropped(
    pooled: Ingestor, runs_here: list[int], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Another batch applies one of the events between the child's snapshot and the commit:
    the plan would apply it a second time, so the batch runs again here and that event is a
    duplicate."""
    tenant, conv = uuid.uuid4(), uuid.uuid4()
    events = batch(tenant, conv, ingest.PREPARE_FROM)
    pool = pool_of(pooled)
    plan = pool._plan

    async def overtaken(*args: Any) -> tuple[list[Result], WritePlan]:
        prepared = await plan(*args)
        here = Ingestor(pooled.store, pooled.repos)  # no pool: applied in this process
        assert [r.outcome for r in await here.apply(events[:1])] == [Outcome.APPLIED]
        return prepared

    monkeypatch.setattr(pool, "_plan", overtaken)
    results = await pooled.apply(events)
    assert [r.outcome for r in results] == [Outcome.DUPLICATE] + [Outcome.APPLIED] * (
        len(events) - 1
    )
    assert runs_here == [1]
    assert await counts(pooled, tenant, conv) == (len(events), 3 * len(events))


async def test_a_child_killed_mid_work_loses_nothing_and_is_replaced(
    pooled: Ingestor, runs_here: list[int], caplog: pytest.LogCaptureFixture
) -> None:
    tenant, conv = uuid.uuid4(), uuid.uuid4()
    first, second, third = (batch(tenant, conv, ingest.PREPARE_FROM) for _ in range(3))
    pool = pool_of(pooled)
    await pooled.apply(first)
    old = pool.pids()
    for pid in old:
        os.kill(pid, signal.SIGKILL)
    assert {r.outcome for r in await pooled.apply(second)} == {Outcome.APPLIED}
    assert runs_here == [1] and pool.restarts == 1
    assert "a batch-preparing process died" in caplog.text
    await pool.started()
    assert {r.outcome for r in await pooled.apply(third)} == {Outcome.APPLIED}
    assert runs_here == [1]  # new children took the third batch
    assert pool.pids() and not set(pool.pids()) & set(old)
    assert await counts(pooled, tenant, conv) == (300, 900)


async def test_closing_the_pool_stops_its_children(pooled: Ingestor) -> None:
    await pooled.apply(batch(uuid.uuid4(), uuid.uuid4(), ingest.PREPARE_FROM))
    pool = pool_of(pooled)
    pids = pool.pids()
    assert len(pids) == 2
    await pool.close()
    await eventually(lambda: not any(alive(p) for p in pids), what="the children to exit")


KILLED_WORKER = """
import asyncio, os, signal, sys, uuid
sys.path.insert(0, {root!r})
from tests.workers.ingest.test_prepare_pool import batch
from workers.ingest.ingestor import Ingestor
from workers.ingest.pool import PreparePool
from workers.repositories import Repositories
from workers.store.sqlite import SqliteStore

async def main():
    store = SqliteStore({db!r})
    pool = PreparePool(store, ("ide",), processes=2)
    await pool.started()
    await Ingestor(store, Repositories(), pool).apply(batch(uuid.uuid4(), uuid.uuid4(), 100))
    print(*pool.pids(), flush=True)
    os.kill(os.getpid(), signal.SIGKILL)

if __name__ == "__main__":
    asyncio.run(main())
"""


async def test_children_exit_when_their_worker_is_killed(tmp_path: Path) -> None:
    script = tmp_path / "killed_worker.py"
    root = str(Path(__file__).resolve().parents[3])
    script.write_text(KILLED_WORKER.format(root=root, db=str(tmp_path / "killed.db")))
    done = subprocess.run(
        [sys.executable, str(script)], capture_output=True, text=True, timeout=120
    )
    assert done.returncode == -signal.SIGKILL, done.stderr
    pids = [int(p) for p in done.stdout.split()]
    assert len(pids) == 2
    await eventually(lambda: not any(alive(p) for p in pids), what="orphaned children to exit")


INTERRUPTED_WORKER = """
import asyncio, json, signal, sys, uuid
sys.path.insert(0, {root!r})
from tests.workers.ingest.test_prepare_pool import batch
from workers.ingest import ingestor as ingest
from workers.ingest.ingestor import Ingestor
from workers.ingest.pool import PreparePool
from workers.repositories import Repositories
from workers.store.sqlite import SqliteStore

async def main():
    signals = []  # the worker decides what Ctrl-C means (lifecycle.py): here, nothing
    asyncio.get_running_loop().add_signal_handler(signal.SIGINT, signals.append, 1)
    print("armed", flush=True)
    store = SqliteStore({db!r})
    pool = PreparePool(store, ("ide",), processes=2)
    await pool.started()  # the children start while Ctrl-C is pressed
    started = sorted(pool.pids())
    here = []  # batches run in this process instead of a child (the fallback)
    apply_raw = ingest.apply_raw
    ingest.apply_raw = lambda *args: here.append(1) or apply_raw(*args)
    ingestor = Ingestor(store, Repositories(), pool)
    tenant, conv = uuid.uuid4(), uuid.uuid4()
    outcomes = set()
    for size in (2000, 100, 100):  # prepared in the children while Ctrl-C is pressed
        outcomes |= {{r.outcome.value for r in await ingestor.apply(batch(tenant, conv, size))}}
    counts = await store.read(lambda tr: ingestor.repos.conversations.counts(tr, tenant, conv))
    print(json.dumps({{
        "signals": len(signals),
        "outcomes": sorted(outcomes),
        "counts": counts,
        "here": len(here),
        "restarts": pool.restarts,
        "started": started,
        "after": sorted(pool.pids()),
    }}), flush=True)
    await pool.close()
    await store.close()

if __name__ == "__main__":
    asyncio.run(main())
"""


async def test_ctrl_c_to_the_process_group_leaves_the_children_to_the_worker(
    tmp_path: Path,
) -> None:
    """Ctrl-C in a terminal signals the whole process group: the worker and its preparing
    children. Pressed again and again while the children start and prepare batches, it kills
    none of them: the same processes prepare every batch, and the worker decides when to stop
    them."""
    script = tmp_path / "interrupted_worker.py"
    root = str(Path(__file__).resolve().parents[3])
    script.write_text(INTERRUPTED_WORKER.format(root=root, db=str(tmp_path / "ctrl_c.db")))
    proc = subprocess.Popen(
        [sys.executable, str(script)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,  # its own process group, as a terminal gives a command
    )
    pressing = threading.Event()

    def press_ctrl_c() -> None:  # what the terminal does on Ctrl-C, every 10 ms
        while pressing.is_set() and proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGINT)
            time.sleep(0.01)

    presser = threading.Thread(target=press_ctrl_c, daemon=True)
    try:
        assert proc.stdout is not None
        assert proc.stdout.readline() == "armed\n", proc.stderr and proc.stderr.read()
        pressing.set()
        presser.start()
        report_line = proc.stdout.readline()  # the report: printed before the pool closes
        pressing.clear()
        presser.join()
        _, err = proc.communicate(timeout=120)
    finally:
        pressing.clear()
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    assert proc.returncode == 0, err[-3000:]
    assert report_line, err[-3000:]
    report = json.loads(report_line)
    assert report["signals"] > 0  # Ctrl-C was pressed while the pool worked
    assert report["outcomes"] == ["applied"]
    assert report["counts"] == [2200, 6600]
    assert (report["here"], report["restarts"]) == (0, 0)  # no child died, none was replaced
    assert report["after"] == report["started"] and len(report["started"]) == 2
    assert not any(alive(p) for p in report["started"])  # stopped by the worker at its exit


def alive(pid: int) -> bool:
    """Running (a zombie awaiting its parent's wait() counts as gone)."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except FileNotFoundError:
        return False


async def test_a_backlog_from_nats_is_prepared_in_children_and_applied_once(
    settings: Config, producer: Client, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The real path: events published with plain nats-py before the worker starts, so its
    batches are full (100) and go to the children."""
    plans: list[int] = []
    write_plan = SqliteTransaction.write_plan

    def counted(self: SqliteTransaction, plan: WritePlan) -> None:
        plans.append(len(plan.written))
        write_plan(self, plan)

    monkeypatch.setattr(SqliteTransaction, "write_plan", counted)
    tenant, convs, n = uuid.uuid4(), [uuid.uuid4() for _ in range(3)], 1000
    await ensure_streams(producer.jetstream(), settings)
    await publish_messages(producer, tenant, convs, n)
    worker = build_worker(settings)
    await pool_of(worker.ingestor).started()  # else the worker may finish before they are up
    await worker.start()
    try:
        await backlog_applied_once(worker, plans, tenant, convs, n)
    finally:
        await worker.stop()


async def test_big_batches_are_applied_in_the_worker_until_the_children_are_up(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = SqliteStore(tmp_path / "cold.db")
    pool = PreparePool(store, ROOT, processes=1)
    sent: list[int] = []  # batches handed to the child
    plan = pool._plan

    async def counted(*args: Any) -> tuple[list[Result], WritePlan]:
        sent.append(1)
        return await plan(*args)

    monkeypatch.setattr(pool, "_plan", counted)
    cold = Ingestor(store, Repositories(), pool)
    tenant, conv = uuid.uuid4(), uuid.uuid4()
    try:
        results = await cold.apply(batch(tenant, conv, ingest.PREPARE_FROM))
        assert {r.outcome for r in results} == {Outcome.APPLIED}
        assert sent == [] and pool.pids()  # applied here while the child starts
        await pool.started()
        await cold.apply(batch(tenant, conv, ingest.PREPARE_FROM))
        assert sent == [1]  # the next one went to the child
        assert await counts(cold, tenant, conv) == (200, 600)
    finally:
        await pool.close()
        await store.close()


async def backlog_applied_once(
    worker: Worker, plans: list[int], tenant: uuid.UUID, convs: list[uuid.UUID], n: int
) -> None:
    stats = worker.ingestor.stats
    await eventually(lambda: stats.applied + stats.duplicates >= n, what="the backlog applied")
    assert (stats.applied, stats.duplicates, stats.dead) == (n, 0, 0)
    assert pool_of(worker.ingestor).pids() and plans  # children prepared, the worker committed
    repos = worker.ingestor.repos
    got = {
        c: await worker.store.read(lambda tr, c=c: repos.conversations.counts(tr, tenant, c))
        for c in convs
    }
    assert got == expected(n, convs)
