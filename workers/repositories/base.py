"""What every repository shares: paging through an index, chunked values, index diffs.

A repository owns its record's keys and indexes, and describes them (`Spec`) so that the
consistency check can walk any model the same way.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from functools import partial
from typing import Any, Generic, Protocol, TypeVar
from uuid import UUID

from pydantic import BaseModel, ValidationError

from workers.errors import InvalidContinuation, WorkersError
from workers.store.keys import KeyRange, Keys, Prefix, TenantKeys
from workers.store.port import KeyValue, Store, Transaction

T = TypeVar("T")
M = TypeVar("M")
ModelT = TypeVar("ModelT", bound=BaseModel)

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


class CorruptValue(WorkersError):
    """A stored value that does not parse. Named by what it is and where it lives, so an
    operator sees which key to repair instead of a KeyError deep inside a job."""

    def __init__(self, what: str, error: ValidationError) -> None:
        self.what = what
        problems = "; ".join(
            f"{'.'.join(map(str, e['loc']))}: {e['msg']}" if e["loc"] else e["msg"]
            for e in error.errors(include_url=False)
        )
        super().__init__(f"stored {what} is not valid: {problems}")


def decode(model: type[ModelT], raw: bytes, what: str) -> ModelT:
    """Parse a stored JSON value through its model; CorruptValue naming `what` if it is not."""
    try:
        return model.model_validate_json(raw)
    except ValidationError as e:
        raise CorruptValue(what, e) from None


def cutoff_of(now: datetime, days: float) -> datetime:
    """Records older than this go: one formula for the cleanups and the jobs' receipts."""
    return now - timedelta(days=days)


@dataclass(frozen=True)
class CleanupResult:
    """A cleanup's totals so far, and where its next batch starts (None: done, or not begun)."""

    removed: int = 0  # in a dry run: what would have been removed
    kept: int = 0  # spared by `keep` (legal holds)
    batches: int = 0
    after: bytes | None = None
    elapsed_ms: int = 0  # time spent inside batch transactions

    def advanced(
        self, removed: int, kept: int, after: bytes | None, elapsed_ms: int
    ) -> CleanupResult:
        return replace(
            self,
            removed=self.removed + removed,
            kept=self.kept + kept,
            batches=self.batches + 1,
            after=after,
            elapsed_ms=self.elapsed_ms + elapsed_ms,
        )


class Checkpoint(Protocol):
    """What a caller records beside a cleanup, inside each batch's own transaction, so that the
    data and the caller's bookkeeping (the jobs: lease, continuation, receipt) always agree.
    Both run again when the engine retries the transaction: they must not keep state."""

    def begin(self, tr: Transaction, so_far: CleanupResult) -> tuple[CleanupResult, bool] | None:
        """Before the batch: None to run it, or the totals to adopt instead (and whether they
        finish the cleanup) when this batch already committed and only its reply was lost."""
        ...

    def end(self, tr: Transaction, so_far: CleanupResult, done: bool) -> None:
        """After the batch, with the new totals."""
        ...


def expire_before(
    tr: Transaction,
    index: Prefix,
    cutoff_ms: int,
    limit: int,
    after: bytes | None,
    dry_run: bool,
    forget: Callable[[tuple[Any, ...]], bytes],
) -> tuple[int, int, bytes | None]:
    """One batch over a by-time index (`(ms, …)` entries): up to `limit` entries older than
    `cutoff_ms`, each cleared with the key `forget(its tail)` names (`dry_run`: only counted).
    Returns (removed, kept, where the next batch starts or None)."""
    begin, end = index.range()[0], index.key(cutoff_ms)
    if after is not None:
        begin = max(begin, after + b"\x00")
    rows = tr.get_range(begin, end, limit=limit)
    if not dry_run:
        for entry, _ in rows:
            tr.clear(forget(index.tail(entry)))
            tr.clear(entry)
    return len(rows), 0, None if len(rows) < limit else rows[-1][0]


ExpireBatch = Callable[
    [Transaction, UUID, int, int, bytes | None, bool], tuple[int, int, bytes | None]
]
"""(tr, tenant, cutoff_ms, limit, after, dry_run) -> (removed, kept, next): one expiry batch."""


@dataclass(frozen=True)
class Phase:
    """One expiry of several run under one cursor: the cursor lies in the key range of the
    phase it belongs to (`start`: the phase's by-time index of a tenant)."""

    start: Callable[[UUID], bytes]
    batch: ExpireBatch


def in_phases(
    phases: list[Phase], tenant_id: UUID, cutoff_ms: int, limit: int, dry_run: bool
) -> BatchStep:
    """The phases as one batch step: each runs to its end, then the next from its start."""
    starts = [p.start(tenant_id) for p in phases]

    def step(tr: Transaction, after: bytes | None) -> tuple[int, int, bytes | None]:
        i = max(
            (j for j, s in enumerate(starts) if after is not None and after.startswith(s)),
            default=0,
        )
        removed, kept, nxt = phases[i].batch(tr, tenant_id, cutoff_ms, limit, after, dry_run)
        if nxt is None and i + 1 < len(phases):
            nxt = starts[i + 1]
        return removed, kept, nxt

    return step


BatchStep = Callable[[Transaction, bytes | None], tuple[int, int, bytes | None]]
"""One batch: (tr, resume after) -> (removed, kept, where the next batch starts or None)."""

OnBatch = Callable[[CleanupResult], None]


async def cleanup_in_batches(
    store: Store,
    step: BatchStep,
    on_batch: OnBatch | None = None,
    *,
    resume: CleanupResult | None = None,
    checkpoint: Checkpoint | None = None,
    read_only: bool = False,
) -> CleanupResult:
    """Run a cleanup as many short transactions, each resuming from the previous cursor.

    `resume` carries on from an interrupted run's totals; `checkpoint` runs in every batch's
    transaction; `on_batch` sees the totals after each commit. A `read_only` cleanup (a dry
    run) reads snapshots and commits nothing, so the engine itself refuses a stray write.
    """
    if read_only and checkpoint is not None:
        raise ValueError("a read-only cleanup cannot keep a checkpoint")
    run = store.read if read_only else store.transact
    so_far = resume or CleanupResult()
    while True:
        so_far, done = await run(partial(_batch, step, so_far, checkpoint, time.monotonic()))
        if on_batch is not None:
            on_batch(so_far)
        if done:
            return so_far


def _batch(
    step: BatchStep,
    so_far: CleanupResult,
    checkpoint: Checkpoint | None,
    started: float,
    tr: Transaction,
) -> tuple[CleanupResult, bool]:
    if checkpoint is not None and (replayed := checkpoint.begin(tr, so_far)) is not None:
        return replayed
    removed, kept, after = step(tr, so_far.after)
    so_far = so_far.advanced(removed, kept, after, int((time.monotonic() - started) * 1000))
    if checkpoint is not None:
        checkpoint.end(tr, so_far, after is None)
    return so_far, after is None
