"""The SQLite engine: FoundationDB's limits and codes, deadlines, retries, durability, threads."""

from __future__ import annotations

import asyncio
import sqlite3
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from workers.store import sqlite as sqlite_engine
from workers.store.error_codes import NOT_COMMITTED, StoreError
from workers.store.port import Transaction, decode_int64
from workers.store.sqlite import SqliteStore

ROOT = Path(__file__).resolve().parents[3]


def code_of(store: SqliteStore, fn: Callable[[Transaction], Any]) -> int:
    with pytest.raises(StoreError) as info:
        store.transact_sync(fn)
    return info.value.code


def test_key_of_10000_bytes_is_accepted(sqlite_store: SqliteStore) -> None:
    sqlite_store.transact_sync(lambda tr: tr.set(b"k" * 10_000, b"v"))
    assert sqlite_store.transact_sync(lambda tr: tr.get(b"k" * 10_000)) == b"v"


def test_key_over_10kb_is_rejected_with_2102(sqlite_store: SqliteStore) -> None:
    assert code_of(sqlite_store, lambda tr: tr.set(b"k" * 10_001, b"v")) == 2102
    assert code_of(sqlite_store, lambda tr: tr.add(b"k" * 10_001, 1)) == 2102


def test_value_over_100kb_is_rejected_with_2103(sqlite_store: SqliteStore) -> None:
    sqlite_store.transact_sync(lambda tr: tr.set(b"ok", b"v" * 100_000))
    assert code_of(sqlite_store, lambda tr: tr.set(b"big", b"v" * 100_001)) == 2103


def test_transaction_over_10mb_is_rejected_with_2101_and_writes_nothing(
    sqlite_store: SqliteStore,
) -> None:
    def fn(tr: Transaction) -> None:
        for i in range(120):  # 120 x 90 KB = 10.8 MB
            tr.set(b"chunk%03d" % i, b"x" * 90_000)

    assert code_of(sqlite_store, fn) == 2101
    assert sqlite_store.transact_sync(lambda tr: tr.get_range(b"", b"\xff")) == []


def test_limit_errors_are_not_retried(sqlite_store: SqliteStore) -> None:
    code_of(sqlite_store, lambda tr: tr.set(b"big", b"v" * 100_001))
    assert sqlite_store.retries == 0


def test_keys_at_or_past_xff_are_rejected_with_2004(sqlite_store: SqliteStore) -> None:
    assert code_of(sqlite_store, lambda tr: tr.set(b"\xff/system", b"v")) == 2004
    assert code_of(sqlite_store, lambda tr: tr.get_range(b"", b"\xff\x00")) == 2004
    assert sqlite_store.transact_sync(lambda tr: tr.get_range(b"", b"\xff")) == []


class EngineClock:
    """The SQLite engine's clock (`workers.store.sqlite.time`), moved on by a test.

    A transaction body "runs" past its deadline by moving this clock, not by sleeping: the
    deadline can then be far off in real time (60 s), so a retried or a following transaction
    never meets it on a loaded machine, and no assertion depends on the machine's speed.
    """

    def __init__(self) -> None:
        self.ahead = 0.0

    def monotonic(self) -> float:
        return time.monotonic() + self.ahead

    def sleep(self, seconds: float) -> None:
        time.sleep(seconds)

    def advance(self, seconds: float) -> None:
        self.ahead += seconds


DEADLINE_S = 60.0  # far off in real time: only an `EngineClock.advance` reaches it


@pytest.fixture
def engine_clock(monkeypatch: pytest.MonkeyPatch) -> EngineClock:
    clock = EngineClock()
    monkeypatch.setattr(sqlite_engine, "time", clock)
    return clock


def test_transaction_running_past_its_deadline_fails_with_1007(
    tmp_path: Path, engine_clock: EngineClock
) -> None:
    store = SqliteStore(tmp_path / "s.db", timeout_s=DEADLINE_S, max_retries=0)

    def slow(tr: Transaction) -> None:
        tr.set(b"a", b"1")
        engine_clock.advance(DEADLINE_S + 1)  # a slow body is the behaviour under test
        tr.get(b"a")

    assert code_of(store, slow) == 1007
    assert store.transact_sync(lambda tr: tr.get(b"a")) is None
    store.close_sync()


def test_deadline_is_checked_at_commit_and_1007_is_retried(
    tmp_path: Path, engine_clock: EngineClock
) -> None:
    store = SqliteStore(tmp_path / "s.db", timeout_s=DEADLINE_S)
    calls = 0

    def slow_once(tr: Transaction) -> int:
        nonlocal calls
        calls += 1
        tr.add(b"n", 1)
        if calls == 1:
            engine_clock.advance(DEADLINE_S + 1)  # the commit comes after the deadline
        return calls

    assert store.transact_sync(slow_once) == 2
    assert (store.retries, store.commits) == (1, 1)  # the too-old attempt committed nothing
    assert decode_int64(store.read_sync(lambda tr: tr.get(b"n"))) == 1
    store.close_sync()


def test_exhausting_the_retry_limit_raises_the_last_error(tmp_path: Path) -> None:
    store = SqliteStore(tmp_path / "s.db", max_retries=3)
    calls = 0

    def always_conflicts(tr: Transaction) -> None:
        nonlocal calls
        calls += 1
        raise StoreError(NOT_COMMITTED, f"attempt {calls}")

    with pytest.raises(StoreError, match="attempt 4") as info:
        store.transact_sync(always_conflicts)
    assert (info.value.code, calls, store.retries) == (NOT_COMMITTED, 4, 3)
    store.close_sync()


def test_a_commit_is_visible_to_a_second_store_on_the_same_file(tmp_path: Path) -> None:
    first, second = SqliteStore(tmp_path / "s.db"), SqliteStore(tmp_path / "s.db")
    first.transact_sync(lambda tr: tr.set(b"k", b"durable"))
    assert second.transact_sync(lambda tr: tr.get(b"k")) == b"durable"
    first.close_sync()
    second.close_sync()


def test_a_busy_database_raises_retryable_1020_until_the_lock_is_released(
    tmp_path: Path,
) -> None:
    store = SqliteStore(tmp_path / "s.db", busy_timeout_s=0.05, max_retries=2)
    other = sqlite3.connect(tmp_path / "s.db", isolation_level=None)
    other.execute("BEGIN IMMEDIATE")
    with pytest.raises(StoreError) as info:
        store.transact_sync(lambda tr: tr.set(b"k", b"v"))
    assert info.value.code == NOT_COMMITTED and info.value.retryable
    other.execute("ROLLBACK")
    other.close()
    store.transact_sync(lambda tr: tr.set(b"k", b"v"))
    assert store.retries == 2
    store.close_sync()


def test_two_processes_adding_to_one_counter_end_with_the_exact_sum(tmp_path: Path) -> None:
    db = tmp_path / "shared.db"
    SqliteStore(db).close_sync()
    script = textwrap.dedent(
        f"""
        from workers.store.sqlite import SqliteStore
        store = SqliteStore({str(db)!r})
        for _ in range(300):
            store.transact_sync(lambda tr: tr.add(b"counter", 1))
        store.close_sync()
        """
    )
    procs = [
        subprocess.Popen([sys.executable, "-c", script], cwd=ROOT, stderr=subprocess.PIPE)
        for _ in range(2)
    ]
    for p in procs:
        _, err = p.communicate(timeout=60)
        assert p.returncode == 0, err.decode()
    store = SqliteStore(db)
    assert decode_int64(store.transact_sync(lambda tr: tr.get(b"counter"))) == 600
    store.close_sync()


def test_transact_sync_from_many_threads_serializes_on_the_store_thread(
    sqlite_store: SqliteStore,
) -> None:
    names: set[str] = set()

    def bump(tr: Transaction) -> None:
        names.add(threading.current_thread().name)
        tr.add(b"n", 1)

    threads = [
        threading.Thread(target=lambda: [sqlite_store.transact_sync(bump) for _ in range(25)])
        for _ in range(4)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert decode_int64(sqlite_store.transact_sync(lambda tr: tr.get(b"n"))) == 100
    assert len(names) == 1 and names.pop().startswith("sqlite-store")


async def test_transact_runs_off_the_event_loop(sqlite_store: SqliteStore) -> None:
    started, release = threading.Event(), threading.Event()

    def waits_for_the_loop(tr: Transaction) -> str:
        started.set()
        assert release.wait(5), "the event loop was blocked"
        tr.set(b"k", b"v")
        return threading.current_thread().name

    task = asyncio.create_task(sqlite_store.transact(waits_for_the_loop))
    assert await asyncio.to_thread(started.wait, 5)
    release.set()  # only possible if the loop is free while fn runs
    assert (await task).startswith("sqlite-store")


def test_a_transaction_inside_a_transaction_is_refused(sqlite_store: SqliteStore) -> None:
    with pytest.raises(RuntimeError, match="inside a transaction"):
        sqlite_store.transact_sync(lambda tr: sqlite_store.transact_sync(lambda tr2: None))


def test_a_leaked_transaction_cannot_be_used_after_commit(sqlite_store: SqliteStore) -> None:
    leaked = sqlite_store.transact_sync(lambda tr: tr)
    with pytest.raises(RuntimeError, match="after it finished"):
        leaked.set(b"k", b"v")


def test_commits_are_counted(sqlite_store: SqliteStore) -> None:
    for _ in range(3):
        sqlite_store.transact_sync(lambda tr: tr.add(b"n", 1))
    assert (sqlite_store.commits, sqlite_store.retries) == (3, 0)
