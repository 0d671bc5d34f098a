"""Dedupe expiry: marks older than the horizon are forgotten, younger ones still dedupe."""

from __future__ import annotations

from collections.abc import Callable
from uuid import uuid4

from jobs_support import FakeClock, Seeder, assert_clean, days_ago, receipts

from workers.config import Config
from workers.jobs.controls import add_hold
from workers.jobs.executor import run_job
from workers.repositories import Repositories
from workers.store import Store


async def test_marks_past_the_horizon_expire_and_younger_ones_stay(
    store: Store,
    repos: Repositories,
    seed: Seeder,
    settings: Callable[..., Config],
    clock: FakeClock,
) -> None:
    tenant = uuid4()
    old = await seed.marks(tenant, [days_ago(d) for d in (30, 15, 14.01)])
    young = await seed.marks(tenant, [days_ago(d) for d in (13.99, 0)])
    await add_hold(store, repos, tenant, "tenant", None, "holds cover data, not marks")

    summary = await run_job("dedupe", store, repos, settings(purge_batch_size=2), clock=clock)

    applied = await store.transact(
        lambda tr: repos.applied.applied(tr, [(tenant, e) for e in old + young])
    )
    assert applied == [False] * 3 + [True] * 2
    assert (summary.removed, summary.held, summary.tenants[0].cutoff) == (3, 0, days_ago(14))
    (receipt,) = await receipts(store, repos, tenant)
    assert receipt.event_data["rule"] == "dedupe"
    await assert_clean(store, repos)


async def test_a_dedupe_dry_run_forgets_nothing(
    store: Store,
    repos: Repositories,
    seed: Seeder,
    settings: Callable[..., Config],
    clock: FakeClock,
) -> None:
    tenant = uuid4()
    marks = await seed.marks(tenant, [days_ago(20)] * 4)

    summary = await run_job("dedupe", store, repos, settings(), clock=clock, dry_run=True)

    applied = await store.transact(
        lambda tr: repos.applied.applied(tr, [(tenant, e) for e in marks])
    )
    assert applied == [True] * 4
    assert summary.removed == 4
