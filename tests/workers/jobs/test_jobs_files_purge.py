"""Files purge: soft-deleted files past the period go for good; live, recent or held ones stay."""

from __future__ import annotations

from collections.abc import Callable
from uuid import UUID, uuid4

import pytest
from jobs_support import FakeClock, Seeder, assert_clean, days_ago, receipts

from events.audit_types import AuditEventType
from workers.config import Config
from workers.jobs.controls import add_hold, set_retention
from workers.jobs.executor import run_job
from workers.jobs.restore import restore_file
from workers.records import File
from workers.repositories import Repositories
from workers.store import Store


async def stored(store: Store, repos: Repositories, tenant: UUID, files: list[File]) -> set[UUID]:
    found = await store.transact(
        lambda tr: [repos.files.get_by_id(tr, tenant, f.id) for f in files]
    )
    return {f.id for f in found if f is not None}


async def test_files_deleted_longer_ago_than_the_period_are_purged_with_every_index_entry(
    store: Store,
    repos: Repositories,
    seed: Seeder,
    settings: Callable[..., Config],
    clock: FakeClock,
) -> None:
    tenant = uuid4()
    expired = await seed.files(tenant, [days_ago(d) for d in (365, 31, 30.001)])
    recent = await seed.files(tenant, [days_ago(d) for d in (29.99, 1)])
    live = await seed.files(tenant, [None, None])

    summary = await run_job("files", store, repos, settings(purge_batch_size=2), clock=clock)

    assert await stored(store, repos, tenant, expired) == set()
    assert await stored(store, repos, tenant, recent + live) == {f.id for f in recent + live}
    by_path = await store.transact(
        lambda tr: repos.files.get_by_path(
            tr, tenant, expired[0].workspace_session_id, expired[0].file_path, True
        )
    )
    assert by_path is None
    assert (summary.removed, summary.tenants[0].cutoff) == (3, days_ago(30))
    (receipt,) = await receipts(store, repos, tenant)
    assert (receipt.event_data["rule"], receipt.event_data["removed"]) == ("files", 3)
    await assert_clean(store, repos)


async def test_files_of_held_users_sessions_and_tenants_are_not_purged(
    store: Store,
    repos: Repositories,
    seed: Seeder,
    settings: Callable[..., Config],
    clock: FakeClock,
) -> None:
    tenant, held_tenant, user, session = uuid4(), uuid4(), uuid4(), uuid4()
    by_user = await seed.files(tenant, [days_ago(90)] * 2, user_id=user)
    in_session = await seed.files(tenant, [days_ago(90)] * 2, session_id=session)
    others = await seed.files(tenant, [days_ago(90)] * 3)
    whole = await seed.files(held_tenant, [days_ago(90)] * 2)
    await add_hold(store, repos, tenant, "user", user, "litigation", clock=clock)
    await add_hold(store, repos, tenant, "session", session, "incident", clock=clock)
    await add_hold(store, repos, held_tenant, "tenant", None, "regulator", clock=clock)

    summary = await run_job("files", store, repos, settings(), clock=clock)

    kept = by_user + in_session
    assert await stored(store, repos, tenant, kept + others) == {f.id for f in kept}
    assert await stored(store, repos, held_tenant, whole) == {f.id for f in whole}
    counts = {t.tenant: (t.removed, t.held) for t in summary.tenants}
    assert counts == {tenant: (3, 4), held_tenant: (0, 2)}
    await assert_clean(store, repos)


async def test_a_tenant_may_keep_deleted_files_longer(
    store: Store,
    repos: Repositories,
    seed: Seeder,
    settings: Callable[..., Config],
    clock: FakeClock,
) -> None:
    tenant = uuid4()
    files = await seed.files(tenant, [days_ago(45), days_ago(70)])
    await set_retention(store, repos, tenant, files_days=60)

    summary = await run_job("files", store, repos, settings(), clock=clock)

    assert await stored(store, repos, tenant, files) == {files[0].id}
    assert (summary.tenants[0].days, summary.removed) == (60, 1)


async def test_a_files_dry_run_counts_and_keeps_every_file(
    store: Store,
    repos: Repositories,
    seed: Seeder,
    settings: Callable[..., Config],
    clock: FakeClock,
) -> None:
    tenant = uuid4()
    files = await seed.files(tenant, [days_ago(40)] * 5 + [days_ago(2)])

    summary = await run_job("files", store, repos, settings(), clock=clock, dry_run=True)

    assert await stored(store, repos, tenant, files) == {f.id for f in files}
    assert summary.removed == 5
    assert await receipts(store, repos, tenant) == []


async def test_restore_file_returns_the_original_checksum_and_audits_the_restore(
    store: Store, repos: Repositories, seed: Seeder, clock: FakeClock
) -> None:
    tenant = uuid4()
    (deleted,) = await seed.files(tenant, [days_ago(3)])

    restored = await restore_file(store, repos, tenant, deleted.id, clock=clock)

    assert restored is not None
    assert (restored.checksum, restored.is_deleted, restored.deleted_at) == (
        deleted.checksum,
        False,
        None,
    )
    page = await store.transact(
        lambda tr: repos.audit.list_by_event(tr, tenant, AuditEventType.FILE_RESTORED)
    )
    (record,) = page.items
    assert record.event_data["file_id"] == str(deleted.id)
    assert record.event_data["checksum"] == deleted.checksum
    assert record.occurred_at == clock()
    await assert_clean(store, repos)


@pytest.mark.parametrize("deleted", [False, True], ids=["live file", "purged file"])
async def test_restoring_a_live_or_purged_file_changes_and_audits_nothing(
    store: Store,
    repos: Repositories,
    seed: Seeder,
    settings: Callable[..., Config],
    clock: FakeClock,
    deleted: bool,
) -> None:
    tenant = uuid4()
    (file,) = await seed.files(tenant, [days_ago(40) if deleted else None])
    await run_job("files", store, repos, settings(), clock=clock)

    restored = await restore_file(store, repos, tenant, file.id, clock=clock)

    assert restored == (None if deleted else file)
    page = await store.transact(
        lambda tr: repos.audit.list_by_event(tr, tenant, AuditEventType.FILE_RESTORED)
    )
    assert page.items == []
