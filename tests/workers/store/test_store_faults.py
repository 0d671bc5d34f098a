"""Fault injection: 1020 applies nothing, 1021 applies and retries, so only marker checks hold."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from workers.store.error_codes import StoreError
from workers.store.faults import FaultInjector
from workers.store.port import Transaction, decode_int64
from workers.store.sqlite import SqliteStore


@pytest.fixture
def faulty(tmp_path: Path) -> Iterator[tuple[SqliteStore, FaultInjector]]:
    faults = FaultInjector()
    store = SqliteStore(tmp_path / "s.db", faults=faults)
    yield store, faults
    store.close_sync()


def blind_add(tr: Transaction) -> None:
    tr.add(b"counter", 1)


def marked_add(marker: bytes) -> Callable[[Transaction], None]:
    def fn(tr: Transaction) -> None:
        if tr.get(b"applied/" + marker) is not None:
            return
        tr.set(b"applied/" + marker, b"")
        tr.add(b"counter", 1)

    return fn


def counter(store: SqliteStore) -> int:
    return decode_int64(store.transact_sync(lambda tr: tr.get(b"counter")))


def test_injected_1020_applies_nothing_and_is_retried(
    faulty: tuple[SqliteStore, FaultInjector],
) -> None:
    store, faults = faulty
    faults.at[1020] = frozenset({1})
    store.transact_sync(blind_add)
    assert counter(store) == 1  # even a blind add lands once: the first commit never happened
    assert (faults.injected_1020, store.retries, store.commits) == (1, 1, 2)


def test_injected_1021_applies_the_commit_and_still_retries_so_a_blind_add_doubles(
    faulty: tuple[SqliteStore, FaultInjector],
) -> None:
    store, faults = faulty
    faults.at[1021] = frozenset({1})
    store.transact_sync(blind_add)
    assert counter(store) == 2
    assert (faults.injected_1021, store.retries) == (1, 1)


def test_a_marker_checking_fn_applies_exactly_once_under_1021(
    faulty: tuple[SqliteStore, FaultInjector],
) -> None:
    store, faults = faulty
    faults.at[1021] = frozenset({1})
    store.transact_sync(marked_add(b"event-1"))
    assert counter(store) == 1
    assert faults.injected_1021 == 1


async def test_random_faults_leave_marker_checked_writes_exact(tmp_path: Path) -> None:
    faults = FaultInjector.parse("1020:0.2,1021:0.2,seed:7")
    store = SqliteStore(tmp_path / "s.db", faults=faults)
    for i in range(150):
        await store.transact(marked_add(b"e%d" % i))
    assert counter(store) == 150
    assert faults.injected_1020 > 10 and faults.injected_1021 > 10
    assert store.retries == faults.injected_1020 + faults.injected_1021
    await store.close()


def test_each_injected_fault_is_logged_with_its_code_and_commit_attempt(
    faulty: tuple[SqliteStore, FaultInjector], caplog: pytest.LogCaptureFixture
) -> None:
    """The log is how a process started with STORE_FAULTS shows that its faults fired."""
    store, faults = faulty
    faults.at[1020] = frozenset({1})
    faults.at[1021] = frozenset({3})
    with caplog.at_level(logging.WARNING, logger="workers.store.faults"):
        store.transact_sync(blind_add)  # attempts 1 (1020) and 2
        store.transact_sync(blind_add)  # attempts 3 (1021) and 4
    logged = [(r.levelno, r.fault, r.commit_attempt) for r in caplog.records]  # type: ignore[attr-defined]
    assert logged == [(logging.WARNING, 1020, 1), (logging.WARNING, 1021, 3)]


def test_a_fault_on_every_commit_exhausts_the_retries(tmp_path: Path) -> None:
    store = SqliteStore(tmp_path / "s.db", faults=FaultInjector(rate_1020=1.0), max_retries=4)
    with pytest.raises(StoreError) as info:
        store.transact_sync(blind_add)
    assert info.value.code == 1020 and store.retries == 4 and store.commits == 0
    store.close_sync()


def test_every_nth_schedule_hits_exactly_those_commits() -> None:
    faults = FaultInjector.parse("1021:every:10")
    hits = [n for n in range(1, 31) if faults.next_commit() == 1021]
    assert hits == [10, 20, 30]
    assert (faults.injected_1021, faults.injected_1020) == (3, 0)


def test_explicit_ordinals_pick_commits_and_1020_wins_a_tie() -> None:
    faults = FaultInjector.parse("1021:at:2/3, 1020:at:3")
    assert [faults.next_commit() for _ in range(4)] == [None, 1021, 1020, None]


def test_the_same_seed_injects_the_same_faults() -> None:
    def run(spec: str) -> list[int | None]:
        faults = FaultInjector.parse(spec)
        return [faults.next_commit() for _ in range(200)]

    assert run("1020:0.1,1021:0.1,seed:3") == run("1020:0.1,1021:0.1,seed:3")
    assert run("1020:0.1,1021:0.1,seed:3") != run("1020:0.1,1021:0.1,seed:4")


def test_parse_reads_rates_and_seed() -> None:
    faults = FaultInjector.parse("1020:0.05,1021:0.25,seed:7")
    assert faults.rate == {1020: 0.05, 1021: 0.25} and faults.seed == 7


def test_an_empty_or_off_spec_injects_nothing() -> None:
    for spec in ("", "off"):
        faults = FaultInjector.parse(spec)
        assert [faults.next_commit() for _ in range(50)] == [None] * 50


@pytest.mark.parametrize("spec", ["1022:0.1", "1020:1.5", "1021:every:x", "1021:sometimes:3", "x"])
def test_a_malformed_spec_is_rejected_naming_the_problem(spec: str) -> None:
    with pytest.raises(ValueError, match="bad fault spec"):
        FaultInjector.parse(spec)
