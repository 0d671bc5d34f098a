"""`transact_prepared`: the same outcome as `transact`, with the work done off the write lock
where the engine can (SQLite), and never a lost update when the snapshot turns out stale."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path

import pytest

from workers.store import sqlite
from workers.store.error_codes import (
    COMMIT_UNKNOWN_RESULT,
    KEY_TOO_LARGE,
    TRANSACTION_TOO_LARGE,
    VALUE_TOO_LARGE,
    StoreError,
)
from workers.store.faults import FaultInjector
from workers.store.port import Store, Transaction, decode_int64, encode_int64
from workers.store.prepared import NeedsLock, PreparedTransaction
from workers.store.sqlite import KEY_OUTSIDE_LEGAL_RANGE, SqliteStore


def move(prefix: bytes, amount: int):  # type: ignore[no-untyped-def]
    """A read-modify-write over point reads: move `amount` from a to b, count the moves."""

    def fn(tr: Transaction) -> tuple[int, int]:
        a, b = (decode_int64(v) for v in tr.get_many([prefix + b"a", prefix + b"b"]))
        tr.set(prefix + b"a", encode_int64(a - amount))
        tr.set(prefix + b"b", encode_int64(b + amount))
        tr.add(prefix + b"moves", 1)
        seen = tr.get(prefix + b"b")  # read-your-writes, through set and add alike
        moves = tr.get(prefix + b"moves")
        return decode_int64(seen), decode_int64(moves)

    return fn


async def test_a_prepared_transaction_ends_like_a_plain_one(store: Store, prefix: bytes) -> None:
    await store.transact(lambda tr: tr.set(prefix + b"a", encode_int64(100)))
    assert await store.transact_prepared(move(prefix, 30)) == (30, 1)
    assert await store.transact(move(prefix, 5)) == (35, 2)
    assert await store.transact_prepared(move(prefix, 5)) == (40, 3)
    got = await store.read(lambda tr: tr.get_many([prefix + b"a", prefix + b"b"]))
    assert [decode_int64(v) for v in got] == [60, 40]


async def prepared_with_a_commit_in_between(
    store: SqliteStore, meanwhile: Callable[[], Awaitable[object]], prefix: bytes
) -> tuple[tuple[int, int], list[bool], int]:
    """The interleaving a snapshot cannot see: `meanwhile` commits after the prepared run of
    `move(prefix, 10)` and before its commit. Returns fn's result, whether each run of fn was
    on the snapshot, and what `a` ends as."""
    await store.transact(lambda tr: tr.set(prefix + b"a", encode_int64(100)))
    prepared, release = threading.Event(), threading.Event()
    runs: list[bool] = []

    def fn(tr: Transaction) -> tuple[int, int]:
        result = move(prefix, 10)(tr)
        runs.append(isinstance(tr, PreparedTransaction))
        if len(runs) == 1:
            prepared.set()
            assert release.wait(10)
        return result

    pending = asyncio.ensure_future(store.transact_prepared(fn))
    assert await asyncio.to_thread(prepared.wait, 10)
    await meanwhile()
    release.set()
    result = await pending
    a = decode_int64(await store.read(lambda tr: tr.get(prefix + b"a")))
    return result, runs, a


@pytest.fixture
def sqlite_store(tmp_path: Path) -> Iterator[SqliteStore]:
    store = SqliteStore(tmp_path / "s.db")
    yield store
    store.close_sync()


@pytest.fixture
def rereads(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """How many times a prepared commit read its keys again (instead of trusting the write
    sets of the commits since its snapshot)."""
    calls: list[int] = []
    reads_still_hold = sqlite.reads_still_hold

    def counted(reads: dict[bytes, bytes | None], tr: Transaction) -> bool:
        calls.append(1)
        return reads_still_hold(reads, tr)

    monkeypatch.setattr(sqlite, "reads_still_hold", counted)
    return calls


@pytest.mark.parametrize("writer", ["this store", "another connection"])
async def test_a_key_changed_after_the_snapshot_makes_fn_run_again_under_the_lock(
    sqlite_store: SqliteStore, tmp_path: Path, prefix: bytes, writer: str
) -> None:
    """The stale writes are dropped and `fn` runs again, whoever wrote the key meanwhile."""
    other = sqlite_store if writer == "this store" else SqliteStore(tmp_path / "s.db")

    async def meanwhile() -> None:
        await other.transact(lambda tr: tr.set(prefix + b"a", encode_int64(1000)))

    result, runs, a = await prepared_with_a_commit_in_between(sqlite_store, meanwhile, prefix)
    if other is not sqlite_store:
        await other.close()
    assert result == (10, 1)
    assert runs == [True, False]  # the snapshot's run, then the authoritative one
    assert a == 990  # not 90: the concurrent write is not lost


async def test_an_unrelated_commit_of_this_store_keeps_the_prepared_writes_unread(
    sqlite_store: SqliteStore, prefix: bytes, rereads: list[int]
) -> None:
    """The commit in between is this store's own and wrote none of fn's keys: its write set
    says so, and the prepared writes apply without reading the keys again."""

    async def meanwhile() -> None:
        await sqlite_store.transact(lambda tr: tr.set(prefix + b"other", b"x"))

    result, runs, a = await prepared_with_a_commit_in_between(sqlite_store, meanwhile, prefix)
    assert (result, runs, a, rereads) == ((10, 1), [True], 90, [])


async def test_a_commit_by_another_connection_makes_the_keys_be_read_again(
    sqlite_store: SqliteStore, tmp_path: Path, prefix: bytes, rereads: list[int]
) -> None:
    """Another connection's commits are unknown here (PRAGMA data_version tells only that
    there were some): the keys are read again, found unchanged, and the writes apply."""
    other = SqliteStore(tmp_path / "s.db")

    async def meanwhile() -> None:
        await other.transact(lambda tr: tr.set(prefix + b"other", b"x"))

    result, runs, a = await prepared_with_a_commit_in_between(sqlite_store, meanwhile, prefix)
    await other.close()
    assert (result, runs, a, rereads) == ((10, 1), [True], 90, [1])


async def test_a_range_read_or_a_clear_runs_under_the_lock(store: Store, prefix: bytes) -> None:
    await store.transact(lambda tr: tr.set(prefix + b"x", b"1"))

    def fn(tr: Transaction) -> int:
        rows = tr.get_range(prefix, prefix + b"\xff")
        tr.clear(prefix + b"x")
        tr.set(prefix + b"n", str(len(rows)).encode())
        return len(rows)

    assert await store.transact_prepared(fn) == 1
    got = await store.read(lambda tr: tr.get_many([prefix + b"x", prefix + b"n"]))
    assert got == [None, b"1"]


def test_a_prepared_transaction_refuses_what_a_snapshot_cannot_vouch_for() -> None:
    class Snapshot:
        def get_many(self, keys: list[bytes]) -> list[bytes | None]:
            return [None for _ in keys]

    tr = PreparedTransaction(Snapshot())  # type: ignore[arg-type]
    for attempt in (
        lambda: tr.get_range(b"a", b"b"),
        lambda: tr.clear(b"a"),
        lambda: tr.clear_range(b"a", b"b"),
    ):
        with pytest.raises(NeedsLock):
            attempt()


async def test_a_commit_of_unknown_result_replays_into_the_real_state(
    tmp_path: Path, prefix: bytes
) -> None:
    """1021 after every commit: the retry finds its own writes landed (the snapshot is stale),
    so `fn` runs under the lock and sees them; a write guarded by a marker applies once."""
    faults = FaultInjector(every_nth_1021=1)
    store = SqliteStore(tmp_path / "s.db", faults=faults, max_retries=2)
    try:

        def once(tr: Transaction) -> bool:
            if tr.get(prefix + b"marker") is not None:
                return False
            tr.set(prefix + b"marker", b"")
            tr.add(prefix + b"count", 1)
            return True

        with pytest.raises(StoreError) as info:  # every attempt reports 1021, to the last
            await store.transact_prepared(once)
        assert info.value.code == COMMIT_UNKNOWN_RESULT
        store.faults = None
        assert await store.transact_prepared(once) is False
        assert decode_int64(await store.read(lambda tr: tr.get(prefix + b"count"))) == 1
    finally:
        await store.close()


BIG = b"v" * 90_000


@pytest.mark.parametrize(
    ("writes", "code"),
    [
        ([(b"k" * 10_001, b"v")], KEY_TOO_LARGE),
        ([(b"\xff\x01", b"v")], KEY_OUTSIDE_LEGAL_RANGE),
        ([(b"k", b"v" * 100_001)], VALUE_TOO_LARGE),
        ([(b"k%d" % i, BIG) for i in range(112)], TRANSACTION_TOO_LARGE),  # 10.08 MB
    ],
)
async def test_a_write_plan_refuses_what_a_transaction_refuses(
    sqlite_store: SqliteStore, writes: list[tuple[bytes, bytes]], code: int
) -> None:
    """Plans are checked where they are made (another thread or process): the same limits."""

    def fn(tr: Transaction) -> None:
        for key, value in writes:
            tr.set(key, value)

    with pytest.raises(StoreError) as plain:
        await sqlite_store.transact(fn)
    prepared = PreparedTransaction(None)  # type: ignore[arg-type]  # writes need no snapshot
    fn(prepared)
    with pytest.raises(StoreError) as planned:
        sqlite.plan_writes(prepared)
    assert plain.value.code == planned.value.code == code


async def test_a_plan_made_on_another_connection_commits_once(
    sqlite_store: SqliteStore, prefix: bytes, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`transact_planned` with `SqliteSnapshots`, as a preparing process uses them: the plan is
    what gets committed (`fn` never runs under the lock), and each plan exactly once."""
    snapshots = sqlite.SqliteSnapshots(sqlite_store.path)
    fn = move(prefix, 7)
    committed: list[int] = []
    write_plan = sqlite.SqliteTransaction.write_plan

    def counted(self: sqlite.SqliteTransaction, plan: sqlite.WritePlan) -> None:
        committed.append(len(plan.written))
        write_plan(self, plan)

    monkeypatch.setattr(sqlite.SqliteTransaction, "write_plan", counted)

    async def elsewhere() -> tuple[tuple[int, int], sqlite.WritePlan]:
        return snapshots.prepare(fn)

    try:
        assert await sqlite_store.transact_planned(fn, elsewhere) == (7, 1)
        assert await sqlite_store.transact_planned(fn, elsewhere) == (14, 2)
        assert committed == [3, 3]  # a, b and the move counter, from each plan
    finally:
        snapshots.close()
