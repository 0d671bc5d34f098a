"""The FoundationDB engine's error handling, on a scripted fake of the `fdb` bindings.

No libfdb_c and no cluster here, so the fake plays the C client's part: `on_error(code)` backs
off and resets for the codes the client retries (`RETRYABLE`) and raises any other code again,
or raises 1031 when the transaction's timeout runs out during the back-off. What the engine
must do with each answer is what these tests hold it to.
"""

from __future__ import annotations

from collections.abc import Callable
from types import SimpleNamespace
from typing import Any

import pytest

from workers.store import FaultInjector
from workers.store.error_codes import (
    COMMIT_UNKNOWN_RESULT,
    DESCRIPTIONS,
    INVERTED_RANGE,
    KEY_LIMIT,
    KEY_OUTSIDE_LEGAL_RANGE,
    KEY_TOO_LARGE,
    NOT_COMMITTED,
    RETRYABLE,
    TRANSACTION_TIMED_OUT,
    TRANSACTION_TOO_LARGE,
    VALUE_LIMIT,
    VALUE_TOO_LARGE,
    StoreError,
    StoreUnavailable,
)
from workers.store.fdb import FdbStore
from workers.store.port import Transaction, decode_int64

# What FoundationDB 7.3's client retries, by name (see error_codes.RETRYABLE for the sources).
CLIENT_RETRIES = {
    1007: "transaction_too_old",
    1009: "future_version",
    1020: "not_committed",
    1021: "commit_unknown_result",
    1037: "process_behind",
    1038: "database_locked",
    1039: "cluster_version_changed",
    1042: "commit_proxy_memory_limit_exceeded",
    1051: "batch_transaction_throttled",
    1078: "grv_proxy_memory_limit_exceeded",
    1079: "blob_granule_request_failed",
    1213: "tag_throttled",
    1223: "proxy_tag_throttled",
    1235: "transaction_throttled_hot_shard",
    2131: "unknown_tenant",
}
NOT_RETRIED = [
    1025,  # transaction_cancelled
    1022,  # commit_unknown_result_fatal
    1036,  # accessed_unreadable
    2000,  # client_invalid_operation
    2017,  # used_during_commit
    2101,  # transaction_too_large
    2102,  # key_too_large, deferred to a read or the commit by the C client
    2103,  # value_too_large, likewise
    4100,  # internal_error
]


class FakeFDBError(Exception):
    def __init__(self, code: int) -> None:
        super().__init__(code)
        self.code = code

    def __str__(self) -> str:
        return f"fake error ({self.code})"


class Future:
    """An already-resolved future: `.wait()` and `.value` raise its error, if it has one."""

    def __init__(self, value: Any = None, error: int | None = None) -> None:
        self._value = value
        self._error = error

    def wait(self) -> Future:
        if self._error is not None:
            raise FakeFDBError(self._error)
        return self

    @property
    def value(self) -> Any:
        self.wait()
        return self._value


class FakeTransaction:
    """Writes land in a private copy, published by `commit`; every call is logged.

    Scripted failures, each used once: `commit_errors` (raised by `commit().wait()`),
    `get_errors` (by a read's `.value`), `on_error_errors` (by the back-off's `.wait()`).
    """

    def __init__(self, db: FakeDatabase) -> None:
        self.db = db
        self.view = dict(db.data)
        self.calls: list[tuple[Any, ...]] = []
        self.timeouts: list[int] = []
        self.options = SimpleNamespace(set_timeout=self._set_timeout)

    def _set_timeout(self, ms: int) -> None:
        if self.db.set_timeout_error is not None:
            raise FakeFDBError(self.db.set_timeout_error)
        self.timeouts.append(ms)

    def get(self, key: bytes) -> Future:
        self.calls.append(("get", key))
        if self.db.get_errors:
            return Future(error=self.db.get_errors.pop(0))
        return Future(self.view.get(key))

    def set(self, key: bytes, value: bytes) -> None:
        self.calls.append(("set", key, value))
        self.view[key] = value

    def clear(self, key: bytes) -> None:
        self.calls.append(("clear", key))
        self.view.pop(key, None)

    def clear_range(self, begin: bytes, end: bytes) -> None:
        self.calls.append(("clear_range", begin, end))
        for k in [k for k in self.view if begin <= k < end]:
            del self.view[k]

    def add(self, key: bytes, param: bytes) -> None:
        self.calls.append(("add", key, param))
        total = decode_int64(self.view.get(key)) + decode_int64(param)
        self.view[key] = ((total + 2**63) % 2**64 - 2**63).to_bytes(8, "little", signed=True)

    def commit(self) -> Future:
        self.calls.append(("commit",))
        if self.db.commit_errors:
            return Future(error=self.db.commit_errors.pop(0))
        self.db.data = self.view
        self.db.committed += 1
        return Future()

    def on_error(self, code: int) -> Future:
        self.calls.append(("on_error", code))
        self.db.on_error_codes.append(code)
        if self.db.on_error_errors:
            return Future(error=self.db.on_error_errors.pop(0))
        if code not in CLIENT_RETRIES:
            return Future(error=code)  # the client raises what it does not retry
        self.view = dict(self.db.data)  # reset
        return Future()


class FakeDatabase:
    def __init__(self) -> None:
        self.data: dict[bytes, bytes] = {}
        self.transactions: list[FakeTransaction] = []
        self.commit_errors: list[int] = []
        self.get_errors: list[int] = []
        self.on_error_errors: list[int] = []
        self.on_error_codes: list[int] = []
        self.create_error: int | None = None
        self.set_timeout_error: int | None = None
        self.committed = 0

    def create_transaction(self) -> FakeTransaction:
        if self.create_error is not None:
            raise FakeFDBError(self.create_error)
        tr = FakeTransaction(self)
        self.transactions.append(tr)
        return tr

    def binding_calls(self, name: str) -> list[tuple[Any, ...]]:
        return [c for tr in self.transactions for c in tr.calls if c[0] == name]


@pytest.fixture
def db(monkeypatch: pytest.MonkeyPatch) -> FakeDatabase:
    """The fake `fdb` module, handed to `FdbStore` by `load_fdb`; `open` returns this db."""
    database = FakeDatabase()
    fake = SimpleNamespace(FDBError=FakeFDBError, open=lambda cluster_file: database)
    monkeypatch.setattr("workers.store.fdb.load_fdb", lambda: fake)
    return database


@pytest.fixture
def store(db: FakeDatabase) -> FdbStore:
    return FdbStore("/fake/fdb.cluster", max_retries=5, total_timeout_s=2.0)


def write(tr: Transaction) -> str:
    tr.set(b"k", b"v")
    return "done"


def test_the_retryable_set_is_exactly_the_clients_and_every_code_is_named() -> None:
    assert set(CLIENT_RETRIES) == RETRYABLE
    for code, name in CLIENT_RETRIES.items():
        assert DESCRIPTIONS[code].startswith(f"{name}: ")
        assert StoreError(code).retryable
    assert not StoreError(TRANSACTION_TIMED_OUT).retryable  # reported as StoreUnavailable
    assert StoreUnavailable("x").retryable


@pytest.mark.parametrize("code", sorted(CLIENT_RETRIES), ids=CLIENT_RETRIES.get)
def test_every_code_the_client_retries_at_commit_is_retried_then_commits(
    store: FdbStore, db: FakeDatabase, code: int
) -> None:
    db.commit_errors = [code]
    assert store.transact_sync(write) == "done"
    assert db.on_error_codes == [code]
    assert (db.data, db.committed) == ({b"k": b"v"}, 1)
    assert (store.retries, store.commits) == (1, 1)
    assert len(db.transactions) == 1  # one transaction, reset by on_error, as the client does
    assert db.transactions[0].timeouts == [2000]


@pytest.mark.parametrize("code", sorted(CLIENT_RETRIES), ids=CLIENT_RETRIES.get)
def test_every_code_the_client_retries_from_a_read_is_retried(
    store: FdbStore, db: FakeDatabase, code: int
) -> None:
    db.get_errors = [code]  # FdbTransaction turns it into a StoreError: still the client's call
    calls = 0

    def read_then_write(tr: Transaction) -> bytes | None:
        nonlocal calls
        calls += 1
        found = tr.get(b"k")
        tr.set(b"k", b"v")
        return found

    assert store.transact_sync(read_then_write) is None
    assert (calls, db.on_error_codes, db.data) == (2, [code], {b"k": b"v"})
    assert store.read_sync(lambda tr: tr.get(b"k")) == b"v"


@pytest.mark.parametrize("code", NOT_RETRIED)
def test_a_code_the_client_does_not_retry_raises_after_exactly_one_on_error(
    store: FdbStore, db: FakeDatabase, code: int
) -> None:
    db.commit_errors = [code]
    with pytest.raises(StoreError) as info:
        store.transact_sync(write)
    assert type(info.value) is StoreError
    assert (info.value.code, info.value.retryable) == (code, False)
    assert db.on_error_codes == [code]
    assert (store.retries, store.commits, db.data) == (0, 0, {})


def test_the_error_the_client_raises_instead_is_reported(store: FdbStore, db: FakeDatabase) -> None:
    db.commit_errors = [NOT_COMMITTED]
    db.on_error_errors = [1025]  # transaction_cancelled, say
    with pytest.raises(StoreError) as info:
        store.transact_sync(write)
    assert info.value.code == 1025 and "backing off from 1020" in str(info.value)


def test_1031_from_the_body_is_store_unavailable_without_a_back_off(
    store: FdbStore, db: FakeDatabase
) -> None:
    db.get_errors = [TRANSACTION_TIMED_OUT]
    with pytest.raises(StoreUnavailable, match="timed out") as info:
        store.transact_sync(lambda tr: tr.get(b"k"))
    assert info.value.retryable
    assert db.on_error_codes == []


def test_1031_from_the_commit_is_store_unavailable(store: FdbStore, db: FakeDatabase) -> None:
    db.commit_errors = [TRANSACTION_TIMED_OUT]
    with pytest.raises(StoreUnavailable, match="timed out"):
        store.transact_sync(write)


def test_1031_from_the_back_off_is_store_unavailable(store: FdbStore, db: FakeDatabase) -> None:
    """The timeout runs out while the client backs off from a retryable error: the client
    raises 1031 from on_error. Transient, like the 1031 from the body, never dead-lettered."""
    db.commit_errors = [NOT_COMMITTED]
    db.on_error_errors = [TRANSACTION_TIMED_OUT]
    with pytest.raises(StoreUnavailable, match="timed out while backing off from 1020") as info:
        store.transact_sync(write)
    assert info.value.retryable
    assert (store.retries, db.data) == (0, {})


@pytest.mark.parametrize("where", ["create_transaction", "set_timeout"])
@pytest.mark.parametrize("code", [TRANSACTION_TIMED_OUT, 2008])
def test_an_error_starting_the_transaction_is_store_unavailable(
    store: FdbStore, db: FakeDatabase, where: str, code: int
) -> None:
    if where == "create_transaction":
        db.create_error = code
    else:
        db.set_timeout_error = code
    for run in (store.transact_sync, store.read_sync):
        with pytest.raises(StoreUnavailable, match="cannot start a FoundationDB transaction") as e:
            run(write)
        assert e.value.retryable and isinstance(e.value.__cause__, FakeFDBError)
        assert "/fake/fdb.cluster" in str(e.value)


def test_max_retries_bounds_the_loop(db: FakeDatabase) -> None:
    store = FdbStore(None, max_retries=3)
    db.commit_errors = [NOT_COMMITTED] * 10
    calls = 0

    def counted(tr: Transaction) -> None:
        nonlocal calls
        calls += 1
        tr.set(b"k", b"v")

    with pytest.raises(StoreError) as info:
        store.transact_sync(counted)
    assert (info.value.code, info.value.retryable) == (NOT_COMMITTED, True)
    assert (calls, store.retries, db.on_error_codes) == (4, 3, [NOT_COMMITTED] * 3)
    assert db.data == {}

    no_retries = FdbStore(None, max_retries=0)
    db.commit_errors = [NOT_COMMITTED]
    with pytest.raises(StoreError):
        no_retries.transact_sync(write)
    assert no_retries.retries == 0 and db.on_error_codes == [NOT_COMMITTED] * 3  # none more


def test_fault_injection_goes_through_the_clients_back_off(
    store: FdbStore, db: FakeDatabase
) -> None:
    store.faults = FaultInjector(at_1020={1}, at_1021={2})
    assert store.transact_sync(lambda tr: tr.add(b"n", 1)) is None
    assert db.on_error_codes == [NOT_COMMITTED, COMMIT_UNKNOWN_RESULT]
    # 1020 before the commit (nothing landed), then 1021 after one that landed: the retry ran
    # fn again on the reset transaction and committed once more, so the blind add counted twice
    assert (store.commits, store.retries, db.committed) == (2, 2, 2)
    assert decode_int64(store.read_sync(lambda tr: tr.get(b"n"))) == 2
    assert store.faults.injected_1020 == store.faults.injected_1021 == 1


REFUSED: list[tuple[str, Callable[[Transaction], None], int]] = [
    ("key_too_large", lambda tr: tr.set(b"k" * (KEY_LIMIT + 1), b"v"), KEY_TOO_LARGE),
    ("value_too_large", lambda tr: tr.set(b"k", b"v" * (VALUE_LIMIT + 1)), VALUE_TOO_LARGE),
    ("add_key_too_large", lambda tr: tr.add(b"k" * (KEY_LIMIT + 1), 1), KEY_TOO_LARGE),
    ("set_past_ff", lambda tr: tr.set(b"\xff/x", b"v"), KEY_OUTSIDE_LEGAL_RANGE),
    ("add_past_ff", lambda tr: tr.add(b"\xff", 1), KEY_OUTSIDE_LEGAL_RANGE),
    ("clear_past_ff", lambda tr: tr.clear(b"\xff\x00"), KEY_OUTSIDE_LEGAL_RANGE),
    ("clear_range_past_ff", lambda tr: tr.clear_range(b"a", b"\xff\x00"), KEY_OUTSIDE_LEGAL_RANGE),
    ("inverted_range", lambda tr: tr.clear_range(b"b", b"a"), INVERTED_RANGE),
    ("inverted_past_ff", lambda tr: tr.clear_range(b"\xff\x01", b"\xff"), INVERTED_RANGE),
]


@pytest.mark.parametrize(
    ("write_op", "code"), [(w, c) for _, w, c in REFUSED], ids=[n for n, *_ in REFUSED]
)
def test_what_the_client_would_defer_is_refused_at_the_call(
    store: FdbStore, db: FakeDatabase, write_op: Callable[[Transaction], None], code: int
) -> None:
    """The C client would accept the call and fail the next read or the commit; here the call
    itself raises, before the bindings see it, and fn may still handle it."""
    seen: list[int] = []

    def fn(tr: Transaction) -> None:
        tr.set(b"before", b"1")
        try:
            write_op(tr)
        except StoreError as e:
            seen.append(e.code)
            assert not e.retryable
        tr.set(b"after", b"2")

    store.transact_sync(fn)
    assert seen == [code]
    assert db.data == {b"before": b"1", b"after": b"2"}  # handled in fn: the rest commits
    sent = [c for c in db.transactions[0].calls if c[0] in ("set", "add", "clear", "clear_range")]
    assert sent == [("set", b"before", b"1"), ("set", b"after", b"2")]

    with pytest.raises(StoreError) as info:  # not handled: the transaction fails, nothing lands
        store.transact_sync(lambda tr: (tr.set(b"lost", b"x"), write_op(tr)))
    assert (info.value.code, info.value.retryable) == (code, False)
    assert b"lost" not in db.data


def test_limits_are_inclusive_and_an_empty_range_is_a_no_op(
    store: FdbStore, db: FakeDatabase
) -> None:
    def fn(tr: Transaction) -> None:
        tr.set(b"k" * KEY_LIMIT, b"v" * VALUE_LIMIT)
        tr.add(b"n" * KEY_LIMIT, 1)
        tr.clear(b"c" * (KEY_LIMIT + 1))  # no such key can exist: the client ignores it
        tr.clear_range(b"m", b"m")
        tr.clear_range(b"a", b"\xff")

    store.transact_sync(fn)
    assert db.data == {}
    assert db.on_error_codes == []


def test_transaction_too_large_at_commit_is_not_retried(store: FdbStore, db: FakeDatabase) -> None:
    """2101 is the client's to report, at commit (it counts reads and conflict ranges too)."""
    db.commit_errors = [TRANSACTION_TOO_LARGE]
    with pytest.raises(StoreError) as info:
        store.transact_sync(write)
    assert (info.value.code, info.value.retryable) == (TRANSACTION_TOO_LARGE, False)
