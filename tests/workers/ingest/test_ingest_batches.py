"""The batch core without NATS: big batches are prepared off the lock, oversized ones sliced, a
batch the store refuses is applied one event per transaction, a too-old one is run again."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest

from events.audit_types import AuditEventType
from tests.helpers import store_url
from tests.workers.ingest.events_factory import dumps, later, message_sent
from tests.workers.store.test_store_sqlite import DEADLINE_S, EngineClock
from workers.ingest import ingestor as ingest
from workers.ingest.ingestor import Ingestor
from workers.ingest.outcomes import Incoming, Outcome
from workers.repositories import Repositories
from workers.repositories.integrity import check
from workers.store import open_store
from workers.store import sqlite as sqlite_engine
from workers.store.keys import Keys
from workers.store.port import Transaction
from workers.store.sqlite import SqliteStore, SqliteTransaction, WritePlan

APPLIED, DEAD = Outcome.APPLIED, Outcome.DEAD


@pytest.fixture
async def ingestor(tmp_path: Path, key_root: str) -> AsyncIterator[Ingestor]:
    store = open_store(store_url(tmp_path / "batches.db"))  # TEST_STORE_URL: make test-fdb
    yield Ingestor(store, Repositories(Keys((key_root,))))
    await store.close()


def batch(tenant: uuid.UUID, conv: uuid.UUID, n: int, content: str = "hi") -> list[Incoming]:
    bodies = [message_sent(tenant, conv, tokens=2, content=content, at=later(i)) for i in range(n)]
    return [Incoming("message.sent", dumps(b)) for b in bodies]


async def counts(ingestor: Ingestor, tenant: uuid.UUID, conv: uuid.UUID) -> tuple[int, int]:
    repos = ingestor.repos
    return await ingestor.store.read(lambda tr: repos.conversations.counts(tr, tenant, conv))


async def audited(ingestor: Ingestor, tenant: uuid.UUID) -> int:
    """MessageSent audit records of the tenant (the tests stay under one page)."""
    page = await ingestor.store.read(
        lambda tr: ingestor.repos.audit.list_by_event(
            tr, tenant, AuditEventType.MESSAGE_SENT, limit=1000
        )
    )
    return len(page.items)


async def test_a_batch_past_the_slice_size_commits_in_order_in_several_transactions(
    ingestor: Ingestor, monkeypatch: pytest.MonkeyPatch
) -> None:
    tenant, conv = uuid.uuid4(), uuid.uuid4()
    events = batch(tenant, conv, 6, content="x" * 400)
    size = len(events[0].data)
    monkeypatch.setattr(ingest, "SLICE_BYTES", 2 * size)  # two events a transaction
    store = ingestor.store
    before = store.commits  # type: ignore[attr-defined]
    results = await ingestor.apply(events + events[:1])  # the last one: a redelivery
    assert [r.outcome for r in results] == [Outcome.APPLIED] * 6 + [Outcome.DUPLICATE]
    assert store.commits - before == 4  # type: ignore[attr-defined]  # 2 + 2 + 2 + the duplicate's own slice
    assert await counts(ingestor, tenant, conv) == (6, 12)


async def test_a_big_batch_is_prepared_and_ends_like_small_ones(
    ingestor: Ingestor, monkeypatch: pytest.MonkeyPatch
) -> None:
    """From PREPARE_FROM events a batch goes to `Store.transact_prepared` (models, JSON and
    keys built off the write lock); on SQLite the plan built on the snapshot is what commits."""
    prepared: list[int] = []
    transact_prepared = ingestor.store.transact_prepared

    async def counted(fn: Callable[[Transaction], Any]) -> Any:
        prepared.append(1)
        return await transact_prepared(fn)

    monkeypatch.setattr(ingestor.store, "transact_prepared", counted)
    plans: list[int] = []
    write_plan = SqliteTransaction.write_plan

    def planned(self: SqliteTransaction, plan: WritePlan) -> None:
        plans.append(len(plan.written))
        write_plan(self, plan)

    monkeypatch.setattr(SqliteTransaction, "write_plan", planned)

    tenant, conv = uuid.uuid4(), uuid.uuid4()
    big = batch(tenant, conv, ingest.PREPARE_FROM + 50)
    results = await ingestor.apply(big + big[:10])  # redeliveries inside the same batch
    assert [r.outcome for r in results] == [APPLIED] * len(big) + [Outcome.DUPLICATE] * 10
    again = await ingestor.apply(big)  # and a whole batch delivered twice
    assert {r.outcome for r in again} == {Outcome.DUPLICATE}
    assert prepared == [1, 1]  # both batches went the prepared way
    if isinstance(ingestor.store, SqliteStore):  # FoundationDB has nothing to prepare
        assert len(plans) == 2 and plans[0] > 0 and plans[1] == 0  # no writes for duplicates
    assert await counts(ingestor, tenant, conv) == (len(big), 2 * len(big))
    assert await audited(ingestor, tenant) == len(big)


async def test_an_event_that_fails_its_batch_inside_the_store_is_dead_and_its_batch_mates_apply(
    ingestor: Ingestor, monkeypatch: pytest.MonkeyPatch
) -> None:
    """One event makes its batch's transaction fail for good (2101: past 10 MB): the batch is
    applied again one event per transaction, so only that event is dead, with the store's
    reason (the dead-letter stream's `Dlq-Reason`), and its batch-mates are applied."""
    monkeypatch.setattr(ingest, "SLICE_BYTES", 100_000_000)  # the whole batch: one transaction
    tenant, conv = uuid.uuid4(), uuid.uuid4()
    good = batch(tenant, conv, 4)
    huge = message_sent(tenant, conv, tokens=2, content="x" * 10_500_000, at=later(9))
    store = ingestor.store
    before = store.commits  # type: ignore[attr-defined]
    results = await ingestor.apply([*good[:2], Incoming("message.sent", dumps(huge)), *good[2:]])
    assert [r.outcome for r in results] == [APPLIED, APPLIED, DEAD, APPLIED, APPLIED]
    assert results[2].reason.startswith("StoreError: 2101 transaction_too_large"), results[2]
    assert store.commits - before == 4  # type: ignore[attr-defined]  # one per applied event
    assert (ingestor.stats.applied, ingestor.stats.dead) == (4, 1)
    assert await counts(ingestor, tenant, conv) == (4, 8)
    assert await audited(ingestor, tenant) == 4
    assert (await check(store, ingestor.repos)).clean


@pytest.mark.parametrize("size", [20, ingest.PREPARE_FROM], ids=["one-transaction", "prepared"])
async def test_a_batch_whose_transaction_grew_too_old_is_run_again_and_applied_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, size: int
) -> None:
    """1007 at ingest level: the batch's transaction passes its deadline after its dedupe read
    (the engine's clock moves on, nobody sleeps); the store runs it again, every event once."""
    clock = EngineClock()
    monkeypatch.setattr(sqlite_engine, "time", clock)
    store = SqliteStore(tmp_path / "old.db", timeout_s=DEADLINE_S)
    repos = Repositories()
    dedupe_reads: list[int] = []
    read_marks = repos.applied.applied

    def slow_first(tr: Transaction, events: list[tuple[uuid.UUID, uuid.UUID]]) -> list[bool]:
        found = read_marks(tr, events)
        dedupe_reads.append(len(events))
        if len(dedupe_reads) == 1:
            clock.advance(DEADLINE_S + 1)  # the rest of this transaction is past its deadline
        return found

    monkeypatch.setattr(repos.applied, "applied", slow_first)
    ingestor = Ingestor(store, repos)
    tenant, conv = uuid.uuid4(), uuid.uuid4()
    try:
        results = await ingestor.apply(batch(tenant, conv, size))
        assert [r.outcome for r in results] == [APPLIED] * size
        assert dedupe_reads == [size, size]  # the whole batch, twice: too old, then committed
        assert (store.retries, store.commits) == (1, 1)
        assert await counts(ingestor, tenant, conv) == (size, 2 * size)
        assert await audited(ingestor, tenant) == size
        assert (await check(store, repos)).clean
    finally:
        await store.close()
