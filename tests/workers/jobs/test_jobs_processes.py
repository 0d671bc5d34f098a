"""Real OS processes: a purge SIGKILLed mid-run resumes exactly, and two schedulers never
run the same job at once."""

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
from uuid import uuid4

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

from tests.helpers import store_url
from workers.config import Config
from workers.jobs.executor import run_job
from workers.repositories import Repositories
from workers.store import Store

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
