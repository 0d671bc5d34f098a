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
    NOT_COMMITTED,
    RETRYABLE,
    TRANSACTION_READ_ONLY,
    StoreError,
    StoreUnavailable,
)
from workers.store.faults import FaultInjector
from workers.store.port import KeyValue, encode_int64

T = TypeVar("T")

API_VERSION = 730  # bindings pinned to 7.3.*: never newer than the cluster's client library
TRANSACTION_TIMED_OUT = 1031
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
    """The port's `Transaction` over an `fdb.Transaction`; FDBError becomes StoreError here."""

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
        try:
            self._tr.set(key, value)
        except self._fdb.FDBError as e:
            raise self._error(e) from e

    def clear(self, key: bytes) -> None:
        self._writable()
        try:
            self._tr.clear(key)
        except self._fdb.FDBError as e:
            raise self._error(e) from e

    def clear_range(self, begin: bytes, end: bytes) -> None:
        self._writable()
        try:
            self._tr.clear_range(begin, end)
        except self._fdb.FDBError as e:
            raise self._error(e) from e

    def add(self, key: bytes, delta: int) -> None:
        self._writable()
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
        fdb = self._fdb
        tr = self._new_transaction()
        attempt = 0
        while True:
            try:
                result = fn(FdbTransaction(tr, fdb, read_only=not write))
                if not write:
                    return result
                fault = self.faults.next_commit() if self.faults else None
                if fault == NOT_COMMITTED:
                    raise fdb.FDBError(NOT_COMMITTED)
                tr.commit().wait()
                with self._stats:
                    self.commits += 1
                if fault == COMMIT_UNKNOWN_RESULT:
                    raise fdb.FDBError(COMMIT_UNKNOWN_RESULT)
                return result
            except (StoreError, fdb.FDBError) as e:
                code = cast(int, e.code)
                error = e if isinstance(e, StoreError) else StoreError(code, str(e))
            if code == TRANSACTION_TIMED_OUT:
                raise StoreUnavailable(f"FoundationDB transaction timed out: {error}") from error
            if code not in RETRYABLE or attempt >= self.max_retries:
                raise error
            attempt += 1
            with self._stats:
                self.retries += 1
            try:
                tr.on_error(code).wait()  # FoundationDB's own backoff and reset
            except fdb.FDBError as e:
                raise StoreError(cast(int, e.code), str(e)) from error

    def _new_transaction(self) -> Any:
        tr = self._db.create_transaction()
        tr.options.set_timeout(self.total_timeout_ms)
        return tr

    async def close(self) -> None:
        self._executor.shutdown(wait=False)

    def __repr__(self) -> str:
        return f"FdbStore({self.url!r}, commits={self.commits}, retries={self.retries})"
