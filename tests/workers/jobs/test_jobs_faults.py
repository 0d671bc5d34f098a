"""Under injected 1020/1021 every batch is applied once: counts, receipts and data stay exact."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from pathlib import Path
from uuid import uuid4

import pytest
from jobs_support import FakeClock, Seeder, assert_clean, days_ago, receipts, remaining_audit_ids

from tests.helpers import store_url
from workers.config import Config
from workers.jobs.executor import run_job
from workers.repositories import Repositories
from workers.store import FaultInjector, Store, open_store


@pytest.fixture
async def faulty(db_path: Path) -> AsyncIterator[Store]:
    """The same file, through an engine that fails commits: 1021 every 3rd, 1020 every 7th."""
    faults = FaultInjector.parse("1021:every:3,1020:every:7")
    s = open_store(store_url(db_path), faults=faults)
    yield s
    await s.close()


@pytest.mark.parametrize("batch", [1, 3, 4, 500])
async def test_a_purge_under_commit_faults_removes_each_record_once_and_counts_exactly(
    store: Store,
    faulty: Store,
    repos: Repositories,
    seed: Seeder,
    settings: Callable[..., Config],
    clock: FakeClock,
    batch: int,
) -> None:
    tenant = uuid4()
    await seed.audits(tenant, [days_ago(100)] * 11)
    young = await seed.audits(tenant, [days_ago(1)] * 2)

    summary = await run_job("audit", faulty, repos, settings(purge_batch_size=batch), clock=clock)

    assert summary.removed == 11
    (receipt,) = await receipts(store, repos, tenant)
    assert receipt.event_data["removed"] == 11
    assert receipt.event_data["batches"] == summary.batches == 11 // batch + 1
    assert await remaining_audit_ids(store, repos, tenant) == {a.id for a in young} | {receipt.id}
    await assert_clean(store, repos)
