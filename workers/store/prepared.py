"""Optimistic transactions for the embedded engine: the heavy part of a write off the lock.

SQLite has one writer at a time; a transaction that spends most of its time in Python (the
ingest path builds models, JSON and keys) would hold that lock for all of it. Here `fn` first
runs on a snapshot, on the reader thread, with what it reads recorded and what it writes
buffered. Then, under the write lock, the recorded keys are checked (`reads_still_hold`, or
the engine's own record of what it wrote since): if every one still holds the value `fn` saw,
its writes are applied as they are; if not, `fn` runs again under the lock. This is
FoundationDB's own commit (reads at a read version, conflicts checked at commit), so on
FoundationDB `transact_prepared` is plain `transact`.

A snapshot can vouch only for point reads: a range read or a clear makes `fn` run under the
lock from the start (`NeedsLock`), so such transactions lose nothing but the attempt.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TypeVar

from workers.store.port import KeyValue, Transaction, add_int64

T = TypeVar("T")


class NeedsLock(Exception):
    """`fn` asked for something a snapshot cannot vouch for: run it under the write lock."""


class PreparedTransaction:
    """A `Transaction` over a read-only snapshot that records point reads and buffers writes."""

    def __init__(self, snapshot: Transaction) -> None:
        self._snapshot = snapshot
        self.reads: dict[bytes, bytes | None] = {}  # key -> the value fn saw in the snapshot
        self.sets: dict[bytes, bytes] = {}
        self.adds: dict[bytes, int] = {}  # summed deltas of keys not also set

    def get(self, key: bytes) -> bytes | None:
        return self.get_many([key])[0]

    def get_many(self, keys: Sequence[bytes]) -> list[bytes | None]:
        sets, reads = self.sets, self.reads
        missing = [k for k in dict.fromkeys(keys) if k not in sets and k not in reads]
        if missing:
            reads.update(zip(missing, self._snapshot.get_many(missing), strict=True))
        return [self._value(k) for k in keys]

    def _value(self, key: bytes) -> bytes | None:
        if key in self.sets:
            return self.sets[key]
        if key in self.adds:
            return add_int64(self.reads[key], self.adds[key])
        return self.reads[key]

    def get_range(
        self,
        begin: bytes,
        end: bytes,
        limit: int = 0,
        reverse: bool = False,
        snapshot: bool = False,
    ) -> list[KeyValue]:
        raise NeedsLock("range read")

    def set(self, key: bytes, value: bytes) -> None:
        self.adds.pop(key, None)
        self.sets[key] = value

    def clear(self, key: bytes) -> None:
        raise NeedsLock("clear")

    def clear_range(self, begin: bytes, end: bytes) -> None:
        raise NeedsLock("clear_range")

    def add(self, key: bytes, delta: int) -> None:
        if key in self.sets:
            self.sets[key] = add_int64(self.sets[key], delta)
        else:
            self.adds[key] = self.adds.get(key, 0) + delta


def reads_still_hold(reads: dict[bytes, bytes | None], tr: Transaction) -> bool:
    """Under the lock: does every key read still hold what the snapshot showed?"""
    keys = list(reads)
    return tr.get_many(keys) == [reads[k] for k in keys]


def prepare(fn: Callable[[Transaction], T], snapshot: Transaction) -> tuple[PreparedTransaction, T]:
    prepared = PreparedTransaction(snapshot)
    return prepared, fn(prepared)
