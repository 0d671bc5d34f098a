"""Job leases: a held lease skips the run, a lapsed one is taken over, and a runner that lost
its lease stops before it deletes anything more."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from uuid import uuid4

from jobs_support import (
    FakeClock,
    Seeder,
    assert_clean,
    current_lease,
    days_ago,
    read_continuation,
    receipts,
    remaining_audit_ids,
)

from workers.config import Config
from workers.jobs.executor import run_job
from workers.jobs.summary import JobProgress
from workers.repositories import Repositories
from workers.store import Store


async def test_a_job_whose_lease_is_held_is_skipped_naming_the_holder_and_the_expiry(
    store: Store,
    repos: Repositories,
    seed: Seeder,
    settings: Callable[..., Config],
    clock: FakeClock,
) -> None:
    tenant = uuid4()
    await seed.audits(tenant, [days_ago(100)] * 3)
    await store.transact(lambda tr: repos.leases.acquire(tr, "audit", "node-b", clock(), 60))

    summary = await run_job("audit", store, repos, settings(), clock=clock, owner="node-a")

    until = (clock() + timedelta(seconds=60)).isoformat()
    assert summary.skipped == f"node-b holds the lease until {until}"
    assert str(summary) == f"audit retention: skipped because node-b holds the lease until {until}"
    assert (summary.removed, summary.tenants) == (0, [])
    assert len(await remaining_audit_ids(store, repos, tenant)) == 3


async def test_a_lapsed_lease_is_taken_over_and_released_at_the_end(
    store: Store,
    repos: Repositories,
    seed: Seeder,
    settings: Callable[..., Config],
    clock: FakeClock,
) -> None:
    tenant = uuid4()
    await seed.audits(tenant, [days_ago(100)] * 3)
    await store.transact(lambda tr: repos.leases.acquire(tr, "audit", "crashed", clock(), 60))
    clock.advance(seconds=60)

    summary = await run_job("audit", store, repos, settings(), clock=clock, owner="node-a")

    assert (summary.skipped, summary.removed) == (None, 3)
    assert await current_lease(store, repos, "audit") is None


async def test_leases_are_per_job(
    store: Store, repos: Repositories, settings: Callable[..., Config], clock: FakeClock
) -> None:
    await store.transact(lambda tr: repos.leases.acquire(tr, "audit", "node-b", clock(), 60))

    summary = await run_job("files", store, repos, settings(), clock=clock, owner="node-a")

    assert summary.skipped is None


async def test_every_batch_renews_the_lease_so_a_long_run_keeps_it(
    store: Store,
    repos: Repositories,
    seed: Seeder,
    settings: Callable[..., Config],
    clock: FakeClock,
) -> None:
    tenant = uuid4()
    await seed.audits(tenant, [days_ago(100)] * 10)
    rivals: list[str] = []

    def slow_batch(p: JobProgress) -> None:
        clock.advance(seconds=40)  # each batch "takes" 40 s of a 60 s lease
        rival = store.transact_sync(
            lambda tr: repos.leases.acquire(tr, "audit", "node-b", clock(), 60)
        )
        rivals.append(rival.owner)

    summary = await run_job(
        "audit",
        store,
        repos,
        settings(purge_batch_size=2, lease_ttl_s=60),
        clock=clock,
        owner="node-a",
        progress=slow_batch,
    )

    assert (summary.interrupted, summary.removed) == (None, 10)
    assert set(rivals) == {"node-a"}


async def test_a_runner_that_lost_its_lease_stops_and_the_new_holder_resumes_its_run(
    store: Store,
    repos: Repositories,
    seed: Seeder,
    settings: Callable[..., Config],
    clock: FakeClock,
) -> None:
    tenant = uuid4()
    await seed.audits(tenant, [days_ago(100)] * 10)
    later = FakeClock(clock() + timedelta(seconds=61))

    def paused_past_the_ttl(p: JobProgress) -> None:
        if p.batches == 1:
            store.transact_sync(lambda tr: repos.leases.acquire(tr, "audit", "node-b", later(), 60))

    stale = await run_job(
        "audit",
        store,
        repos,
        settings(purge_batch_size=2),
        clock=clock,
        owner="node-a",
        progress=paused_past_the_ttl,
    )

    assert stale.interrupted is not None and "now held by node-b" in stale.interrupted
    assert (stale.removed, stale.tenants[0].complete) == (2, False)
    assert "interrupted" in str(stale)
    lease = await current_lease(store, repos, "audit")
    assert lease is not None and lease.owner == "node-b"
    assert await read_continuation(store, repos, tenant, "audit") is not None

    fresh = await run_job(
        "audit", store, repos, settings(purge_batch_size=2), clock=later, owner="node-b"
    )

    assert (fresh.tenants[0].resumed, fresh.removed) == (True, 10)
    (receipt,) = await receipts(store, repos, tenant)
    assert (receipt.event_data["removed"], receipt.event_data["owner"]) == (10, "node-b")
    await assert_clean(store, repos)
