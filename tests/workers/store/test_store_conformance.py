"""What every engine must do the same way: the port's semantics, checked on each engine."""

from __future__ import annotations

import asyncio
import random
import threading

import pytest

from workers.store.error_codes import (
    INVERTED_RANGE,
    NOT_COMMITTED,
    TRANSACTION_READ_ONLY,
    StoreError,
)
from workers.store.port import Store, Transaction, decode_int64, encode_int64
from workers.store.sqlite import SqliteStore


async def put(store: Store, items: dict[bytes, bytes]) -> None:
    def fn(tr: Transaction) -> None:
        for k, v in items.items():
            tr.set(k, v)

    await store.transact(fn)


async def test_a_value_set_is_read_back_and_a_missing_key_reads_none(
    store: Store, prefix: bytes
) -> None:
    await put(store, {prefix + b"a": b"1", prefix + b"empty": b""})
    got = await store.transact(
        lambda tr: (tr.get(prefix + b"a"), tr.get(prefix + b"empty"), tr.get(prefix + b"zz"))
    )
    assert got == (b"1", b"", None)


async def test_set_overwrites_and_clear_removes_a_key(store: Store, prefix: bytes) -> None:
    await put(store, {prefix + b"a": b"1", prefix + b"b": b"2"})
    await put(store, {prefix + b"a": b"one"})
    await store.transact(lambda tr: tr.clear(prefix + b"b"))
    got = await store.transact(lambda tr: tr.get_many([prefix + b"a", prefix + b"b"]))
    assert got == [b"one", None]


async def test_get_many_returns_values_in_the_order_asked_with_none_for_missing(
    store: Store, prefix: bytes
) -> None:
    present = {prefix + b"k%04d" % i: b"v%d" % i for i in range(0, 1200, 2)}
    await put(store, present)
    asked = [prefix + b"k%04d" % i for i in range(1199, -1, -1)] + [prefix + b"k0002"]
    got = await store.transact(lambda tr: tr.get_many(asked))
    assert got == [present.get(k) for k in asked]
    assert await store.transact(lambda tr: tr.get_many([])) == []


async def test_get_range_matches_a_sorted_dict_for_random_binary_keys(
    store: Store, prefix: bytes, prefix_end: bytes
) -> None:
    rng = random.Random(1234)
    model = {prefix + rng.randbytes(rng.randint(0, 6)): rng.randbytes(4) for _ in range(300)}
    await put(store, model)
    ordered = sorted(model.items())
    bounds = [prefix + rng.randbytes(rng.randint(0, 3)) for _ in range(15)]
    bounds += [prefix, prefix_end, *[k for k, _ in ordered[::37]]]

    def reads(tr: Transaction) -> list[tuple[bytes, bytes, int, bool, list[tuple[bytes, bytes]]]]:
        out = []
        for begin in bounds:
            for end in rng.sample(bounds, 4):
                for limit, reverse in ((0, False), (0, True), (3, False), (3, True)):
                    got = tr.get_range(begin, end, limit=limit, reverse=reverse)
                    out.append((begin, end, limit, reverse, got))
        return out

    for begin, end, limit, reverse, got in await store.transact(reads):
        expected = [(k, v) for k, v in ordered if begin <= k < end]
        expected = expected[::-1] if reverse else expected
        assert got == (expected[:limit] if limit else expected), (begin, end, limit, reverse)


async def test_get_range_includes_begin_and_excludes_end(store: Store, prefix: bytes) -> None:
    await put(store, {prefix + bytes([i]): bytes([i]) for i in range(10)})
    got = await store.transact(lambda tr: tr.get_range(prefix + b"\x03", prefix + b"\x06"))
    assert [k[-1] for k, _ in got] == [3, 4, 5]
    snap = await store.transact(
        lambda tr: tr.get_range(prefix + b"\x03", prefix + b"\x06", 2, True, snapshot=True)
    )
    assert [k[-1] for k, _ in snap] == [5, 4]


async def test_clear_range_removes_exactly_the_keys_in_the_range(
    store: Store, prefix: bytes, prefix_end: bytes
) -> None:
    await put(store, {prefix + bytes([i]): b"x" for i in range(10)})
    await store.transact(lambda tr: tr.clear_range(prefix + b"\x02", prefix + b"\x08"))
    got = await store.transact(lambda tr: tr.get_range(prefix, prefix_end))
    assert [k[-1] for k, _ in got] == [0, 1, 8, 9]


async def test_an_inverted_clear_range_is_refused_at_the_call_and_an_empty_one_clears_nothing(
    store: Store, prefix: bytes, prefix_end: bytes
) -> None:
    """begin > end raises 2005 where it is called, on every engine (FoundationDB's client would
    only fail the commit with it; SQLite used to ignore it); begin == end is a no-op."""
    a, b = prefix + b"a", prefix + b"b"
    await put(store, {a: b"1", b: b"2"})

    def handled(tr: Transaction) -> int:
        tr.set(prefix + b"c", b"3")
        try:
            tr.clear_range(b, a)
        except StoreError as e:
            return e.code
        return 0

    assert await store.transact(handled) == INVERTED_RANGE  # and the transaction commits
    with pytest.raises(StoreError) as info:
        await store.transact(lambda tr: (tr.set(prefix + b"d", b"4"), tr.clear_range(b, a)))
    assert (info.value.code, info.value.retryable) == (INVERTED_RANGE, False)
    await store.transact(lambda tr: (tr.clear_range(a, a), tr.clear_range(prefix_end, prefix_end)))
    got = await store.transact(lambda tr: tr.get_range(prefix, prefix_end))
    assert got == [(a, b"1"), (b, b"2"), (prefix + b"c", b"3")]


async def test_add_counts_from_zero_takes_negatives_and_sums_many_adds_in_one_transaction(
    store: Store, prefix: bytes
) -> None:
    a, b = prefix + b"a", prefix + b"b"

    def adds(tr: Transaction) -> None:
        tr.add(a, 5)
        tr.add(b, -7)
        for _ in range(100):
            tr.add(a, 1)

    await store.transact(adds)
    await store.transact(lambda tr: tr.add(a, -3))
    got = await store.transact(lambda tr: tr.get_many([a, b]))
    assert [decode_int64(v) for v in got] == [102, -7]
    assert got[1] == encode_int64(-7)


async def test_add_wraps_around_like_a_signed_int64(store: Store, prefix: bytes) -> None:
    key = prefix + b"c"
    await store.transact(lambda tr: tr.add(key, 2**63 - 1))
    await store.transact(lambda tr: tr.add(key, 1))
    assert decode_int64(await store.transact(lambda tr: tr.get(key))) == -(2**63)


async def test_reads_see_the_transactions_own_writes(
    store: Store, prefix: bytes, prefix_end: bytes
) -> None:
    await put(store, {prefix + b"old": b"o", prefix + b"gone": b"g"})

    def fn(tr: Transaction) -> tuple[object, ...]:
        tr.set(prefix + b"new", b"n")
        tr.clear(prefix + b"gone")
        seen = (tr.get(prefix + b"new"), tr.get(prefix + b"gone"))
        rows = tr.get_range(prefix, prefix_end)
        tr.clear_range(prefix, prefix_end)
        return (*seen, rows, tr.get(prefix + b"old"))

    got = await store.transact(fn)
    assert got == (b"n", None, [(prefix + b"new", b"n"), (prefix + b"old", b"o")], None)


async def test_add_and_set_on_one_key_apply_in_program_order(store: Store, prefix: bytes) -> None:
    k1, k2, k3, k4 = (prefix + bytes([i]) for i in range(4))

    def fn(tr: Transaction) -> list[bytes | None]:
        tr.add(k1, 5)
        tr.set(k1, encode_int64(100))  # set after add: the add is gone
        tr.add(k1, 1)  # add after set: folds into it
        tr.set(k2, b"\x02\x00")  # a 2-byte value is zero-extended by ADD
        tr.add(k2, 1)
        tr.add(k3, 9)
        tr.clear(k3)  # clear after add: nothing left
        tr.add(k4, 4)
        inside = tr.get_many([k1, k2, k3, k4])
        tr.add(k4, 4)
        return inside

    inside = await store.transact(fn)
    after = await store.transact(lambda tr: tr.get_many([k1, k2, k3, k4]))
    assert [decode_int64(v) for v in inside] == [101, 3, 0, 4]
    assert inside[2] is None
    assert [decode_int64(v) for v in after] == [101, 3, 0, 8]


async def test_a_transaction_whose_fn_raises_writes_nothing(
    store: Store, prefix: bytes, prefix_end: bytes
) -> None:
    def fn(tr: Transaction) -> None:
        tr.set(prefix + b"a", b"1")
        tr.add(prefix + b"n", 1)
        tr.get(prefix + b"a")  # forces buffered writes into the engine first
        raise LookupError("boom")

    with pytest.raises(LookupError, match="boom"):
        await store.transact(fn)
    assert await store.transact(lambda tr: tr.get_range(prefix, prefix_end)) == []


async def test_a_retryable_error_raised_once_is_retried_and_applied_once(
    store: Store, prefix: bytes
) -> None:
    calls = 0

    def fn(tr: Transaction) -> int:
        nonlocal calls
        calls += 1
        tr.add(prefix + b"n", 1)
        if calls == 1:
            raise StoreError(NOT_COMMITTED, "simulated conflict")
        return calls

    assert await store.transact(fn) == 2
    assert decode_int64(await store.transact(lambda tr: tr.get(prefix + b"n"))) == 1


async def test_a_non_retryable_store_error_propagates_without_retry(
    store: Store, prefix: bytes
) -> None:
    calls = 0

    def fn(tr: Transaction) -> None:
        nonlocal calls
        calls += 1
        raise StoreError(2101, "simulated")

    with pytest.raises(StoreError) as info:
        await store.transact(fn)
    assert (info.value.code, calls) == (2101, 1)


async def test_transact_sync_works_from_another_thread(store: Store, prefix: bytes) -> None:
    result: list[bytes | None] = []
    key = prefix + b"t"

    def write_then_read(tr: Transaction) -> bytes | None:
        tr.set(key, b"v")
        return tr.get(key)

    thread = threading.Thread(target=lambda: result.append(store.transact_sync(write_then_read)))
    thread.start()
    thread.join(10)
    assert result == [b"v"]
    assert await store.transact(lambda tr: tr.get(key)) == b"v"


async def test_a_read_sees_committed_data_and_refuses_every_kind_of_write(
    store: Store, prefix: bytes, prefix_end: bytes
) -> None:
    await put(store, {prefix + b"a": b"1", prefix + b"b": b"2"})
    got = await store.read(
        lambda tr: (
            tr.get(prefix + b"a"),
            tr.get_many([prefix + b"b"]),
            tr.get_range(prefix, prefix_end),
        )
    )
    assert got == (b"1", [b"2"], [(prefix + b"a", b"1"), (prefix + b"b", b"2")])
    writes = [
        lambda tr: tr.set(prefix + b"c", b"3"),
        lambda tr: tr.clear(prefix + b"a"),
        lambda tr: tr.clear_range(prefix, prefix_end),
        lambda tr: tr.add(prefix + b"n", 1),
    ]
    for write in writes:
        with pytest.raises(StoreError) as info:
            await store.read(write)
        assert info.value.code == TRANSACTION_READ_ONLY
    assert await store.read(lambda tr: len(tr.get_range(prefix, prefix_end))) == 2
    assert store.read_sync(lambda tr: tr.get(prefix + b"b")) == b"2"


async def test_a_read_in_another_thread_does_not_wait_for_an_open_write(
    store: Store, prefix: bytes
) -> None:
    """Queries never hold up writers, nor wait for them: a read taken while a write transaction
    is open (here: parked inside its fn) returns the last committed value at once."""
    await put(store, {prefix + b"a": b"old"})
    inside, release = threading.Event(), threading.Event()

    def slow_write(tr: Transaction) -> None:
        tr.set(prefix + b"a", b"new")
        tr.get(prefix + b"a")
        inside.set()
        assert release.wait(10)

    writer = asyncio.ensure_future(store.transact(slow_write))
    assert await asyncio.to_thread(inside.wait, 10)
    # SQLite runs one store's transactions one at a time: read through a second connection
    other = SqliteStore(store.path) if isinstance(store, SqliteStore) else store
    try:
        read = asyncio.to_thread(other.read_sync, lambda tr: tr.get(prefix + b"a"))
        assert await asyncio.wait_for(read, 5) == b"old"
    finally:
        release.set()
        await writer
        if other is not store:
            await other.close()
    assert await store.read(lambda tr: tr.get(prefix + b"a")) == b"new"
