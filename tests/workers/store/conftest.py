"""Store fixtures: one `store` fixture, parametrized over the engines the conformance suite runs on.

- ``sqlite``: a fresh file per test.
- ``fdb``: a real cluster, under a random prefix cleared afterwards; skipped (with the reason)
  when this machine has no libfdb_c or no reachable cluster.
- ``fdb_adapter_on_fake_bindings``: `FdbStore` over a small in-memory stand-in for the `fdb`
  module, so the mapping (calls, error conversion, retry loop) is exercised without a cluster.
"""

from __future__ import annotations

import os
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from workers.store.error_codes import RETRYABLE, StoreError, StoreUnavailable
from workers.store.fdb import FdbStore, load_fdb
from workers.store.port import Store, decode_int64, encode_int64
from workers.store.sqlite import SqliteStore


def range_end(prefix: bytes) -> bytes:
    """The first key after every key that starts with prefix (FoundationDB's strinc)."""
    stripped = prefix.rstrip(b"\xff")
    return stripped[:-1] + bytes([stripped[-1] + 1])


@pytest.fixture
def prefix() -> bytes:
    """A unique key prefix, so tests can share a real cluster; never starts with \\xff."""
    return b"\x01store-test/" + uuid.uuid4().hex.encode() + b"/"


@pytest.fixture
def prefix_end(prefix: bytes) -> bytes:
    """The end of the prefix's range: every test key k satisfies prefix <= k < prefix_end."""
    return range_end(prefix)


REQUIRE_FDB = os.environ.get("REQUIRE_FDB") == "1"
"""`make test-fdb` sets it: then a cluster that cannot be reached FAILS the FoundationDB tests
instead of skipping them, so the run cannot pass without having tested FoundationDB."""
PROBE_DEADLINE_S = 60.0  # a cluster that has just started may answer late

_fdb_skip: list[str | None] = []


def fdb_skip_reason() -> str | None:
    """Why the real-cluster param cannot run here (None = it can); computed once. The probe is
    retried until PROBE_DEADLINE_S: one slow first answer must not skip the whole run."""
    if _fdb_skip:
        return _fdb_skip[0]
    reason: str | None = None
    try:
        load_fdb()
    except StoreUnavailable:
        reason = "FoundationDB: no client library (libfdb_c) on this machine"
    if reason is None:
        cluster = os.environ.get("FDB_CLUSTER_FILE") or "/etc/foundationdb/fdb.cluster"
        if not Path(cluster).is_file():
            reason = f"FoundationDB: no cluster file at {cluster} (set FDB_CLUSTER_FILE)"
        else:
            reason = _probe(cluster)
    _fdb_skip.append(reason)
    return reason


def _probe(cluster: str) -> str | None:
    deadline = time.monotonic() + PROBE_DEADLINE_S
    while True:
        try:
            probe = FdbStore(cluster, total_timeout_s=5.0)
            probe.transact_sync(lambda tr: tr.get(b"\x01probe"))
            return None
        except StoreError as e:
            if time.monotonic() > deadline:
                return f"FoundationDB: no reachable cluster via {cluster} ({e})"


def fdb_unavailable(reason: str) -> None:
    """Skip, or under REQUIRE_FDB=1 fail: the FoundationDB tests were asked for."""
    if REQUIRE_FDB:
        pytest.fail(f"{reason} (REQUIRE_FDB=1: `make test-fdb` needs a reachable cluster)")
    pytest.skip(reason)


@pytest.fixture(params=["sqlite", "fdb", "fdb_adapter_on_fake_bindings"])
async def store(
    request: pytest.FixtureRequest,
    tmp_path: Path,
    prefix: bytes,
) -> AsyncIterator[Store]:
    engine: Store
    if request.param == "sqlite":
        engine = SqliteStore(tmp_path / "store.db", max_retries=5)
    elif request.param == "fdb":
        reason = fdb_skip_reason()
        if reason:
            fdb_unavailable(reason)
        engine = FdbStore(os.environ.get("FDB_CLUSTER_FILE"), max_retries=5)
    else:
        request.getfixturevalue("fake_fdb")
        engine = FdbStore(None, max_retries=5)
    yield engine
    if request.param == "fdb":
        await engine.transact(lambda tr: tr.clear_range(prefix, range_end(prefix)))
    await engine.close()


@pytest.fixture
def sqlite_store(tmp_path: Path) -> Iterator[SqliteStore]:
    s = SqliteStore(tmp_path / "store.db")
    yield s
    s.close_sync()


# --- A stand-in for the `fdb` module: just enough of its API for FdbStore ------------------


class FakeFDBError(Exception):
    def __init__(self, code: int) -> None:
        super().__init__(code)
        self.code = code


class _Done:
    """An already-resolved future: `.value`, `.wait()`, `.to_list()`."""

    def __init__(self, value: Any = None, error: FakeFDBError | None = None) -> None:
        self.value = value
        self._error = error

    def wait(self) -> _Done:
        if self._error:
            raise self._error
        return self

    def to_list(self) -> Any:
        return self.value


class _FakeTransaction:
    """Works on a private copy of the data (so read-your-writes is free); commit swaps it in."""

    def __init__(self, db: _FakeDatabase) -> None:
        self._db = db
        self._view = dict(db.data)
        self.snapshot = self
        self.options = SimpleNamespace(set_timeout=lambda ms: None)

    def get(self, key: bytes) -> _Done:
        return _Done(self._view.get(key))

    def get_range(self, begin: bytes, end: bytes, limit: int = 0, reverse: bool = False) -> _Done:
        keys = sorted((k for k in self._view if begin <= k < end), reverse=reverse)
        keys = keys[:limit] if limit else keys
        return _Done([SimpleNamespace(key=k, value=self._view[k]) for k in keys])

    def set(self, key: bytes, value: bytes) -> None:
        self._view[key] = value

    def clear(self, key: bytes) -> None:
        self._view.pop(key, None)

    def clear_range(self, begin: bytes, end: bytes) -> None:
        for k in [k for k in self._view if begin <= k < end]:
            del self._view[k]

    def add(self, key: bytes, param: bytes) -> None:
        total = decode_int64(self._view.get(key)) + decode_int64(param)
        self._view[key] = encode_int64((total + 2**63) % 2**64 - 2**63)

    def commit(self) -> _Done:
        self._db.data = self._view
        return _Done()

    def on_error(self, code: int) -> _Done:
        if code not in RETRYABLE:
            return _Done(error=FakeFDBError(code))
        self._view = dict(self._db.data)
        return _Done()


class _FakeDatabase:
    def __init__(self) -> None:
        self.data: dict[bytes, bytes] = {}

    def create_transaction(self) -> _FakeTransaction:
        return _FakeTransaction(self)


@pytest.fixture
def fake_fdb(monkeypatch: pytest.MonkeyPatch) -> Any:
    """Stand in for the `fdb` module: `FdbStore` gets it from `load_fdb`; `.opened` logs opens."""
    opened: list[str | None] = []

    def open_database(cluster_file: str | None) -> _FakeDatabase:
        opened.append(cluster_file)
        return _FakeDatabase()

    fake = SimpleNamespace(FDBError=FakeFDBError, open=open_database, opened=opened)
    monkeypatch.setattr("workers.store.fdb.load_fdb", lambda: fake)
    return fake
