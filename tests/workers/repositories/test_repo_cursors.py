"""Job continuations: saved, read back to resume a cleanup, cleared; a damaged one is named."""

from __future__ import annotations

import json
from datetime import timedelta
from uuid import UUID, uuid4

import pytest
from repo_helpers import T0, Make, at

from workers.repositories import CleanupResult, CorruptValue, Repositories
from workers.repositories.cursors import Continuation
from workers.store.sqlite import SqliteStore


async def test_a_cursor_saved_is_read_back_per_tenant_and_job_and_cleared(
    store: SqliteStore, repos: Repositories, tenant: UUID, other_tenant: UUID
) -> None:
    cont = Continuation(
        run_id=uuid4(), started_at=T0, owner="a", seq=3, after=b"\x00\x01\xff", removed=5, held=1
    )
    await store.transact(lambda tr: repos.cursors.save(tr, tenant, "audit", cont))

    assert await store.read(lambda tr: repos.cursors.get(tr, tenant, "audit")) == cont
    assert await store.read(lambda tr: repos.cursors.get(tr, tenant, "files")) is None
    assert await store.read(lambda tr: repos.cursors.get(tr, other_tenant, "audit")) is None

    await store.transact(lambda tr: repos.cursors.clear(tr, tenant, "audit"))
    assert await store.read(lambda tr: repos.cursors.get(tr, tenant, "audit")) is None


async def test_a_saved_cursor_resumes_the_cleanup_where_it_stopped(
    store: SqliteStore, repos: Repositories, make: Make
) -> None:
    audits = [make.audit(occurred_at=at(days=-100, minutes=i)) for i in range(7)]
    await store.transact(lambda tr: repos.audit.create_many(tr, audits))
    cutoff, t = at(days=-10), make.tenant_id
    removed, kept, after = await store.transact(
        lambda tr: repos.audit.cleanup_batch(tr, t, cutoff, 3)
    )
    so_far = CleanupResult(removed, kept, 1, after, 4)
    cont = Continuation.of(uuid4(), T0, "a", so_far)
    await store.transact(lambda tr: repos.cursors.save(tr, t, "audit", cont))

    stored = await store.read(lambda tr: repos.cursors.get(tr, t, "audit"))
    assert stored is not None and stored.progress() == so_far
    done = await repos.audit.cleanup_old_events(
        store, t, 10, now=T0, batch=3, resume=stored.progress()
    )

    assert (done.removed, done.batches, done.after) == (7, 3, None)  # 3 + 3 + 1, no re-reads
    assert done.elapsed_ms >= 4
    left = await store.read(lambda tr: repos.audit.list_by_date(tr, t))
    assert left.items == []


async def test_a_cursor_stored_by_the_previous_code_still_reads(
    store: SqliteStore, repos: Repositories, tenant: UUID
) -> None:
    run_id, started = uuid4(), T0 - timedelta(hours=1)
    old = {  # what `Continuation.to_json` wrote before the repositories
        "run_id": str(run_id),
        "started_at": started.isoformat(),
        "owner": "host:1:abc",
        "seq": 2,
        "after": "0102ff",
        "removed": 9,
        "held": 1,
        "elapsed_ms": 12,
    }
    key = repos.keys.tenant(tenant).cursors.key("files")
    await store.transact(lambda tr: tr.set(key, json.dumps(old).encode()))

    got = await store.read(lambda tr: repos.cursors.get(tr, tenant, "files"))
    assert got == Continuation(
        run_id=run_id,
        started_at=started,
        owner="host:1:abc",
        seq=2,
        after=b"\x01\x02\xff",
        removed=9,
        held=1,
        elapsed_ms=12,
    )
    assert json.loads(got.model_dump_json())["after"] == "0102ff"  # written back the same way


BAD_AFTER = (
    b'{"run_id": "0190a1b2-0000-7000-8000-000000000000", "started_at": "2026-03-01T12:00:00Z", '
    b'"owner": "a", "after": "zz"}'
)


@pytest.mark.parametrize("garbage", [b"", b"[1, 2]", b'{"run_id": "nope"}', BAD_AFTER])
async def test_a_damaged_cursor_is_named_by_job_and_tenant(
    store: SqliteStore, repos: Repositories, tenant: UUID, garbage: bytes
) -> None:
    key = repos.keys.tenant(tenant).cursors.key("audit")
    await store.transact(lambda tr: tr.set(key, garbage))

    what = f"stored continuation of job 'audit' in tenant {tenant} is not valid: "
    with pytest.raises(CorruptValue, match=f"^{what}"):
        await store.read(lambda tr: repos.cursors.get(tr, tenant, "audit"))
