"""The FoundationDB engine: a thin mapping of the store port onto the official bindings.

`fdb` is loaded lazily in `FdbStore.__init__`, so importing this module (and running everything
on SQLite) never needs the C client. `import fdb` below is absolute: it is the top-level
`foundationdb` package, not this module.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from types import ModuleType
from typing import Any, TypeVar, cast

from workers.store.error_codes import (
    COMMIT_UNKNOWN_RESULT,
    KEY_LIMIT,
    KEY_OUTSIDE_LEGAL_RANGE,
    MAX_KEY,
    NOT_COMMITTED,
    TRANSACTION_READ_ONLY,
    TRANSACTION_TIMED_OUT,
    VALUE_LIMIT,
    VALUE_TOO_LARGE,
    StoreError,
    StoreUnavailable,
    check_clear_range,
    check_write_key,
)
from workers.store.faults import FaultInjector
from workers.store.port import KeyValue, encode_int64

T = TypeVar("T")

API_VERSION = 730  # bindings pinned to 7.3.*: never newer than the cluster's client library
NO_CLIENT = (
    "FoundationDB client library (libfdb_c) not found: install the FoundationDB client package "
    "(foundationdb-clients 7.3.x) on this machine, or use a sqlite:/// STORE_URL"
)


def load_fdb() -> ModuleType:
    """Import the bindings and select API 730, or raise StoreUnavailable if libfdb_c is absent."""
    try:
        import fdb

        fdb.api_version(API_VERSION)
    except (ImportError, OSError) as e:
        raise StoreUnavailable(f"{NO_CLIENT} ({e})") from e
    except Exception as e:  # the bindings raise a bare Exception when the library is missing
        if "shared library" in str(e):
            raise StoreUnavailable(NO_CLIENT) from e
        raise
    return cast(ModuleType, fdb)


class FdbTransaction:
    """The port's `Transaction` over an `fdb.Transaction`; FDBError becomes StoreError here.

    The C client defers the errors of `set`, `add`, `clear` and `clear_range` (key or value too
    large, key past \\xff, inverted range) to the next read or the commit, where they fail the
    whole transaction. They are checked here instead, and raised at the call, as SQLite does:
    the same code fails the same way, at the same place, on both engines.
    """

    def __init__(self, tr: Any, fdb: ModuleType, *, read_only: bool = False) -> None:
        self._tr = tr
        self._fdb = fdb
        self._read_only = read_only

    def _writable(self) -> None:
        """Refused here: the C client would only report it at a commit a read never makes."""
        if self._read_only:
            raise StoreError(TRANSACTION_READ_ONLY)

    def _error(self, e: Any) -> StoreError:
        return StoreError(cast(int, e.code), str(e))

    def get(self, key: bytes) -> bytes | None:
        try:
            return cast(bytes | None, self._tr.get(key).value)
        except self._fdb.FDBError as e:
            raise self._error(e) from e

    def get_many(self, keys: Sequence[bytes]) -> list[bytes | None]:
        try:
            futures = [self._tr.get(k) for k in keys]  # all in flight before the first wait
            return [cast(bytes | None, f.value) for f in futures]
        except self._fdb.FDBError as e:
            raise self._error(e) from e

    def get_range(
        self,
        begin: bytes,
        end: bytes,
        limit: int = 0,
        reverse: bool = False,
        snapshot: bool = False,
    ) -> list[KeyValue]:
        reader = self._tr.snapshot if snapshot else self._tr
        try:
            rows = reader.get_range(begin, end, limit=limit, reverse=reverse).to_list()
            return [(bytes(kv.key), bytes(kv.value)) for kv in rows]
        except self._fdb.FDBError as e:
            raise self._error(e) from e

    def set(self, key: bytes, value: bytes) -> None:
        self._writable()
        if len(key) > KEY_LIMIT or key >= MAX_KEY:
            check_write_key(key)
        if len(value) > VALUE_LIMIT:
            raise StoreError(VALUE_TOO_LARGE, f"{len(value)} bytes")
        try:
            self._tr.set(key, value)
        except self._fdb.FDBError as e:
            raise self._error(e) from e

    def clear(self, key: bytes) -> None:
        self._writable()
        if key >= MAX_KEY:
            raise StoreError(KEY_OUTSIDE_LEGAL_RANGE, "clear past \\xff")
        try:  # a key longer than 10,000 bytes: the client ignores it (no such key can exist)
            self._tr.clear(key)
        except self._fdb.FDBError as e:
            raise self._error(e) from e

    def clear_range(self, begin: bytes, end: bytes) -> None:
        """begin > end is refused (the client would fail the commit with 2005); begin == end
        clears nothing, as on SQLite."""
        self._writable()
        check_clear_range(begin, end)
        try:
            self._tr.clear_range(begin, end)
        except self._fdb.FDBError as e:
            raise self._error(e) from e

    def add(self, key: bytes, delta: int) -> None:
        self._writable()
        check_write_key(key)
        try:
            self._tr.add(key, encode_int64(delta))
        except self._fdb.FDBError as e:
            raise self._error(e) from e


class FdbStore:
    """A `Store` on a FoundationDB cluster; transactions run in a small thread pool.

    FoundationDB enforces its own 5 s deadline (1007), so `timeout_s` is accepted only for
    parity with SQLite. `total_timeout_s` bounds one `transact` across all its retries
    (FoundationDB's timeout option, not reset by on_error), so an unreachable cluster fails as
    StoreUnavailable instead of hanging a worker forever.
    """

    def __init__(
        self,
        cluster_file: str | None = None,
        *,
        url: str = "fdb://",
        timeout_s: float = 5.0,
        max_retries: int = 50,
        faults: FaultInjector | None = None,
        total_timeout_s: float = 30.0,
        threads: int = 4,
    ) -> None:
        self._fdb = load_fdb()
        self.url = url
        self.cluster_file = cluster_file
        self.timeout_s = timeout_s
        self.total_timeout_ms = max(1, int(total_timeout_s * 1000))
        self.max_retries = max_retries
        self.faults = faults
        self.commits = 0
        self.retries = 0
        self._stats = threading.Lock()  # transactions run on several threads
        try:
            self._db = self._fdb.open(cluster_file)
        except self._fdb.FDBError as e:
            where = cluster_file or "default cluster file"
            raise StoreUnavailable(f"cannot open FoundationDB ({where}): {e}") from e
        self._executor = ThreadPoolExecutor(max_workers=threads, thread_name_prefix="fdb-store")

    async def transact(self, fn: Callable[[FdbTransaction], T]) -> T:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._executor, self.transact_sync, fn)

    def transact_sync(self, fn: Callable[[FdbTransaction], T]) -> T:
        """`@fdb.transactional`, with retries bounded by max_retries and errors as StoreError."""
        return self._run(fn, write=True)

    async def transact_prepared(self, fn: Callable[[FdbTransaction], T]) -> T:
        """FoundationDB's commit is already optimistic: reads at a read version, conflicts
        checked at commit. Nothing to prepare."""
        return await self.transact(fn)

    async def read(self, fn: Callable[[FdbTransaction], T]) -> T:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._executor, self.read_sync, fn)

    def read_sync(self, fn: Callable[[FdbTransaction], T]) -> T:
        """A read-only transaction (writes fail with 2023); nothing to commit."""
        return self._run(fn, write=False)

    def _run(self, fn: Callable[[FdbTransaction], T], *, write: bool) -> T:
        """`@fdb.transactional`'s loop: every error goes to `tr.on_error`, which backs off and
        resets for the codes the client retries (`RETRYABLE`) and raises anything else again;
        at most `max_retries` retries. 1031, from the body or from the back-off, is
        StoreUnavailable: the whole budget (`total_timeout_s`) is spent, try again later."""
        fdb = self._fdb
        tr = self._new_transaction()
        attempt = 0
        while True:
            try:
                return self._attempt(tr, fn, write)
            except fdb.FDBError as e:
                error = StoreError(cast(int, e.code), str(e))
                error.__cause__ = e
            except StoreUnavailable:
                raise
            except StoreError as e:
                error = e
            if error.code == TRANSACTION_TIMED_OUT:
                raise StoreUnavailable(f"FoundationDB transaction timed out: {error}") from error
            if error.code <= 0 or attempt >= self.max_retries:
                raise error
            self._back_off(tr, error)
            attempt += 1
            with self._stats:
                self.retries += 1

    def _attempt(self, tr: Any, fn: Callable[[FdbTransaction], T], write: bool) -> T:
        result = fn(FdbTransaction(tr, self._fdb, read_only=not write))
        if not write:
            return result
        fault = self.faults.next_commit() if self.faults else None
        if fault == NOT_COMMITTED:
            raise self._fdb.FDBError(NOT_COMMITTED)
        tr.commit().wait()
        with self._stats:
            self.commits += 1
        if fault == COMMIT_UNKNOWN_RESULT:
            raise self._fdb.FDBError(COMMIT_UNKNOWN_RESULT)
        return result

    def _back_off(self, tr: Any, error: StoreError) -> None:
        """FoundationDB's own back-off and reset; raises unless the client retries the code."""
        try:
            tr.on_error(error.code).wait()
        except self._fdb.FDBError as e:
            code = cast(int, e.code)
            if code == TRANSACTION_TIMED_OUT:
                raise StoreUnavailable(
                    f"FoundationDB transaction timed out while backing off from {error}: {e}"
                ) from error
            if code == error.code:
                raise error from error.__cause__  # not retried: the error as it came
            raise StoreError(code, f"{e}, while backing off from {error}") from error

    def _new_transaction(self) -> Any:
        try:
            tr = self._db.create_transaction()
            tr.options.set_timeout(self.total_timeout_ms)
        except self._fdb.FDBError as e:
            where = self.cluster_file or "default cluster file"
            raise StoreUnavailable(f"cannot start a FoundationDB transaction ({where}): {e}") from e
        return tr

    async def close(self) -> None:
        self._executor.shutdown(wait=False)

    def __repr__(self) -> str:
        return f"FdbStore({self.url!r}, commits={self.commits}, retries={self.retries})"
