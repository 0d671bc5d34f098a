"""Choosing an engine from STORE_URL, and the FoundationDB engine's edges without a cluster."""

from __future__ import annotations

import importlib
from pathlib import Path
from typing import Any

import pytest

from workers.store import FaultInjector, open_store
from workers.store.error_codes import StoreError, StoreUnavailable
from workers.store.fdb import FdbStore, load_fdb
from workers.store.port import Transaction, decode_int64
from workers.store.sqlite import SqliteStore


async def test_a_relative_sqlite_url_opens_under_the_working_directory_creating_dirs(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    store = open_store("sqlite:///./data/nested/workers.db", timeout_s=1.0, max_retries=3)
    assert isinstance(store, SqliteStore)
    assert (store.timeout_s, store.max_retries) == (1.0, 3)
    await store.transact(lambda tr: tr.set(b"k", b"v"))
    await store.close()
    assert (tmp_path / "data" / "nested" / "workers.db").is_file()


async def test_an_absolute_sqlite_url_has_four_slashes(tmp_path: Path) -> None:
    path = tmp_path / "abs" / "w.db"
    store = open_store(f"sqlite:///{path}")  # path is absolute, so this makes four slashes
    assert isinstance(store, SqliteStore) and store.path == path
    assert store.url == f"sqlite:////{str(path).lstrip('/')}"
    await store.close()


@pytest.mark.parametrize("url", ["postgres://x/y", "sqlite://relative.db", "sqlite:///", "fdb:/x"])
def test_an_unknown_url_is_rejected_naming_it_and_the_accepted_forms(url: str) -> None:
    with pytest.raises(ValueError) as info:
        open_store(url)
    assert url in str(info.value) and "fdb:///path/to/fdb.cluster" in str(info.value)


def test_the_fdb_module_is_the_official_bindings_not_ours() -> None:
    assert importlib.import_module("fdb").__name__ == "fdb"
    assert "workers" not in str(importlib.import_module("fdb").__file__)


def test_without_libfdb_c_an_fdb_url_raises_store_unavailable_saying_what_to_install() -> None:
    try:
        load_fdb()
    except StoreUnavailable:
        pass
    else:
        pytest.skip("this machine has libfdb_c")
    with pytest.raises(StoreUnavailable, match=r"libfdb_c\) not found"):
        open_store("fdb://")


def test_fdb_urls_name_the_cluster_file(fake_fdb: Any) -> None:
    assert isinstance(open_store("fdb://"), FdbStore)
    open_store("fdb:///etc/foundationdb/fdb.cluster")
    assert fake_fdb.opened == [None, "/etc/foundationdb/fdb.cluster"]


@pytest.fixture
def fake_fdb_store(fake_fdb: Any) -> FdbStore:
    return FdbStore(None, max_retries=3)


def test_fdb_engine_bounds_retries_and_raises_the_last_store_error(
    fake_fdb_store: FdbStore, fake_fdb: Any
) -> None:
    calls = 0

    def conflicts(tr: Transaction) -> None:
        nonlocal calls
        calls += 1
        raise fake_fdb.FDBError(1020)  # as the bindings would raise from a read

    with pytest.raises(StoreError) as info:
        fake_fdb_store.transact_sync(conflicts)
    assert (info.value.code, calls, fake_fdb_store.retries) == (1020, 4, 3)


def test_fdb_engine_turns_its_own_timeout_into_store_unavailable(
    fake_fdb_store: FdbStore, fake_fdb: Any
) -> None:
    def times_out(tr: Transaction) -> None:
        raise fake_fdb.FDBError(1031)

    with pytest.raises(StoreUnavailable, match="timed out"):
        fake_fdb_store.transact_sync(times_out)


def test_fdb_engine_injects_1021_after_a_commit_like_sqlite(fake_fdb_store: FdbStore) -> None:
    fake_fdb_store.faults = FaultInjector(at_1021={1}, at_1020={2})
    fake_fdb_store.transact_sync(lambda tr: tr.add(b"n", 1))
    assert decode_int64(fake_fdb_store.transact_sync(lambda tr: tr.get(b"n"))) == 2
    assert fake_fdb_store.faults.injected_1020 == 1
