"""Cleanups run in short, bounded batches and cost what expired, not what the tenant holds.

`CountingStore` hands each batch a transaction proxy that counts the keys it reads.
"""

from __future__ import annotations

from repo_helpers import CountingStore, Make, at

from workers.records import Audit, File
from workers.repositories import Repositories
from workers.store.port import Transaction
from workers.store.sqlite import SqliteStore

DAY = 24 * 60


async def write_audits(store: SqliteStore, repos: Repositories, audits: list[Audit]) -> None:
    for i in range(0, len(audits), 500):
        chunk = audits[i : i + 500]
        await store.transact(lambda tr, c=chunk: repos.audit.create_many(tr, c))


async def write_files(
    store: SqliteStore, repos: Repositories, files: list[File], deleted_days: list[float | None]
) -> None:
    """Create files, soft-deleting each on the day given (None: never)."""
    pairs = list(zip(files, deleted_days, strict=True))
    for i in range(0, len(pairs), 500):
        chunk = pairs[i : i + 500]

        def write(tr: Transaction, chunk: list[tuple[File, float | None]] = chunk) -> None:
            for f, day in chunk:
                repos.files.create(tr, f)
                if day is not None:
                    repos.files.soft_delete(tr, f.tenant_id, f.id, at(days=day))

        await store.transact(write)


async def test_audit_cleanup_of_500_expired_runs_in_at_least_ten_bounded_batches(
    store: SqliteStore, repos: Repositories, make: Make
) -> None:
    await write_audits(store, repos, [make.audit(occurred_at=at(i)) for i in range(500)])
    counting = CountingStore(store)
    result = await repos.audit.cleanup_old_events(counting, make.tenant_id, 1, at(days=3), batch=50)
    assert result.removed == 500 and result.batches >= 10
    for tr in counting.transactions:
        assert all(0 < limit <= 50 for _, _, limit in tr.range_reads)  # never an unbounded scan
        assert tr.keys_read <= 2 * 50  # 50 index entries, then their 50 records
    left = await store.transact(lambda tr: repos.audit.list_by_date(tr, make.tenant_id))
    assert left.items == []


async def test_file_purge_of_500_expired_runs_in_at_least_ten_bounded_batches(
    store: SqliteStore, repos: Repositories, make: Make
) -> None:
    files = [make.file(file_path=f"f{i}.py") for i in range(500)]
    await write_files(store, repos, files, [0.0] * 500)
    counting = CountingStore(store)
    result = await repos.files.cleanup_deleted(counting, make.tenant_id, 1, at(days=3), batch=50)
    assert result.removed == 500 and result.batches >= 10
    for tr in counting.transactions:
        assert all(0 < limit <= 50 for _, _, limit in tr.range_reads)
        assert tr.keys_read <= 2 * 50
    left = await store.transact(
        lambda tr: repos.files.list_by_session(tr, make.tenant_id, make.session_id, True)
    )
    assert left.items == []


async def test_audit_cleanup_reads_what_expired_not_the_whole_trail(
    store: SqliteStore, repos: Repositories, make: Make
) -> None:
    expired = [make.audit(occurred_at=at(days=-100, minutes=i)) for i in range(10)]
    live = [make.audit(occurred_at=at(i)) for i in range(2000)]
    await write_audits(store, repos, expired + live)
    counting = CountingStore(store)
    result = await repos.audit.cleanup_old_events(counting, make.tenant_id, 30, now=at(days=1))
    assert result.removed == 10
    assert counting.keys_read <= 3 * len(expired)  # O(expired); 2,000 live records untouched
    remaining = await store.transact(
        lambda tr: repos.audit.list_by_date(tr, make.tenant_id, limit=1000)
    )
    assert len(remaining.items) == 1000 and remaining.next is not None


async def test_file_purge_reads_what_expired_not_every_file(
    store: SqliteStore, repos: Repositories, make: Make
) -> None:
    files = [make.file(file_path=f"f{i}.py") for i in range(2010)]
    # 10 deleted long ago; 1,000 deleted recently (queued, not yet due); 1,000 never deleted
    days: list[float | None] = [-100.0] * 10 + [0.5] * 1000 + [None] * 1000
    await write_files(store, repos, files, days)
    counting = CountingStore(store)
    result = await repos.files.cleanup_deleted(counting, make.tenant_id, 30, now=at(days=1))
    assert result.removed == 10
    assert counting.keys_read <= 3 * 10
    for f in files[:10]:
        assert (
            await store.transact(lambda tr, f=f: repos.files.get_by_id(tr, f.tenant_id, f.id))
            is None
        )
