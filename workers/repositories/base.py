"""What every repository shares: paging through an index, chunked values, index diffs.

A repository owns its record's keys and indexes, and describes them (`Spec`) so that the
consistency check can walk any model the same way.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

from workers.errors import InvalidContinuation
from workers.store.keys import KeyRange, Keys, Prefix, TenantKeys
from workers.store.port import KeyValue, Store, Transaction

T = TypeVar("T")
M = TypeVar("M")

DEFAULT_PAGE = 100
MAX_PAGE = 1000
CHUNK = 100_000  # FoundationDB's value limit


@dataclass(frozen=True)
class Page(Generic[T]):
    """One page of a list; pass `next` back as `after` to continue (None = the end)."""

    items: list[T]
    next: str | None = None


def scan(
    tr: Transaction,
    rng: KeyRange,
    limit: int = DEFAULT_PAGE,
    after: str | None = None,
    reverse: bool = False,
) -> tuple[list[KeyValue], str | None]:
    """Read at most `limit` pairs of `rng` after a continuation; the token never leaves `rng`."""
    begin, end = rng
    limit = max(1, min(limit, MAX_PAGE))
    if after:
        try:
            last = bytes.fromhex(after)
        except ValueError:
            raise InvalidContinuation(after) from None
        if not begin <= last < end:
            raise InvalidContinuation(after)
        if reverse:
            end = last
        else:
            begin = last + b"\x00"
    rows = tr.get_range(begin, end, limit=limit + 1, reverse=reverse)
    if len(rows) > limit:
        rows = rows[:limit]
        return rows, rows[-1][0].hex()
    return rows, None


def write_chunked(
    tr: Transaction, prefix: Prefix, ident: tuple[Any, ...], data: bytes, *, fresh: bool = False
) -> None:
    """A value of any size as CHUNK-sized parts under `ident + (i,)`.

    Old parts are cleared first unless the caller knows the record is new (`fresh`).
    """
    if not fresh:
        tr.clear_range(*prefix.range(*ident))
    for i in range(0, max(len(data), 1), CHUNK):
        tr.set(prefix.key(*ident, i // CHUNK), data[i : i + CHUNK])


def read_chunked(tr: Transaction, prefix: Prefix, ident: tuple[Any, ...]) -> bytes | None:
    rows = tr.get_range(*prefix.range(*ident))
    return b"".join(v for _, v in rows) if rows else None


def diff_indexes(tr: Transaction, old: dict[bytes, bytes], new: dict[bytes, bytes]) -> None:
    """Move a record's index entries from `old` to `new` in the caller's transaction."""
    if not old:  # a new record: nothing to compare
        for key, value in new.items():
            tr.set(key, value)
        return
    for key in old.keys() - new.keys():
        tr.clear(key)
    for key, value in new.items():
        if old.get(key) != value:
            tr.set(key, value)


@dataclass(frozen=True)
class Index:
    """An index: its prefix and how an entry's key tail names the record it points to."""

    name: str
    prefix: Callable[[TenantKeys], Prefix]
    record_id: Callable[[tuple[Any, ...], bytes], tuple[Any, ...]]  # (key tail, value) -> id


def last_element(tail: tuple[Any, ...], value: bytes = b"") -> tuple[Any, ...]:
    """The usual index: the record's id is the key's last element."""
    return tail[-1:]


@dataclass(frozen=True)
class Spec(Generic[M]):
    """How the consistency check walks one model."""

    name: str
    records: Callable[[TenantKeys], Prefix]
    record_id: Callable[[tuple[Any, ...]], tuple[Any, ...] | None]  # None: not a record's head key
    load: Callable[[Transaction, TenantKeys, tuple[Any, ...]], M | None]
    entries: Callable[[TenantKeys, M], dict[bytes, bytes]]
    indexes: list[Index] = field(default_factory=list)


class Repository:
    """Base: a repository is bound to the key layout and takes the transaction per call."""

    def __init__(self, keys: Keys) -> None:
        self.keys = keys

    def spec(self) -> Spec[Any]:
        raise NotImplementedError


@dataclass
class CleanupResult:
    removed: int = 0
    kept: int = 0
    batches: int = 0


BatchStep = Callable[[Transaction, bytes | None], tuple[int, int, bytes | None]]


def _bind(step: BatchStep, after: bytes | None) -> Callable[[Transaction], Any]:
    return lambda tr: step(tr, after)


async def cleanup_in_batches(
    store: Store, step: BatchStep, on_batch: Callable[[CleanupResult], None] | None = None
) -> CleanupResult:
    """Run a cleanup as many short transactions, each resuming from the previous cursor."""
    total = CleanupResult()
    cursor: bytes | None = None
    while True:
        removed, kept, cursor = await store.transact(_bind(step, cursor))
        total.removed += removed
        total.kept += kept
        total.batches += 1
        if on_batch is not None:
            on_batch(total)
        if cursor is None:
            return total
