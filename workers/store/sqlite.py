"""The embedded engine: SQLite behaving like FoundationDB where it matters.

One table of memcmp-ordered BLOB keys. FoundationDB's limits, deadline and error codes are
enforced here so that code which passes on SQLite is right on FoundationDB too. Several
processes may share one file: every write transaction takes the write lock up front (BEGIN
IMMEDIATE), so writes are serializable and a busy database surfaces as a retryable 1020. Reads
(`read`) are WAL snapshots on their own thread and connection: they never take that lock.
"""

from __future__ import annotations

import asyncio
import sqlite3
import threading
import time
from collections import deque
from collections.abc import Awaitable, Callable, Collection, Sequence
from concurrent.futures import ThreadPoolExecutor
from functools import cache, partial
from pathlib import Path
from typing import NamedTuple, ParamSpec, TypeVar

from workers.store.error_codes import (
    KEY_LIMIT,
    KEY_OUTSIDE_LEGAL_RANGE,
    MAX_KEY,
    NOT_COMMITTED,
    TRANSACTION_READ_ONLY,
    TRANSACTION_TOO_LARGE,
    TRANSACTION_TOO_OLD,
    VALUE_LIMIT,
    VALUE_TOO_LARGE,
    StoreError,
    check_clear_range,
    check_write_key,
)
from workers.store.faults import FaultInjector
from workers.store.port import KeyValue, Transaction, add_int64, decode_int64
from workers.store.prepared import PreparedTransaction, prepare, reads_still_hold

T = TypeVar("T")
P = ParamSpec("P")

TRANSACTION_LIMIT = 10_000_000
IN_CHUNK = 500
BUSY_TIMEOUT_MS = 10_000
COMMITS_REMEMBERED = 8  # recent commits whose written keys can vouch for a prepared snapshot

_SCHEMA = "CREATE TABLE IF NOT EXISTS kv (k BLOB PRIMARY KEY, v BLOB NOT NULL) WITHOUT ROWID"
_PRAGMAS = (
    # A new file's pages (an existing file keeps its own): random keys (event and message ids)
    # dirty a page each, and bigger pages cost the writer less per event for a few more bytes
    # through the WAL (docs/performance.md, "SQLite pages and the WAL").
    "PRAGMA page_size=8192",
    "PRAGMA journal_mode=WAL",
    "PRAGMA synchronous=FULL",  # workers ack NATS after commit: it must be on disk by then
    "PRAGMA cache_size=-262144",
    "PRAGMA wal_autocheckpoint=5000",  # pages: with 8 KiB pages, a checkpoint per 40 MB of WAL
)
READER_CACHE = "PRAGMA cache_size=-65536"  # the reader's page cache: 64 MiB, not the writer's 256
_SET = "INSERT OR REPLACE INTO kv (k, v) VALUES (?, ?)"
ROWS_PER_INSERT = 250  # one statement (one step, one GIL release) for many rows
PLAN_ROWS = 1000  # rows per statement of a `WritePlan`: 2,000 parameters, one GIL hand-off


@cache
def _set_rows(n: int) -> str:
    return "INSERT OR REPLACE INTO kv (k, v) VALUES " + ",".join(["(?, ?)"] * n)


_ADD = (
    "INSERT INTO kv (k, v) VALUES (?, ?) ON CONFLICT (k) DO UPDATE SET v = fdb_add(v, excluded.v)"
)


def _fdb_add(old: bytes | None, delta: bytes) -> bytes:
    """FoundationDB's ADD as an SQL function, for buffered adds flushed onto stored values."""
    return add_int64(old, decode_int64(delta))


def _is_busy(e: sqlite3.OperationalError) -> bool:
    text = str(e).lower()
    return "locked" in text or "busy" in text


class SqliteTransaction:
    """One transaction on the store's connection, run entirely on the store's thread.

    Sets and adds are buffered (sets by key, add deltas summed per key) and written with one
    sorted ``executemany`` each, just before a read that needs them and at commit.
    A read-only one (`SqliteStore.read`) runs on a WAL snapshot and refuses writes.
    """

    def __init__(
        self, conn: sqlite3.Connection, timeout_s: float, *, read_only: bool = False
    ) -> None:
        self._conn = conn
        self._read_only = read_only
        self._deadline = time.monotonic() + timeout_s
        self._sets: dict[bytes, bytes] = {}
        self._adds: dict[bytes, int] = {}
        self._size = 0
        self._open = True
        self.written: set[bytes] | None = set()  # keys it wrote; None once it cleared a range

    def _check(self) -> None:
        if not self._open:
            raise RuntimeError("transaction used after it finished (leaked out of fn?)")
        if time.monotonic() > self._deadline:
            raise StoreError(TRANSACTION_TOO_OLD)

    def _check_writable(self) -> None:
        if self._read_only:
            raise StoreError(TRANSACTION_READ_ONLY)
        self._check()

    def _grow(self, nbytes: int) -> None:
        self._size += nbytes
        if self._size > TRANSACTION_LIMIT:
            raise StoreError(TRANSACTION_TOO_LARGE, f"{self._size} bytes")

    def _flush(self) -> None:
        if self.written is not None:
            self.written.update(self._sets)
            self.written.update(self._adds)
        if self._sets:
            rows = sorted(self._sets.items())
            for i in range(0, len(rows), ROWS_PER_INSERT):
                chunk = rows[i : i + ROWS_PER_INSERT]
                self._conn.execute(_set_rows(len(chunk)), [x for row in chunk for x in row])
            self._sets.clear()
        if self._adds:
            rows = sorted((k, add_int64(None, d)) for k, d in self._adds.items())  # wrapped
            self._conn.executemany(_ADD, rows)
            self._adds.clear()

    def get(self, key: bytes) -> bytes | None:
        self._check()
        if key in self._sets:
            return self._sets[key]
        if key in self._adds:
            self._flush()
        row = self._conn.execute("SELECT v FROM kv WHERE k = ?", (key,)).fetchone()
        return None if row is None else bytes(row[0])

    def get_many(self, keys: Sequence[bytes]) -> list[bytes | None]:
        if len(keys) == 1:  # the common case in handlers: a cached one-row statement
            return [self.get(keys[0])]
        self._check()
        if any(k in self._adds for k in keys):
            self._flush()
        found: dict[bytes, bytes] = {}
        wanted = list(dict.fromkeys(k for k in keys if k not in self._sets))
        for i in range(0, len(wanted), IN_CHUNK):
            chunk = wanted[i : i + IN_CHUNK]
            marks = ",".join("?" * len(chunk))
            sql = f"SELECT k, v FROM kv WHERE k IN ({marks})"
            found.update(self._conn.execute(sql, chunk).fetchall())
        return [self._sets[k] if k in self._sets else found.get(k) for k in keys]

    def get_range(
        self,
        begin: bytes,
        end: bytes,
        limit: int = 0,
        reverse: bool = False,
        snapshot: bool = False,  # every SQLite transaction holds the write lock: no conflicts
    ) -> list[KeyValue]:
        self._check()
        if begin > MAX_KEY or end > MAX_KEY:
            raise StoreError(KEY_OUTSIDE_LEGAL_RANGE, "range reaches past \\xff")
        if begin >= end:
            return []
        self._flush()
        order = "DESC" if reverse else "ASC"
        sql = f"SELECT k, v FROM kv WHERE k >= ? AND k < ? ORDER BY k {order} LIMIT ?"
        return self._conn.execute(sql, (begin, end, limit if limit > 0 else -1)).fetchall()

    def set(self, key: bytes, value: bytes) -> None:  # the hot path: checks inlined
        if self._read_only or not self._open or time.monotonic() > self._deadline:
            self._check_writable()
        if len(key) > KEY_LIMIT or key >= MAX_KEY:
            check_write_key(key)
        if len(value) > VALUE_LIMIT:
            raise StoreError(VALUE_TOO_LARGE, f"{len(value)} bytes")
        self._grow(len(key) + len(value))
        if self._adds:
            self._adds.pop(key, None)
        self._sets[key] = value

    def clear(self, key: bytes) -> None:
        self._check_writable()
        if key >= MAX_KEY:
            raise StoreError(KEY_OUTSIDE_LEGAL_RANGE, "clear past \\xff")
        if len(key) > KEY_LIMIT:
            return  # FoundationDB ignores it: no such key can exist
        self._grow(len(key))
        self._sets.pop(key, None)
        self._adds.pop(key, None)
        if self.written is not None:
            self.written.add(key)
        self._conn.execute("DELETE FROM kv WHERE k = ?", (key,))

    def clear_range(self, begin: bytes, end: bytes) -> None:
        """An inverted range (begin > end) is refused here, as `FdbTransaction` refuses it
        (FoundationDB would fail the commit with it); begin == end clears nothing."""
        self._check_writable()
        check_clear_range(begin, end)
        self._grow(len(begin) + len(end))
        if begin == end:
            return
        self._flush()
        self.written = None
        self._conn.execute("DELETE FROM kv WHERE k >= ? AND k < ?", (begin, end))

    def add(self, key: bytes, delta: int) -> None:
        self._check_writable()
        check_write_key(key)
        self._grow(len(key) + 8)
        if key in self._sets:
            self._sets[key] = add_int64(self._sets[key], delta)
        else:
            self._adds[key] = self._adds.get(key, 0) + delta

    def write_plan(self, plan: WritePlan) -> None:
        """A prepared transaction's writes, checked and bound already: a few statements."""
        self._check_writable()
        self._grow(plan.size)
        self._flush()
        for sql, params in plan.inserts:
            self._conn.execute(sql, params)
        if plan.adds:
            self._conn.executemany(_ADD, plan.adds)
        if self.written is not None:
            self.written.update(plan.written)

    def _commit(self) -> None:
        """Write what is buffered; the caller issues COMMIT."""
        self._check()
        self._flush()

    def _finish(self) -> None:
        self._open = False


class WritePlan(NamedTuple):
    """A prepared transaction ready for the writer: what it read, and its writes checked
    against FoundationDB's limits, sorted and bound into a few multi-row statements.

    It is built where `fn` ran (the reader thread, or another process) because the writer
    thread shares the GIL: every statement it runs releases the GIL for SQLite and must win
    it back, and while other threads run Python each win can cost a switch interval (5 ms).
    A batch of 2,000 message.sent events (16,000 rows) is then 16 statements and a commit.
    """

    reads: dict[bytes, bytes | None]  # every key `fn` read, with the value it saw
    inserts: list[tuple[str, list[bytes]]]  # (INSERT ... VALUES (?, ?), ..., parameters)
    adds: list[tuple[bytes, bytes]]  # (key, delta) rows for _ADD, sorted
    size: int  # bytes, as the transaction-size limit counts them

    @property
    def written(self) -> set[bytes]:
        """Every key the plan writes (derived, so it does not travel between processes)."""
        keys: set[bytes] = set()
        for _, params in self.inserts:
            keys.update(params[0::2])  # (key, value, key, value, ...)
        keys.update(k for k, _ in self.adds)
        return keys


def plan_writes(prepared: PreparedTransaction) -> WritePlan:
    """Raises the StoreError a `SqliteTransaction` would raise for the same writes.

    The checks and the binding run over whole columns (sorted keys, their values) with
    built-ins: per row, Python would cost more than the writer's INSERT of that row."""
    sets, adds = prepared.sets, prepared.adds
    keys = sorted(sets)
    values = [sets[k] for k in keys]
    size = sum(map(len, keys)) + sum(map(len, values)) + sum(len(k) + 8 for k in adds)
    too_long = keys and (max(map(len, keys)) > KEY_LIMIT or keys[-1] >= MAX_KEY)
    if too_long or (values and max(map(len, values)) > VALUE_LIMIT):
        _refuse_like_a_transaction(prepared)
    for key in adds:
        check_write_key(key)
    if size > TRANSACTION_LIMIT:
        raise StoreError(TRANSACTION_TOO_LARGE, f"{size} bytes")
    flat: list[bytes] = [b""] * (2 * len(keys))  # key, value, key, value, ...
    flat[0::2], flat[1::2] = keys, values
    inserts = []
    for i in range(0, len(keys), PLAN_ROWS):
        rows = min(PLAN_ROWS, len(keys) - i)
        inserts.append((_set_rows(rows), flat[2 * i : 2 * (i + rows)]))
    return WritePlan(prepared.reads, inserts, sorted(_wrapped(adds)), size)


def _wrapped(adds: dict[bytes, int]) -> list[tuple[bytes, bytes]]:
    return [(k, add_int64(None, d)) for k, d in adds.items()]


def _refuse_like_a_transaction(prepared: PreparedTransaction) -> None:
    """The first limit the writes break, checked in the order `fn` made them (as `set` does)."""
    for key, value in prepared.sets.items():
        check_write_key(key)
        if len(value) > VALUE_LIMIT:
            raise StoreError(VALUE_TOO_LARGE, f"{len(value)} bytes")


def prepare_plan(fn: Callable[[Transaction], T], snapshot: Transaction) -> tuple[T, WritePlan]:
    """Run `fn` on a snapshot (reads recorded, writes buffered) and plan its writes."""
    prepared, result = prepare(fn, snapshot)
    return result, plan_writes(prepared)


def connect(path: Path, busy_timeout_ms: int, cache_pragma: str = "") -> sqlite3.Connection:
    deadline = time.monotonic() + busy_timeout_ms / 1000
    while True:  # switching to WAL can report "locked" without waiting: retry it ourselves
        conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        try:
            conn.execute(f"PRAGMA busy_timeout={busy_timeout_ms}")
            for pragma in (*_PRAGMAS, cache_pragma) if cache_pragma else _PRAGMAS:
                conn.execute(pragma)
            conn.execute(_SCHEMA)
            conn.create_function("fdb_add", 2, _fdb_add, deterministic=True)
            return conn
        except sqlite3.OperationalError as e:
            conn.close()
            if not _is_busy(e) or time.monotonic() > deadline:
                raise
            time.sleep(0.01)


class SqliteSnapshots:
    """Prepared transactions on a read connection of its own, for another process that plans
    batches for a `SqliteStore` on the same file (`SqliteStore.transact_planned`)."""

    def __init__(self, path: str | Path, *, timeout_s: float = 5.0) -> None:
        self.timeout_s = timeout_s
        self._conn = connect(Path(path), BUSY_TIMEOUT_MS, READER_CACHE)

    def prepare(self, fn: Callable[[Transaction], T]) -> tuple[T, WritePlan]:
        """`fn` on a fresh snapshot: its result and its `WritePlan`."""
        conn = self._conn
        conn.execute("BEGIN")
        tr = SqliteTransaction(conn, self.timeout_s, read_only=True)
        try:
            return prepare_plan(fn, tr)
        finally:
            tr._finish()
            conn.execute("ROLLBACK")

    def close(self) -> None:
        self._conn.close()


class _Commit(NamedTuple):
    """One of this store's commits, as a prepared snapshot taken after an earlier one sees it."""

    seq: int
    written: set[bytes] | None  # None: it cleared a range, so it may have touched any key
    data_version: int  # the writer connection's PRAGMA data_version just after it


class _Lane:
    """One thread and the connection it opened: SQLite work never leaves that thread."""

    def __init__(self, name: str, connect: Callable[[], sqlite3.Connection]) -> None:
        self.executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix=name)
        self.thread_id = -1
        self.conn = self.executor.submit(self._open, connect).result()

    def _open(self, connect: Callable[[], sqlite3.Connection]) -> sqlite3.Connection:
        self.thread_id = threading.get_ident()
        return connect()

    async def call(self, fn: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
        work = partial(fn, *args, **kwargs)
        return await asyncio.get_running_loop().run_in_executor(self.executor, work)

    def call_sync(self, fn: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
        if threading.get_ident() == self.thread_id:
            return fn(*args, **kwargs)
        return self.executor.submit(fn, *args, **kwargs).result()


class SqliteStore:
    """A `Store` on one SQLite file: writes on one thread and connection, reads (snapshots that
    never wait for the writer) on another, so queries and prepared work overlap commits."""

    def __init__(
        self,
        path: str | Path,
        *,
        url: str | None = None,
        timeout_s: float = 5.0,
        max_retries: int = 50,
        faults: FaultInjector | None = None,
        busy_timeout_s: float = BUSY_TIMEOUT_MS / 1000,
    ) -> None:
        self.path = Path(path)
        self.busy_timeout_ms = int(busy_timeout_s * 1000)
        self.url = url or f"sqlite:///{self.path}"
        self.timeout_s = timeout_s
        self.max_retries = max_retries
        self.faults = faults
        self.commits = 0
        self.retries = 0
        self._closed = False
        self._recent: deque[_Commit] = deque(maxlen=COMMITS_REMEMBERED)
        self._writer = _Lane("sqlite-store", self._connect)
        self._reader = _Lane("sqlite-reader", partial(self._connect, READER_CACHE))

    def _connect(self, cache_pragma: str = "") -> sqlite3.Connection:
        return connect(self.path, self.busy_timeout_ms, cache_pragma)

    async def transact(self, fn: Callable[[SqliteTransaction], T]) -> T:
        """Run fn(tr) and commit on the store's thread; the event loop is never blocked."""
        return await self._writer.call(self._run, fn, True)

    def transact_sync(self, fn: Callable[[SqliteTransaction], T]) -> T:
        """The same for callers off the event loop; safe from any thread."""
        return self._writer.call_sync(self._run, fn, True)

    async def read(self, fn: Callable[[SqliteTransaction], T]) -> T:
        """Run fn(tr) on a snapshot (BEGIN DEFERRED: WAL readers never wait for writers)."""
        return await self._reader.call(self._run, fn, False)

    def read_sync(self, fn: Callable[[SqliteTransaction], T]) -> T:
        return self._reader.call_sync(self._run, fn, False)

    async def transact_prepared(self, fn: Callable[[Transaction], T]) -> T:
        """`fn` on a snapshot on the reader thread, then its writes under the lock if nothing
        it read has changed (`prepared.py`): the writer thread only checks, writes, commits."""
        return await self.transact_planned(fn, partial(self.read, partial(prepare_plan, fn)))

    async def transact_planned(
        self,
        fn: Callable[[Transaction], T],
        plan: Callable[[], Awaitable[tuple[T, WritePlan]]],
    ) -> T:
        """`transact_prepared` with the preparation done by the caller: `plan()` runs `fn` on a
        snapshot of this file taken after it is called (any connection, any process: see
        `SqliteSnapshots`) and returns fn's result and its `WritePlan`. If `plan()` fails,
        or a key it read has changed since, `fn` runs again under the write lock."""
        after = self.commits  # every commit up to this one is in the snapshot taken next
        try:
            result, writes = await plan()
        except Exception:  # NeedsLock, or an error the authoritative run under the lock decides
            return await self.transact(fn)
        return await self.transact(partial(self._commit_plan, fn, result, writes, after))

    def _commit_plan(
        self,
        fn: Callable[[Transaction], T],
        result: T,
        plan: WritePlan,
        after: int,
        tr: SqliteTransaction,
    ) -> T:
        if self._unchanged_since(after, plan.reads.keys(), tr) or reads_still_hold(plan.reads, tr):
            tr.write_plan(plan)
            return result
        return fn(tr)

    def _unchanged_since(self, after: int, keys: Collection[bytes], tr: SqliteTransaction) -> bool:
        """Under the lock: did no commit since commit `after` write any of `keys`? Known without
        reading them again when every later commit is one of ours that we remember and no other
        connection has committed since (PRAGMA data_version). Otherwise: unknown, so False."""
        later = [c for c in self._recent if c.seq >= after]
        if not later or later[0].seq != after:  # none yet, or `after` is forgotten
            return False
        if tr._conn.execute("PRAGMA data_version").fetchone()[0] != later[0].data_version:
            return False
        return all(c.written is not None and c.written.isdisjoint(keys) for c in later[1:])

    def _run(self, fn: Callable[[SqliteTransaction], T], write: bool) -> T:
        if self._closed:
            raise RuntimeError(f"store {self.url} is closed")
        if (self._writer if write else self._reader).conn.in_transaction:
            raise RuntimeError("transact called from inside a transaction of the same store")
        delay, attempt = 0.001, 0
        while True:
            try:
                return self._attempt(fn, write)
            except StoreError as e:
                if not e.retryable or attempt >= self.max_retries:
                    raise
            attempt += 1
            self.retries += 1
            time.sleep(delay)
            delay = min(delay * 2, 0.1)

    def _attempt(self, fn: Callable[[SqliteTransaction], T], write: bool) -> T:
        lane = self._writer if write else self._reader
        conn = lane.conn
        tr: SqliteTransaction | None = None
        try:
            # a write takes the lock up front; a read's first SELECT fixes its snapshot
            conn.execute("BEGIN IMMEDIATE" if write else "BEGIN")
            tr = SqliteTransaction(conn, self.timeout_s, read_only=not write)
            result = fn(tr)  # the deadline runs from BEGIN: for a write, from holding the lock
            if write:
                self._commit(conn, tr)
            return result
        except sqlite3.OperationalError as e:
            if _is_busy(e):
                raise StoreError(NOT_COMMITTED, f"sqlite: {e}") from e
            raise
        finally:
            if tr is not None:
                tr._finish()
            if conn.in_transaction:
                conn.execute("ROLLBACK")

    def _commit(self, conn: sqlite3.Connection, tr: SqliteTransaction) -> None:
        tr._commit()
        fault = self.faults.next_commit() if self.faults else None
        if fault == NOT_COMMITTED:
            raise StoreError(NOT_COMMITTED, "injected before commit")
        conn.execute("COMMIT")
        version = conn.execute("PRAGMA data_version").fetchone()[0]
        self._recent.append(_Commit(self.commits + 1, tr.written, version))
        self.commits += 1
        if fault is not None:
            raise StoreError(fault, "injected after commit")

    async def close(self) -> None:
        if not self._closed:
            self._closed = True
            for lane in (self._reader, self._writer):
                await lane.call(lane.conn.close)
        for lane in (self._reader, self._writer):
            lane.executor.shutdown(wait=False)

    def close_sync(self) -> None:
        if not self._closed:
            self._closed = True
            for lane in (self._reader, self._writer):
                lane.call_sync(lane.conn.close)
        for lane in (self._reader, self._writer):
            lane.executor.shutdown(wait=False)

    def __repr__(self) -> str:
        return f"SqliteStore({self.url!r}, commits={self.commits}, retries={self.retries})"
