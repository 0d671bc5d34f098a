"""Dedupe expiry: marks older than the horizon are forgotten, younger ones still dedupe."""

from __future__ import annotations

from collections.abc import Callable
from uuid import uuid4

from jobs_support import FakeClock, Seeder, assert_clean, days_ago, receipts

from events.enums import SettingCategory
from workers.config import Config
from workers.jobs.controls import add_hold
from workers.jobs.executor import run_job
from workers.records import Setting, version_of
from workers.repositories import Repositories
from workers.store import Store
from workers.store.port import Transaction

EDITOR = SettingCategory.EDITOR


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


async def test_setting_tombstones_expire_with_the_marks(
    store: Store,
    repos: Repositories,
    seed: Seeder,
    settings: Callable[..., Config],
    clock: FakeClock,
) -> None:
    """Past the horizon a late older value is judged against the compacted state: the
    tombstones of deletes older than it go with the marks, in the same resumable run."""
    tenant, user = uuid4(), uuid4()
    await seed.marks(tenant, [days_ago(30)])
    keys = {"old": days_ago(30), "older": days_ago(15), "young": days_ago(1)}

    def delete(tr: Transaction) -> None:
        for key, when in keys.items():
            version = version_of(when, uuid4())
            repos.settings.apply_change(tr, tenant, user, EDITOR, key, version, None)

    await store.transact(delete)

    summary = await run_job("dedupe", store, repos, settings(purge_batch_size=2), clock=clock)

    def late_sets(tr: Transaction) -> list[bool]:
        version = version_of(days_ago(40), uuid4())
        return [
            repos.settings.apply_change(
                tr,
                tenant,
                user,
                EDITOR,
                key,
                version,
                Setting(
                    tenant_id=tenant,
                    user_id=user,
                    category=EDITOR,
                    key=key,
                    value=1,
                    updated_at=days_ago(40),
                    version=version,
                ),
            )
            for key in keys
        ]

    assert summary.removed == 1 + 2
    assert await store.transact(late_sets) == [True, True, False]
    await assert_clean(store, repos)
