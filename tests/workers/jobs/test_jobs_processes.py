"""Real OS processes: each retention job SIGKILLed mid-run resumes exactly, and two schedulers
never run the same job at once."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import IO, Any
from uuid import UUID, uuid4

import pytest
from jobs_support import (
    FakeClock,
    Seeder,
    assert_clean,
    current_lease,
    days_ago,
    read_continuation,
    receipts,
    remaining_audit_ids,
)

from events.enums import SettingCategory
from tests.helpers import store_url
from workers.config import Config
from workers.jobs.controls import add_hold
from workers.jobs.executor import run_job
from workers.jobs.summary import TenantResult
from workers.records import File, version_of
from workers.repositories import Repositories
from workers.repositories.cursors import Continuation
from workers.store import Store
from workers.store.port import Transaction

CHILD = Path(__file__).with_name("jobs_child.py")
DEADLINE_S = 30.0


class Children:
    """Starts job runs in their own processes; kills and reaps what is left at teardown."""

    def __init__(self, logs: Path, key_root: str) -> None:
        self.logs = logs
        self.key_root = key_root
        self.running: list[tuple[subprocess.Popen[bytes], IO[bytes]]] = []

    def start(self, db: Path, job: str, now: FakeClock, *extra: str) -> subprocess.Popen[bytes]:
        """A job run on the tests' store (TEST_STORE_URL, or the SQLite file `db`)."""
        cmd = [sys.executable, str(CHILD), store_url(db), job, "--now", now().isoformat()]
        cmd += ["--key-root", self.key_root, *extra]
        log = (self.logs / f"child-{len(self.running)}.log").open("wb")
        child = subprocess.Popen(cmd, stderr=log)
        self.running.append((child, log))
        return child

    def stderr(self, child: subprocess.Popen[bytes]) -> str:
        (log,) = [log for c, log in self.running if c is child]
        return Path(log.name).read_text()

    def close(self) -> None:
        for child, log in self.running:
            if child.poll() is None:
                child.kill()
            child.wait()
            log.close()


@pytest.fixture
def children(tmp_path: Path, key_root: str) -> Iterator[Children]:
    spawned = Children(tmp_path, key_root)
    yield spawned
    spawned.close()


async def until(condition: Callable[[], Any], what: str) -> Any:
    """Poll an async-or-sync condition until it is truthy, or fail after the deadline."""
    deadline = time.monotonic() + DEADLINE_S
    while time.monotonic() < deadline:
        value = condition()
        if asyncio.iscoroutine(value):
            value = await value
        if value:
            return value
        await asyncio.sleep(0.005)
    raise AssertionError(f"timed out waiting for {what}")


async def test_a_purge_killed_mid_run_resumes_from_its_cursor_and_ends_exact(
    store: Store,
    repos: Repositories,
    seed: Seeder,
    settings: Callable[..., Config],
    clock: FakeClock,
    db_path: Path,
    children: Children,
) -> None:
    tenant, expired_n = uuid4(), 4000
    for _ in range(expired_n // 1000):
        await seed.audits(tenant, [days_ago(120)] * 1000)
    young = await seed.audits(tenant, [days_ago(d) for d in (60, 10, 1)])

    child = children.start(db_path, "audit", clock, "--batch", "1")

    async def progressed() -> bool:
        cont = await read_continuation(store, repos, tenant, "audit")
        if child.poll() is not None:
            raise AssertionError(f"the purge ended before its kill: {children.stderr(child)}")
        return cont is not None and cont.removed >= 10

    await until(progressed, "the stored cursor to show progress")
    os.kill(child.pid, signal.SIGKILL)
    assert child.wait(DEADLINE_S) == -signal.SIGKILL

    left_after_kill = await remaining_audit_ids(store, repos, tenant)
    assert len(young) < len(left_after_kill) < expired_n + len(young)
    cont = await read_continuation(store, repos, tenant, "audit")
    assert cont is not None
    assert cont.removed == expired_n + len(young) - len(left_after_kill)
    await assert_clean(store, repos)

    clock.advance(seconds=settings().lease_ttl_s + 1)  # the dead run's lease lapses
    summary = await run_job("audit", store, repos, settings(purge_batch_size=50), clock=clock)

    (result,) = summary.tenants
    assert (result.resumed, result.complete, result.removed) == (True, True, expired_n)
    (receipt,) = await receipts(store, repos, tenant)
    assert receipt.event_data["removed"] == expired_n
    assert await remaining_audit_ids(store, repos, tenant) == {a.id for a in young} | {receipt.id}
    assert await read_continuation(store, repos, tenant, "audit") is None
    await assert_clean(store, repos)


async def test_two_scheduler_processes_run_a_job_once_while_their_runs_overlap(
    store: Store,
    repos: Repositories,
    seed: Seeder,
    clock: FakeClock,
    db_path: Path,
    tmp_path: Path,
    children: Children,
) -> None:
    tenant = uuid4()
    await seed.audits(tenant, [days_ago(200)] * 300)
    release = tmp_path / "release"
    outs = {name: tmp_path / f"{name}.json" for name in ("node-a", "node-b")}
    children = [
        children.start(
            db_path,
            "audit",
            clock,
            "--batch",
            "50",
            "--owner",
            name,
            "--out",
            str(out),
            "--hold-until",
            str(release),
        )
        for name, out in outs.items()
    ]

    # The winner holds the lease at its first batch until the loser has reported.
    first = await until(lambda: [n for n, p in outs.items() if p.exists()], "one run to report")
    release.touch()
    for child in children:
        assert child.wait(DEADLINE_S) == 0, children.stderr(child)

    summaries = {n: json.loads(p.read_text()) for n, p in outs.items()}
    (loser,) = first
    (winner,) = set(outs) - {loser}
    assert summaries[loser]["skipped"].startswith(f"{winner} holds the lease until ")
    assert (summaries[loser]["removed"], summaries[winner]["removed"]) == (0, 300)
    (receipt,) = await receipts(store, repos, tenant)
    assert receipt.event_data["owner"] == winner
    assert await current_lease(store, repos, "audit") is None
    await assert_clean(store, repos)


async def kill_mid_run(
    children: Children,
    child: subprocess.Popen[bytes],
    store: Store,
    repos: Repositories,
    tenant: UUID,
    job: str,
    removed: int,
) -> Continuation:
    """SIGKILL the child once its stored cursor shows `removed` records gone (never a sleep);
    return the continuation the killed run left behind."""

    async def progressed() -> Continuation | None:
        cont = await read_continuation(store, repos, tenant, job)
        if child.poll() is not None:
            raise AssertionError(f"the {job} run ended before its kill: {children.stderr(child)}")
        return cont if cont is not None and cont.removed >= removed else None

    await until(progressed, f"the {job} run's stored cursor to pass {removed} removed")
    os.kill(child.pid, signal.SIGKILL)
    assert child.wait(DEADLINE_S) == -signal.SIGKILL
    cont = await read_continuation(store, repos, tenant, job)
    assert cont is not None
    return cont


async def resume(
    job: str, store: Store, repos: Repositories, settings: Config, clock: FakeClock
) -> TenantResult:
    """Run the job again in this process once the dead run's lease lapsed; its one tenant."""
    clock.advance(seconds=settings.lease_ttl_s + 1)
    summary = await run_job(job, store, repos, settings, clock=clock)
    (result,) = summary.tenants
    return result


async def still_stored(
    store: Store, repos: Repositories, tenant: UUID, files: list[File]
) -> list[File]:
    """The records of `files` that are still there, as stored now."""
    found = await store.read(lambda tr: [repos.files.get_by_id(tr, tenant, f.id) for f in files])
    return [f for f in found if f is not None]


async def test_a_files_purge_killed_mid_run_resumes_and_removes_each_file_once(
    store: Store,
    repos: Repositories,
    seed: Seeder,
    settings: Callable[..., Config],
    clock: FakeClock,
    db_path: Path,
    children: Children,
) -> None:
    """The purge is hard deletion: a kill must neither lose its place (files left behind or
    counted twice in the receipt) nor touch what a hold, the period or liveness keeps."""
    tenant, held_user = uuid4(), uuid4()
    expired: list[File] = []
    for _ in range(3):
        expired += await seed.files(tenant, [days_ago(60)] * 1000)
    # deleted first, so they sit before the kill's cursor: a resumption must not count them again
    held = await seed.files(tenant, [days_ago(90)] * 5, user_id=held_user)
    kept = held + await seed.files(tenant, [days_ago(5)] * 3 + [None] * 3)
    await add_hold(store, repos, tenant, "user", held_user, "case 12", clock=clock)

    child = children.start(db_path, "files", clock, "--batch", "1")
    cont = await kill_mid_run(children, child, store, repos, tenant, "files", removed=10)

    assert cont.held == len(held)  # the held files all lie before the cursor
    left = await still_stored(store, repos, tenant, expired)
    assert 0 < len(left) < len(expired)
    assert cont.removed == len(expired) - len(left)  # the cursor and the data agree
    assert await still_stored(store, repos, tenant, kept) == kept
    await assert_clean(store, repos)

    result = await resume("files", store, repos, settings(purge_batch_size=50), clock)

    assert (result.resumed, result.complete) == (True, True)
    assert (result.removed, result.held) == (len(expired), len(held))
    assert await still_stored(store, repos, tenant, expired) == []
    assert await still_stored(store, repos, tenant, kept) == kept
    (receipt,) = await receipts(store, repos, tenant)
    assert receipt.id == cont.run_id  # the killed run's receipt, written once by its resumption
    assert (receipt.event_data["removed"], receipt.event_data["held_back"]) == (3000, 5)
    assert receipt.event_data["batches"] == result.batches > cont.seq
    assert await read_continuation(store, repos, tenant, "files") is None
    await assert_clean(store, repos)


EDITOR = SettingCategory.EDITOR


async def tombstones(store: Store, repos: Repositories, tenant: UUID) -> tuple[int, int]:
    """How many setting tombstones the tenant keeps, counted in the records and in the by-time
    index the expiry walks (the two must agree)."""
    tk = repos.keys.tenant(tenant)

    def count(tr: Transaction) -> tuple[int, int]:
        records = tr.get_range(*tk.setting_tombstones.range())
        by_ms = tr.get_range(*tk.setting_tombstones_by_ms.range())
        return len(records), len(by_ms)

    return await store.read(count)


async def test_a_dedupe_expiry_killed_in_its_second_phase_resumes_there_and_ends_exact(
    store: Store,
    repos: Repositories,
    seed: Seeder,
    settings: Callable[..., Config],
    clock: FakeClock,
    db_path: Path,
    children: Children,
) -> None:
    """The expiry walks marks, then tombstones, under one cursor: killed among the tombstones,
    the resumed run must carry on there with the run's totals, and leave what is younger than
    the horizon (a young mark still dedupes, a young tombstone still beats a late value)."""
    tenant, user = uuid4(), uuid4()
    old_marks = await seed.marks(tenant, [days_ago(30)] * 20)
    young_marks = await seed.marks(tenant, [days_ago(1)] * 3)
    old_n, young_n = 2000, 4

    def deletes(tr: Transaction, first: int, n: int, days: float) -> None:
        for i in range(first, first + n):
            version = version_of(days_ago(days), uuid4())
            assert repos.settings.apply_change(tr, tenant, user, EDITOR, f"k{i}", version, None)

    await store.transact(lambda tr: deletes(tr, 0, old_n, 30))
    await store.transact(lambda tr: deletes(tr, old_n, young_n, 1))
    expired = len(old_marks) + old_n

    child = children.start(db_path, "dedupe", clock, "--batch", "1")
    cont = await kill_mid_run(
        children, child, store, repos, tenant, "dedupe", removed=len(old_marks) + 10
    )

    marks = await store.read(
        lambda tr: repos.applied.applied(tr, [(tenant, e) for e in old_marks + young_marks])
    )
    assert marks == [False] * len(old_marks) + [True] * len(young_marks)
    left, indexed = await tombstones(store, repos, tenant)
    assert left == indexed and young_n < left < old_n + young_n
    assert cont.removed == expired - (left - young_n)  # the cursor and the data agree

    result = await resume("dedupe", store, repos, settings(purge_batch_size=50), clock)

    assert (result.resumed, result.complete, result.removed, result.held) == (
        True,
        True,
        expired,
        0,
    )
    assert await tombstones(store, repos, tenant) == (young_n, young_n)
    marks = await store.read(
        lambda tr: repos.applied.applied(tr, [(tenant, e) for e in old_marks + young_marks])
    )
    assert marks == [False] * len(old_marks) + [True] * len(young_marks)
    (receipt,) = await receipts(store, repos, tenant)
    assert (receipt.id, receipt.event_data["removed"]) == (cont.run_id, expired)
    assert await read_continuation(store, repos, tenant, "dedupe") is None
    await assert_clean(store, repos)
