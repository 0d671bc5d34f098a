"""Audit retention: events older than the cutoff go, newer and held ones stay, a receipt is left."""

from __future__ import annotations

from collections.abc import Callable
from uuid import uuid4

from jobs_support import FakeClock, Seeder, assert_clean, days_ago, receipts, remaining_audit_ids

from workers.config import Config
from workers.jobs.controls import add_hold, clear_retention, get_retention, set_retention
from workers.jobs.executor import run_job
from workers.repositories import Repositories
from workers.store import Store


async def test_audit_purge_removes_only_events_older_than_the_cutoff(
    store: Store,
    repos: Repositories,
    seed: Seeder,
    settings: Callable[..., Config],
    clock: FakeClock,
) -> None:
    tenant = uuid4()
    old = await seed.audits(tenant, [days_ago(d) for d in (400, 200, 91, 90.01)])
    young = await seed.audits(tenant, [days_ago(d) for d in (89.99, 30, 0)])

    summary = await run_job("audit", store, repos, settings(purge_batch_size=2), clock=clock)

    left = await remaining_audit_ids(store, repos, tenant)
    assert {a.id for a in young} <= left
    assert not {a.id for a in old} & left
    (result,) = summary.tenants
    assert (result.removed, result.held, result.batches) == (4, 0, 3)
    assert summary.cutoff == days_ago(90)
    await assert_clean(store, repos)


async def test_audit_purge_leaves_one_receipt_that_the_next_purge_keeps(
    store: Store,
    repos: Repositories,
    seed: Seeder,
    settings: Callable[..., Config],
    clock: FakeClock,
) -> None:
    tenant = uuid4()
    await seed.audits(tenant, [days_ago(100)] * 3)
    first = await run_job("audit", store, repos, settings(), clock=clock, owner="node-a")
    await run_job("audit", store, repos, settings(), clock=clock, older_than_days=0)

    (receipt,) = await receipts(store, repos, tenant)
    assert receipt.id == first.tenants[0].receipt_id
    assert receipt.occurred_at == clock()
    data = receipt.event_data
    assert (data["rule"], data["removed"], data["held_back"], data["dry_run"]) == (
        "audit",
        3,
        0,
        False,
    )
    assert data["owner"] == "node-a"
    assert data["cutoff"] == days_ago(90).isoformat()
    assert isinstance(data["duration_ms"], int)


async def test_audit_events_of_held_users_and_sessions_survive_and_are_counted(
    store: Store,
    repos: Repositories,
    seed: Seeder,
    settings: Callable[..., Config],
    clock: FakeClock,
) -> None:
    tenant, user, session = uuid4(), uuid4(), uuid4()
    by_user = await seed.audits(tenant, [days_ago(200)] * 2, user_id=user)
    in_session = await seed.audits(tenant, [days_ago(200)] * 3, session_id=session)
    others = await seed.audits(tenant, [days_ago(200)] * 4, user_id=uuid4())
    await add_hold(store, repos, tenant, "user", user, "case 12", clock=clock)
    await add_hold(store, repos, tenant, "session", session, "case 13", clock=clock)

    summary = await run_job("audit", store, repos, settings(), clock=clock)

    left = await remaining_audit_ids(store, repos, tenant)
    assert {a.id for a in by_user + in_session} <= left
    assert not {a.id for a in others} & left
    assert (summary.removed, summary.held) == (4, 5)
    (receipt,) = await receipts(store, repos, tenant)
    assert receipt.event_data["held_back"] == 5
    await assert_clean(store, repos)


async def test_a_tenant_hold_keeps_all_of_its_audit_trail(
    store: Store,
    repos: Repositories,
    seed: Seeder,
    settings: Callable[..., Config],
    clock: FakeClock,
) -> None:
    tenant = uuid4()
    old = await seed.audits(tenant, [days_ago(300)] * 5)
    await add_hold(store, repos, tenant, "tenant", None, "regulator", clock=clock)

    summary = await run_job("audit", store, repos, settings(), clock=clock)

    assert {a.id for a in old} <= await remaining_audit_ids(store, repos, tenant)
    assert (summary.removed, summary.held) == (0, 5)
    assert await receipts(store, repos, tenant) == []


async def test_a_tenant_retention_override_is_respected_and_others_keep_the_default(
    store: Store,
    repos: Repositories,
    seed: Seeder,
    settings: Callable[..., Config],
    clock: FakeClock,
) -> None:
    short, default = uuid4(), uuid4()
    for tenant in (short, default):
        await seed.audits(tenant, [days_ago(d) for d in (100, 40, 10)])
    await set_retention(store, repos, short, audit_days=30)

    summary = await run_job("audit", store, repos, settings(), clock=clock)

    counts = {t.tenant: (t.days, t.removed) for t in summary.tenants}
    assert counts == {short: (30, 2), default: (90, 1)}
    assert len(await remaining_audit_ids(store, repos, short)) == 1 + 1  # young event + receipt
    assert (await get_retention(store, repos, short)).audit_days == 30


async def test_older_than_days_beats_settings_and_tenant_overrides(
    store: Store,
    repos: Repositories,
    seed: Seeder,
    settings: Callable[..., Config],
    clock: FakeClock,
) -> None:
    tenant = uuid4()
    await seed.audits(tenant, [days_ago(d) for d in (100, 40, 10)])
    await set_retention(store, repos, tenant, audit_days=365)

    summary = await run_job(
        "audit", store, repos, settings(), clock=clock, older_than_days=5, tenant=tenant
    )

    assert (summary.days, summary.tenants[0].days, summary.removed) == (5, 5, 3)


async def test_a_dry_run_counts_what_would_go_and_deletes_nothing(
    store: Store,
    repos: Repositories,
    seed: Seeder,
    settings: Callable[..., Config],
    clock: FakeClock,
) -> None:
    tenant, user = uuid4(), uuid4()
    await seed.audits(tenant, [days_ago(200)] * 7)
    await seed.audits(tenant, [days_ago(200)] * 2, user_id=user)
    await seed.audits(tenant, [days_ago(1)] * 3)
    await add_hold(store, repos, tenant, "user", user, "case", clock=clock)
    before = await remaining_audit_ids(store, repos, tenant)

    summary = await run_job(
        "audit", store, repos, settings(purge_batch_size=3), clock=clock, dry_run=True
    )

    assert await remaining_audit_ids(store, repos, tenant) == before
    assert (summary.removed, summary.held, summary.batches, summary.dry_run) == (
        7,
        2,
        4,
        True,
    )  # 3 full + 1 empty
    assert "would remove 7" in str(summary)
    assert await receipts(store, repos, tenant) == []


async def test_a_cleared_override_gives_the_tenant_the_default_period_again(
    store: Store,
    repos: Repositories,
    seed: Seeder,
    settings: Callable[..., Config],
    clock: FakeClock,
) -> None:
    tenant = uuid4()
    await seed.audits(tenant, [days_ago(d) for d in (100, 40, 10)])
    await set_retention(store, repos, tenant, files_days=3, audit_days=5)

    cleared = await clear_retention(store, repos, tenant, files=False)

    assert (cleared.files_days, cleared.audit_days) == (3, None)
    summary = await run_job("audit", store, repos, settings(), clock=clock)
    assert (summary.tenants[0].days, summary.removed) == (90, 1)
